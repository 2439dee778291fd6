package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Duration is a time.Duration written in TOML as a string such as "45s".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string ("90s", "1h30m").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"45s\", \"5m\", \"1h\")", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the shortest readable form: "1h" rather than "1h0m0s".
func (d Duration) MarshalText() ([]byte, error) {
	s := d.String()
	if strings.HasSuffix(s, "m0s") { // "5m0s" → "5m"
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") { // "1h0m" → "1h"
		s = s[:len(s)-2]
	}
	return []byte(s), nil
}

// Config is the whole TOML file. Its key names are a contract with users.
type Config struct {
	Server    ServerConfig    `toml:"server"`
	Admin     AdminConfig     `toml:"admin"`
	Upstreams UpstreamsConfig `toml:"upstreams"`
	Scheduler SchedulerConfig `toml:"scheduler"`
	Ledger    LedgerConfig    `toml:"ledger"`
	Metrics   MetricsConfig   `toml:"metrics"`
	Accounts  []AccountConfig `toml:"accounts"`
	Keys      []KeyConfig     `toml:"keys"`
	Prices    []PriceConfig   `toml:"prices"`
}

// ServerConfig is the [server] table.
type ServerConfig struct {
	Listen        string   `toml:"listen"`
	DataDir       string   `toml:"data_dir"`
	MaxBodyMB     int      `toml:"max_body_mb"`
	LogLevel      string   `toml:"log_level"`  // debug | info | warn | error
	LogFormat     string   `toml:"log_format"` // auto | text | json
	ShutdownGrace Duration `toml:"shutdown_grace"`
	ReadTimeout   Duration `toml:"read_timeout"`
	IdleTimeout   Duration `toml:"idle_timeout"`
	WriteTimeout  Duration `toml:"write_timeout"` // a client that reads nothing this long is cut
	MaxConns      int      `toml:"max_conns"`     // concurrent client connections
	AdminListen   string   `toml:"admin_listen"`  // serve /admin/ here instead of on listen
	TLSCert       string   `toml:"tls_cert"`      // PEM files: serve HTTPS when both are set
	TLSKey        string   `toml:"tls_key"`
	MasterKeyFile string   `toml:"master_key_file"` // encrypts upstream credentials at rest; SUBGATE_MASTER_KEY wins
}

// AdminConfig is the [admin] table. An empty Token means: generate one at
// first start, print it once and keep it in kv.
type AdminConfig struct {
	Token string `toml:"token"`
	// PasswordHash is a bcrypt hash for the UI login (`subgate admin
	// hash-password`); empty allows the token only.
	PasswordHash string `toml:"password_hash"`
}

// MetricsConfig is the [metrics] table.
type MetricsConfig struct {
	Enabled bool   `toml:"enabled"`
	Token   string `toml:"token"` // bearer token for GET /metrics; empty = open
}

// UpstreamsConfig is the [upstreams] table.
type UpstreamsConfig struct {
	Anthropic AnthropicUpstream `toml:"anthropic"`
	OpenAI    OpenAIUpstream    `toml:"openai"`
	Gemini    GeminiUpstream    `toml:"gemini"`
}

// AnthropicUpstream holds every Anthropic endpoint and OAuth client value, so
// tests, relays and provider moves need no rebuild.
type AnthropicUpstream struct {
	BaseURL           string `toml:"base_url"`
	OAuthTokenURL     string `toml:"oauth_token_url"`
	OAuthAuthorizeURL string `toml:"oauth_authorize_url"`
	OAuthClientID     string `toml:"oauth_client_id"`
	OAuthRedirectURL  string `toml:"oauth_redirect_url"`
	OAuthScopes       string `toml:"oauth_scopes"`
	ClaudeCodeSystem  string `toml:"claude_code_system"`
	UserAgent         string `toml:"user_agent"` // on OAuth requests
}

