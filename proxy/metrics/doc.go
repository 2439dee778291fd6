// Package metrics counts what the gateway does and renders it, with the
// state of the scheduler, the ledger, the token manager and the request
// log read at scrape time, in the Prometheus text format (GET /metrics,
// served by package proxy).
//
// Invariants:
//   - Counting a request costs one atomic load of an immutable label map
//     and a few atomic adds; only a label set seen for the first time
//     takes the lock and copies the map.
//   - The model label, which comes from clients, takes at most
//     maxModelLabels values; later ones count as "other", so no client
//     can grow the series without end.
//   - A count_tokens call has its own series only: it is no generation
//     request and has no ledger record.
//
// Caveats:
//   - Series are never removed: a key or account deleted at runtime keeps
//     its counters until the process restarts.
package metrics
