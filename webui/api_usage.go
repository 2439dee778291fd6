package webui

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/ledger"
)

const (
	defaultUsageLimit = 100
	maxUsageLimit     = 10000
	// firstSpan is the first slice of time a filtered page scans back
	// from its cursor; each further slice is four times longer, up to
	// maxSpan, so a page of recent records reads little.
	firstSpan = time.Hour
	maxSpan   = 30 * 24 * time.Hour
	// historyStart bounds a scan without a from.
	historyStart = 10 * 365 * 24 * time.Hour
)

type usageRecord struct {
	Time                time.Time `json:"time"`
	Key                 string    `json:"key"`
	Account             string    `json:"account"`
	Platform            string    `json:"platform,omitempty"`
	Model               string    `json:"model"`
	UpstreamModel       string    `json:"upstream_model"`
	InputTokens         int64     `json:"input_tokens"`
	OutputTokens        int64     `json:"output_tokens"`
	CacheCreationTokens int64     `json:"cache_creation_tokens"`
	CacheCreation5m     int64     `json:"cache_creation_5m_tokens"`
	CacheCreation1h     int64     `json:"cache_creation_1h_tokens"`
	CacheReadTokens     int64     `json:"cache_read_tokens"`
	CostUSD             float64   `json:"cost_usd"`
	ListUSD             float64   `json:"list_usd"`
	Stream              bool      `json:"stream"`
	Status              int       `json:"status"`
	DurationMS          int64     `json:"duration_ms"`
	TTFTMS              int64     `json:"ttft_ms"`
	RequestID           string    `json:"request_id,omitempty"`
	Error               string    `json:"error,omitempty"`
	Refused             bool      `json:"refused,omitempty"`
	Intercepted         bool      `json:"intercepted,omitempty"`
	Estimated           bool      `json:"estimated,omitempty"`
}

func recordView(r *ledger.Record) usageRecord {
	return usageRecord{
		Time: r.Time, Key: r.Key, Account: r.Account, Platform: r.Platform, Model: r.Model,
		UpstreamModel: r.UpstreamModel, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
		CacheCreationTokens: r.CacheCreationTokens, CacheCreation5m: r.CacheCreation5m,
		CacheCreation1h: r.CacheCreation1h, CacheReadTokens: r.CacheReadTokens,
		CostUSD: ledger.MicrosToUSD(r.CostMicros), ListUSD: ledger.MicrosToUSD(r.ListMicros), Stream: r.Stream, Status: r.Status,
		DurationMS: r.Duration.Milliseconds(), TTFTMS: r.TTFT.Milliseconds(),
		RequestID: r.RequestID, Error: r.Error, Refused: r.Refused, Intercepted: r.Intercepted,
		Estimated: r.Estimated,
	}
}

// usageFilter selects records: every non-empty field must match.
type usageFilter struct {
	key, account, model, status string
	from, to                    time.Time // to is exclusive; zero from means the beginning
}

func (f *usageFilter) empty() bool {
	return f.key == "" && f.account == "" && f.model == "" && f.status == ""
}

func (f *usageFilter) match(r *ledger.Record) bool {
	if (f.key != "" && r.Key != f.key) || (f.account != "" && r.Account != f.account) ||
		(f.model != "" && r.Model != f.model && r.UpstreamModel != f.model) {
		return false
	}
	failed := r.Status >= 400 || r.Error != ""
	switch f.status {
	case "":
		return true
	case "ok":
		return !failed && !r.Refused
	case "error":
		return failed && !r.Refused
	case "refused":
		return r.Refused
	case "2xx", "3xx", "4xx", "5xx":
		return r.Status/100 == int(f.status[0]-'0')
	default:
		n, _ := strconv.Atoi(f.status)
		return r.Status == n
	}
}

