// Package upstreamtest is a scriptable mock of the Anthropic API for the
// gateway's end-to-end tests and benchmarks. It speaks the real wire format:
// Messages (JSON and SSE), count_tokens, models, Anthropic error bodies,
// unified subscription rate-limit headers and the Claude OAuth token
// endpoint with rotating refresh tokens.
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
// Each POST /v1/messages pops one Step from the queue of the credential it
// carries (the x-api-key value or the Bearer token); an empty queue means
// the default step, a normal success. Every request is recorded and can be
// read back with Requests and Count.
//
// # Invariants
//
//   - Credential checks happen before a step is popped, as in the real API:
//     a missing or revoked credential is a 401, an OAuth token (Bearer
//     sk-ant-oat…) without the oauth-2025-04-20 beta is a 401, and unless
//     Config.LaxOAuth an OAuth request whose system prompt does not open
//     with "You are Claude Code" is a 400. Any other credential is valid.
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
//     treat a stream without message_stop as broken either way.
//   - A client that disconnects is noticed only at the next write, so a
//     Delay before the headers always runs to its end (or to Close).
//   - count_tokens and models never consume scripted steps.
//   - Access tokens issued by the token endpoint are numbered from 1 per
//     Server and Reset; two mocks in one test may issue equal tokens.
//   - Reset forgets everything, including seeded codes, refresh tokens and
//     revocations.
package upstreamtest