// SchedulerConfig is the [scheduler] table.
type SchedulerConfig struct {
	MaxAccountSwitches    int      `toml:"max_account_switches"`
	StickyTTL             Duration `toml:"sticky_ttl"`
	StickyMaxWaiting      int      `toml:"sticky_max_waiting"`
	StickyWaitTimeout     Duration `toml:"sticky_wait_timeout"`
	FallbackMaxWaiting    int      `toml:"fallback_max_waiting"`
	FallbackWaitTimeout   Duration `toml:"fallback_wait_timeout"`
	StreamKeepalive       Duration `toml:"stream_keepalive"`
	PreferSoonestReset    bool     `toml:"prefer_soonest_reset"`
	MaxCooldown           Duration `toml:"max_cooldown"`
	RateLimitCooldown     Duration `toml:"rate_limit_cooldown"`
	OverloadCooldown      Duration `toml:"overload_cooldown"`
	UpstreamHeaderTimeout Duration `toml:"upstream_header_timeout"`
	StreamIdleTimeout     Duration `toml:"stream_idle_timeout"`
	RefreshAhead          Duration `toml:"refresh_ahead"`
}

// LedgerConfig is the [ledger] table.
type LedgerConfig struct {
	FlushInterval Duration `toml:"flush_interval"`
	Timezone      string   `toml:"timezone"`       // day/week/month budget windows; IANA name
	RetentionDays int      `toml:"retention_days"` // raw records older than this are deleted; rollups stay
}

// AccountConfig is one [[accounts]] entry. Defaults (platform anthropic,
// concurrency 3, priority 10, group "default") are applied by LoadConfig.
type AccountConfig struct {
	Name         string `toml:"name"`
	Platform     string `toml:"platform"` // anthropic | openai | gemini
	Type         string `toml:"type"`     // api_key | oauth | setup_token
	APIKey       string `toml:"api_key"`
	AccessToken  string `toml:"access_token"`
	RefreshToken string `toml:"refresh_token"`
	ExpiresAt    string `toml:"expires_at"` // RFC 3339 or empty
	IDToken      string `toml:"id_token"`   // openai oauth: its claim gives the account id
	AccountID    string `toml:"account_id"` // openai oauth: chatgpt-account-id
	ProjectID    string `toml:"project_id"` // gemini oauth: Code Assist project
	// InterceptWarmup answers Claude Code's probes locally for this account.
	InterceptWarmup bool              `toml:"intercept_warmup"`
	Concurrency     int               `toml:"concurrency"`
	Priority        int               `toml:"priority"` // lower is preferred
	Group           string            `toml:"group"`
	BaseURL         string            `toml:"base_url"`
	Proxy           string            `toml:"proxy"`
	Models          []string          `toml:"models"`
	ModelMap        map[string]string `toml:"model_map"`
}

// KeyConfig is one [[keys]] entry: a client key handed out by the gateway.
type KeyConfig struct {
	Name        string `toml:"name"`
	Key         string `toml:"key"`
	KeySHA256   string `toml:"key_sha256"`
	Group       string `toml:"group"`
	Concurrency int    `toml:"concurrency"` // 0 = unlimited
	KeyPolicy
}

// Hash returns the lowercase hex sha256 of the key, the form keys are
// indexed and compared by.
func (k KeyConfig) Hash() string {
	if k.Key != "" {
		sum := sha256.Sum256([]byte(k.Key))
		return hex.EncodeToString(sum[:])
	}
	return strings.ToLower(k.KeySHA256)
}

// PriceConfig is one [[prices]] entry, in USD per million tokens. It
// overrides or adds to the embedded price table.
type PriceConfig struct {
	Model        string  `toml:"model"`
	Input        float64 `toml:"input"`
	Output       float64 `toml:"output"`
	CacheWrite5m float64 `toml:"cache_write_5m"`
	CacheWrite1h float64 `toml:"cache_write_1h"`
	CacheRead    float64 `toml:"cache_read"`
}

// Defaults applied to [[accounts]] and [[keys]] entries.
const (
	defaultGroup              = "default"
	defaultAccountConcurrency = 3
	defaultAccountPriority    = 10
	defaultPlatform           = "anthropic"
)

