package proxy

import (
	"bufio"
	"cmp"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/sched"
)

// maxModelLabels bounds the model label's values: model names come from
// clients, and a series per invented name would grow without end.
const maxModelLabels = 256

type reqLabels struct {
	proto, key, account, model string
	status                     int
}

type reqCounters struct {
	requests, input, output, cacheWrite, cacheRead, cost atomic.Int64
}

// histogram is a fixed-bucket latency histogram with atomic counters.
type histogram struct {
	counts [len(latencyBuckets) + 1]atomic.Uint64
	sumUS  atomic.Uint64
}

var latencyBuckets = [...]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets[:], s)
	h.counts[i].Add(1)
	h.sumUS.Add(uint64(d.Microseconds()))
}

// metrics counts what the gateway does; /metrics renders it together with
// the scheduler's and the ledger's state read at scrape time.
type metrics struct {
	// reqs is read on every request with one atomic load and no lock,
	// whose shared counter both cores would write; a new label set
	// (rare) copies the map under mu.
	reqs      atomic.Pointer[map[reqLabels]*reqCounters]
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
	counts   map[countLabels]*atomic.Uint64 // under mu
	upstream histogram                      // time to upstream response headers
	ttft     histogram                      // time to first streamed byte
}

// numKinds sizes per-kind counters: one per sched.Kind.
const numKinds = int(sched.ServerError) + 1

var kindNames = [numKinds]string{"success", "canceled", "request_error", "rate_limited", "overloaded", "auth_failed", "forbidden", "server_error"}

type countLabels struct {
	proto, key string
	status     int
}

func newMetrics() *metrics {
	m := &metrics{models: make(map[string]bool), counts: make(map[countLabels]*atomic.Uint64)}
	m.reqs.Store(&map[reqLabels]*reqCounters{})
	return m
}

