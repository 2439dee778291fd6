package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"subgate/kv"
)

// writeConfig writes a TOML file in a temp dir and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// encodeToMap encodes v as TOML and decodes it back into a generic map, so
// the test sees exactly the key names the file format uses.
func encodeToMap(t *testing.T, v any) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	m := make(map[string]any)
	if _, err := toml.Decode(buf.String(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// leafKeys lists the dotted paths of non-table values in m.
func leafKeys(prefix string, m map[string]any, out *[]string) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			leafKeys(prefix+k+".", sub, out)
			continue
		}
		*out = append(*out, prefix+k)
	}
}

// lookup follows a dotted path through nested maps.
func lookup(m map[string]any, path string) (any, bool) {
	parts := strings.Split(path, ".")
	var cur any = m
	for _, p := range parts {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := LoadConfig("config.example.toml")
	if err != nil {
		t.Fatalf("LoadConfig(config.example.toml): %v", err)
	}
	// The tables the example shows must hold exactly the defaults.
	def := DefaultConfig()
	for name, pair := range map[string][2]any{
		"server":    {cfg.Server, def.Server},
		"admin":     {cfg.Admin, def.Admin},
		"upstreams": {cfg.Upstreams, def.Upstreams},
		"scheduler": {cfg.Scheduler, def.Scheduler},
		"ledger":    {cfg.Ledger, def.Ledger},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("[%s] in example = %+v, want the defaults %+v", name, pair[0], pair[1])
		}
	}
	if len(cfg.Keys) != 1 {
		t.Fatalf("example has %d keys, want 1", len(cfg.Keys))
	}
	sum := sha256.Sum256([]byte("sk-sg-example-change-me"))
	if got, want := cfg.Keys[0].SecretHash(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("example key hash = %s, want sha256 of the documented sample %s", got, want)
	}
	if len(cfg.Accounts) == 0 {
		t.Errorf("example has no account")
	}
}

func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	text, err := os.ReadFile("config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	raw := make(map[string]any)
	if _, err := toml.Decode(string(text), &raw); err != nil {
		t.Fatal(err)
	}
	// Every key of the plain tables is set explicitly (its value equal to
	// the default is checked by TestExampleConfigLoads).
	var keys []string
	leafKeys("", encodeToMap(t, DefaultConfig()), &keys)
	sort.Strings(keys)
	if len(keys) < 30 {
		t.Fatalf("only %d keys in DefaultConfig's encoding: %v", len(keys), keys)
	}
	for _, k := range keys {
		if _, ok := lookup(raw, k); !ok {
			t.Errorf("config.example.toml does not set %s", k)
		}
	}
	// Array tables: every field appears in some entry, or in a commented
	// example line ("# key = ...").
	full := Config{
		Accounts: []kv.Account{{Models: []string{"x"}, ModelMap: map[string]string{"a": "b"}}},
		Keys:     []KeyConfig{{}},
		Prices:   []PriceConfig{{}},
	}
	enc := encodeToMap(t, full)
	for _, table := range []string{"accounts", "keys", "prices"} {
		entries, _ := enc[table].([]map[string]any)
		if len(entries) != 1 {
			t.Fatalf("encoding of %s = %#v", table, enc[table])
		}
		present := make(map[string]bool)
		if list, ok := raw[table].([]map[string]any); ok {
			for _, e := range list {
				for k := range e {
					present[k] = true
				}
			}
		}
		for k := range entries[0] {
			commented := regexp.MustCompile(`(?m)^#\s*` + regexp.QuoteMeta(k) + `\s*=`)
			if !present[k] && !commented.Match(text) {
				t.Errorf("config.example.toml does not document %s.%s", table, k)
			}
		}
	}
}

