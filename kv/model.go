package kv

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"subgate/ledger"
	"subgate/proxy/identity"
	"subgate/sched"
)

// Account is an upstream account with its credentials: the one model of
// an account. Config [[accounts]] entries decode into it (toml tags),
// `subgate import`/`login` and the admin UI build it, and it is stored
// here (json tags; the stored format is a contract). sched.Account and
// the proxy's account are runtime views built from it.
type Account struct {
	Name         string `json:"name" toml:"name"`
	Platform     string `json:"platform" toml:"platform"` // anthropic | openai | gemini
	Type         string `json:"type" toml:"type"`         // api_key | oauth | setup_token
	APIKey       string `json:"api_key,omitempty" toml:"api_key"`
	AccessToken  string `json:"access_token,omitempty" toml:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty" toml:"refresh_token"`
	IDToken      string `json:"id_token,omitempty" toml:"id_token"` // openai oauth: its claim gives the account id
	ExpiresAt    Time   `json:"expires_at,omitempty" toml:"expires_at"`
	AccountID    string `json:"account_id,omitempty" toml:"account_id"` // chatgpt-account-id
	ProjectID    string `json:"project_id,omitempty" toml:"project_id"` // Code Assist project
	Email        string `json:"email,omitempty" toml:"-"`               // reported by the login
	Concurrency  int    `json:"concurrency" toml:"concurrency"`
	Priority     int    `json:"priority" toml:"priority"` // lower is preferred
	Group        string `json:"group" toml:"group"`
	BaseURL      string `json:"base_url,omitempty" toml:"base_url"`
	Proxy        string `json:"proxy,omitempty" toml:"proxy"`
	// Models is an allow-list of globs over the upstream model.
	Models   []string          `json:"models,omitempty" toml:"models"`
	ModelMap map[string]string `json:"model_map,omitempty" toml:"model_map"`
	// InterceptWarmup answers Claude Code's probes locally for this account.
	InterceptWarmup bool `json:"intercept_warmup,omitempty" toml:"intercept_warmup"`
	// Identity is "mask" (the account presents one device of its own) or
	// "passthrough" (each client's own); "" is the type's default: mask
	// for oauth and setup_token, passthrough for api_key (docs/identity.md).
	Identity string `json:"identity,omitempty" toml:"identity"`
	// IdentityProfile pins the client headers a masked account sends
	// instead of learning them from genuine clients.
	IdentityProfile identity.ProfileConfig `json:"identity_profile,omitzero" toml:"identity_profile"`
	// AccountUUID is the Claude OAuth account's uuid, as the login told it:
	// a masked account's metadata.user_id names it as Claude Code does.
	AccountUUID string    `json:"account_uuid,omitempty" toml:"account_uuid"`
	Created     time.Time `json:"created" toml:"-"`
	// FromConfig marks an account of the config file, which is its truth:
	// it is never stored, and it wins over a stored one of the same name.
	FromConfig bool `json:"-" toml:"-"`
}

