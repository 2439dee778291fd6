// Package protocol is the protocol room: the wire formats of the API
// families subgate serves, one file each — Anthropic Messages
// (anthropic.go), OpenAI Responses and Chat Completions (openai.go), the
// ChatGPT Codex backend behind Responses (codex.go), the Gemini API
// (gemini.go) and Google's Code Assist envelope (codeassist.go) — each a
// value implementing Protocol. The gateway's failover loop, relay and
// ledger are shared; a protocol only knows its own bytes.
//
// Besides the families it holds what they share: the Call and
// StreamState types the loop hands them (protocol.go), the JSON scanner
// the hot path reads bodies with (scan.go), the SSE line scanner that
// feeds a stream's events to its protocol (sse.go), the usage readers
// (usage.go), sticky-session hashing (session.go), the client headers and
// query that may go upstream (request.go), the error kinds and shapes
// (errors.go), subscription windows and limits scoped to one model
// family (limits.go: Classify and Windows resolve a limit that counts the
// request's own model), Claude Code's probes answered locally (probe.go)
// and the model lists (models.go). translate, below it, converts between the
// families' request and reply formats.
//
// Nearly all of it is pure functions over bytes, testable without a
// server: a protocol reads the client's request through Head (its
// headers and query), fills an upstream *fasthttp.Request, and returns
// error bodies (ErrorBody, StreamError) for the server to write. It
// imports no fasthttp server type (no RequestCtx); it does use fasthttp's
// request and response types, which the client side shares, because
// building the upstream request in place keeps the hot path free of
// copies and allocations. The one exception to "pure" is Code Assist
// project discovery (Gemini.Before), which calls the upstream through
// proxy/upstream once per account and caches the answer.
//
// Invariants:
//   - Nothing unmarshals a body: reads use the scanner or gjson, edits
//     sjson. A body a protocol does not need to change (most Anthropic
//     requests, Gemini API requests) goes upstream byte for byte.
//   - Whatever a Call keeps outlives the request's buffer: Parse copies
//     every string it stores (model, session, headers) out of the body.
//   - A client's model name is refused before it is kept unless it is a
//     bounded model name (validModel, MaxModelLen), and errors never echo
//     it. A model in a URL path is also one path segment (validPathModel).
//   - A client's credential never goes upstream: headers are forwarded by
//     allow-list only (copyHeaders), and the query is re-encoded without
//     "key" (upstreamQuery) or dropped.
//   - The scanner and gjson always agree: where the scanner meets
//     anything it does not expect it reports failure and the caller reads
//     with gjson instead.
//   - A protocol's Keepalive is only ever bytes every official client of
//     the protocol skips (docs/clients.md); Gemini has none.
//   - Claude Code's gateway contract (docs/clients.md): anthropic-beta and
//     anthropic-version go upstream as sent, the beta list only ever
//     gaining a flag; a body field is never dropped. A masked account's
//     identity (proxy/identity) changes the identity headers and the one
//     value metadata.user_id, nothing else.
//
// Caveats:
//   - Usage seen mid-stream may be partial (Anthropic's message_delta is
//     cumulative, its input fields optional); StreamState.TextBytes
//     exists so that a stream cut before its usage can still be billed by
//     estimate.
//   - An SSE line longer than maxLine is passed through unscanned: its
//     event's usage, if any, is missed.
package protocol
