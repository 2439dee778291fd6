// Package ledger prices requests and records their usage.
//
// The proxy calls Ledger.Record once per request with the token usage it
// scanned from the upstream reply. Record fills in the cost from the
// embedded price table (spec/pricing.md, plus config overrides) and puts
// the record on a buffered channel; one writer goroutine, Ledger.Run,
// drains the channel and commits records in groups through the Store that
// kv implements. The ledger imports neither kv nor fasthttp.
//
// # Invariants
//
//   - Money is int64 micro-USD; prices are micro-USD per million tokens.
//     Cost is pure integer arithmetic: sum(tokens × price) / 1e6, rounded
//     half up.
//   - Usage is in the ledger's normal form: InputTokens excludes cached
//     tokens. Protocols where cached tokens are a subset of input (OpenAI,
//     Gemini) subtract them before building a Usage.
//   - Exactly one goroutine calls Store.Append at a time: Run while it
//     runs, Close after Run has returned.
//   - A record handed to Record before Close is never dropped silently:
//     a full queue makes Record block, and a batch Store.Append keeps
//     rejecting is dropped only after retries, logged with its size and
//     counted by Dropped.
//
// # Caveats
//
//   - Record blocks while the queue is full. This is deliberate
//     backpressure; a Warn is logged at most once a minute.
//   - Record after Close logs an error and drops the record. Shutdown
//     stops the proxy before closing the ledger.
//   - Recent reads committed records only; the last few milliseconds of
//     records may still be queued.
//   - Unknown models are recorded at cost 0 with one warning per name.
//     A newer version of a known family (claude-opus-4-9) is billed like
//     the newest known row of that family; older unknown versions
//     (claude-sonnet-4, gpt-4.1) are not guessed and cost 0.
//   - CostMicros and ListMicros are filled only when CostMicros is zero
//     and the request was not intercepted. A caller applying a key's rate
//     multiplier sets both itself.
//   - Price.Long is shared between lookups; treat a Price as read-only.
package ledger
