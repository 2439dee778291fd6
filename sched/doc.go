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
// Behind that pair live candidate filtering (group, platform, health,
// model allow-list after the model map, exclusions), sticky sessions
// (group, session) → account with a TTL refreshed on use, ranking
// (priority, load, optionally soonest window reset, least recently used,
// name), per-account and per-key concurrency slots with FIFO wait queues,
// and the health state machine (rate limits, cooldowns, errors, disabled).
// Health and bindings are saved through a StateStore by Run, debounced, and
// restored by New; slots and queues never outlive the process.
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
//     account can serve; an account that starts cooling down, is disabled,
//     errored, removed or re-routed wakes its waiters to select again.
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
//   - Refreshing a binding's TTL does not mark the snapshot dirty; the next
//     save for another reason, or the final one, carries the new expiry.
package sched
