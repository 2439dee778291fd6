// Package proxy is the gateway: a fasthttp server (server.go) that routes
// each API family's paths to its protocol (proxy/protocol), authenticates
// the client key against an in-memory index (pool.go), applies the key's
// policy (policy.go, gate.go), and runs every request through one failover
// loop (loop.go, send.go, reply.go) before it relays the answer, streamed
// (relay.go) or buffered. Around the loop: the stream writer's waiting
// (wait.go), the request's own context (runctx.go), the watcher that
// notices hang-ups (edge.Watcher), the request log and overhead header
// (observe.go), probes of an account (probe.go), Claude Code's probes
// answered locally (intercept.go) and the estimate that bills a cut
// stream (estimate.go). Its rooms: proxy/protocol (wire formats),
// proxy/upstream (clients, egress proxies), proxy/oauth (token manager),
// proxy/metrics, proxy/edge (what a stranger meets); see
// docs/architecture.md.
//
// The loop: serve runs attempts until one ends the request. An attempt
// acquires a lease from the scheduler, checks again what a wait may have
// changed (recheck), gets the account's credentials, egress and the
// protocol's call before the request (send.go), sends, and ends with a
// result: the outcome its lease is released with, the request's ending
// if it ends here, and whether the loop goes on to another account.
//
// An attempt whose account speaks another API family than the client
// (the scheduler leases one only when the key may translate and no
// account of the client's family can serve) is translated (translate.go):
// the account's own protocol gets a served call holding the translated
// body, so credentials, Before, Prepare (the account's request rules),
// Classify, Windows and the usage readers run exactly as for a native
// request, while errors, keepalives and the ledger record keep the
// client's call. The reply goes back through proxy/protocol/translate:
// Response for a body, a Collector for a Codex stream a non-stream
// client waits for (passed-through Codex replies use it too), and the
// Stream state machine as the relay's sink (protocol.EventSink).
//
// Invariants:
//   - Every lease is settled exactly once, on every path (success,
//     upstream error, client hang-up, timeout, shutdown, panic): by the
//     deferred settle of the attempt that acquired it, or, after the one
//     hand-over of an upstream stream (commitStream), by the stream
//     writer's. settle is the only caller of Lease.Release.
//   - settle records before it releases: a request's record settles its
//     budget reservation before its slot frees, so a waiter that gets the
//     slot rechecks its budget against that spend (recheck). An event a
//     committed stream is still owed is written after the release: a
//     slow client never holds a slot.
//   - Every request ends in exactly one ledger record, or none for
//     count_tokens calls that were not refused, model lists, and the 503s
//     of a failing ledger. Each way a request can end has one record
//     site: answered or failed in the loop, run.settle (run.record);
//     refused before the loop, Server.refuse; a probe intercepted,
//     run.intercept.
//   - No failover after the first byte reached the client. Once a stream
//     is committed (a queued stream's keepalive, or the upstream's first
//     event), the run belongs to the stream writer: a queued stream's
//     loop runs on in the writer (serve), which never calls back into an
//     attempt, and the run is never reused.
//   - A client's credential never goes upstream; an upstream credential
//     never reaches a client, a log line or an error message.
//   - Upstream error replies reach the client as they came (status, body,
//     request id, retry hints) when the error rules relay them, and when
//     every account failed for the last reply of a 429, 529 or 5xx class
//     (run.poolFailed: Claude Code's retries read the wording); never one
//     about the account's own credential, which becomes the safe 502.
//   - Memory per stream is bounded: one read buffer handed between two
//     goroutines, plus at most one held-back SSE line (protocol's maxLine);
//     a translated stream adds the client's bytes of one event and the
//     translator's open block (translate.Config.MaxHeld).
//   - Nothing on the request path unmarshals a body, commits to bbolt or
//     holds a lock across I/O. Ledger records go to the ledger's in-memory
//     queue. Buffered upstream calls run on the handler's goroutine.
//   - A rotated OAuth token is saved before its access token is used; one
//     that cannot be saved (after a few tries) is never used, and its
//     account goes to error (oauth.ErrTokenNotPersisted).
//   - A keepalive is only ever bytes every official client of the
//     protocol skips (Protocol.Keepalive; docs/clients.md). A protocol
//     without one (Gemini) never commits a queued stream early and relays
//     upstream silence as silence; TCP keepalive, on for every accepted
//     connection (edge.LazyListener), keeps such streams' connections
//     alive.
//
// Caveats:
//   - fasthttp does not read a connection while its handler runs, so client
//     hang-ups are found by a watcher that peeks at waiting sockets (Linux
//     and other unix systems; TLS connections are noticed on the next
//     failed write instead).
//   - fasthttp's client cannot be cancelled mid-call. Buffered calls run on
//     the handler's goroutine through upstream's interruptible transport,
//     which cuts the read with a past deadline when the request's context
//     (runCtx, an upstream.Interruptible) is canceled. Streaming calls run
//     on a goroutine of their own; an abandoned one runs on until the
//     upstream sends headers or the header timeout strikes, and its stream
//     is closed as soon as they arrive.
//   - A request's context (runCtx) is not a child of the server's: every
//     request joins the watcher's list, and shutdown cancels the list.
//   - Finished runs are reused (runs, a sync.Pool), but only when nothing
//     can still reach one: not a stream writer's run, not one whose
//     context's Done channel or AfterFunc was handed out, and not one whose
//     watch the watcher ever collected into a batch (it may peek at a
//     batch after the request ended; such runs are left to the GC).
//   - Timeouts are coarse by design: a client connection's read deadline
//     (edge.LazyListener) and a pooled upstream connection's header
//     deadline (upstream's deadlineConn) are moved only when they are off
//     by more than a slack, so a timeout may fire slightly early or late
//     (at most a second, or a 64th of the header timeout). Interrupts are
//     exact.
//   - aliases.go keeps the names package main wires with (Account, Tokens,
//     NewTokens…) as aliases of the rooms' types.
package proxy
