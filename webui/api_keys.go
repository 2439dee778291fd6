package webui

import (
	"cmp"
	"context"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/kv"
	"subgate/ledger"
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
	// Translate lets the key use accounts of another API family (default
	// true; its group's [groups.NAME] translate = false wins).
	Translate bool `json:"translate"`
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

// keyInputOf is a key's settings as a body carries them.
func keyInputOf(k kv.Key) keyInput {
	return keyInput{Name: k.Name, Group: k.Group, Concurrency: k.Concurrency, RPM: k.RPM,
		Limit5hUSD: k.Limit5hUSD, LimitDayUSD: k.LimitDayUSD, LimitWeekUSD: k.LimitWeekUSD,
		LimitMonthUSD: k.LimitMonthUSD, QuotaUSD: k.QuotaUSD, RateMultiplier: k.RateMultiplier,
		ExpiresAt: optTime(k.ExpiresAt.Time), Models: k.Models, AllowIPs: k.AllowIPs,
		Enabled: k.Enabled, InterceptWarmup: k.InterceptWarmup, Translate: k.Translates()}
}

// model is the key the body describes (without a hash: the secret is
// made, or kept, by Keys).
func (in *keyInput) model() kv.Key {
	return kv.Key{Name: in.Name, Group: in.Group, Concurrency: in.Concurrency, RPM: in.RPM,
		Limit5hUSD: in.Limit5hUSD, LimitDayUSD: in.LimitDayUSD, LimitWeekUSD: in.LimitWeekUSD,
		LimitMonthUSD: in.LimitMonthUSD, QuotaUSD: in.QuotaUSD, RateMultiplier: in.RateMultiplier,
		ExpiresAt: kv.Time{Time: time.Time(in.ExpiresAt)}, Models: in.Models, AllowIPs: in.AllowIPs,
		Enabled: in.Enabled, InterceptWarmup: in.InterceptWarmup, Translate: translateFlag(in.Translate)}
}

// translateFlag is the stored form of a key's translate: nil for the
// default (true), so stored keys stay as they were.
func translateFlag(on bool) *bool {
	if on {
		return nil
	}
	return &on
}

// viewOf is a listed key as the API shows it.
func viewOf(k *KeyInfo) keyView {
	v := keyView{keyInput: keyInputOf(k.Key), Source: "ui", Created: timePtr(k.Created),
		Windows: make([]windowView, len(k.Windows))}
	if k.FromConfig {
		v.Source = "config"
	}
	v.Models, v.AllowIPs = nonNil(v.Models), nonNil(v.AllowIPs)
	for i, w := range k.Windows {
		v.Windows[i] = windowView{Window: string(w.Window), UsedUSD: ledger.MicrosToUSD(w.Used),
			LimitUSD: ledger.MicrosToUSD(w.Limit), ResetAt: timePtr(w.ResetAt)}
	}
	return v
}

// applyKey merges new settings into a key: all of them are replaced (an
// empty group by the default); name, hash and creation stay.
func applyKey(dst *kv.Key, n kv.Key) {
	name, hash, created := dst.Name, dst.Hash, dst.Created
	*dst = n
	dst.Name, dst.Hash, dst.Created = name, hash, created
	dst.Group = cmp.Or(n.Group, kv.DefaultGroup)
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
	in := keyInput{Enabled: true, RateMultiplier: 1, Translate: true}
	if _, ok := decode(ctx, &in); !ok {
		return
	}
	if err := checkKey(in.model(), true, h.now()); err != nil {
		h.fail(ctx, "create key", err)
		return
	}
	if _, exists := h.findKey(in.Name); exists {
		badField(ctx, "name", "a key named "+strconv.Quote(in.Name)+" already exists")
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	secret, err := h.cfg.Keys.Create(c, in.model())
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
	if cur.FromConfig {
		h.fail(ctx, "update key", ErrReadOnly)
		return
	}
	in := keyInputOf(cur.Key)
	if _, ok := decode(ctx, &in); !ok {
		return
	}
	if in.Name != cur.Name {
		badField(ctx, "name", "cannot be changed; create a new key instead")
		return
	}
	if err := checkKey(in.model(), false, h.now()); err != nil {
		h.fail(ctx, "update key", err)
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	if err := h.cfg.Keys.Update(c, name, in.model()); err != nil {
		h.fail(ctx, "update key", err)
		return
	}
	h.log.Info("admin key updated", "key", name)
	view := keyView{keyInput: in, Source: "ui", Windows: []windowView{}}
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
