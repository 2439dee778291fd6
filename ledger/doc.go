// Package ledger prices requests, records their usage, keeps hourly
// rollups and enforces each key's spend limits.
//
// The proxy calls Ledger.Record once per request with the token usage it
// scanned from the upstream reply. Record fills in the cost from the
// price table (LiteLLM's model_prices_and_context_window.json: the copy
// embedded from data/, or a newer one the caller parsed with ParseTable;
// plus config overrides) and appends the record to a pending slice under a mutex; one writer
// goroutine, Ledger.Run, swaps that slice for an empty one every flush
// interval and commits the records in groups through the Store that kv
// implements. Each commit also carries the batch's rollup deltas
// (Aggregate: per UTC hour × key × account × model), which the store
// merges in the same transaction. The ledger imports neither kv nor
// fasthttp.
//
// Limits are reserve-then-settle. Before forwarding, the proxy asks
// Estimate for the request's worst case (prompt at input price plus
// max_tokens at output price, times the key's multiplier) and Reserve
// holds it against every window of the key (5h rolling; day, week and
// month in Config.Location; lifetime) and the key's RPM. Record settles
// the reservation to the real charged cost; Release drops it when the
// request failed before any usage. KeyUsage reports each window from
// memory. Dashboards read rollups only (Summary, Top, Totals); Export
// streams raw records.
//
// # Invariants
//
//   - Money is int64 micro-USD; prices are micro-USD per million tokens.
//     Cost is pure integer arithmetic: sum(tokens × price) / 1e6, rounded
//     half up. The charge is list × Multiplier, rounded half up.
//     CostMicros is what the key is charged, ListMicros the list price
//     (the account's consumption).
//   - Usage is in the ledger's normal form: InputTokens excludes cached
//     tokens. Protocols where cached tokens are a subset of input (OpenAI,
//     Gemini) subtract them before building a Usage.
//   - The spend counters in memory are the source for limits. They are
//     updated when Record is called, before the record is committed, and
//     rebuilt from the store at startup (Rebuild): totals and calendar
//     windows from rollups, the 5h window and RPM from the last 5 hours
//     of raw records. A restart never resets anyone's spend.
//   - Reserve checks and adds in one critical section under one mutex:
//     settled spend + every reservation in flight + the new estimate must
//     fit each limit. So spend can pass a limit only by what requests
//     admitted together cost beyond their estimates, summed over them:
//     with no cap on a key's requests in flight, that is a sum over all
//     of them. Recheck lets a request that waited for a slot (a key
//     concurrency limit) find out that others overshot meanwhile, which
//     bounds the sum by the key's concurrency.
//   - A record's rollup is committed in the same store transaction as the
//     record: rollups never disagree with committed records. Pruning
//     deletes raw records only; rollups are kept forever.
//   - Refused requests (Record.Refused) and intercepted ones cost 0; they
//     are counted in rollups as Refusals and Intercepted. Errors counts
//     the other requests with Status >= 400 or an Error, so the two never
//     overlap.
//   - Exactly one goroutine calls Store.Append at a time: Run while it
//     runs, Close after Run has returned.
//   - A record handed to Record before Close is never dropped silently:
//     a full queue makes Record block (Close lets blocked Records finish
//     and commits their records); a batch Store.Append rejects stays in
//     memory, in order, and is retried with backoff (50 ms doubling to
//     5 s) while later records join it, up to MaxPending. Records past
//     MaxPending, and those a failing store still rejects after a few
//     tries at Close, are dropped, logged with their count and counted
//     by Dropped. Records are committed in Record order, each once.
//   - StoreFailing is true from the first failed Append until the
//     backlog is committed; the failure and the recovery are each logged
//     once at Error, not per batch. Spend is settled before a record is
//     queued, so budgets count pending records.
//   - Queuing a record allocates nothing once the two queue slices hold
//     a flush interval's records: the writer hands its emptied slice
//     back for the next interval, so records are copied into memory that
//     is still in cache. Store.Append therefore must not keep a batch.
//
// # Caveats
//
//   - Record blocks while the queue is full. This is deliberate
//     backpressure; a Warn is logged at most once a minute.
//   - The queue slices grow on demand and keep their capacity: after a
//     burst that filled the queue, up to twice QueueSize records' worth
//     of memory (about 300 bytes each) stays allocated.
//   - Record after Close logs an error, releases the reservation and drops
//     the record. Shutdown stops the proxy before closing the ledger.
//   - Recent reads committed records only; the last few milliseconds of
//     records may still be queued.
//   - Unknown models are recorded at cost 0 with one warning per name.
//     A newer version of a known family (claude-opus-4-9) is billed like
//     the newest known row of that family; older unknown versions
//     (claude-3-5-sonnet, claude-opus-3) and ids without a version part
//     (o5) are not guessed and cost 0. Callers that must not serve such
//     a request for a key with a spend limit ask RefusesUnpriced.
//   - A table entry counts only with an input and an output price above
//     zero; its missing cache prices follow Anthropic's ratios for Claude
//     and the plain input price otherwise, which never undercharges. One
//     long-context tier per entry (the lowest "_above_<N>k_tokens").
//   - A caller that sets CostMicros itself keeps its figures (and its
//     ListMicros); the multiplier is not applied again.
//   - Estimate prices the prompt as plain input. Cache writes (1.25× or 2×
//     input) can make a request cost more than its estimate, cache reads
//     (0.1×) usually make it far cheaper; max_tokens is an upper bound on
//     output. The overshoot bound above holds for what estimates cover.
//   - The 5h window keeps one-minute buckets: spend leaves it between 5h
//     and 5h+1m after it was made, never early.
//   - Calendar windows follow the local date: around DST a day is 23 or
//     25 hours long. A late record (Time in an earlier period than the
//     key's latest) counts towards the total only.
//   - Call Rebuild before serving: a Record settled while it reads the
//     store may be counted twice or missed. Rebuild reads every rollup,
//     which takes milliseconds per hundred thousand rows.
//   - Rollups are per UTC hour. In zones with a :30 or :45 offset, Rebuild
//     scans raw records for the partial hour at a period start; dashboard
//     day steps attribute each hour to the day it starts in.
//   - A record that is finally dropped, or still pending at a crash, was
//     already counted in memory; after a restart it is gone from the
//     counters too. That is why callers refuse keys with spend limits
//     while StoreFailing.
//   - An Append that hangs (rather than fails) holds the writer: the
//     queue fills and Record blocks, as under any slow store.
//   - Model names come from clients: a rollup's model is cut to 128 bytes,
//     but many distinct names still mean many rollup rows.
//   - Price.Long is shared between lookups; treat a Price as read-only.
package ledger
