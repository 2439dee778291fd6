package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"subgate/proxy/edge"
	"subgate/proxy/errrules"
)

// Validate checks every field and combination of fields and returns all
// problems at once, each naming its TOML key.
func (c Config) Validate() error {
	var v validator
	c.validateServer(&v)
	c.validateUpstreams(&v)
	c.validateOtherUpstreams(&v)
	c.validateScheduler(&v)
	c.validateLedger(&v)
	c.validateAccounts(&v)
	c.validateKeys(&v)
	c.validatePrices(&v)
	if err := errrules.Validate(c.ErrorRules); err != nil {
		v.errs = append(v.errs, err) // each problem names error_rules[i].field
	}
	return errors.Join(v.errs...)
}

func (c Config) validateLedger(v *validator) {
	l := c.Ledger
	if l.FlushInterval.Duration <= 0 {
		v.add("ledger.flush_interval", "must be > 0")
	}
	if _, err := time.LoadLocation(l.Timezone); err != nil {
		v.add("ledger.timezone", "unknown time zone %q", l.Timezone)
	}
	if l.RetentionDays < 1 {
		v.add("ledger.retention_days", "must be >= 1")
	}
	if l.Unpriced != unpricedRefuse && l.Unpriced != unpricedAllow {
		v.add("ledger.unpriced", "must be %q or %q, not %q", unpricedRefuse, unpricedAllow, l.Unpriced)
	}
	if l.MaxPending < 1 {
		v.add("ledger.max_pending", "must be >= 1")
	}
}

type validator struct{ errs []error }

// unique checks that a list entry's name is not used by an earlier entry
// of the same list (list[i] in messages); an empty name is the entry's
// own problem.
func (v *validator) unique(key, name string, seen map[string]int, list string, i int) {
	if name == "" {
		return
	}
	if j, dup := seen[name]; dup {
		v.add(key, "duplicate %q (also %s[%d])", name, list, j)
	} else {
		seen[name] = i
	}
}

// model adds the problems a model's Validate found, each under prefix
// (the entry's TOML path).
func (v *validator) model(prefix string, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		v.errs = append(v.errs, fmt.Errorf("%s%w", prefix, e))
	}
}

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (v *validator) nonNegative(key string, d Duration) {
	if d.Duration < 0 {
		v.add(key, "must not be negative")
	}
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.add(key, "must be one of %s", strings.Join(allowed, ", "))
}

// httpURL reports whether s is an absolute http(s) URL with a host.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (c Config) validateServer(v *validator) {
	s := c.Server
	if s.Listen == "" {
		v.add("server.listen", "required")
	} else if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		v.add("server.listen", "must be host:port")
	}
	if s.DataDir == "" {
		v.add("server.data_dir", "required")
	}
	if s.MaxBodyMB <= 0 {
		v.add("server.max_body_mb", "must be > 0")
	}
	v.oneOf("server.log_level", s.LogLevel, "debug", "info", "warn", "error")
	v.oneOf("server.log_format", s.LogFormat, "auto", "text", "json")
	v.nonNegative("server.shutdown_grace", s.ShutdownGrace)
	v.nonNegative("server.read_timeout", s.ReadTimeout)
	v.nonNegative("server.idle_timeout", s.IdleTimeout)
	v.nonNegative("server.write_timeout", s.WriteTimeout)
	if s.MaxConns < 1 {
		v.add("server.max_conns", "must be >= 1")
	}
	if s.MaxConnsPerIP < 0 {
		v.add("server.max_conns_per_ip", "must be >= 0 (0 = off)")
	}
	if _, err := edge.ParseTrust(s.TrustedProxies); err != nil {
		v.add("server.trusted_proxies", "%v", err)
	}
	if s.AdminListen != "" {
		if _, _, err := net.SplitHostPort(s.AdminListen); err != nil {
			v.add("server.admin_listen", "must be host:port")
		}
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		v.add("server.tls_cert", "tls_cert and tls_key go together")
	}
	if h := c.Admin.PasswordHash; h != "" && !strings.HasPrefix(h, "$2") {
		v.add("admin.password_hash", "must be a bcrypt hash (subgate admin hash-password)")
	}
	if c.Metrics.Public && c.Metrics.Token != "" {
		v.add("metrics.public", "public metrics need no token: unset metrics.token, or public")
	}
}

func (c Config) validateUpstreams(v *validator) {
	a := c.Upstreams.Anthropic
	for _, f := range []struct{ key, val string }{
		{"base_url", a.BaseURL},
		{"oauth_token_url", a.OAuthTokenURL},
		{"oauth_authorize_url", a.OAuthAuthorizeURL},
		{"oauth_redirect_url", a.OAuthRedirectURL},
	} {
		if !httpURL(f.val) {
			v.add("upstreams.anthropic."+f.key, "must be an http(s) URL")
		}
	}
}

