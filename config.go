package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy/errrules"
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
	Accounts  []kv.Account    `toml:"accounts"`
	Keys      []KeyConfig     `toml:"keys"`
	Prices    []PriceConfig   `toml:"prices"`
	// Groups are the [groups.NAME] tables: settings of one group of
	// accounts and keys. A group without a table has the defaults.
	Groups map[string]GroupConfig `toml:"groups"`
	// ErrorRules override what an upstream error means (docs/error-rules.md).
	ErrorRules []errrules.Rule `toml:"error_rules"`
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
	// MaxConnsPerIP bounds one client address's connections (an IPv6 /64),
	// and behind a trusted proxy one forwarded client's requests in
	// flight; 0 = off.
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// TrustedProxies are the reverse proxies (CIDR prefixes or addresses)
	// whose X-Forwarded-For, X-Real-IP and X-Forwarded-Proto are believed.
	TrustedProxies []string `toml:"trusted_proxies"`
	AdminListen    string   `toml:"admin_listen"` // serve /admin/ here instead of on listen
	TLSCert        string   `toml:"tls_cert"`     // PEM files: serve HTTPS when both are set
	TLSKey         string   `toml:"tls_key"`
	MasterKeyFile  string   `toml:"master_key_file"` // encrypts upstream credentials at rest; SUBGATE_MASTER_KEY wins
}

// AdminConfig is the [admin] table. An empty Token means: generate one at
// first start, print it once and keep it in kv.
type AdminConfig struct {
	Token string `toml:"token"`
	// PasswordHash is a bcrypt hash for the UI login (`subgate admin
	// hash-password`); empty allows the token only.
	PasswordHash string `toml:"password_hash"`
	// CookieSecure always marks the session cookie Secure; without it the
	// cookie is Secure over TLS or behind a trusted proxy that forwards
	// X-Forwarded-Proto: https.
	CookieSecure bool `toml:"cookie_secure"`
}

// MetricsConfig is the [metrics] table.
type MetricsConfig struct {
	Enabled bool   `toml:"enabled"`
	Token   string `toml:"token"` // bearer token for GET /metrics (the admin token works too)
	// Public serves /metrics to anyone; only without a token.
	Public bool `toml:"public"`
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

// OpenAIUpstream holds the OpenAI API, the ChatGPT Codex backend and the
// OpenAI OAuth client values.
type OpenAIUpstream struct {
	BaseURL           string `toml:"base_url"`
	CodexBaseURL      string `toml:"codex_base_url"`
	OAuthTokenURL     string `toml:"oauth_token_url"`
	OAuthAuthorizeURL string `toml:"oauth_authorize_url"`
	OAuthClientID     string `toml:"oauth_client_id"`
	OAuthRedirectURL  string `toml:"oauth_redirect_url"`
	OAuthScopes       string `toml:"oauth_scopes"`
}

// GeminiUpstream holds the Gemini API, Code Assist and the Google OAuth
// client values of Gemini CLI.
type GeminiUpstream struct {
	BaseURL           string `toml:"base_url"`
	CodeAssistBaseURL string `toml:"code_assist_base_url"`
	OAuthTokenURL     string `toml:"oauth_token_url"`
	OAuthAuthorizeURL string `toml:"oauth_authorize_url"`
	OAuthClientID     string `toml:"oauth_client_id"`
	OAuthClientSecret string `toml:"oauth_client_secret"`
	OAuthRedirectURL  string `toml:"oauth_redirect_url"`
	OAuthScopes       string `toml:"oauth_scopes"`
}

// SchedulerConfig is the [scheduler] table.
type SchedulerConfig struct {
	MaxAccountSwitches    int      `toml:"max_account_switches"`
	StickyTTL             Duration `toml:"sticky_ttl"`
	MaxSessionsPerKey     int      `toml:"max_sessions_per_key"`
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
	// Unpriced is what a key with a spend limit gets for a model without
	// a price: "refuse" (403) or "allow" (served, recorded at cost 0).
	Unpriced string `toml:"unpriced"`
	// MaxPending bounds the records kept in memory while the database
	// cannot be written.
	MaxPending int `toml:"max_pending"`
}

// Values of [ledger] unpriced.
const (
	unpricedRefuse = "refuse"
	unpricedAllow  = "allow"
)

// GroupConfig is one [groups.NAME] table. A group is where accounts of
// several platforms meet, so what the group's pool may do for its keys is
// set here once, for every key of it, the ones the admin UI creates later
// included; a key's own translate can only narrow it.
type GroupConfig struct {
	// Translate lets the group's keys be served by accounts of another API
	// family (Claude Code on a Codex account); default true.
	Translate *bool `toml:"translate"`
}

// KeyConfig is one [[keys]] entry: the key model, plus the key in clear,
// a convenience of the file that is hashed at load (the model keeps the
// sha256 only).
type KeyConfig struct {
	kv.Key
	Secret string `toml:"key"`
}

// SecretHash returns the lowercase hex sha256 of the key, the form keys
// are indexed and compared by: of Secret when set, else key_sha256.
func (k KeyConfig) SecretHash() string {
	if k.Secret != "" {
		return kv.HashSecret(k.Secret)
	}
	return strings.ToLower(k.Hash)
}

// Model returns the entry as the key model, with its Hash in lowercase hex.
func (k KeyConfig) Model() kv.Key {
	m := k.Key
	m.Hash = k.SecretHash()
	return m
}

// keyModels returns the [[keys]] entries as the key model.
func (c Config) keyModels() []kv.Key {
	out := make([]kv.Key, len(c.Keys))
	for i, k := range c.Keys {
		out[i] = k.Model()
	}
	return out
}

// PriceConfig is one [[prices]] entry, in USD per million tokens. It
// overrides or adds to the price table. The _above_200k fields, when
// input_above_200k is set, price requests whose prompt exceeds 200k
// tokens.
type PriceConfig struct {
	Model        string  `toml:"model"`
	Input        float64 `toml:"input"`
	Output       float64 `toml:"output"`
	CacheWrite5m float64 `toml:"cache_write_5m"`
	CacheWrite1h float64 `toml:"cache_write_1h"`
	CacheRead    float64 `toml:"cache_read"`

	InputAbove200k        float64 `toml:"input_above_200k"`
	OutputAbove200k       float64 `toml:"output_above_200k"`
	CacheWrite5mAbove200k float64 `toml:"cache_write_5m_above_200k"`
	CacheWrite1hAbove200k float64 `toml:"cache_write_1h_above_200k"`
	CacheReadAbove200k    float64 `toml:"cache_read_above_200k"`
}

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
		MaxConnsPerIP: 64,
		// Empty rather than nil: what the example's "[]" decodes to.
		TrustedProxies: []string{},
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
		MaxSessionsPerKey:     10_000,
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
	c.Ledger.FlushInterval = Duration{25 * time.Millisecond}
	c.Ledger.Timezone = "UTC"
	c.Ledger.RetentionDays = 90
	c.Ledger.Unpriced = unpricedRefuse
	c.Ledger.MaxPending = 100_000
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
	// the same bytes tells an absent priority from an explicit 0, and an
	// absent enabled from an explicit false.
	var set struct {
		Accounts []struct {
			Priority *int `toml:"priority"`
		} `toml:"accounts"`
		Keys []struct {
			Enabled *bool `toml:"enabled"`
		} `toml:"keys"`
	}
	if _, err := toml.Decode(string(data), &set); err != nil {
		return err
	}
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		if i >= len(set.Accounts) || set.Accounts[i].Priority == nil {
			a.Priority = kv.DefaultPriority
		}
		if a.Concurrency == 0 {
			a.Concurrency = kv.DefaultConcurrency
		}
		if a.Group == "" {
			a.Group = kv.DefaultGroup
		}
		if a.Platform == "" {
			a.Platform = kv.DefaultPlatform
		}
	}
	for i := range cfg.Keys {
		k := &cfg.Keys[i]
		if k.Group == "" {
			k.Group = kv.DefaultGroup
		}
		if i >= len(set.Keys) || set.Keys[i].Enabled == nil {
			k.Enabled = true
		}
	}
	return nil
}

