package webui

import (
	"time"

	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/sched"
)

// topN is how many keys, accounts and models the dashboard ranks.
const topN = 8

// countsView is ledger.Counts with money in USD.
type countsView struct {
	Requests            int64   `json:"requests"`
	Errors              int64   `json:"errors"`
	Refusals            int64   `json:"refusals"`
	Intercepted         int64   `json:"intercepted"`
	InputTokens         int64   `json:"input_tokens"`
	OutputTokens        int64   `json:"output_tokens"`
	CacheCreationTokens int64   `json:"cache_creation_tokens"`
	CacheReadTokens     int64   `json:"cache_read_tokens"`
	CostUSD             float64 `json:"cost_usd"`
	ListUSD             float64 `json:"list_usd"`
}

func countsOf(c ledger.Counts) countsView {
	return countsView{Requests: c.Requests, Errors: c.Errors, Refusals: c.Refusals,
		Intercepted: c.Intercepted, InputTokens: c.InputTokens, OutputTokens: c.OutputTokens,
		CacheCreationTokens: c.CacheCreationTokens, CacheReadTokens: c.CacheReadTokens,
		CostUSD: ledger.MicrosToUSD(c.CostMicros), ListUSD: ledger.MicrosToUSD(c.ListMicros)}
}

type pointView struct {
	Start time.Time `json:"start"`
	countsView
}

type groupView struct {
	Name string `json:"name"`
	countsView
}

// dashboard serves GET /admin/api/dashboard?range=24h|30d: a series by
// hour or day, totals, top keys/accounts/models (all from rollups) and
// the live pool.
func (h *Handler) dashboard(ctx *fasthttp.RequestCtx, _ []string) {
	now := h.now()
	rng := string(ctx.QueryArgs().Peek("range"))
	var from time.Time
	var step time.Duration
	switch rng {
	case "", "24h":
		rng, step, from = "24h", time.Hour, now.Add(-23*time.Hour)
	case "30d":
		step, from = 24*time.Hour, now.AddDate(0, 0, -29)
	default:
		badField(ctx, "range", "want 24h or 30d")
		return
	}
	series, totals := []pointView{}, ledger.Counts{}
	top := map[string][]groupView{"keys": {}, "accounts": {}, "models": {}}
	if st := h.cfg.Ledger; st != nil {
		points, err := st.Summary(from, now, step)
		if err != nil {
			h.fail(ctx, "dashboard", err)
			return
		}
		for _, p := range points {
			series = append(series, pointView{Start: p.Start, countsView: countsOf(p.Counts)})
			totals.Add(p.Counts)
		}
		if len(points) > 0 {
			from = points[0].Start
		}
		for name, by := range map[string]string{"keys": "key", "accounts": "account", "models": "model"} {
			groups, err := st.Top(from, now, by, topN)
			if err != nil {
				h.fail(ctx, "dashboard", err)
				return
			}
			for _, g := range groups {
				top[name] = append(top[name], groupView{Name: g.Name, countsView: countsOf(g.Counts)})
			}
		}
	}
	inFlight, queued := h.cfg.Sched.Stats()
	health := map[string]int{}
	for _, a := range h.cfg.Sched.Status() {
		health[string(a.State)]++
	}
	writeJSON(ctx, map[string]any{
		"range": rng, "step_seconds": int(step.Seconds()), "from": from, "to": now,
		"series": series, "totals": countsOf(totals), "top": top,
		"live":     map[string]int{"in_flight": inFlight, "queued": queued},
		"accounts": health,
	})
}

type bindingView struct {
	sched.Binding
	AgeSeconds int64 `json:"age_s"`
}

// listSessions serves GET /admin/api/sessions: the live sticky bindings.
func (h *Handler) listSessions(ctx *fasthttp.RequestCtx, _ []string) {
	now := h.now()
	bs := h.cfg.Sched.Sessions()
	out := make([]bindingView, len(bs))
	for i, b := range bs {
		out[i] = bindingView{Binding: b, AgeSeconds: int64(now.Sub(b.Created).Seconds())}
	}
	writeJSON(ctx, map[string]any{"sessions": out})
}

// unbindSession serves DELETE /admin/api/sessions/{id}.
func (h *Handler) unbindSession(ctx *fasthttp.RequestCtx, args []string) {
	n := h.cfg.Sched.Unbind(args[0])
	if n > 0 {
		h.log.Info("admin session unbound", "bindings", n)
	}
	writeJSON(ctx, map[string]any{"unbound": n})
}
