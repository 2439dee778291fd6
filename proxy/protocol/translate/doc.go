// Package translate carries a request from one API family's wire format to
// another's and its reply back: Anthropic Messages, OpenAI Responses,
// OpenAI Chat Completions and Gemini generateContent. It lets a client of
// one family use an account of another (Claude Code on a Codex account,
// Open WebUI on a Claude subscription). It is pure: bytes in, bytes out,
// no server types; the gateway owns routing, credentials, Code Assist's
// envelope and the Codex backend's body rules.
//
// A Translator serves one request:
//
//	t, _ := translate.New(translate.Config{Client: translate.Messages, Upstream: translate.Responses, …})
//	body, err := t.Request(clientBody) // *Error naming the client's field → a 400
//	reply, _ := t.Response(upstreamBody)      // buffered reply
//	s := t.Stream()                           // or a stream: per upstream event
//	out = s.Event(out, event, data)
//	u := t.Usage()                            // the upstream's usage, in the ledger's terms
//
// Clients may speak any of the four formats; upstreams are Messages,
// Responses or Gemini (every OpenAI account serves Responses). A Collector
// rebuilds a Responses object from a stream for a non-stream client of a
// stream-only upstream (the Codex backend).
//
// # Why an intermediate representation
//
// Each format has one decoder and one encoder, for requests, buffered
// replies and streams, meeting in a small common form (ir.go): a request
// is system text, messages of parts (text, image, file, thinking, tool
// call, tool result) and settings; a reply is parts, a stop reason and
// usage; a stream is a block machine (stream.go) that decoders drive and
// encoders write. Twelve direct translators would be twelve copies of the
// same mapping decisions, each drifting on its own; with the common form
// every decision (what a thinking signature becomes, how a stop reason
// maps, which field a refusal names) is made once, and every pair works,
// not only those the gateway asked for first. The cost is one parse of the
// client body into small structs (strings point into gjson's results) and
// one append-only write of the upstream body; no maps, no reflection.
//
// # Invariants
//
//   - Nothing is dropped silently. A request the upstream format cannot
//     carry (an Anthropic server tool on a Gemini account, a stored
//     previous_response_id, a media URL Gemini would have to fetch) is an
//     *Error naming the client's JSON field. What is left out on purpose is
//     listed in docs/translation.md: sampling knobs without a counterpart,
//     provider-side hints (cache_control, metadata), and thinking whose
//     signature only another family can verify.
//   - Opaque round-trip data survives: an Anthropic thinking signature, an
//     OpenAI reasoning item's encrypted_content and a Gemini
//     thoughtSignature travel in the client's own fields behind a family
//     prefix (a Gemini function call's signature inside its tool call id),
//     and come back to the upstream that issued them; see ir.go and
//     docs/translation.md.
//   - A stream's first client bytes leave with the upstream's first event;
//     the Stream appends to the caller's buffer and holds only the open
//     block's state: a tool call's arguments for a Gemini client (Gemini
//     sends calls whole), and for a Responses client the reply's items,
//     which that protocol repeats in its done events (bounded by
//     Config.MaxHeld; beyond it the stream ends with an error event).
//   - Every stream ends in the client's own terminal events, built from the
//     upstream's final usage: message_delta and message_stop, a
//     response.completed with usage, Chat's finish chunk (the usage chunk
//     only when the client asked) and [DONE], Gemini's finishReason with
//     usageMetadata. Fail ends it with the client's error event instead.
//
// # Caveats
//
//   - Usage is the upstream's, converted: OpenAI and Gemini count cached
//     tokens inside the prompt, the ledger outside. Anthropic reports no
//     separate reasoning count, so clients of other families see 0 there.
//   - Tool names over 64 characters (OpenAI's and Gemini's limit) are
//     shortened with a hash and named back in replies; the Translator
//     remembers the mapping between Request and the reply.
//   - A Chat client cannot carry thinking signatures, so an Anthropic
//     upstream runs a continuing tool loop without thinking (Anthropic
//     requires the signed block there); Gemini calls lacking signatures
//     get Google's documented skip value.
package translate
