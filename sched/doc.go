// Package sched decides which upstream account serves a request, and when.
//
// The proxy asks for a Lease with Acquire and gives it back with Release,
// handing over an Outcome that feeds the account's health:
//
//	lease, err := s.Acquire(ctx, sched.Request{Group: g, Platform: p, Model: m, Session: id})
//	if err != nil {
//		return err // ErrNoAccount, ErrQueueFull, ErrWaitTimeout, ErrClosed or ctx.Err()
//	}
//	defer lease.Release(sched.Outcome{Kind: sched.Canceled}) // no-op after the real Release
//
// Behind that pair live candidate filtering (group, health, which
// accounts serve the model for the client's platform — Route —, model
// families benched on the account, exclusions), sticky sessions (group, session) → account with a
// TTL refreshed on use, ranking (priority, load, optionally soonest window
// reset, least recently used, name), per-account and per-key concurrency
// slots with FIFO wait queues, and the health state machine (rate limits,
// cooldowns, errors, disabled, and rate limits of one model family).
// Health and bindings are saved through a StateStore by Run, debounced, as
// changes (the records that changed, not the table), and restored by New;
// slots and queues never outlive the process.
//
// # Sticky sessions
//
// A session id (Claude Code's, an OpenAI prompt_cache_key or
// previous_response_id, a header id, a content hash) is chosen by the
// client, so it is hashed (SessionID: 16 bytes of SHA-256) before any
// table holds it, and the admin sees and unbinds the hash's hex. Acquire
// only looks a binding up; the lease's Release with a Success makes or
// refreshes it, so a failed or canceled attempt never binds. Each binding
// carries the client key that made it, and a key holds at most
// MaxSessionsPerKey live bindings: one more evicts its least recently used.
//
// # Routing across platforms
//
// A group may hold accounts of several platforms, and the gateway
// translates between API families. The model decides who can serve
// (Route, ModelPlatform): an account serves its platform's models
// (claude-* anthropic; gpt-*, o<digit>*, codex-*, chatgpt-* openai;
// gemini-* gemini), the names its allow-list matches, and the aliases of
// its model map; a name no family claims goes to the client's own
// platform only. Accounts of the client's platform reach a request
// Native; others reach it Translated, and only when Request.Translate
// allows. Candidates are of the best reach present: an account that
// would translate is used only when none of the client's family can
// serve now (none in the group, all resting, excluded by failover), never
// because the family's accounts are merely busy (their queue is waited
// on), so a conversation stays in one family while it can. A slot of a
// translating account is never handed to a waiter of the family; the
// family's slots go to waiters queued on translating accounts.
//
// # Model families
//
// Family names the part of an account a limit may cover: a weekly Opus
// limit benches "opus" on that account only. A RateLimited outcome with a
// Scope benches that family until its ResetAt (capped by MaxCooldown);
// requests of the family (Request.Family, else Family of the platform and
// the account's upstream model) skip the account, and a session bound there
// moves, once, as it would off a cooling account. A Success clears its own
// family's bench only; Clear clears them all. Windows may carry a Scope
// too; Status reports them per family.
//
// # Invariants
//
//   - A lease is released exactly once: Release is idempotent, and a slot
//     is counted when a lease is made or a waiter granted and uncounted
//     only by Release, or by the Acquire that was granted a slot as its
//     context ended.
//   - Slots never outlive their lease. A failed Acquire holds nothing: a key
//     slot taken before the account phase failed is returned before the
//     error is.
//   - Release hands a freed slot straight to the head waiter of the
//     account's queue (the waiter finds it counted for itself), so a
//     queued request is never overtaken by one that arrives later. A slot
//     with nobody queued on its account may go to the oldest non-sticky
//     waiter of another account of the same group that it can serve.
//   - A queue is non-empty only while its account or key is full and the
//     account can serve each of its waiters; an account that starts
//     cooling down, is disabled, errored, removed or re-routed wakes its
//     waiters to select again, and one whose model family is benched wakes
//     that family's waiters.
//   - No client string is kept past its request: session ids are hashed
//     before they reach a table, and bindings are bounded per key.
//   - No I/O and no blocking under the mutex: the StateStore and the logger
//     are called after it is released, and waiters block on their own
//     channels.
//
// # Caveats
//
//   - Timed states (rate_limited, overloaded, cooldown) end lazily, when
//     something next looks at the account. Waiters queued elsewhere are not
//     moved to an account whose cooldown just ran out; new requests and
//     the next Release there pick it up.
//   - Load counts waiters as well as in-flight requests, so queues spread
//     over equally busy accounts instead of piling onto one.
//   - A sticky wait that times out returns ErrWaitTimeout rather than
//     falling back to another account; the proxy's failover loop decides.
//   - Success clears rate limits and cooldowns, but not error or disabled:
//     those end only by Clear or Enable (MarkError and AuthFailed set error).
//   - Wait timeouts use real timers; Config.Now only drives health,
//     bindings and last-used times.
//   - Refreshing a binding's TTL, or an account's last-used time, does not
//     wake Run; the next save for another reason, or the final one,
//     carries it. After a crash a busy session may expire up to one TTL
//     early.
//   - A binding stored under a raw session id (before ids were hashed) is
//     read under its hash and replaced by the first save.
//   - While saves fail, removals queue up to a bound (maxQueuedUnbinds
//     beyond the live bindings); past it they are forgotten, and a removed
//     binding that had not expired may come back at the next start, still
//     under its key's cap.
//   - Expired family benches, like timed states, end lazily.
package sched