// Key is a client key: the one model of a key. Config [[keys]] entries
// decode into it, the admin UI builds it, and keys created there are
// stored here. Only the sha256 of its secret is ever kept; the secret is
// shown once, at creation.
type Key struct {
	Name        string `json:"name" toml:"name"`
	Hash        string `json:"hash" toml:"key_sha256"` // hex sha256 of the secret, lower case when stored
	Group       string `json:"group" toml:"group"`
	Concurrency int    `json:"concurrency" toml:"concurrency"` // 0 = unlimited
	RPM         int    `json:"rpm" toml:"rpm"`                 // requests per minute; 0 = unlimited
	// Spend limits in USD; 0 means unlimited.
	Limit5hUSD     float64  `json:"limit_5h_usd" toml:"limit_5h_usd"`
	LimitDayUSD    float64  `json:"limit_day_usd" toml:"limit_day_usd"`
	LimitWeekUSD   float64  `json:"limit_week_usd" toml:"limit_week_usd"`
	LimitMonthUSD  float64  `json:"limit_month_usd" toml:"limit_month_usd"`
	QuotaUSD       float64  `json:"quota_usd" toml:"quota_usd"` // lifetime
	ExpiresAt      Time     `json:"expires_at,omitzero" toml:"expires_at"`
	Models         []string `json:"models,omitempty" toml:"models"`         // allow-list globs over the requested model
	AllowIPs       []string `json:"allow_ips,omitempty" toml:"allow_ips"`   // CIDRs or addresses; empty allows all
	RateMultiplier float64  `json:"rate_multiplier" toml:"rate_multiplier"` // 0 means 1
	// Enabled is false for a key switched off; config keys default to true.
	Enabled         bool `json:"enabled" toml:"enabled"`
	InterceptWarmup bool `json:"intercept_warmup" toml:"intercept_warmup"`
	// Translate lets the key's requests go to accounts of another API
	// family, translated; nil means the default, true. Its group's
	// [groups.NAME] translate = false wins.
	Translate *bool     `json:"translate,omitempty" toml:"translate"`
	Created   time.Time `json:"created" toml:"-"`
	// FromConfig marks a key of the config file (see Account.FromConfig).
	FromConfig bool `json:"-" toml:"-"`
}

// Defaults of a new account or key that leaves them out (the config
// file, the CLI's flags, the admin API). A concurrency of 0 means the
// default too.
const (
	DefaultGroup       = "default"
	DefaultConcurrency = 3
	DefaultPriority    = 10
	DefaultPlatform    = "anthropic"
)

// Platforms and account types the model accepts, in the order messages
// list them.
var (
	Platforms    = []string{"anthropic", "openai", "gemini"}
	AccountTypes = []string{"api_key", "oauth", "setup_token"}
)

// Validate checks every field and combination of fields of a complete
// account and returns all problems at once, errors.Join of *FieldError
// naming the field as TOML and JSON do. It does not know where the
// account comes from: uniqueness and the rules of a form are the caller's.
func (a Account) Validate() error {
	var p problems
	if a.Name == "" {
		p.add("name", "required")
	}
	p.oneOf("platform", a.Platform, Platforms)
	p.oneOf("type", a.Type, AccountTypes)
	switch {
	case a.Type == "api_key" && a.APIKey == "":
		p.add("api_key", "required for type api_key")
	case a.Type == "oauth" && a.AccessToken == "" && a.RefreshToken == "":
		p.add("access_token", "required for type oauth (or refresh_token)")
	case a.Type == "setup_token" && a.AccessToken == "":
		p.add("access_token", "required for type setup_token")
	}
	p.time("expires_at", a.ExpiresAt)
	if a.Concurrency < 0 {
		p.add("concurrency", "must be >= 0")
	}
	if a.BaseURL != "" && !httpURL(a.BaseURL) {
		p.add("base_url", "must be an http(s) URL")
	}
	if a.Proxy != "" {
		u, err := url.Parse(a.Proxy)
		if err != nil || u.Host == "" || !slices.Contains([]string{"http", "https", "socks5", "socks5h"}, u.Scheme) {
			p.add("proxy", "scheme must be http, https or socks5 (e.g. socks5://host:1080)")
		}
	}
	p.globs("models", a.Models)
	for _, from := range slices.Sorted(maps.Keys(a.ModelMap)) {
		if to := a.ModelMap[from]; strings.TrimSpace(from) == "" || strings.TrimSpace(to) == "" {
			p.add("model_map", "empty model name in %q = %q", from, to)
		}
	}
	p.identity(a)
	return p.err()
}

