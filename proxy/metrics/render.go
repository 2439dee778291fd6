package metrics

import (
	"bufio"
	"sort"
	"strconv"

	"subgate/ledger"
	"subgate/proxy/reqlog"
	"subgate/sched"
)

// Sources are what Write reads at scrape time besides the counters; any
// of them may be nil.
type Sources struct {
	Sched      *sched.Scheduler
	Ledger     *ledger.Ledger
	Tokens     Refresher
	RequestLog *reqlog.Writer
}

// Refresher reports the OAuth token refreshes (oauth.Tokens).
type Refresher interface {
	Refreshes() (ok, failed uint64)
}

// Write renders the metrics in the Prometheus text format.
func (m *Metrics) Write(w *bufio.Writer, src Sources) {
	m.writeRequests(w)
	header(w, "subgate_failovers_total", "Upstream attempts that failed over, by cause.", "counter")
	for k := range m.failovers {
		w.WriteString("subgate_failovers_total{cause=\"" + kindNames[k] + "\"} " + strconv.FormatUint(m.failovers[k].Load(), 10) + "\n")
	}
	header(w, "subgate_refusals_total", "Requests refused before reaching an upstream.", "counter")
	w.WriteString("subgate_refusals_total " + strconv.FormatUint(m.refusals.Load(), 10) + "\n")
	header(w, "subgate_count_tokens_total", "count_tokens/countTokens calls by protocol, key and status.", "counter")
	for _, c := range m.countSeries() {
		w.WriteString("subgate_count_tokens_total{protocol=" + q(c.proto) + ",key=" + q(c.key) +
			",status=\"" + strconv.Itoa(c.status) + "\"} " + strconv.FormatUint(c.n, 10) + "\n")
	}
	writeHistogram(w, "subgate_upstream_header_seconds", "Time to the upstream's response headers.", &m.Upstream)
	writeHistogram(w, "subgate_ttft_seconds", "Time to the first streamed byte.", &m.TTFT)
	if src.Sched != nil {
		writeSched(w, src.Sched.Status())
	}
	if src.Ledger != nil {
		m.writeLedger(w, src.Ledger)
	}
	if src.Tokens != nil {
		ok, failed := src.Tokens.Refreshes()
		header(w, "subgate_token_refreshes_total", "OAuth token refreshes by result.", "counter")
		w.WriteString("subgate_token_refreshes_total{result=\"ok\"} " + strconv.FormatUint(ok, 10) + "\n")
		w.WriteString("subgate_token_refreshes_total{result=\"error\"} " + strconv.FormatUint(failed, 10) + "\n")
	}
	if rl := src.RequestLog; rl != nil {
		header(w, "subgate_log_dropped_total", "Request log lines lost: the log destination fell behind or failed.", "counter")
		w.WriteString("subgate_log_dropped_total " + strconv.FormatUint(rl.Stats().Dropped, 10) + "\n")
	}
}

// header starts a series.
func header(w *bufio.Writer, name, help, typ string) {
	w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
}

// writeRequests writes the per-request series, in label order.
func (m *Metrics) writeRequests(w *bufio.Writer) {
	reqs := *m.reqs.Load()
	labels := make([]Labels, 0, len(reqs))
	for l := range reqs {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool { return lessLabels(labels[i], labels[j]) })
	req := func(name string, get func(*reqCounters) int64, extra string) {
		for _, l := range labels {
			c := reqs[l]
			w.WriteString(name + "{protocol=" + q(l.Proto) + ",status=\"" + strconv.Itoa(l.Status) + "\",key=" + q(l.Key) +
				",account=" + q(l.Account) + ",model=" + q(l.Model) + extra + "} " + strconv.FormatInt(get(c), 10) + "\n")
		}
	}
	header(w, "subgate_requests_total", "Requests by protocol, status, key, account and model.", "counter")
	req("subgate_requests_total", func(c *reqCounters) int64 { return c.requests.Load() }, "")
	header(w, "subgate_tokens_total", "Tokens by kind.", "counter")
	req("subgate_tokens_total", func(c *reqCounters) int64 { return c.input.Load() }, `,kind="input"`)
	req("subgate_tokens_total", func(c *reqCounters) int64 { return c.output.Load() }, `,kind="output"`)
	req("subgate_tokens_total", func(c *reqCounters) int64 { return c.cacheWrite.Load() }, `,kind="cache_write"`)
	req("subgate_tokens_total", func(c *reqCounters) int64 { return c.cacheRead.Load() }, `,kind="cache_read"`)
	header(w, "subgate_cost_usd_total", "Cost at list price in USD.", "counter")
	for _, l := range labels {
		c := reqs[l]
		w.WriteString("subgate_cost_usd_total{key=" + q(l.Key) + ",account=" + q(l.Account) + ",model=" + q(l.Model) +
			",status=\"" + strconv.Itoa(l.Status) + "\",protocol=" + q(l.Proto) + "} " + strconv.FormatFloat(float64(c.cost.Load())/1e6, 'f', 6, 64) + "\n")
	}
}

