package kv_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"subgate/kv"
	"subgate/proxy/identity"
)

// TestTimeStoredJSON: wrapping time.Time kept the stored JSON: a Time
// writes and reads what a time.Time field did.
func TestTimeStoredJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		name string
		in   time.Time
	}{{"set", at}, {"zero", time.Time{}}} {
		old, _ := json.Marshal(struct {
			T time.Time `json:"expires_at,omitempty"`
		}{tt.in})
		got, err := json.Marshal(struct {
			T kv.Time `json:"expires_at,omitempty"`
		}{kv.Time{Time: tt.in}})
		if err != nil || string(got) != string(old) {
			t.Errorf("%s: JSON = %s, %v; want %s", tt.name, got, err, old)
		}
		var back struct {
			T kv.Time `json:"expires_at"`
		}
		if err := json.Unmarshal(old, &back); err != nil || !back.T.Equal(tt.in) {
			t.Errorf("%s: decoding %s = %v, %v; want %v", tt.name, old, back.T, err, tt.in)
		}
	}
	// A key's omitzero drops a zero Time, as it dropped a zero time.Time.
	b, _ := json.Marshal(kv.Key{Name: "k"})
	if strings.Contains(string(b), "expires_at") {
		t.Errorf("zero key expiry written: %s", b)
	}
}

// TestTimeTOML: "" is no time, RFC 3339 text a time, and other text is
// kept for Validate rather than failing the decoder.
func TestTimeTOML(t *testing.T) {
	var doc struct {
		Accounts []kv.Account `toml:"accounts"`
	}
	_, err := toml.Decode(`
[[accounts]]
expires_at = ""
[[accounts]]
expires_at = "2026-01-02T15:04:05Z"
[[accounts]]
expires_at = "2026-01-02 15:04"
`, &doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Accounts[0].ExpiresAt; !got.IsZero() {
		t.Errorf(`"" = %v, want zero`, got)
	}
	if got, want := doc.Accounts[1].ExpiresAt.Time, time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC); !got.Equal(want) {
		t.Errorf("RFC 3339 = %v, want %v", got, want)
	}
	for i, wantBad := range []bool{false, false, true} {
		err := doc.Accounts[i].Validate()
		if got := err != nil && strings.Contains(err.Error(), "expires_at: not RFC 3339"); got != wantBad {
			t.Errorf("accounts[%d]: Validate() = %v, want an expires_at problem: %v", i, err, wantBad)
		}
	}
}

func fields(err error) []string {
	var out []string
	if err == nil {
		return out
	}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *kv.FieldError
		if errors.As(e, &fe) {
			out = append(out, fe.Field)
		} else {
			out = append(out, "?"+e.Error())
		}
	}
	return out
}