// DefaultConfig returns the configuration used when no file is given; a file
// is decoded over it.
func DefaultConfig() Config {
	var c Config
	c.Server = ServerConfig{
		Listen:        "127.0.0.1:8080",
		DataDir:       "./data",
		MaxBodyMB:     32,
		LogLevel:      "info",
		LogFormat:     "auto",
		ShutdownGrace: Duration{30 * time.Second},
		ReadTimeout:   Duration{60 * time.Second},
		IdleTimeout:   Duration{120 * time.Second},
		WriteTimeout:  Duration{60 * time.Second},
		MaxConns:      10000,
	}
	c.Metrics.Enabled = true
	c.Upstreams.Anthropic = AnthropicUpstream{
		BaseURL:           "https://api.anthropic.com",
		OAuthTokenURL:     "https://platform.claude.com/v1/oauth/token",
		OAuthAuthorizeURL: "https://claude.ai/oauth/authorize",
		OAuthClientID:     "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
		OAuthRedirectURL:  "https://platform.claude.com/oauth/code/callback",
		OAuthScopes:       "org:create_api_key user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload",
		ClaudeCodeSystem:  "You are Claude Code, Anthropic's official CLI for Claude.",
		UserAgent:         "claude-cli/2.1.330 (external, cli)",
	}
	c.Upstreams.OpenAI = defaultOpenAIUpstream()
	c.Upstreams.Gemini = defaultGeminiUpstream()
	c.Scheduler = SchedulerConfig{
		MaxAccountSwitches:    3,
		StickyTTL:             Duration{time.Hour},
		StickyMaxWaiting:      3,
		StickyWaitTimeout:     Duration{45 * time.Second},
		FallbackMaxWaiting:    100,
		FallbackWaitTimeout:   Duration{30 * time.Second},
		StreamKeepalive:       Duration{10 * time.Second},
		MaxCooldown:           Duration{6 * time.Hour},
		RateLimitCooldown:     Duration{60 * time.Second},
		OverloadCooldown:      Duration{60 * time.Second},
		UpstreamHeaderTimeout: Duration{5 * time.Minute},
		StreamIdleTimeout:     Duration{5 * time.Minute},
		RefreshAhead:          Duration{5 * time.Minute},
	}
	c.Ledger.FlushInterval = Duration{5 * time.Millisecond}
	c.Ledger.Timezone = "UTC"
	c.Ledger.RetentionDays = 90
	return c
}

// LoadConfig reads the TOML file at path over DefaultConfig, rejects keys it
// does not know, applies per-entry defaults and validates the result. An
// empty path returns the defaults.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if path == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	if err := decodeConfig(data, &cfg); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: invalid config:\n%w", path, err)
	}
	return cfg, nil
}

// decodeConfig decodes data over cfg and applies per-entry defaults.
func decodeConfig(data []byte, cfg *Config) error {
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(cfg)
	if err != nil {
		return err
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		errs := make([]error, len(undecoded))
		for i, k := range undecoded {
			errs[i] = fmt.Errorf("unknown key %q", k.String())
		}
		return errors.Join(errs...)
	}
	// BurntSushi/toml cannot pre-fill array elements, so a second pass over
	// the same bytes tells an absent priority from an explicit 0.
	var set struct {
		Accounts []struct {
			Priority *int `toml:"priority"`
		} `toml:"accounts"`
	}
	if _, err := toml.Decode(string(data), &set); err != nil {
		return err
	}
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		if i >= len(set.Accounts) || set.Accounts[i].Priority == nil {
			a.Priority = defaultAccountPriority
		}
		if a.Concurrency == 0 {
			a.Concurrency = defaultAccountConcurrency
		}
		if a.Group == "" {
			a.Group = defaultGroup
		}
		if a.Platform == "" {
			a.Platform = defaultPlatform
		}
	}
	for i := range cfg.Keys {
		if cfg.Keys[i].Group == "" {
			cfg.Keys[i].Group = defaultGroup
		}
	}
	return nil
}