// identity checks the identity settings of a: a known mode, on a platform
// that has a client identity to mask, a profile that fits the platform,
// and an account uuid that is one.
func (p *problems) identity(a Account) {
	_, err := identity.ParseMode(a.Identity, a.Type)
	switch {
	case err != nil:
		p.add("identity", "must be mask or passthrough (empty: mask for oauth and setup_token, passthrough for api_key)")
	case a.Identity == string(identity.ModeMask) && !MaskableIdentity(a.Platform, a.Type):
		p.add("identity", "mask applies to anthropic accounts and openai oauth (Codex) accounts only")
	}
	if a.IdentityProfile != (identity.ProfileConfig{}) {
		for _, e := range unjoin(a.IdentityProfile.Validate(a.Platform)) {
			msg, _ := strings.CutPrefix(e.Error(), "identity_profile")
			field := "identity_profile"
			if k, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(k, ".") {
				field, msg = field+k, rest
			} else {
				msg = strings.TrimPrefix(msg, ": ")
			}
			p.add(field, "%s", msg)
		}
	}
	if a.AccountUUID != "" && !identity.IsUUID(a.AccountUUID) {
		p.add("account_uuid", "not a UUID")
	}
}

// MaskableIdentity reports whether an account of platform and type has a
// client identity subgate can mask: Claude's (every anthropic account)
// and Codex's (openai oauth). Other accounts always pass through.
func MaskableIdentity(platform, accountType string) bool {
	return platform == "anthropic" || platform == "openai" && accountType == "oauth"
}

// IdentityMode is the account's effective identity mode: its setting, or
// its type's default, and always passthrough where nothing can be masked.
func (a Account) IdentityMode() identity.Mode {
	mode, err := identity.ParseMode(a.Identity, a.Type)
	if err != nil || !MaskableIdentity(a.Platform, a.Type) {
		return identity.ModePassthrough
	}
	return mode
}

// unjoin returns the errors an errors.Join made, or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Validate checks a key's name and policy and returns all problems at
// once, as Account.Validate does. The hash is the store's and the
// config's concern (PutKey checks its form).
func (k Key) Validate() error {
	var p problems
	if k.Name == "" {
		p.add("name", "required")
	}
	if k.Concurrency < 0 {
		p.add("concurrency", "must be >= 0")
	}
	if k.RPM < 0 {
		p.add("rpm", "must be >= 0")
	}
	for _, f := range []struct {
		field string
		usd   float64
	}{{"limit_5h_usd", k.Limit5hUSD}, {"limit_day_usd", k.LimitDayUSD}, {"limit_week_usd", k.LimitWeekUSD},
		{"limit_month_usd", k.LimitMonthUSD}, {"quota_usd", k.QuotaUSD}} {
		switch {
		case math.IsNaN(f.usd) || f.usd < 0:
			p.add(f.field, "must be >= 0")
		case f.usd > maxUSD:
			p.add(f.field, "too large")
		}
	}
	if m := k.RateMultiplier; math.IsNaN(m) || m < 0 || m > 100 {
		p.add("rate_multiplier", "must be from 0 to 100 (0 means 1)")
	}
	p.time("expires_at", k.ExpiresAt)
	p.globs("models", k.Models)
	for _, s := range k.AllowIPs {
		if _, err := parsePrefix(s); err != nil {
			p.add("allow_ips", "%q is neither an IP nor a CIDR", s)
		}
	}
	return p.err()
}

// maxUSD bounds a spend limit far below where micro-USD overflow int64.
const maxUSD = 1e9

// Translates reports whether the key may use accounts of another API
// family (Translate, default true).
func (k Key) Translates() bool { return k.Translate == nil || *k.Translate }

// Sched returns the scheduler's view of the account. It is the one place
// that view is built.
func (a Account) Sched() sched.Account {
	return sched.Account{
		Name: a.Name, Platform: a.Platform, Type: a.Type, Group: a.Group,
		Priority: a.Priority, Concurrency: a.Concurrency, Models: a.Models, ModelMap: a.ModelMap,
	}
}

// Limits returns the key's limits in the ledger's micro-USD.
func (k Key) Limits() ledger.Limits {
	return ledger.Limits{
		RPM:            k.RPM,
		Limit5h:        ledger.USDToMicros(k.Limit5hUSD),
		LimitDay:       ledger.USDToMicros(k.LimitDayUSD),
		LimitWeek:      ledger.USDToMicros(k.LimitWeekUSD),
		LimitMonth:     ledger.USDToMicros(k.LimitMonthUSD),
		Quota:          ledger.USDToMicros(k.QuotaUSD),
		RateMultiplier: k.RateMultiplier,
	}
}

