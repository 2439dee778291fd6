package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"subgate/kv"
	"subgate/ledger"
	"subgate/webui"
)

// keyUsage is the ledger's view of a key's spend.
type keyUsage interface {
	KeyUsage(key string, lim ledger.Limits) []ledger.WindowUsage
}

func (a *admin) keyFromConfig(name string) bool {
	return slices.ContainsFunc(a.cfg.Keys, func(k KeyConfig) bool { return k.Name == name })
}

// ListKeys implements webui.Keys (through keysView).
func (a *admin) listKeys() []webui.KeyInfo {
	var out []webui.KeyInfo
	for _, k := range a.cfg.Keys {
		out = append(out, a.keyInfo(k.Key, "config"))
	}
	stored, err := a.db.Keys()
	if err != nil {
		a.log.Error("list keys", "err", err)
	}
	for _, k := range stored {
		if a.keyFromConfig(k.Name) {
			continue
		}
		out = append(out, a.keyInfo(k, "ui"))
	}
	return out
}

func (a *admin) keyInfo(k kv.Key, source string) webui.KeyInfo {
	return webui.KeyInfo{
		Name: k.Name, Group: k.Group, Source: source, Concurrency: k.Concurrency, RPM: k.RPM,
		Limit5hUSD: k.Limit5hUSD, LimitDayUSD: k.LimitDayUSD, LimitWeekUSD: k.LimitWeekUSD,
		LimitMonthUSD: k.LimitMonthUSD, QuotaUSD: k.QuotaUSD, RateMultiplier: k.RateMultiplier,
		ExpiresAt: k.ExpiresAt.Time, Models: k.Models, AllowIPs: k.AllowIPs, Enabled: k.Enabled,
		InterceptWarmup: k.InterceptWarmup, Created: k.Created, Windows: a.windows(k.Name, k.Limits()),
	}
}

func (a *admin) windows(key string, lim ledger.Limits) []webui.KeyWindow {
	var out []webui.KeyWindow
	for _, w := range a.led.KeyUsage(key, lim) {
		out = append(out, webui.KeyWindow{Window: string(w.Window), UsedUSD: ledger.MicrosToUSD(w.Used),
			LimitUSD: ledger.MicrosToUSD(w.Limit), ResetAt: w.ResetAt})
	}
	return out
}

func checkKey(n webui.NewKey, adding bool) error {
	switch {
	case adding && n.Name == "":
		return &webui.FieldError{Field: "name", Msg: "required"}
	case n.Concurrency < 0:
		return &webui.FieldError{Field: "concurrency", Msg: "must be >= 0"}
	case n.RPM < 0:
		return &webui.FieldError{Field: "rpm", Msg: "must be >= 0"}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"limit_5h_usd", n.Limit5hUSD}, {"limit_day_usd", n.LimitDayUSD}, {"limit_week_usd", n.LimitWeekUSD},
		{"limit_month_usd", n.LimitMonthUSD}, {"quota_usd", n.QuotaUSD}, {"rate_multiplier", n.RateMultiplier}} {
		if f.v < 0 {
			return &webui.FieldError{Field: f.name, Msg: "must be >= 0"}
		}
	}
	if _, err := (kv.Key{AllowIPs: n.AllowIPs}).Prefixes(); err != nil {
		return &webui.FieldError{Field: "allow_ips", Msg: err.Error()}
	}
	return nil
}

func applyKey(k *kv.Key, n webui.NewKey) {
	k.Group = n.Group
	if k.Group == "" {
		k.Group = defaultGroup
	}
	k.Concurrency, k.RPM = n.Concurrency, n.RPM
	k.Limit5hUSD, k.LimitDayUSD, k.LimitWeekUSD, k.LimitMonthUSD = n.Limit5hUSD, n.LimitDayUSD, n.LimitWeekUSD, n.LimitMonthUSD
	k.QuotaUSD, k.RateMultiplier, k.ExpiresAt = n.QuotaUSD, n.RateMultiplier, kv.Time{Time: n.ExpiresAt}
	k.Models, k.AllowIPs, k.Enabled, k.InterceptWarmup = n.Models, n.AllowIPs, n.Enabled, n.InterceptWarmup
}

func (a *admin) createKey(ctx context.Context, n webui.NewKey) (string, error) {
	if err := checkKey(n, true); err != nil {
		return "", err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.db.GetKey(n.Name); err == nil || a.keyFromConfig(n.Name) {
		return "", fmt.Errorf("key %q: %w", n.Name, webui.ErrExists)
	}
	secret, err := kv.NewSecret()
	if err != nil {
		return "", err
	}
	k := kv.Key{Name: n.Name, Hash: kv.HashSecret(secret)}
	applyKey(&k, n)
	if err := a.db.PutKey(k); err != nil {
		return "", err
	}
	a.log.Info("key created", "key", n.Name, "group", k.Group)
	return secret, a.reload()
}

func (a *admin) updateKey(ctx context.Context, name string, n webui.NewKey) error {
	if a.keyFromConfig(name) {
		return webui.ErrReadOnly
	}
	if err := checkKey(n, false); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k, err := a.db.GetKey(name)
	if errors.Is(err, kv.ErrNotFound) {
		return webui.ErrNotFound
	} else if err != nil {
		return err
	}
	applyKey(&k, n)
	if err := a.db.PutKey(k); err != nil {
		return err
	}
	return a.reload()
}

func (a *admin) deleteKey(ctx context.Context, name string) error {
	if a.keyFromConfig(name) {
		return webui.ErrReadOnly
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.db.DeleteKey(name); errors.Is(err, kv.ErrNotFound) {
		return webui.ErrNotFound
	} else if err != nil {
		return err
	}
	a.log.Info("key deleted", "key", name)
	return a.reload()
}

// adminKeys adapts admin to webui.Keys, whose method names clash with
// webui.Accounts'.
type adminKeys struct{ a *admin }

func (k adminKeys) List() []webui.KeyInfo { return k.a.listKeys() }
func (k adminKeys) Create(ctx context.Context, n webui.NewKey) (string, error) {
	return k.a.createKey(ctx, n)
}
func (k adminKeys) Update(ctx context.Context, name string, n webui.NewKey) error {
	return k.a.updateKey(ctx, name, n)
}
func (k adminKeys) Delete(ctx context.Context, name string) error { return k.a.deleteKey(ctx, name) }

var (
	_ webui.Accounts = (*admin)(nil)
	_ webui.Keys     = adminKeys{}
)