// Validate checks every field and combination of fields and returns all
// problems at once, each naming its TOML key.
func (c Config) Validate() error {
	var v validator
	c.validateServer(&v)
	c.validateUpstreams(&v)
	c.validateOtherUpstreams(&v)
	c.validateScheduler(&v)
	if c.Ledger.FlushInterval.Duration <= 0 {
		v.add("ledger.flush_interval", "must be > 0")
	}
	if _, err := time.LoadLocation(c.Ledger.Timezone); err != nil {
		v.add("ledger.timezone", "unknown time zone %q", c.Ledger.Timezone)
	}
	if c.Ledger.RetentionDays < 1 {
		v.add("ledger.retention_days", "must be >= 1")
	}
	c.validateAccounts(&v)
	c.validateKeys(&v)
	c.validatePrices(&v)
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

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

func (c Config) validateAccounts(v *validator) {
	seen := make(map[string]int)
	for i, a := range c.Accounts {
		p := fmt.Sprintf("accounts[%d].", i)
		if a.Name == "" {
			v.add(p+"name", "required")
		} else if j, dup := seen[a.Name]; dup {
			v.add(p+"name", "duplicate %q (also accounts[%d])", a.Name, j)
		} else {
			seen[a.Name] = i
		}
		v.oneOf(p+"platform", a.Platform, "anthropic", "openai", "gemini")
		v.oneOf(p+"type", a.Type, "api_key", "oauth", "setup_token")
		switch {
		case a.Type == "api_key" && a.APIKey == "":
			v.add(p+"api_key", "required for type api_key")
		case a.Type == "oauth" && a.AccessToken == "" && a.RefreshToken == "":
			v.add(p+"access_token", "required for type oauth (or refresh_token)")
		case a.Type == "setup_token" && a.AccessToken == "":
			v.add(p+"access_token", "required for type setup_token")
		}
		if a.ExpiresAt != "" {
			if _, err := time.Parse(time.RFC3339, a.ExpiresAt); err != nil {
				v.add(p+"expires_at", "not RFC 3339 (e.g. 2026-01-02T15:04:05Z)")
			}
		}
		if a.Concurrency < 0 {
			v.add(p+"concurrency", "must be >= 0")
		}
		if a.BaseURL != "" && !httpURL(a.BaseURL) {
			v.add(p+"base_url", "must be an http(s) URL")
		}
		if a.Proxy != "" {
			u, err := url.Parse(a.Proxy)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
				v.add(p+"proxy", "scheme must be http, https or socks5 (e.g. socks5://host:1080)")
			}
		}
		for j, m := range a.Models {
			if _, err := path.Match(m, ""); err != nil || m == "" {
				v.add(fmt.Sprintf("%smodels[%d]", p, j), "bad glob pattern")
			}
		}
		for _, from := range slices.Sorted(maps.Keys(a.ModelMap)) {
			if to := a.ModelMap[from]; from == "" || to == "" {
				v.add(p+"model_map", "empty model name in %q = %q", from, to)
			}
		}
	}
}

func (c Config) validateKeys(v *validator) {
	names := make(map[string]int)
	secrets := make(map[string]int)
	for i, k := range c.Keys {
		p := fmt.Sprintf("keys[%d].", i)
		if k.Name == "" {
			v.add(p+"name", "required")
		} else if j, dup := names[k.Name]; dup {
			v.add(p+"name", "duplicate %q (also keys[%d])", k.Name, j)
		} else {
			names[k.Name] = i
		}
		switch {
		case k.Key == "" && k.KeySHA256 == "":
			v.add(p+"key", "one of key or key_sha256 is required")
		case k.Key != "" && k.KeySHA256 != "":
			v.add(p+"key", "set only one of key or key_sha256")
		case k.KeySHA256 != "" && !isHex64(k.KeySHA256):
			v.add(p+"key_sha256", "must be 64 hex characters")
		default:
			// Never print the secret; name the other entry instead.
			if j, dup := secrets[k.Hash()]; dup {
				v.add(p+"key", "duplicate secret (same as keys[%d])", j)
			} else {
				secrets[k.Hash()] = i
			}
		}
		if k.Concurrency < 0 {
			v.add(p+"concurrency", "must be >= 0")
		}
		k.KeyPolicy.validate(v, p)
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
		} else if j, dup := seen[pr.Model]; dup {
			v.add(p+"model", "duplicate %q (also prices[%d])", pr.Model, j)
		} else {
			seen[pr.Model] = i
		}
		for _, f := range []struct {
			key string
			usd float64
		}{
			{"input", pr.Input}, {"output", pr.Output}, {"cache_write_5m", pr.CacheWrite5m},
			{"cache_write_1h", pr.CacheWrite1h}, {"cache_read", pr.CacheRead},
		} {
			if f.usd < 0 {
				v.add(p+f.key, "must be >= 0")
			}
		}
	}
}