func (c Config) validateScheduler(v *validator) {
	s := c.Scheduler
	if s.MaxAccountSwitches < 1 {
		v.add("scheduler.max_account_switches", "must be >= 1")
	}
	if s.StickyMaxWaiting < 0 {
		v.add("scheduler.sticky_max_waiting", "must be >= 0")
	}
	if s.MaxSessionsPerKey < 1 {
		v.add("scheduler.max_sessions_per_key", "must be >= 1")
	}
	if s.FallbackMaxWaiting < 0 {
		v.add("scheduler.fallback_max_waiting", "must be >= 0")
	}
	for _, f := range []struct {
		key string
		d   Duration
	}{
		{"sticky_ttl", s.StickyTTL},
		{"sticky_wait_timeout", s.StickyWaitTimeout},
		{"fallback_wait_timeout", s.FallbackWaitTimeout},
		{"stream_keepalive", s.StreamKeepalive},
		{"max_cooldown", s.MaxCooldown},
		{"rate_limit_cooldown", s.RateLimitCooldown},
		{"overload_cooldown", s.OverloadCooldown},
		{"upstream_header_timeout", s.UpstreamHeaderTimeout},
		{"stream_idle_timeout", s.StreamIdleTimeout},
		{"refresh_ahead", s.RefreshAhead},
	} {
		v.nonNegative("scheduler."+f.key, f.d)
	}
}

// validateAccounts checks each entry with the model's Validate, and what
// only the list knows: names are unique.
func (c Config) validateAccounts(v *validator) {
	seen := make(map[string]int)
	for i, a := range c.Accounts {
		p := fmt.Sprintf("accounts[%d].", i)
		v.model(p, a.Validate())
		v.unique(p+"name", a.Name, seen, "accounts", i)
	}
}

// validateKeys checks each entry with the model's Validate, and what only
// the file knows: key or key_sha256, and unique names and secrets.
func (c Config) validateKeys(v *validator) {
	names := make(map[string]int)
	secrets := make(map[string]int)
	for i, k := range c.Keys {
		p := fmt.Sprintf("keys[%d].", i)
		v.model(p, k.Key.Validate())
		v.unique(p+"name", k.Name, names, "keys", i)
		switch {
		case k.Secret == "" && k.Hash == "":
			v.add(p+"key", "one of key or key_sha256 is required")
		case k.Secret != "" && k.Hash != "":
			v.add(p+"key", "set only one of key or key_sha256")
		case k.Hash != "" && !isHex64(k.Hash):
			v.add(p+"key_sha256", "must be 64 hex characters")
		default:
			// Never print the secret; name the other entry instead.
			if j, dup := secrets[k.SecretHash()]; dup {
				v.add(p+"key", "duplicate secret (same as keys[%d])", j)
			} else {
				secrets[k.SecretHash()] = i
			}
		}
	}
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func (c Config) validatePrices(v *validator) {
	seen := make(map[string]int)
	for i, pr := range c.Prices {
		p := fmt.Sprintf("prices[%d].", i)
		if pr.Model == "" {
			v.add(p+"model", "required")
		}
		v.unique(p+"model", pr.Model, seen, "prices", i)
		for _, f := range []struct {
			key string
			usd float64
		}{
			{"input", pr.Input}, {"output", pr.Output}, {"cache_write_5m", pr.CacheWrite5m},
			{"cache_write_1h", pr.CacheWrite1h}, {"cache_read", pr.CacheRead},
			{"input_above_200k", pr.InputAbove200k}, {"output_above_200k", pr.OutputAbove200k},
			{"cache_write_5m_above_200k", pr.CacheWrite5mAbove200k},
			{"cache_write_1h_above_200k", pr.CacheWrite1hAbove200k},
			{"cache_read_above_200k", pr.CacheReadAbove200k},
		} {
			if f.usd < 0 {
				v.add(p+f.key, "must be >= 0")
			}
		}
		above := pr.OutputAbove200k + pr.CacheWrite5mAbove200k + pr.CacheWrite1hAbove200k + pr.CacheReadAbove200k
		if pr.InputAbove200k == 0 && above != 0 {
			v.add(p+"input_above_200k", "must be set when another _above_200k price is")
		}
	}
}

func (c Config) validateOtherUpstreams(v *validator) {
	o, g := c.Upstreams.OpenAI, c.Upstreams.Gemini
	for _, f := range []struct{ key, val string }{
		{"upstreams.openai.base_url", o.BaseURL},
		{"upstreams.openai.codex_base_url", o.CodexBaseURL},
		{"upstreams.openai.oauth_token_url", o.OAuthTokenURL},
		{"upstreams.openai.oauth_authorize_url", o.OAuthAuthorizeURL},
		{"upstreams.openai.oauth_redirect_url", o.OAuthRedirectURL},
		{"upstreams.gemini.base_url", g.BaseURL},
		{"upstreams.gemini.code_assist_base_url", g.CodeAssistBaseURL},
		{"upstreams.gemini.oauth_token_url", g.OAuthTokenURL},
		{"upstreams.gemini.oauth_authorize_url", g.OAuthAuthorizeURL},
		{"upstreams.gemini.oauth_redirect_url", g.OAuthRedirectURL},
	} {
		if !httpURL(f.val) {
			v.add(f.key, "must be an http(s) URL")
		}
	}
}
