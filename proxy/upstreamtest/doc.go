// Package upstreamtest is a scriptable mock of the upstreams subgate
// serves, for the gateway's end-to-end tests and benchmarks. One Server
// speaks every wire format; the route picks it:
//
//   - Anthropic: POST /v1/messages (JSON and SSE), /v1/messages/count_tokens,
//     GET /v1/models (with x-api-key or anthropic-version/-beta), unified
//     subscription rate-limit headers, the Claude OAuth token endpoint
//     POST /v1/oauth/token (JSON, rotating refresh tokens).
//   - OpenAI: POST /v1/responses, POST /v1/chat/completions, GET /v1/models
//     (otherwise), x-ratelimit-* headers, and auth.openai.com's
//     POST /oauth/token (rotating refresh tokens, an id_token with the
//     chatgpt_account_id claim).
//   - ChatGPT Codex backend: POST /backend-api/codex/responses (always
//     SSE, store false, x-codex-* usage headers, usage_limit_reached).
//   - Gemini API: POST /v1beta/models/{model}:generateContent,
//     :streamGenerateContent, :countTokens, GET /v1beta/models.
//   - Gemini Code Assist: POST /v1internal:{generateContent,
//     streamGenerateContent, countTokens, loadCodeAssist, onboardUser},
//     GET /v1internal/operations/…, and Google's POST /token (form-encoded,
//     refresh tokens that do not rotate).
//
// A Server is built with New and either started on 127.0.0.1:0 with Start,
// or mounted by the test on its own fasthttp.Server (for example on a
// fasthttputil.InmemoryListener) through Handler.
//
//	up := upstreamtest.New(upstreamtest.Config{})
//	addr, err := up.Start()
//	defer up.Close()
//	up.Script("sk-ant-api03-a", upstreamtest.RateLimited(time.Minute, reset), upstreamtest.OK())
//
// Each generating request pops one Step from the queue of the credential
// it carries (x-api-key, x-goog-api-key, the Bearer token or ?key=); an
// empty queue means the default step, a normal success. The same Steps
// work on every route and render in its format: OK, Error and its
// helpers, CutStream, CutMidChunk, Hang, Silence, StreamError, Replay;
// UsageLimit and GeminiRateLimited add the Codex and Google 429s. Every
// request is recorded and can be read back with Requests and Count.
//
// Usage is one accounting in Anthropic's terms (input without the cached
// part); OpenAI and Gemini replies render the prompt as input + cache
// read. Transcripts in every format, with Golden usage and the reference
// scanners ScanUsage and ScanUsageAs, live in testdata.
//
// # Invariants
//
//   - Credential checks happen before a step is popped, as in the real
//     APIs: a missing or revoked credential is refused in the route's own
//     way, and on the Anthropic route an OAuth token (Bearer sk-ant-oat…)
//     without the oauth-2025-04-20 beta is a 401 and, unless
//     Config.LaxOAuth, an OAuth request whose system prompt does not open
//     with "You are Claude Code" is a 400. Any other credential is valid.
//   - Body rules are checked before a step is popped too (Codex store,
//     stream and instructions; Gemini contents; Code Assist wrapper).
//   - Streamed events are each written and flushed as their own chunk, so a
//     client observes the timing set by StreamDelay and Silence.
//   - Close ends every pending Delay, StreamDelay and Silence at once; a
//     stream interrupted that way loses its connection.
//   - Recorded requests hold copies, never fasthttp buffers.
//
// # Caveats
//
//   - Streams are produced by an io.Reader given to SetBodyStream instead
//     of SetBodyStreamWriter; see Server.stream for why.
//   - A CutStream cut falls between HTTP chunks, which fasthttp's streaming
//     client reads as a clean io.EOF; CutMidChunk hijacks the connection
//     and drops it inside a chunk, which reads as an error. Gateways must
//     treat a stream without its terminal event (message_stop,
//     response.completed, [DONE], a Gemini finishReason) as broken.
//   - Cut, StreamError and Replay steps stream even when the request asked
//     for JSON.
//   - Gemini and Code Assist streams end events with CRLF ("\r\n\r\n"), as
//     Google does. A revoked Gemini API key is a 400 INVALID_ARGUMENT with
//     reason API_KEY_INVALID, not a 401.
//   - Response ownership (ResponseOwner, the previous_response_id check)
//     and Code Assist onboarding are per credential, so they do not
//     survive a token refresh. A previous_response_id the mock never
//     issued is accepted.
//   - A lone Anthropic-style Bearer GET /v1/models gets the OpenAI shape;
//     Anthropic clients send anthropic-version, which selects theirs.
//   - count_tokens, models, loadCodeAssist and onboardUser never consume
//     scripted steps.
//   - Access tokens issued by the token endpoints are numbered from 1 per
//     Server and Reset; two mocks in one test may issue equal tokens.
//     TokenRequests counts all three endpoints; TokenRequestsTo one.
//   - Reset forgets everything, including seeded codes, refresh tokens,
//     revocations, response owners and onboarding.
package upstreamtest
