// Package proxy is the gateway: a fasthttp server whose handlers run every
// API family — Anthropic Messages (anthropic.go), OpenAI Responses, Chat
// Completions and the ChatGPT Codex backend (openai.go), Gemini and Code
// Assist (gemini.go) — through one failover loop (loop.go), and relay the
// answer, streamed (relay.go, sse.go) or buffered.
//
// A protocol is a value implementing Protocol: it reads what scheduling
// needs from a body with gjson, rewrites the body for an account with
// sjson, classifies upstream replies into sched outcomes, reads usage, and
// writes errors in its own shape. Everything else is shared.
//
// Invariants:
//   - Every lease is released exactly once, on every path: success, upstream
//     error, client hang-up, timeout, shutdown. The stream writer owns the
//     lease once a stream is committed; the handler owns it before.
//   - No failover after the first byte reached the client.
//   - A client's credential never goes upstream; an upstream credential
//     never reaches a client, a log line or an error message.
//   - Memory per stream is bounded: one read buffer handed between two
//     goroutines, plus at most one held-back SSE line (maxLine).
//   - Nothing on the request path unmarshals a body, commits to bbolt or
//     holds a lock across I/O. Ledger records go to the ledger's in-memory queue.
//   - Every request ends in exactly one ledger record (or none for
//     count_tokens calls that were not refused, model lists, and the 503s
//     of a failing ledger), which settles its budget reservation before
//     the lease is released: a waiter rechecks its budget on getting the
//     slot (stillAdmitted).
//   - A rotated OAuth token is saved before its access token is used; one
//     that cannot be saved (after a few tries) is never used, and its
//     account goes to error (Tokens, ErrTokenNotPersisted).
//   - A keepalive is only ever bytes every official client of the
//     protocol skips (Protocol.Keepalive; docs/clients.md). A protocol
//     without one (Gemini) never commits a queued stream early and relays
//     upstream silence as silence; TCP keepalive, on for every accepted
//     connection (lazyListener), keeps such streams' connections alive.
//
// Caveats:
//   - fasthttp does not read a connection while its handler runs, so client
//     hang-ups are found by a watcher that peeks at waiting sockets (Linux
//     and other unix systems; TLS connections are noticed on the next
//     failed write instead).
//   - fasthttp's client cannot be cancelled mid-call. Buffered calls run on
//     the handler's goroutine through the interruptible transport, which
//     cuts the read with a past deadline when the request's context is
//     canceled. Streaming calls run on a goroutine of their own; an
//     abandoned one runs on until the upstream sends headers or the header
//     timeout strikes, and its stream is closed as soon as they arrive.
//   - A request's context (runCtx) is not a child of the server's: every
//     request joins the watcher's list, and shutdown cancels the list.
//   - Finished runs are reused (runs, a sync.Pool), but only when nothing
//     can still reach one: not a stream writer's run, not one whose
//     context's Done channel or AfterFunc was handed out, and not one whose
//     watch the watcher ever collected into a batch (it may peek at a
//     batch after the request ended; such runs are left to the GC).
//   - Timeouts are coarse by design: a client connection's read deadline
//     (lazyConn) and a pooled upstream connection's header deadline
//     (deadlineConn) are moved only when they are off by more than a
//     slack, so a timeout may fire slightly early or late (at most a
//     second, or a 64th of the header timeout). Interrupts are exact.
package proxy