// writeSched writes the accounts' state as the scheduler reports it.
func writeSched(w *bufio.Writer, st []sched.AccountStatus) {
	header(w, "subgate_account_in_flight", "Requests in flight per account.", "gauge")
	for _, a := range st {
		w.WriteString("subgate_account_in_flight{account=" + q(a.Name) + "} " + strconv.Itoa(a.InFlight) + "\n")
	}
	header(w, "subgate_account_queued", "Requests waiting per account.", "gauge")
	for _, a := range st {
		w.WriteString("subgate_account_queued{account=" + q(a.Name) + "} " + strconv.Itoa(a.Waiting) + "\n")
	}
	header(w, "subgate_account_state", "1 for the account's current health state.", "gauge")
	for _, a := range st {
		w.WriteString("subgate_account_state{account=" + q(a.Name) + ",state=" + q(string(a.State)) + "} 1\n")
	}
}

// writeLedger writes the ledger writer's series, and those that show a
// failing store: records waiting in memory, failed appends, records
// lost, and the refusals of keys with spend limits meanwhile.
func (m *Metrics) writeLedger(w *bufio.Writer, l *ledger.Ledger) {
	queued, commits, last := l.Stats()
	header(w, "subgate_ledger_queue_depth", "Usage records waiting for the writer.", "gauge")
	w.WriteString("subgate_ledger_queue_depth " + strconv.Itoa(queued) + "\n")
	header(w, "subgate_ledger_commits_total", "Group commits of the ledger writer.", "counter")
	w.WriteString("subgate_ledger_commits_total " + strconv.FormatUint(commits, 10) + "\n")
	header(w, "subgate_ledger_commit_seconds", "Duration of the last ledger commit.", "gauge")
	w.WriteString("subgate_ledger_commit_seconds " + strconv.FormatFloat(last.Seconds(), 'f', 6, 64) + "\n")
	failing := "0"
	if l.StoreFailing() {
		failing = "1"
	}
	header(w, "subgate_ledger_pending", "Usage records not yet written: queued, or kept in memory while the store fails.", "gauge")
	w.WriteString("subgate_ledger_pending " + strconv.Itoa(l.Pending()) + "\n")
	header(w, "subgate_ledger_store_failing", "1 while the ledger's store rejects writes.", "gauge")
	w.WriteString("subgate_ledger_store_failing " + failing + "\n")
	header(w, "subgate_ledger_write_errors_total", "Ledger store writes that failed (each is retried).", "counter")
	w.WriteString("subgate_ledger_write_errors_total " + strconv.FormatUint(l.WriteErrors(), 10) + "\n")
	header(w, "subgate_ledger_dropped_total", "Usage records lost: past [ledger] max_pending, or still rejected at shutdown.", "counter")
	w.WriteString("subgate_ledger_dropped_total " + strconv.FormatUint(l.Dropped(), 10) + "\n")
	header(w, "subgate_ledger_unavailable_total", "Requests of keys with spend limits refused (503) while the store failed.", "counter")
	w.WriteString("subgate_ledger_unavailable_total " + strconv.FormatUint(m.ledgerRefusals.Load(), 10) + "\n")
}

func writeHistogram(w *bufio.Writer, name, help string, h *Histogram) {
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

func lessLabels(a, b Labels) bool {
	if a.Proto != b.Proto {
		return a.Proto < b.Proto
	}
	if a.Key != b.Key {
		return a.Key < b.Key
	}
	if a.Account != b.Account {
		return a.Account < b.Account
	}
	if a.Model != b.Model {
		return a.Model < b.Model
	}
	return a.Status < b.Status
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
