package webui

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/sched"
)

// Config configures the admin handler.
type Config struct {
	// TokenHash is the SHA-256 of the admin bearer token.
	TokenHash [32]byte
	Sched     *sched.Scheduler
	Ledger    *ledger.Ledger
	Logger    *slog.Logger
}

// Handler serves /admin/.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// New returns the admin handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, log: cfg.Logger}
}

// Handler is the fasthttp entry point for every path under /admin/.
func (h *Handler) Handler(ctx *fasthttp.RequestCtx) {
	if !h.authorized(ctx) {
		writeError(ctx, fasthttp.StatusUnauthorized, "missing or wrong admin token")
		return
	}
	path := string(ctx.Path())
	method := string(ctx.Method())
	switch {
	case path == "/admin/api/usage" && method == "GET":
		h.usage(ctx)
	case path == "/admin/api/accounts" && method == "GET":
		h.accounts(ctx)
	case strings.HasPrefix(path, "/admin/api/accounts/") && method == "POST":
		h.accountAction(ctx, strings.TrimPrefix(path, "/admin/api/accounts/"))
	case path == "/admin/api/sessions" && method == "GET":
		writeJSON(ctx, map[string]any{"sessions": h.cfg.Sched.Sessions()})
	case strings.HasPrefix(path, "/admin/api/sessions/") && method == "DELETE":
		n := h.cfg.Sched.Unbind(strings.TrimPrefix(path, "/admin/api/sessions/"))
		writeJSON(ctx, map[string]any{"unbound": n})
	default:
		writeError(ctx, fasthttp.StatusNotFound, "no admin route for "+method+" "+path)
	}
}

func (h *Handler) authorized(ctx *fasthttp.RequestCtx) bool {
	auth := string(ctx.Request.Header.Peek("Authorization"))
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], h.cfg.TokenHash[:]) == 1
}

type usageRecord struct {
	Time                time.Time `json:"time"`
	Key                 string    `json:"key"`
	Account             string    `json:"account"`
	Model               string    `json:"model"`
	UpstreamModel       string    `json:"upstream_model"`
	InputTokens         int64     `json:"input_tokens"`
	OutputTokens        int64     `json:"output_tokens"`
	CacheCreationTokens int64     `json:"cache_creation_tokens"`
	CacheCreation5m     int64     `json:"cache_creation_5m_tokens"`
	CacheCreation1h     int64     `json:"cache_creation_1h_tokens"`
	CacheReadTokens     int64     `json:"cache_read_tokens"`
	CostUSD             float64   `json:"cost_usd"`
	Stream              bool      `json:"stream"`
	Status              int       `json:"status"`
	DurationMS          int64     `json:"duration_ms"`
	TTFTMS              int64     `json:"ttft_ms"`
	RequestID           string    `json:"request_id,omitempty"`
	Error               string    `json:"error,omitempty"`
}

func (h *Handler) usage(ctx *fasthttp.RequestCtx) {
	limit := 100
	if v := ctx.QueryArgs().Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > 10000 {
			writeError(ctx, fasthttp.StatusBadRequest, "limit: must be an integer from 1 to 10000")
			return
		}
		limit = n
	}
	recs, err := h.cfg.Ledger.Recent(limit)
	if err != nil {
		h.log.Error("read usage", "err", err)
		writeError(ctx, fasthttp.StatusInternalServerError, "cannot read the ledger")
		return
	}
	out := make([]usageRecord, len(recs))
	for i, r := range recs {
		out[i] = usageRecord{
			Time: r.Time, Key: r.Key, Account: r.Account, Model: r.Model, UpstreamModel: r.UpstreamModel,
			InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
			CacheCreationTokens: r.CacheCreationTokens, CacheCreation5m: r.CacheCreation5m, CacheCreation1h: r.CacheCreation1h,
			CacheReadTokens: r.CacheReadTokens, CostUSD: float64(r.CostMicros) / 1e6,
			Stream: r.Stream, Status: r.Status, DurationMS: r.Duration.Milliseconds(), TTFTMS: r.TTFT.Milliseconds(),
			RequestID: r.RequestID, Error: r.Error,
		}
	}
	writeJSON(ctx, map[string]any{"records": out})
}

type accountView struct {
	Name        string         `json:"name"`
	Platform    string         `json:"platform"`
	Type        string         `json:"type"`
	Group       string         `json:"group"`
	Priority    int            `json:"priority"`
	State       string         `json:"state"`
	Reason      string         `json:"reason"`
	Until       *time.Time     `json:"until"`
	InFlight    int            `json:"in_flight"`
	Waiting     int            `json:"waiting"`
	Concurrency int            `json:"concurrency"`
	LastUsed    *time.Time     `json:"last_used"`
	Windows     []sched.Window `json:"windows"`
	// Flattened subscription windows, for simple consumers.
	Window5hUtilization *float64   `json:"window_5h_utilization,omitempty"`
	Window5hReset       *time.Time `json:"window_5h_reset,omitempty"`
	Window7dUtilization *float64   `json:"window_7d_utilization,omitempty"`
	Window7dReset       *time.Time `json:"window_7d_reset,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (h *Handler) accounts(ctx *fasthttp.RequestCtx) {
	st := h.cfg.Sched.Status()
	out := make([]accountView, len(st))
	for i, a := range st {
		v := accountView{
			Name: a.Name, Platform: a.Platform, Type: a.Type, Group: a.Group, Priority: a.Priority,
			State: string(a.State), Reason: a.Reason, Until: optTime(a.Until),
			InFlight: a.InFlight, Waiting: a.Waiting, Concurrency: max(a.Concurrency, 1),
			LastUsed: optTime(a.LastUsed), Windows: a.Windows,
		}
		if v.Windows == nil {
			v.Windows = []sched.Window{}
		}
		for _, w := range a.Windows {
			u := w.Utilization
			switch w.Name {
			case "5h":
				v.Window5hUtilization, v.Window5hReset = &u, optTime(w.ResetAt)
			case "7d":
				v.Window7dUtilization, v.Window7dReset = &u, optTime(w.ResetAt)
			}
		}
		out[i] = v
	}
	writeJSON(ctx, map[string]any{"accounts": out})
}

// accountAction serves POST /admin/api/accounts/{name}/{clear|disable|enable}.
func (h *Handler) accountAction(ctx *fasthttp.RequestCtx, rest string) {
	name, action, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		writeError(ctx, fasthttp.StatusNotFound, "want /admin/api/accounts/{name}/{clear|disable|enable}")
		return
	}
	var err error
	switch action {
	case "clear":
		err = h.cfg.Sched.Clear(name)
	case "disable":
		err = h.cfg.Sched.Disable(name)
	case "enable":
		err = h.cfg.Sched.Enable(name)
	default:
		writeError(ctx, fasthttp.StatusNotFound, "unknown action "+strconv.Quote(action))
		return
	}
	if errors.Is(err, sched.ErrUnknownAccount) {
		writeError(ctx, fasthttp.StatusNotFound, "no account named "+strconv.Quote(name))
		return
	}
	if err != nil {
		writeError(ctx, fasthttp.StatusInternalServerError, err.Error())
		return
	}
	h.log.Info("admin account action", "acct", name, "action", action)
	writeJSON(ctx, map[string]any{"ok": true, "account": name, "action": action})
}

func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(ctx, fasthttp.StatusInternalServerError, "encode response")
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func writeError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "status": status}})
	ctx.SetBody(b)
}