// Prefixes parses AllowIPs; a bare address is a single-address prefix.
func (k Key) Prefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(k.AllowIPs))
	for _, s := range k.AllowIPs {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Redacted returns the account as an admin may see it: each credential
// cut to the prefix that recognises it (SecretPrefix) and the proxy's
// password masked. It is idempotent, so a view may apply it to what it
// was handed.
func (a Account) Redacted() Account {
	for _, s := range []*string{&a.APIKey, &a.AccessToken, &a.RefreshToken, &a.IDToken} {
		if *s != "" {
			*s = SecretPrefix(*s)
		}
	}
	if u, err := url.Parse(a.Proxy); err == nil && u.User != nil {
		a.Proxy = u.Redacted()
	}
	return a
}

// SecretPrefix shows enough of a secret to recognise it and never the
// secret part: "sk-ant-oat01…". A prefix (ending in "…") is returned as
// it is.
func SecretPrefix(s string) string {
	if strings.HasSuffix(s, "…") {
		return s
	}
	n := 12
	if len(s) < 2*n {
		n = len(s) / 3
	}
	return s[:n] + "…"
}

// HashSecret returns the lowercase hex sha256 of a client key's secret,
// the form keys are stored, indexed and compared by.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewSecret returns a new client key: "sk-sg-" and 48 uniformly random
// base62 characters (about 285 bits).
func NewSecret() (string, error) {
	out := make([]byte, 0, 48)
	buf := make([]byte, 64)
	for len(out) < 48 {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random key: %w", err)
		}
		for _, b := range buf {
			// 248 = 4*62: rejecting larger bytes keeps the choice uniform.
			if b < 248 && len(out) < 48 {
				out = append(out, base62[b%62])
			}
		}
	}
	return "sk-sg-" + string(out), nil
}

// Time is a moment of a model: RFC 3339 text in TOML, "" for none, and
// in stored JSON what time.Time writes, as before it was wrapped.
type Time struct {
	time.Time
	// bad keeps text UnmarshalText could not read, so that Validate
	// reports it together with every other problem of the file.
	bad string
}

// UnmarshalText reads RFC 3339 text; "" is the zero Time. It never fails:
// unreadable text is kept for Validate.
func (t *Time) UnmarshalText(b []byte) error {
	*t = Time{}
	if len(b) == 0 {
		return nil
	}
	v, err := time.Parse(time.RFC3339, string(b))
	if err != nil {
		t.bad = string(b)
		return nil
	}
	t.Time = v
	return nil
}

// MarshalText writes RFC 3339 text, "" for the zero Time.
func (t Time) MarshalText() ([]byte, error) {
	if t.IsZero() {
		return []byte{}, nil
	}
	return []byte(t.Format(time.RFC3339Nano)), nil
}

// FieldError is a problem with one field of a model, named as TOML and
// JSON name it ("models[2]" for an entry of a list).
type FieldError struct {
	Field, Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// problems collects a model's FieldErrors in field order.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, &FieldError{field, fmt.Sprintf(format, args...)})
}

func (p *problems) oneOf(field, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		p.add(field, "must be one of %s", strings.Join(allowed, ", "))
	}
}

func (p *problems) time(field string, t Time) {
	if t.bad != "" {
		p.add(field, "not RFC 3339 (e.g. 2026-01-02T15:04:05Z)")
	}
}

func (p *problems) globs(field string, globs []string) {
	for i, g := range globs {
		if _, err := path.Match(g, ""); err != nil || strings.TrimSpace(g) == "" {
			p.add(fmt.Sprintf("%s[%d]", field, i), "bad glob pattern")
		}
	}
}

func (p problems) err() error { return errors.Join(p...) }

// httpURL reports whether s is an absolute http(s) URL with a host.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