// validConfig has four valid accounts and two valid keys; validation cases
// break one thing each.
func validConfig() Config {
	c := DefaultConfig()
	for i := range 4 {
		c.Accounts = append(c.Accounts, kv.Account{
			Name: "a" + string(rune('0'+i)), Platform: "anthropic", Type: "api_key",
			APIKey: "sk-ant-api03-x", Concurrency: 3, Priority: 10, Group: "default",
		})
	}
	c.Keys = []KeyConfig{
		{Key: kv.Key{Name: "k0", Group: "default"}, Secret: "sk-sg-zero"},
		{Key: kv.Key{Name: "k1", Group: "default"}, Secret: "sk-sg-one"},
	}
	c.Prices = []PriceConfig{{Model: "m", Input: 1, Output: 2}}
	return c
}

func TestValidate(t *testing.T) {
	zeroHash := KeyConfig{Secret: "sk-sg-zero"}.SecretHash()
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // "" means valid
	}{
		{"valid", func(c *Config) {}, ""},
		{"openai accepted", func(c *Config) { c.Accounts[0].Platform = "openai" }, ""},
		{"oauth with refresh token only", func(c *Config) {
			c.Accounts[0].Type, c.Accounts[0].APIKey, c.Accounts[0].RefreshToken = "oauth", "", "r"
		}, ""},
		{"socks5 proxy", func(c *Config) { c.Accounts[0].Proxy = "socks5://127.0.0.1:1080" }, ""},
		{"platform", func(c *Config) { c.Accounts[2].Platform = "azure" },
			"accounts[2].platform: must be one of anthropic, openai, gemini"},
		{"type", func(c *Config) { c.Accounts[0].Type = "cookie" },
			"accounts[0].type: must be one of api_key, oauth, setup_token"},
		{"api key missing", func(c *Config) { c.Accounts[1].APIKey = "" },
			"accounts[1].api_key: required for type api_key"},
		{"oauth tokens missing", func(c *Config) { c.Accounts[3].Type, c.Accounts[3].APIKey = "oauth", "" },
			"accounts[3].access_token: required for type oauth"},
		{"setup token missing", func(c *Config) { c.Accounts[0].Type = "setup_token" },
			"accounts[0].access_token: required for type setup_token"},
		{"duplicate account", func(c *Config) { c.Accounts[1].Name = "x"; c.Accounts[2].Name = "x" },
			`accounts[2].name: duplicate "x"`},
		{"account name", func(c *Config) { c.Accounts[0].Name = "" }, "accounts[0].name: required"},
		{"expires_at", func(c *Config) { _ = c.Accounts[0].ExpiresAt.UnmarshalText([]byte("2026-01-02 15:04")) },
			"accounts[0].expires_at: not RFC 3339"},
		{"proxy scheme", func(c *Config) { c.Accounts[0].Proxy = "ftp://proxy:21" },
			"accounts[0].proxy: scheme must be http, https or socks5"},
		{"base_url", func(c *Config) { c.Accounts[0].BaseURL = "api.example.com" },
			"accounts[0].base_url: must be an http(s) URL"},
		{"account concurrency", func(c *Config) { c.Accounts[0].Concurrency = -1 },
			"accounts[0].concurrency: must be >= 0"},
		{"model glob", func(c *Config) { c.Accounts[0].Models = []string{"claude-[sonnet"} },
			"accounts[0].models[0]: bad glob pattern"},
		{"model map", func(c *Config) { c.Accounts[0].ModelMap = map[string]string{"a": ""} },
			"accounts[0].model_map: empty model name"},
		{"key missing", func(c *Config) { c.Keys[0].Secret = "" },
			"keys[0].key: one of key or key_sha256 is required"},
		{"key hash form", func(c *Config) { c.Keys[0].Secret, c.Keys[0].Hash = "", "abc" },
			"keys[0].key_sha256: must be 64 hex characters"},
		{"key and hash", func(c *Config) { c.Keys[0].Hash = zeroHash },
			"keys[0].key: set only one of key or key_sha256"},
		{"duplicate key name", func(c *Config) { c.Keys[1].Name = "k0" }, `keys[1].name: duplicate "k0"`},
		{"duplicate key secret", func(c *Config) { c.Keys[1].Secret, c.Keys[1].Hash = "", strings.ToUpper(zeroHash) },
			"keys[1].key: duplicate secret (same as keys[0])"},
		{"key concurrency", func(c *Config) { c.Keys[1].Concurrency = -2 }, "keys[1].concurrency: must be >= 0"},
		{"listen", func(c *Config) { c.Server.Listen = "" }, "server.listen: required"},
		{"listen form", func(c *Config) { c.Server.Listen = "8080" }, "server.listen: must be host:port"},
		{"data dir", func(c *Config) { c.Server.DataDir = "" }, "server.data_dir: required"},
		{"body limit", func(c *Config) { c.Server.MaxBodyMB = 0 }, "server.max_body_mb: must be > 0"},
		{"log level", func(c *Config) { c.Server.LogLevel = "verbose" },
			"server.log_level: must be one of debug, info, warn, error"},
		{"log format", func(c *Config) { c.Server.LogFormat = "xml" },
			"server.log_format: must be one of auto, text, json"},
		{"switches", func(c *Config) { c.Scheduler.MaxAccountSwitches = 0 },
			"scheduler.max_account_switches: must be >= 1"},
		{"waiting", func(c *Config) { c.Scheduler.FallbackMaxWaiting = -1 },
			"scheduler.fallback_max_waiting: must be >= 0"},
		{"sessions per key", func(c *Config) { c.Scheduler.MaxSessionsPerKey = 0 },
			"scheduler.max_sessions_per_key: must be >= 1"},
		{"negative duration", func(c *Config) { c.Scheduler.StickyTTL = Duration{-time.Second} },
			"scheduler.sticky_ttl: must not be negative"},
		{"flush interval", func(c *Config) { c.Ledger.FlushInterval = Duration{} },
			"ledger.flush_interval: must be > 0"},
		{"unpriced", func(c *Config) { c.Ledger.Unpriced = "free" },
			`ledger.unpriced: must be "refuse" or "allow", not "free"`},
		{"max pending", func(c *Config) { c.Ledger.MaxPending = 0 }, "ledger.max_pending: must be >= 1"},
		{"price long negative", func(c *Config) { c.Prices[0].OutputAbove200k = -1 },
			"prices[0].output_above_200k: must be >= 0"},
		{"price long without input", func(c *Config) { c.Prices[0].CacheReadAbove200k = 0.6 },
			"prices[0].input_above_200k: must be set when another _above_200k price is"},
		{"upstream url", func(c *Config) { c.Upstreams.Anthropic.OAuthTokenURL = "" },
			"upstreams.anthropic.oauth_token_url: must be an http(s) URL"},
		{"price model", func(c *Config) { c.Prices[0].Model = "" }, "prices[0].model: required"},
		{"price negative", func(c *Config) { c.Prices[0].CacheRead = -1 }, "prices[0].cache_read: must be >= 0"},
		{"duplicate price", func(c *Config) { c.Prices = append(c.Prices, c.Prices[0]) }, `prices[1].model: duplicate "m"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "sk-sg-zero") || strings.Contains(err.Error(), "sk-ant-api03-x") {
				t.Fatalf("Validate() leaks a secret: %q", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := validConfig()
	c.Server.Listen = ""
	c.Accounts[1].Platform = "x"
	err := c.Validate()
	for _, want := range []string{"server.listen: required", "accounts[1].platform"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, want)
		}
	}
}

func TestLoadConfigUnknownKey(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"[server]\nlisen = \"127.0.0.1:1\"\n", `unknown key "server.lisen"`},
		{"[[accounts]]\nname = \"a\"\ntype = \"api_key\"\napi_key = \"x\"\nnmae = \"b\"\n", `unknown key "accounts.nmae"`},
		{"[upstream.anthropic]\nbase_url = \"http://x\"\n", `unknown key "upstream`},
	} {
		_, err := LoadConfig(writeConfig(t, tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadConfig(%q) = %v, want it to contain %q", tt.text, err, tt.want)
		}
	}
}

func TestLoadConfigDurations(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, `
[server]
shutdown_grace = "2m30s"
[scheduler]
sticky_ttl = "90m"
[ledger]
flush_interval = "10ms"
`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Server.ShutdownGrace.Duration, 150*time.Second; got != want {
		t.Errorf("shutdown_grace = %v, want %v", got, want)
	}
	if got, want := cfg.Scheduler.StickyTTL.Duration, 90*time.Minute; got != want {
		t.Errorf("sticky_ttl = %v, want %v", got, want)
	}
	if got, want := cfg.Ledger.FlushInterval.Duration, 10*time.Millisecond; got != want {
		t.Errorf("flush_interval = %v, want %v", got, want)
	}
	// Untouched keys keep their defaults.
	if got, want := cfg.Scheduler.StickyWaitTimeout.Duration, 45*time.Second; got != want {
		t.Errorf("sticky_wait_timeout = %v, want %v", got, want)
	}

	for _, text := range []string{"[scheduler]\nsticky_ttl = \"45\"\n", "[scheduler]\nsticky_ttl = 45\n"} {
		_, err := LoadConfig(writeConfig(t, text))
		if err == nil || !strings.Contains(err.Error(), "scheduler.sticky_ttl") {
			t.Errorf("LoadConfig(%q) = %v, want an error naming scheduler.sticky_ttl", text, err)
		}
	}
}

func TestDurationMarshalText(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{time.Hour, "1h"}, {90 * time.Minute, "1h30m"}, {5 * time.Minute, "5m"},
		{45 * time.Second, "45s"}, {5 * time.Millisecond, "5ms"}, {0, "0s"},
		{time.Hour + 30*time.Second, "1h0m30s"}, {6 * time.Hour, "6h"},
	} {
		b, err := Duration{tt.d}.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != tt.want {
			t.Errorf("MarshalText(%v) = %q, want %q", tt.d, got, tt.want)
		}
		var back Duration
		if err := back.UnmarshalText(b); err != nil || back.Duration != tt.d {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back.Duration, err, tt.d)
		}
	}
}

