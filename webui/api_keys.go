package webui

import (
	"context"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// keyInput is the JSON body of POST and PATCH keys.
type keyInput struct {
	Name            string   `json:"name"`
	Group           string   `json:"group"`
	Concurrency     int      `json:"concurrency"`
	RPM             int      `json:"rpm"`
	Limit5hUSD      float64  `json:"limit_5h_usd"`
	LimitDayUSD     float64  `json:"limit_day_usd"`
	LimitWeekUSD    float64  `json:"limit_week_usd"`
	LimitMonthUSD   float64  `json:"limit_month_usd"`
	QuotaUSD        float64  `json:"quota_usd"`
	RateMultiplier  float64  `json:"rate_multiplier"`
	ExpiresAt       optTime  `json:"expires_at"`
	Models          []string `json:"models"`
	AllowIPs        []string `json:"allow_ips"`
	Enabled         bool     `json:"enabled"`
	InterceptWarmup bool     `json:"intercept_warmup"`
}

// keyView is a key as the API shows it.
type keyView struct {
	keyInput
	Source  string       `json:"source"`
	Created *time.Time   `json:"created"`
	Windows []windowView `json:"windows"`
}

type windowView struct {
	Window   string     `json:"window"`
	UsedUSD  float64    `json:"used_usd"`
	LimitUSD float64    `json:"limit_usd"` // 0: unlimited
	ResetAt  *time.Time `json:"reset_at"`
}

func inputOf(k *KeyInfo) keyInput {
	return keyInput{Name: k.Name, Group: k.Group, Concurrency: k.Concurrency, RPM: k.RPM,
		Limit5hUSD: k.Limit5hUSD, LimitDayUSD: k.LimitDayUSD, LimitWeekUSD: k.LimitWeekUSD,
		LimitMonthUSD: k.LimitMonthUSD, QuotaUSD: k.QuotaUSD, RateMultiplier: k.RateMultiplier,
		ExpiresAt: optTime(k.ExpiresAt), Models: k.Models, AllowIPs: k.AllowIPs,
		Enabled: k.Enabled, InterceptWarmup: k.InterceptWarmup}
}

func viewOf(k *KeyInfo) keyView {
	v := keyView{keyInput: inputOf(k), Source: k.Source, Created: timePtr(k.Created),
		Windows: make([]windowView, len(k.Windows))}
	v.Models, v.AllowIPs = nonNil(v.Models), nonNil(v.AllowIPs)
	for i, w := range k.Windows {
		v.Windows[i] = windowView{Window: w.Window, UsedUSD: w.UsedUSD, LimitUSD: w.LimitUSD, ResetAt: timePtr(w.ResetAt)}
	}
	return v
}

func (k *keyInput) key() NewKey {
	return NewKey{Name: k.Name, Group: k.Group, Concurrency: k.Concurrency, RPM: k.RPM,
		Limit5hUSD: k.Limit5hUSD, LimitDayUSD: k.LimitDayUSD, LimitWeekUSD: k.LimitWeekUSD,
		LimitMonthUSD: k.LimitMonthUSD, QuotaUSD: k.QuotaUSD, RateMultiplier: k.RateMultiplier,
		ExpiresAt: time.Time(k.ExpiresAt), Models: k.Models, AllowIPs: k.AllowIPs,
		Enabled: k.Enabled, InterceptWarmup: k.InterceptWarmup}
}

func (h *Handler) findKey(name string) (KeyInfo, bool) {
	for _, k := range h.cfg.Keys.List() {
		if k.Name == name {
			return k, true
		}
	}
	return KeyInfo{}, false
}

func (h *Handler) listKeys(ctx *fasthttp.RequestCtx, _ []string) {
	if h.cfg.Keys == nil {
		notConfigured(ctx, "keys")
		return
	}
	keys := h.cfg.Keys.List()
	out := make([]keyView, len(keys))
	for i := range keys {
		out[i] = viewOf(&keys[i])
	}
	writeJSON(ctx, map[string]any{"keys": out})
}

// createKey serves POST /admin/api/keys; the answer carries the secret,
// the only time it is ever shown.
func (h *Handler) createKey(ctx *fasthttp.RequestCtx, _ []string) {
	if h.cfg.Keys == nil {
		notConfigured(ctx, "keys")
		return
	}
	in := keyInput{Enabled: true, RateMultiplier: 1}
	if _, ok := decode(ctx, &in); !ok {
		return
	}
	if err := validateKey(&in, true, h.now()); err != nil {
		h.fail(ctx, "create key", err)
		return
	}
	if _, exists := h.findKey(in.Name); exists {
		badField(ctx, "name", "a key named "+strconv.Quote(in.Name)+" already exists")
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	secret, err := h.cfg.Keys.Create(c, in.key())
	if err != nil {
		h.fail(ctx, "create key", err)
		return
	}
	h.log.Info("admin key created", "key", in.Name)
	view := keyView{keyInput: in, Source: "ui", Windows: []windowView{}}
	if k, ok := h.findKey(in.Name); ok {
		view = viewOf(&k)
	}
	ctx.SetStatusCode(fasthttp.StatusCreated)
	writeJSON(ctx, map[string]any{"key": view, "secret": secret})
}

// updateKey serves PATCH /admin/api/keys/{name}: fields absent from the
// body keep their values.
func (h *Handler) updateKey(ctx *fasthttp.RequestCtx, args []string) {
	if h.cfg.Keys == nil {
		notConfigured(ctx, "keys")
		return
	}
	name := args[0]
	cur, ok := h.findKey(name)
	if !ok {
		writeError(ctx, fasthttp.StatusNotFound, "no key named "+strconv.Quote(name), "")
		return
	}
	if cur.Source == "config" {
		h.fail(ctx, "update key", ErrReadOnly)
		return
	}
	in := inputOf(&cur)
	if _, ok := decode(ctx, &in); !ok {
		return
	}
	if in.Name != cur.Name {
		badField(ctx, "name", "cannot be changed; create a new key instead")
		return
	}
	if err := validateKey(&in, false, h.now()); err != nil {
		h.fail(ctx, "update key", err)
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	if err := h.cfg.Keys.Update(c, name, in.key()); err != nil {
		h.fail(ctx, "update key", err)
		return
	}
	h.log.Info("admin key updated", "key", name)
	view := keyView{keyInput: in, Source: cur.Source, Windows: []windowView{}}
	if k, ok := h.findKey(name); ok {
		view = viewOf(&k)
	}
	writeJSON(ctx, map[string]any{"key": view})
}

func (h *Handler) deleteKey(ctx *fasthttp.RequestCtx, args []string) {
	if h.cfg.Keys == nil {
		notConfigured(ctx, "keys")
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	if err := h.cfg.Keys.Delete(c, args[0]); err != nil {
		h.fail(ctx, "delete key", err)
		return
	}
	h.log.Info("admin key deleted", "key", args[0])
	writeJSON(ctx, map[string]any{"ok": true, "key": args[0]})
}
