package metrics

import (
	"cmp"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"subgate/ledger"
	"subgate/sched"
)

// maxModelLabels bounds the model label's values: model names come from
// clients, and a series per invented name would grow without end.
const maxModelLabels = 256

// Labels are a finished request's labels.
type Labels struct {
	Proto, Key, Account, Model string
	Status                     int
}

type reqCounters struct {
	requests, input, output, cacheWrite, cacheRead, cost atomic.Int64
}

// Histogram is a fixed-bucket latency histogram with atomic counters.
type Histogram struct {
	counts [len(latencyBuckets) + 1]atomic.Uint64
	sumUS  atomic.Uint64
}

var latencyBuckets = [...]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Observe counts one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets[:], s)
	h.counts[i].Add(1)
	h.sumUS.Add(uint64(d.Microseconds()))
}

// Metrics counts what the gateway does; Write renders it together with
// the scheduler's and the ledger's state read at scrape time.
type Metrics struct {
	// reqs is read on every request with one atomic load and no lock,
	// whose shared counter both cores would write; a new label set
	// (rare) copies the map under mu.
	reqs      atomic.Pointer[map[Labels]*reqCounters]
	mu        sync.Mutex
	models    map[string]bool // under mu
	failovers [numKinds]atomic.Uint64
	refusals  atomic.Uint64
	// ledgerRefusals counts the 503s of keys with spend limits while the
	// ledger cannot write (also in refusals).
	ledgerRefusals atomic.Uint64
	// counts counts count_tokens calls, which have no usage and no ledger
	// record; keys come from the admin and statuses are few, so the map
	// stays small.
	counts map[countLabels]*atomic.Uint64 // under mu
	// Upstream is the time to upstream response headers, TTFT the time
	// to a stream's first byte.
	Upstream, TTFT Histogram
}

// numKinds sizes per-kind counters: one per sched.Kind.
const numKinds = int(sched.ServerError) + 1

var kindNames = [numKinds]string{"success", "canceled", "request_error", "rate_limited", "overloaded", "auth_failed", "forbidden", "server_error"}

type countLabels struct {
	proto, key string
	status     int
}

// New returns empty metrics.
func New() *Metrics {
	m := &Metrics{models: make(map[string]bool), counts: make(map[countLabels]*atomic.Uint64)}
	m.reqs.Store(&map[Labels]*reqCounters{})
	return m
}

func (m *Metrics) counters(l Labels) *reqCounters {
	if c := (*m.reqs.Load())[l]; c != nil {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.models[l.Model] {
		if len(m.models) >= maxModelLabels {
			l.Model = "other"
		} else {
			m.models[l.Model] = true
		}
	}
	old := *m.reqs.Load()
	if c := old[l]; c != nil {
		return c
	}
	next := make(map[Labels]*reqCounters, len(old)+1)
	maps.Copy(next, old)
	c := &reqCounters{}
	next[l] = c
	m.reqs.Store(&next)
	return c
}

// Request counts a finished request with its usage and its cost at list
// price (micro-USD).
func (m *Metrics) Request(l Labels, u ledger.Usage, cost int64) {
	c := m.counters(l)
	c.requests.Add(1)
	c.input.Add(u.InputTokens)
	c.output.Add(u.OutputTokens)
	c.cacheWrite.Add(u.CacheCreationTokens)
	c.cacheRead.Add(u.CacheReadTokens)
	c.cost.Add(cost)
}

// CountTokens counts one count_tokens call, which has no usage and no
// ledger record.
func (m *Metrics) CountTokens(proto, key string, status int) {
	l := countLabels{proto, key, status}
	m.mu.Lock()
	c := m.counts[l]
	if c == nil {
		c = new(atomic.Uint64)
		m.counts[l] = c
	}
	m.mu.Unlock()
	c.Add(1)
}

// countSeries returns the count_tokens counters in label order.
func (m *Metrics) countSeries() []countValue {
	m.mu.Lock()
	out := make([]countValue, 0, len(m.counts))
	for l, c := range m.counts {
		out = append(out, countValue{l, c.Load()})
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b countValue) int {
		return cmp.Or(cmp.Compare(a.proto, b.proto), cmp.Compare(a.key, b.key), cmp.Compare(a.status, b.status))
	})
	return out
}

type countValue struct {
	countLabels
	n uint64
}

// Failover counts an upstream attempt that failed over, by the outcome
// the account got.
func (m *Metrics) Failover(k sched.Kind) { m.failovers[k].Add(1) }

// Refusal counts a request refused before it reached an upstream;
// ledgerDown marks the 503s of keys with spend limits while the ledger
// cannot write.
func (m *Metrics) Refusal(ledgerDown bool) {
	m.refusals.Add(1)
	if ledgerDown {
		m.ledgerRefusals.Add(1)
	}
}