func TestLoadConfigAccountDefaults(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, `
[[accounts]]
name = "plain"
type = "api_key"
api_key = "sk-ant-api03-x"

[[accounts]]
name = "tuned"
platform = "anthropic"
type = "oauth"
refresh_token = "r"
priority = 0
concurrency = 5
group = "team"

[[keys]]
name = "k"
key = "sk-sg-k"
`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Accounts[0]
	if a.Concurrency != 3 || a.Priority != 10 || a.Group != "default" || a.Platform != "anthropic" {
		t.Errorf("defaults = concurrency %d priority %d group %q platform %q, want 3 10 default anthropic",
			a.Concurrency, a.Priority, a.Group, a.Platform)
	}
	b := cfg.Accounts[1]
	if b.Concurrency != 5 || b.Priority != 0 || b.Group != "team" {
		t.Errorf("explicit = concurrency %d priority %d group %q, want 5 0 team", b.Concurrency, b.Priority, b.Group)
	}
	if got, want := cfg.Keys[0].Group, "default"; got != want {
		t.Errorf("key group = %q, want %q", got, want)
	}
}

func TestLoadConfigEmptyPath(t *testing.T) {
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Errorf("LoadConfig(\"\") differs from DefaultConfig()")
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Errorf("LoadConfig(missing file) = nil error")
	}
}

func TestKeyConfigHash(t *testing.T) {
	sum := sha256.Sum256([]byte("sk-sg-abc"))
	want := hex.EncodeToString(sum[:])
	if got := (KeyConfig{Secret: "sk-sg-abc"}).SecretHash(); got != want {
		t.Errorf("Hash(key) = %s, want %s", got, want)
	}
	if got := (KeyConfig{Key: kv.Key{Hash: strings.ToUpper(want)}}).SecretHash(); got != want {
		t.Errorf("Hash(key_sha256) = %s, want %s", got, want)
	}
}

// TestLoadConfigKeyEnabled: a [[keys]] entry without enabled is enabled;
// an explicit false is kept.
func TestLoadConfigKeyEnabled(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, `
[[keys]]
name = "on"
key = "sk-sg-on"

[[keys]]
name = "off"
key = "sk-sg-off"
enabled = false
`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		if got := cfg.Keys[i].Enabled; got != want {
			t.Errorf("keys[%d].enabled = %v, want %v", i, got, want)
		}
	}
}