func (m *metrics) counters(l reqLabels) *reqCounters {
	if c := (*m.reqs.Load())[l]; c != nil {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.models[l.model] {
		if len(m.models) >= maxModelLabels {
			l.model = "other"
		} else {
			m.models[l.model] = true
		}
	}
	old := *m.reqs.Load()
	if c := old[l]; c != nil {
		return c
	}
	next := make(map[reqLabels]*reqCounters, len(old)+1)
	maps.Copy(next, old)
	c := &reqCounters{}
	next[l] = c
	m.reqs.Store(&next)
	return c
}

func (m *metrics) request(l reqLabels, u ledger.Usage, cost int64) {
	c := m.counters(l)
	c.requests.Add(1)
	c.input.Add(u.InputTokens)
	c.output.Add(u.OutputTokens)
	c.cacheWrite.Add(u.CacheCreationTokens)
	c.cacheRead.Add(u.CacheReadTokens)
	c.cost.Add(cost)
}

// countTokens counts one count_tokens call.
func (m *metrics) countTokens(proto, key string, status int) {
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
func (m *metrics) countSeries() []countValue {
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

// metricsHandler serves GET /metrics in the Prometheus text format.
func (s *Server) metricsHandler(ctx *fasthttp.RequestCtx) {
	if !s.metricsAllowed(ctx) {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="subgate metrics"`)
		ctx.SetStatusCode(fasthttp.StatusUnauthorized)
		ctx.SetBodyString("unauthorized: send the metrics token or the admin token as a Bearer token\n")
		return
	}
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) { s.writeMetrics(w) })
}

func (s *Server) writeMetrics(w *bufio.Writer) {
	m := s.metrics
	reqs := *m.reqs.Load()
	labels := make([]reqLabels, 0, len(reqs))
	for l := range reqs {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool { return lessLabels(labels[i], labels[j]) })

	series := func(name, help, typ string, each func()) {
		w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
		each()
	}
	req := func(name string, get func(*reqCounters) int64, extra string) {
		for _, l := range labels {
			c := reqs[l]
			w.WriteString(name + "{protocol=" + q(l.proto) + ",status=\"" + strconv.Itoa(l.status) + "\",key=" + q(l.key) +
				",account=" + q(l.account) + ",model=" + q(l.model) + extra + "} " + strconv.FormatInt(get(c), 10) + "\n")
		}
	}
	series("subgate_requests_total", "Requests by protocol, status, key, account and model.", "counter", func() {
		req("subgate_requests_total", func(c *reqCounters) int64 { return c.requests.Load() }, "")
	})
	series("subgate_tokens_total", "Tokens by kind.", "counter", func() {
		req("subgate_tokens_total", func(c *reqCounters) int64 { return c.input.Load() }, `,kind="input"`)
		req("subgate_tokens_total", func(c *reqCounters) int64 { return c.output.Load() }, `,kind="output"`)
		req("subgate_tokens_total", func(c *reqCounters) int64 { return c.cacheWrite.Load() }, `,kind="cache_write"`)
		req("subgate_tokens_total", func(c *reqCounters) int64 { return c.cacheRead.Load() }, `,kind="cache_read"`)
	})
	series("subgate_cost_usd_total", "Cost at list price in USD.", "counter", func() {
		for _, l := range labels {
			c := reqs[l]
			w.WriteString("subgate_cost_usd_total{key=" + q(l.key) + ",account=" + q(l.account) + ",model=" + q(l.model) +
				",status=\"" + strconv.Itoa(l.status) + "\",protocol=" + q(l.proto) + "} " + strconv.FormatFloat(float64(c.cost.Load())/1e6, 'f', 6, 64) + "\n")
		}
	})
	series("subgate_failovers_total", "Upstream attempts that failed over, by cause.", "counter", func() {
		for k := range m.failovers {
			w.WriteString("subgate_failovers_total{cause=\"" + kindNames[k] + "\"} " + strconv.FormatUint(m.failovers[k].Load(), 10) + "\n")
		}
	})
	series("subgate_refusals_total", "Requests refused before reaching an upstream.", "counter", func() {
		w.WriteString("subgate_refusals_total " + strconv.FormatUint(m.refusals.Load(), 10) + "\n")
	})
	series("subgate_count_tokens_total", "count_tokens/countTokens calls by protocol, key and status.", "counter", func() {
		for _, c := range m.countSeries() {
			w.WriteString("subgate_count_tokens_total{protocol=" + q(c.proto) + ",key=" + q(c.key) +
				",status=\"" + strconv.Itoa(c.status) + "\"} " + strconv.FormatUint(c.n, 10) + "\n")
		}
	})
	writeHistogram(w, "subgate_upstream_header_seconds", "Time to the upstream's response headers.", &m.upstream)
	writeHistogram(w, "subgate_ttft_seconds", "Time to the first streamed byte.", &m.ttft)
	if s.sched != nil {
		st := s.sched.Status()
		series("subgate_account_in_flight", "Requests in flight per account.", "gauge", func() {
			for _, a := range st {
				w.WriteString("subgate_account_in_flight{account=" + q(a.Name) + "} " + strconv.Itoa(a.InFlight) + "\n")
			}
		})
		series("subgate_account_queued", "Requests waiting per account.", "gauge", func() {
			for _, a := range st {
				w.WriteString("subgate_account_queued{account=" + q(a.Name) + "} " + strconv.Itoa(a.Waiting) + "\n")
			}
		})
		series("subgate_account_state", "1 for the account's current health state.", "gauge", func() {
			for _, a := range st {
				w.WriteString("subgate_account_state{account=" + q(a.Name) + ",state=" + q(string(a.State)) + "} 1\n")
			}
		})
	}
	if s.ledger != nil {
		queued, commits, last := s.ledger.Stats()
		series("subgate_ledger_queue_depth", "Usage records waiting for the writer.", "gauge", func() {
			w.WriteString("subgate_ledger_queue_depth " + strconv.Itoa(queued) + "\n")
		})
		series("subgate_ledger_commits_total", "Group commits of the ledger writer.", "counter", func() {
			w.WriteString("subgate_ledger_commits_total " + strconv.FormatUint(commits, 10) + "\n")
		})
		series("subgate_ledger_commit_seconds", "Duration of the last ledger commit.", "gauge", func() {
			w.WriteString("subgate_ledger_commit_seconds " + strconv.FormatFloat(last.Seconds(), 'f', 6, 64) + "\n")
		})
		s.writeLedgerHealth(w, series)
	}
	ok, failed := s.tokens.Refreshes()
	series("subgate_token_refreshes_total", "OAuth token refreshes by result.", "counter", func() {
		w.WriteString("subgate_token_refreshes_total{result=\"ok\"} " + strconv.FormatUint(ok, 10) + "\n")
		w.WriteString("subgate_token_refreshes_total{result=\"error\"} " + strconv.FormatUint(failed, 10) + "\n")
	})
	if rl := s.cfg.RequestLog; rl != nil {
		series("subgate_log_dropped_total", "Request log lines lost: the log destination fell behind or failed.", "counter", func() {
			w.WriteString("subgate_log_dropped_total " + strconv.FormatUint(rl.Stats().Dropped, 10) + "\n")
		})
	}
}

// writeLedgerHealth writes the series that show a failing store: records
// waiting in memory, failed appends, records lost, and the refusals of
// keys with spend limits meanwhile.
func (s *Server) writeLedgerHealth(w *bufio.Writer, series func(name, help, typ string, each func())) {
	l := s.ledger
	failing := "0"
	if l.StoreFailing() {
		failing = "1"
	}
	series("subgate_ledger_pending", "Usage records not yet written: queued, or kept in memory while the store fails.", "gauge", func() {
		w.WriteString("subgate_ledger_pending " + strconv.Itoa(l.Pending()) + "\n")
	})
	series("subgate_ledger_store_failing", "1 while the ledger's store rejects writes.", "gauge", func() {
		w.WriteString("subgate_ledger_store_failing " + failing + "\n")
	})
	series("subgate_ledger_write_errors_total", "Ledger store writes that failed (each is retried).", "counter", func() {
		w.WriteString("subgate_ledger_write_errors_total " + strconv.FormatUint(l.WriteErrors(), 10) + "\n")
	})
	series("subgate_ledger_dropped_total", "Usage records lost: past [ledger] max_pending, or still rejected at shutdown.", "counter", func() {
		w.WriteString("subgate_ledger_dropped_total " + strconv.FormatUint(l.Dropped(), 10) + "\n")
	})
	series("subgate_ledger_unavailable_total", "Requests of keys with spend limits refused (503) while the store failed.", "counter", func() {
		w.WriteString("subgate_ledger_unavailable_total " + strconv.FormatUint(s.metrics.ledgerRefusals.Load(), 10) + "\n")
	})
}

func writeHistogram(w *bufio.Writer, name, help string, h *histogram) {
	w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n")
	var cum uint64
	for i, b := range latencyBuckets {
		cum += h.counts[i].Load()
		w.WriteString(name + "_bucket{le=\"" + strconv.FormatFloat(b, 'g', -1, 64) + "\"} " + strconv.FormatUint(cum, 10) + "\n")
	}
	cum += h.counts[len(latencyBuckets)].Load()
	w.WriteString(name + "_bucket{le=\"+Inf\"} " + strconv.FormatUint(cum, 10) + "\n")
	w.WriteString(name + "_sum " + strconv.FormatFloat(float64(h.sumUS.Load())/1e6, 'f', 6, 64) + "\n")
	w.WriteString(name + "_count " + strconv.FormatUint(cum, 10) + "\n")
}

func lessLabels(a, b reqLabels) bool {
	if a.proto != b.proto {
		return a.proto < b.proto
	}
	if a.key != b.key {
		return a.key < b.key
	}
	if a.account != b.account {
		return a.account < b.account
	}
	if a.model != b.model {
		return a.model < b.model
	}
	return a.status < b.status
}

// q quotes a Prometheus label value.
func q(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}