func defaultOpenAIUpstream() OpenAIUpstream {
	return OpenAIUpstream{
		BaseURL:           "https://api.openai.com/v1",
		CodexBaseURL:      "https://chatgpt.com/backend-api/codex",
		OAuthTokenURL:     "https://auth.openai.com/oauth/token",
		OAuthAuthorizeURL: "https://auth.openai.com/oauth/authorize",
		OAuthClientID:     "app_EMoamEEZ73f0CkXaXp7hrann",
		OAuthRedirectURL:  "http://localhost:1455/auth/callback",
		OAuthScopes:       "openid profile email offline_access",
	}
}

func defaultGeminiUpstream() GeminiUpstream {
	return GeminiUpstream{
		BaseURL:           "https://generativelanguage.googleapis.com",
		CodeAssistBaseURL: "https://cloudcode-pa.googleapis.com",
		OAuthTokenURL:     "https://oauth2.googleapis.com/token",
		OAuthAuthorizeURL: "https://accounts.google.com/o/oauth2/v2/auth",
		OAuthClientID:     "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
		// Gemini CLI's public "installed application" secret: not a secret
		// for such clients, Google documents it as embeddable.
		OAuthClientSecret: "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",
		OAuthRedirectURL:  "https://codeassist.google.com/authcode",
		OAuthScopes:       "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
	}
}

// priceOverrides returns [[prices]] as the ledger takes them.
func (c Config) priceOverrides() []ledger.PriceOverride {
	out := make([]ledger.PriceOverride, len(c.Prices))
	for i, p := range c.Prices {
		out[i] = ledger.PriceOverride{Model: p.Model, Input: p.Input, Output: p.Output,
			CacheWrite5m: p.CacheWrite5m, CacheWrite1h: p.CacheWrite1h, CacheRead: p.CacheRead,
			InputAbove200k: p.InputAbove200k, OutputAbove200k: p.OutputAbove200k,
			CacheWrite5mAbove200k: p.CacheWrite5mAbove200k, CacheWrite1hAbove200k: p.CacheWrite1hAbove200k,
			CacheReadAbove200k: p.CacheReadAbove200k}
	}
	return out
}

// dbPath is where the kv database lives inside data_dir.
func dbPath(cfg Config) string {
	return filepath.Join(cfg.Server.DataDir, "subgate.db")
}
