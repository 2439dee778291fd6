package main

import (
	"net/netip"
	"path"
	"time"

	"subgate/ledger"
)

// KeyPolicy is what a [[keys]] entry may limit, beyond its group and
// concurrency. Zero values mean unlimited.
type KeyPolicy struct {
	RPM             int      `toml:"rpm"` // requests per minute
	Limit5hUSD      float64  `toml:"limit_5h_usd"`
	LimitDayUSD     float64  `toml:"limit_day_usd"`
	LimitWeekUSD    float64  `toml:"limit_week_usd"`
	LimitMonthUSD   float64  `toml:"limit_month_usd"`
	QuotaUSD        float64  `toml:"quota_usd"`  // lifetime
	ExpiresAt       string   `toml:"expires_at"` // RFC 3339; empty = never
	Models          []string `toml:"models"`     // allow-list globs over the requested model
	AllowIPs        []string `toml:"allow_ips"`  // CIDRs or addresses
	RateMultiplier  float64  `toml:"rate_multiplier"`
	Enabled         *bool    `toml:"enabled"` // default true
	InterceptWarmup bool     `toml:"intercept_warmup"`
}

func (k KeyPolicy) validate(v *validator, p string) {
	if k.RPM < 0 {
		v.add(p+"rpm", "must be >= 0")
	}
	for _, f := range []struct {
		key string
		val float64
	}{{"limit_5h_usd", k.Limit5hUSD}, {"limit_day_usd", k.LimitDayUSD}, {"limit_week_usd", k.LimitWeekUSD},
		{"limit_month_usd", k.LimitMonthUSD}, {"quota_usd", k.QuotaUSD}, {"rate_multiplier", k.RateMultiplier}} {
		if f.val < 0 {
			v.add(p+f.key, "must be >= 0")
		}
	}
	if k.ExpiresAt != "" {
		if _, err := time.Parse(time.RFC3339, k.ExpiresAt); err != nil {
			v.add(p+"expires_at", "not RFC 3339")
		}
	}
	for i, g := range k.Models {
		if _, err := path.Match(g, ""); err != nil {
			v.add(p+"models", "entry %d: bad glob %q", i, g)
		}
	}
	if _, err := parseAllowIPs(k.AllowIPs); err != nil {
		v.add(p+"allow_ips", "%v", err)
	}
}

// parseAllowIPs reads CIDRs; a bare address is a single-address prefix.
func parseAllowIPs(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// micros converts USD to the ledger's micro-USD.
func micros(usd float64) int64 { return int64(usd*1e6 + 0.5) }

func (k KeyPolicy) limits() ledger.Limits {
	return ledger.Limits{
		RPM: k.RPM, Limit5h: micros(k.Limit5hUSD), LimitDay: micros(k.LimitDayUSD),
		LimitWeek: micros(k.LimitWeekUSD), LimitMonth: micros(k.LimitMonthUSD), Quota: micros(k.QuotaUSD),
		RateMultiplier: k.RateMultiplier,
	}
}