// parseFilter reads key, account, model, status, from and to; on a bad
// value it answers 400 naming the parameter.
func (h *Handler) parseFilter(ctx *fasthttp.RequestCtx) (usageFilter, bool) {
	q := ctx.QueryArgs()
	f := usageFilter{key: string(q.Peek("key")), account: string(q.Peek("account")),
		model: string(q.Peek("model")), status: strings.ToLower(string(q.Peek("status")))}
	switch s := f.status; s {
	case "", "ok", "error", "refused", "2xx", "3xx", "4xx", "5xx":
	default:
		if n, err := strconv.Atoi(s); err != nil || n < 100 || n > 599 {
			badField(ctx, "status", "want ok, error, refused, 2xx..5xx or a status code")
			return f, false
		}
	}
	var err error
	if f.from, err = parseTime(string(q.Peek("from")), false); err != nil {
		badField(ctx, "from", err.Error())
		return f, false
	}
	if f.to, err = parseTime(string(q.Peek("to")), true); err != nil {
		badField(ctx, "to", err.Error())
		return f, false
	}
	if f.to.IsZero() {
		f.to = h.now().Add(time.Second)
	}
	if !f.from.IsZero() && !f.from.Before(f.to) {
		badField(ctx, "to", "must be after from")
		return f, false
	}
	return f, true
}

// parseTime reads RFC 3339, a date (YYYY-MM-DD, UTC; as an upper bound
// the whole day is included) or unix seconds. Empty is the zero time.
func parseTime(s string, upper bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		if upper {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, errBadTime
}

var errBadTime = errors.New("want RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02) or unix seconds")

// usage serves GET /admin/api/usage: records newest first, filtered, a
// page of limit at a time. next_before is the cursor for the next page.
func (h *Handler) usage(ctx *fasthttp.RequestCtx, _ []string) {
	q := ctx.QueryArgs()
	limit := defaultUsageLimit
	if v := q.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxUsageLimit {
			badField(ctx, "limit", "must be an integer from 1 to 10000")
			return
		}
		limit = n
	}
	f, ok := h.parseFilter(ctx)
	if !ok {
		return
	}
	var before time.Time
	if v := q.Peek("before"); len(v) > 0 {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			badField(ctx, "before", "want the next_before value of the previous page")
			return
		}
		before = time.Unix(0, n)
	}
	recs, err := h.records(f, before, limit, len(q.Peek("from")) > 0 || len(q.Peek("to")) > 0)
	if err != nil {
		h.log.Error("admin read usage", "err", err)
		writeError(ctx, fasthttp.StatusInternalServerError, "cannot read the ledger", "")
		return
	}
	out := make([]usageRecord, len(recs))
	for i := range recs {
		out[i] = recordView(&recs[i])
	}
	var next *string
	if len(recs) == limit {
		s := strconv.FormatInt(recs[len(recs)-1].Time.UnixNano(), 10)
		next = &s
	}
	writeJSON(ctx, map[string]any{"records": out, "next_before": next})
}

// records returns up to limit records that f matches with Time before
// before (zero: f.to), newest first. Without a filter, cursor or range it
// reads the newest records directly; otherwise it scans back from the
// cursor in growing slices of time, each read in time order keeping only
// its newest matches, so memory stays at one page.
func (h *Handler) records(f usageFilter, before time.Time, limit int, ranged bool) ([]ledger.Record, error) {
	st := h.cfg.Ledger
	if st == nil {
		return nil, nil
	}
	if f.empty() && before.IsZero() && !ranged {
		return st.Recent(limit)
	}
	hi := f.to
	if !before.IsZero() && before.Before(hi) {
		hi = before
	}
	lo := f.from
	if lo.IsZero() {
		lo = hi.Add(-historyStart)
	}
	var out []ledger.Record
	for span := firstSpan; hi.After(lo) && len(out) < limit; span = min(span*4, maxSpan) {
		start := hi.Add(-span)
		if start.Before(lo) {
			start = lo
		}
		chunk, err := newestMatching(st, &f, start, hi, limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, chunk...)
		hi = start
	}
	return out, nil
}

// newestMatching returns the newest n records in [from, to) that f
// matches, newest first, keeping at most n in a ring while it reads.
func newestMatching(st Stats, f *usageFilter, from, to time.Time, n int) ([]ledger.Record, error) {
	var ring []ledger.Record
	next := 0
	err := st.Export(from, to, func(r ledger.Record) bool {
		if !f.match(&r) {
			return true
		}
		if len(ring) < n {
			ring = append(ring, r)
		} else {
			ring[next] = r
			next = (next + 1) % n
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Record, 0, len(ring))
	for i := len(ring) - 1; i >= 0; i-- {
		out = append(out, ring[(next+i)%len(ring)])
	}
	return out, nil
}