func TestAccountValidate(t *testing.T) {
	valid := func() kv.Account {
		return kv.Account{Name: "a", Platform: "anthropic", Type: "api_key", APIKey: "sk-ant-api03-x"}
	}
	for _, tt := range []struct {
		name string
		edit func(*kv.Account)
		want string // the fields named, comma-separated
	}{
		{"valid", func(a *kv.Account) {}, ""},
		{"oauth with a refresh token only", func(a *kv.Account) { a.Type, a.APIKey, a.RefreshToken = "oauth", "", "r" }, ""},
		{"socks5h proxy", func(a *kv.Account) { a.Proxy = "socks5h://127.0.0.1:1080" }, ""},
		{"everything wrong", func(a *kv.Account) {
			*a = kv.Account{Platform: "azure", Type: "cookie", Concurrency: -1, BaseURL: "api.example.com",
				Proxy: "ftp://p:21", Models: []string{"ok-*", " ", "claude-["}, ModelMap: map[string]string{"a": ""}}
		}, "name,platform,type,concurrency,base_url,proxy,models[1],models[2],model_map"},
		{"api key missing", func(a *kv.Account) { a.APIKey = "" }, "api_key"},
		{"oauth tokens missing", func(a *kv.Account) { a.Type, a.APIKey = "oauth", "" }, "access_token"},
		{"setup token missing", func(a *kv.Account) { a.Type = "setup_token" }, "access_token"},
		{"proxy without host", func(a *kv.Account) { a.Proxy = "http://" }, "proxy"},
		{"identity masked with a pinned claude profile", func(a *kv.Account) {
			a.Identity = "mask"
			a.IdentityProfile = identity.ProfileConfig{UserAgent: "claude-cli/2.1.332 (external, cli)", OS: "MacOS"}
		}, ""},
		{"identity unknown mode", func(a *kv.Account) { a.Identity = "hide" }, "identity"},
		{"identity mask on a gemini key", func(a *kv.Account) { a.Platform, a.Identity = "gemini", "mask" }, "identity"},
		{"identity profile not claude's", func(a *kv.Account) {
			a.IdentityProfile = identity.ProfileConfig{UserAgent: "curl/8", Arch: "arm 64"}
		}, "identity_profile.arch,identity_profile.user_agent"},
		{"identity profile on gemini", func(a *kv.Account) {
			a.Platform, a.IdentityProfile = "gemini", identity.ProfileConfig{OS: "Linux"}
		}, "identity_profile"},
		{"account uuid not one", func(a *kv.Account) { a.AccountUUID = "not-a-uuid" }, "account_uuid"},
	} {
		a := valid()
		tt.edit(&a)
		if got := strings.Join(fields(a.Validate()), ","); got != tt.want {
			t.Errorf("%s: Validate() names %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestKeyValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		key  kv.Key
		want string
	}{
		{"valid", kv.Key{Name: "k", RateMultiplier: 1, AllowIPs: []string{"10.0.0.0/8", "192.0.2.7"}}, ""},
		{"everything wrong", kv.Key{Concurrency: -1, RPM: -1, Limit5hUSD: -1, LimitDayUSD: 2e12,
			LimitMonthUSD: -0.01, QuotaUSD: -1, RateMultiplier: 500, Models: []string{"["},
			AllowIPs: []string{"10.0.0.0/99"}},
			"name,concurrency,rpm,limit_5h_usd,limit_day_usd,limit_month_usd,quota_usd,rate_multiplier,models[0],allow_ips"},
	} {
		if got := strings.Join(fields(tt.key.Validate()), ","); got != tt.want {
			t.Errorf("%s: Validate() names %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestKeyPrefixes(t *testing.T) {
	got, err := kv.Key{AllowIPs: []string{"10.1.2.3/8", "192.0.2.7", "2001:db8::1"}}.Prefixes()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::1/128"}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := (kv.Key{AllowIPs: []string{"nope"}}).Prefixes(); err == nil {
		t.Error("Prefixes(nope) succeeded")
	}
}

// TestAccountRedacted: credentials are cut to their prefix, the proxy
// password is masked, and redacting twice changes nothing.
func TestAccountRedacted(t *testing.T) {
	a := kv.Account{APIKey: "sk-ant-api03-SECRETSECRETSECRET", AccessToken: "short-secret",
		Proxy: "socks5://user:pa55word@127.0.0.1:9"}
	r := a.Redacted()
	want := kv.Account{APIKey: "sk-ant-api03…", AccessToken: "shor…", Proxy: "socks5://user:xxxxx@127.0.0.1:9"}
	if r.APIKey != want.APIKey || r.AccessToken != want.AccessToken || r.RefreshToken != "" || r.Proxy != want.Proxy {
		t.Errorf("Redacted() = %+v, want %+v", r, want)
	}
	if again := r.Redacted(); again.APIKey != r.APIKey || again.AccessToken != r.AccessToken || again.Proxy != r.Proxy {
		t.Errorf("Redacted twice = %+v, want %+v", again, r)
	}
}

func TestAccountIdentityMode(t *testing.T) {
	for _, tt := range []struct {
		platform, typ, setting string
		want                   identity.Mode
	}{
		{"anthropic", "oauth", "", identity.ModeMask},
		{"anthropic", "setup_token", "", identity.ModeMask},
		{"anthropic", "api_key", "", identity.ModePassthrough},
		{"anthropic", "api_key", "mask", identity.ModeMask},
		{"anthropic", "oauth", "passthrough", identity.ModePassthrough},
		{"openai", "oauth", "", identity.ModeMask},
		{"openai", "api_key", "mask", identity.ModePassthrough}, // nothing to mask
		{"gemini", "oauth", "", identity.ModePassthrough},
	} {
		a := kv.Account{Platform: tt.platform, Type: tt.typ, Identity: tt.setting}
		if got := a.IdentityMode(); got != tt.want {
			t.Errorf("%s %s identity=%q: mode %s, want %s", tt.platform, tt.typ, tt.setting, got, tt.want)
		}
	}
}
