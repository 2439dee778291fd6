// Package errrules decides what a non-2xx upstream reply means: answer
// the client with it or fail over, and what it does to the account's
// health. It replaces the fixed table of proxy/errors.go classify with an
// ordered rule list: the admin's rules first (the config file's
// [[error_rules]], then those added in the admin UI: the gateway builds a
// new Engine when they change and swaps it atomically), then built-in
// defaults that reproduce today's table (scheduling.md, "Upstream replies
// and account health") with two deliberate changes:
//
//   - default:credential: a 400, 401 or 403 whose body says the
//     credential, account or organization is dead (revoked, disabled,
//     deactivated, suspended, invalid key) puts the account in error.
//     Anthropic says "This organization has been disabled." with a 400 and
//     Google "API key not valid" with a 400; the old table relayed both to
//     the client forever.
//   - default:forbidden-api-key (issue 13, "one request cannot bench a
//     pool"): any other 403 on an api_key account goes back to the client
//     unchanged with no penalty. Decision.Strike marks it; Strikes counts
//     the first such 403 from each client key within a window as a server
//     error, so only 403s from several different keys (FailureThreshold in
//     a row, by sched's own rule) put the account in its short cooldown.
//
// # Contract with the gateway
//
// The protocol builds a Reply (its error type, its overloaded signal, its
// reset parser and, for a limit of one model family, its Scope) and calls
// Engine.Decide. A rate-limit decision that rests the account until the
// upstream's reset (default:rate-limit, a bench with cooldown "reset")
// carries the Scope into Outcome.Scope, so sched benches that family only.
// Then:
//
//	if d.Strike && strikes.Count(acct.Name, key.Name, now) {
//		d.Outcome.Kind = sched.ServerError
//	}
//	if d.Relay {            // lease.Release(d.Outcome), then answer:
//		// d.Message == "": status d.Status with the upstream body
//		// d.Message != "": the protocol's WriteError(d.Status, kindOf(d.Status), d.Message)
//	} else {
//		// fail over: r.next(lease, acct, d.Outcome), and use d.Class (not
//		// d.Outcome.Kind) for the client's error if every account fails:
//		// the last reply itself for a RateLimited, Overloaded or
//		// ServerError class, the safe message for the others
//	}
//
// # Invariants
//
//   - Decide is pure: no I/O, no clock except Config.Now for fixed bench
//     cooldowns, no state; an Engine is immutable and safe for concurrent
//     use.
//   - Every regexp is compiled once, in New; RE2 matching is linear in the
//     input, and the input is at most MaxInspect bytes of the body.
//   - A reason never holds message text from the body, only the status,
//     the upstream's error type (bounded) and the rule's name.
//   - The last built-in rule matches every reply, so Decide always decides.
//
// # Caveats
//
//   - A bench for a fixed duration is recorded as sched.RateLimited (the
//     scheduler has no other kind that rests until a given time); its
//     reason names the rule. Every cooldown is still capped by
//     scheduler.max_cooldown.
//   - A rewrite's client error kind is derived from its status by the
//     gateway; a rule cannot name one.
package errrules
