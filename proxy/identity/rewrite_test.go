package identity

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"
)

const sess = "0b5c6d7e-1111-4222-8333-444455556666"

func msgBody(uid string) []byte {
	return []byte(`{"model":"claude-opus-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":` +
		string(jsonString(uid)) + `},"stream":true}`)
}

func TestUserIDForms(t *testing.T) {
	m := newManager(t, nil)
	a := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth"})
	id := a.Identity()
	want := a.SessionID(sess)
	tests := []struct{ name, uid string }{
		{"json", `{"device_id":"` + strings.Repeat("c", 64) + `","account_uuid":"","session_id":"` + sess + `"}`},
		{"legacy without account", "user_" + strings.Repeat("d", 64) + "_account__session_" + sess},
		{"legacy with account", "user_" + strings.Repeat("e", 64) + "_account_a929b7ef-d758-4a98-b88e-07166e6c8537_session_" + sess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := a.RewriteMessages(msgBody(tt.uid), "fallback", true)
			if err != nil {
				t.Fatal(err)
			}
			d, u, s := userID(t, out)
			if d != id.DeviceID || u != "" || s != want {
				t.Errorf("user_id = %s/%q/%s, want %s/\"\"/%s", d, u, s, id.DeviceID, want)
			}
		})
	}

	// A profile older than 2.1.78 writes the legacy form.
	old := register(t, m, Spec{Name: "old", Platform: "anthropic", Type: "setup_token",
		Profile: ProfileConfig{UserAgent: "claude-cli/2.1.50 (external, cli)"}})
	out, err := old.RewriteMessages(msgBody(tests[0].uid), "", true)
	if err != nil {
		t.Fatal(err)
	}
	got := gjson.GetBytes(out, "metadata.user_id").String()
	wantLegacy := "user_" + old.Identity().DeviceID + "_account__session_" + old.SessionID(sess)
	if got != wantLegacy {
		t.Errorf("legacy user_id = %q, want %q", got, wantLegacy)
	}
}

// TestMalformedUserID: whatever the client put in user_id, the account's
// identity goes out, nothing panics, and a huge value is not parsed.
func TestMalformedUserID(t *testing.T) {
	m := newManager(t, nil)
	a := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth"})
	fallback := a.SessionID("fallback")
	raws := map[string]string{
		"not json":       `"{not json at all"`,
		"number":         `12345`,
		"object":         `{"device_id":"x"}`,
		"null":           `null`,
		"session only":   `"_session_"`,
		"no session":     `"user_abc_account_"`,
		"huge":           `"{\"session_id\":\"` + strings.Repeat("z", 2<<20) + `\"}"`,
		"huge legacy":    `"user_x_session_` + strings.Repeat("s", 2<<20) + `"`,
		"json no sess":   `"{\"device_id\":\"d\"}"`,
		"unicode escape": `"{\"session_id\":\"\u00e9\"}"`,
	}
	for name, raw := range raws {
		t.Run(name, func(t *testing.T) {
			body := []byte(`{"model":"m","metadata":{"user_id":` + raw + `},"messages":[]}`)
			out, err := a.RewriteMessages(body, "fallback", true)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) > 4096 {
				t.Errorf("output is %d bytes: the client's value survived", len(out))
			}
			d, _, s := userID(t, out)
			if d != a.Identity().DeviceID {
				t.Errorf("device = %s", d)
			}
			if strings.HasPrefix(name, "huge") || name == "not json" || name == "number" || name == "null" ||
				name == "object" || name == "json no sess" || name == "no session" {
				if s != fallback {
					t.Errorf("session = %s, want the fallback's %s", s, fallback)
				}
			}
		})
	}
}

func TestInsertUserID(t *testing.T) {
	m := newManager(t, nil)
	a := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth"})
	for _, body := range []string{
		`{"model":"m","messages":[]}`,
		`{"model":"m","metadata":null,"messages":[]}`,
		`{"model":"m","metadata":{},"messages":[]}`,
	} {
		out, err := a.RewriteMessages([]byte(body), "conv-1", false)
		if err != nil || string(out) != body {
			t.Errorf("insert=false changed %s to %s (%v)", body, out, err)
		}
		out, err = a.RewriteMessages([]byte(body), "conv-1", true)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, s := userID(t, out); s != a.SessionID("conv-1") {
			t.Errorf("inserted session = %s, want %s", s, a.SessionID("conv-1"))
		}
		if gjson.GetBytes(out, "model").String() != "m" || !gjson.ValidBytes(out) {
			t.Errorf("insert broke the body: %s", out)
		}
	}
}

// TestNotAnObject: what is not a valid JSON object goes upstream as it
// came (the upstream rejects it) instead of being half rewritten.
func TestNotAnObject(t *testing.T) {
	m := newManager(t, nil)
	a := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth"})
	for _, body := range []string{"", "garbage", "[1,2]", `{"metadata":`, `{"a":1`, "null", `"str"`} {
		out, err := a.RewriteMessages([]byte(body), "s", true)
		if err != nil || string(out) != body {
			t.Errorf("%q -> %q, %v; want it unchanged", body, out, err)
		}
	}
}

func TestAmbiguousMetadata(t *testing.T) {
	m := newManager(t, nil)
	a := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth"})
	for _, body := range []string{
		`{"metadata":{"user_id":"a"},"metadata":{"user_id":"mine"}}`,
		`{"metadata":{"user_id":"a","user_id":"mine"}}`,
		`{"metad\u0061ta":{"user_id":"mine"}}`,
		`{"metadata":{"user_\u0069d":"mine"}}`,
	} {
		if _, err := a.RewriteMessages([]byte(body), "", true); !errors.Is(err, ErrAmbiguousMetadata) {
			t.Errorf("%s: err = %v, want ErrAmbiguousMetadata", body, err)
		}
	}
}

func claudeHeaders(ua, os string) map[string]string {
	return map[string]string{"user-agent": ua, "x-app": "cli", "x-stainless-lang": "js",
		"x-stainless-package-version": "0.128.0", "x-stainless-os": os, "x-stainless-arch": "x64",
		"x-stainless-runtime": "node", "x-stainless-runtime-version": "v26.12.1"}
}

func TestObserveClaude(t *testing.T) {
	store := &memStore{}
	m := newManager(t, store)
	a := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth"})
	ua := func() string { c, _ := a.Profile(); return c.UserAgent }
	see := func(h map[string]string) { a.ObserveClaude(func(k string) string { return h[k] }) }

	see(claudeHeaders("claude-cli/2.1.100 (external, cli)", "Windows")) // first genuine: adopted, though older than built-in
	if got, want := ua(), "claude-cli/2.1.100 (external, cli)"; got != want {
		t.Fatalf("ua = %q, want %q", got, want)
	}
	steps := []struct {
		name string
		h    map[string]string
		want string
	}{
		{"older", claudeHeaders("claude-cli/2.1.99 (external, cli)", "Linux"), "claude-cli/2.1.100 (external, cli)"},
		{"newer", claudeHeaders("claude-cli/2.1.330 (external, cli)", "Linux"), "claude-cli/2.1.330 (external, cli)"},
		{"semantic not lexical", claudeHeaders("claude-cli/2.1.99 (external, cli)", "Linux"), "claude-cli/2.1.330 (external, cli)"},
		{"python sdk", map[string]string{"user-agent": "Anthropic/Python 0.70.0", "x-stainless-lang": "python"}, "claude-cli/2.1.330 (external, cli)"},
		{"no x-app", func() map[string]string {
			h := claudeHeaders("claude-cli/3.0.0 (external, cli)", "Linux")
			delete(h, "x-app")
			return h
		}(), "claude-cli/2.1.330 (external, cli)"},
		{"bad token", func() map[string]string {
			h := claudeHeaders("claude-cli/3.0.0 (external, cli)", "Linux")
			h["x-stainless-os"] = strings.Repeat("L", 100)
			return h
		}(), "claude-cli/2.1.330 (external, cli)"},
		{"control bytes", claudeHeaders("claude-cli/3.0.0 (external\x00, cli)", "Linux"), "claude-cli/2.1.330 (external, cli)"},
		{"huge version", claudeHeaders("claude-cli/99999999999.0.0 (external, cli)", "Linux"), "claude-cli/2.1.330 (external, cli)"},
	}
	for _, st := range steps {
		see(st.h)
		if got := ua(); got != st.want {
			t.Errorf("%s: ua = %q, want %q", st.name, got, st.want)
		}
	}
	if c, _ := a.Profile(); c.OS != "Windows" {
		t.Errorf("os = %q, want the first learned Windows", c.OS)
	}
	m.Close() // flushes the debounced save
	if got := store.ids["max1"].Claude; got == nil || got.UserAgent != "claude-cli/2.1.330 (external, cli)" {
		t.Errorf("saved profile = %+v", got)
	}
}

func TestPinnedProfile(t *testing.T) {
	m := newManager(t, nil)
	a := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth",
		Profile: ProfileConfig{UserAgent: "claude-cli/2.1.200 (external, cli)", OS: "MacOS", Arch: "arm64"}})
	a.ObserveClaude(func(k string) string { return claudeHeaders("claude-cli/2.1.400 (external, cli)", "Linux")[k] })
	h := map[string]string{}
	for _, x := range a.ClaudeHeaders(func(string) string { return "" }) {
		h[x.Name] = x.Value
	}
	if h["user-agent"] != "claude-cli/2.1.200 (external, cli)" || h["x-stainless-os"] != "MacOS" || h["x-stainless-arch"] != "arm64" {
		t.Errorf("pinned headers = %v", h)
	}
	if h["x-stainless-retry-count"] != "0" || h["x-stainless-timeout"] != "600" {
		t.Errorf("per-request defaults = %q, %q", h["x-stainless-retry-count"], h["x-stainless-timeout"])
	}
	if _, ok := h["x-claude-code-session-id"]; ok {
		t.Error("session header added though the client sent none")
	}
}

func TestCodex(t *testing.T) {
	m := newManager(t, nil)
	a := register(t, m, Spec{Name: "chatgpt1", Platform: "openai", Type: "oauth"})
	inst := a.Identity().InstallationID
	client := map[string]string{"user-agent": "codex_exec/0.170.1 (Mac OS 15.5.0; arm64) iTerm.app/3.5",
		"originator": "codex_exec", "version": "0.170.1", "x-codex-installation-id": "11111111-2222-4333-8444-555555555555"}
	get := func(k string) string { return client[k] }
	a.ObserveCodex(get)
	h := map[string]string{}
	for _, x := range a.CodexHeaders(get) {
		h[x.Name] = x.Value
	}
	if h["user-agent"] != client["user-agent"] || h["originator"] != "codex_exec" || h["version"] != "0.170.1" {
		t.Errorf("codex headers = %v", h)
	}
	if h["x-codex-installation-id"] != inst {
		t.Errorf("installation header = %q, want %q", h["x-codex-installation-id"], inst)
	}
	// A newer Codex on another OS keeps the first platform.
	client = map[string]string{"user-agent": "codex_cli_rs/0.171.0 (Windows 10.0.26200; x86_64) WindowsTerminal", "originator": "codex_cli_rs"}
	a.ObserveCodex(get)
	if _, c := a.Profile(); c.UserAgent != "codex_cli_rs/0.171.0 (Mac OS 15.5.0; arm64) iTerm.app/3.5" {
		t.Errorf("codex ua = %q", c.UserAgent)
	}
	body := []byte(`{"model":"gpt-5.5-codex","client_metadata":{"x-codex-installation-id":"11111111-2222-4333-8444-555555555555","x-codex-window-id":"w:0"},"input":[]}`)
	out, err := a.RewriteCodex(body)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(body), "11111111-2222-4333-8444-555555555555", inst, 1)
	if string(out) != want {
		t.Errorf("codex body = %s, want %s", out, want)
	}
	if out, _ := a.RewriteCodex([]byte(`{"input":[]}`)); string(out) != `{"input":[]}` {
		t.Errorf("body without client_metadata changed: %s", out)
	}
	p := register(t, m, Spec{Name: "sk", Platform: "openai", Type: "api_key"})
	if p.CodexHeaders(get) != nil {
		t.Error("passthrough account got codex headers")
	}
	if out, _ := p.RewriteCodex(body); string(out) != string(body) {
		t.Error("passthrough account's body changed")
	}
}

func TestModesAndProfileConfig(t *testing.T) {
	for _, tt := range []struct{ setting, typ, want string }{
		{"", "oauth", "mask"}, {"", "setup_token", "mask"}, {"", "api_key", "passthrough"},
		{"passthrough", "oauth", "passthrough"}, {"mask", "api_key", "mask"},
	} {
		if got, err := ParseMode(tt.setting, tt.typ); err != nil || string(got) != tt.want {
			t.Errorf("ParseMode(%q, %q) = %q, %v; want %q", tt.setting, tt.typ, got, err, tt.want)
		}
	}
	if _, err := ParseMode("hide", "oauth"); err == nil {
		t.Error("ParseMode accepted hide")
	}
	for _, tt := range []struct {
		platform string
		c        ProfileConfig
		ok       bool
	}{
		{"anthropic", ProfileConfig{UserAgent: "claude-cli/2.1.332 (external, cli)", OS: "MacOS"}, true},
		{"anthropic", ProfileConfig{OS: "Linux"}, true},
		{"anthropic", ProfileConfig{UserAgent: "Mozilla/5.0"}, false},
		{"anthropic", ProfileConfig{OS: "Linux; rm -rf"}, false},
		{"openai", ProfileConfig{UserAgent: "codex_cli_rs/0.169.0 (Ubuntu 24.4.0; x86_64) xterm"}, true},
		{"openai", ProfileConfig{UserAgent: "claude-cli/2.1.332 (external, cli)"}, false},
		{"openai", ProfileConfig{OS: "Linux"}, false},
		{"gemini", ProfileConfig{UserAgent: "GeminiCLI/0.61.0"}, false},
	} {
		if err := tt.c.Validate(tt.platform); (err == nil) != tt.ok {
			t.Errorf("%s %+v: Validate = %v, want ok=%v", tt.platform, tt.c, err, tt.ok)
		}
	}
	m := newManager(t, nil)
	if _, err := m.Register(Spec{Name: "x", Platform: "anthropic", Type: "oauth", Mode: "hide"}); err == nil {
		t.Error("Register accepted a bad mode")
	}
}

// TestRegisterAgain keeps the device, applies a new mode and records the
// account uuid once the login tells it.
func TestRegisterAgain(t *testing.T) {
	store := &memStore{}
	m := newManager(t, store)
	a := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth"})
	dev := a.Identity().DeviceID
	const uuid = "a929b7ef-d758-4a98-b88e-07166e6c8537"
	b := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth", Mode: ModePassthrough, AccountUUID: uuid})
	if a != b || b.Identity().DeviceID != dev || b.Masked() || b.Identity().AccountUUID != uuid {
		t.Errorf("re-register: same=%v device kept=%v masked=%v uuid=%q", a == b, b.Identity().DeviceID == dev, b.Masked(), b.Identity().AccountUUID)
	}
	if got := store.ids["max1"].AccountUUID; got != uuid {
		t.Errorf("stored uuid = %q", got)
	}
	if _, err := m.Register(Spec{Name: "max1", Platform: "anthropic", Type: "oauth", AccountUUID: `x","device_id":"y`}); err == nil {
		t.Error("Register accepted a uuid that would inject JSON")
	}
	// A fresh manager over the same store is the same device.
	m2 := newManager(t, store)
	if c := register(t, m2, Spec{Name: "max1", Platform: "anthropic", Type: "oauth"}); c.Identity().DeviceID != dev {
		t.Error("new manager, new device")
	}
	store.ids["bad"] = Identity{DeviceID: "short"}
	if _, err := m2.Register(Spec{Name: "bad", Platform: "anthropic", Type: "oauth"}); err == nil {
		t.Error("Register accepted a damaged stored identity")
	}
}

// TestConcurrentLearning runs learning and rewriting together under the
// race detector: every request sees one whole profile, never a mix.
func TestConcurrentLearning(t *testing.T) {
	m := newManager(t, &memStore{})
	a := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth"})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				h := claudeHeaders("claude-cli/2."+string(rune('0'+g))+"."+string(rune('0'+i%10))+" (external, cli)", "Linux")
				get := func(k string) string { return h[k] }
				a.ObserveClaude(get)
				for _, x := range a.ClaudeHeaders(get) {
					if x.Value == "" {
						t.Errorf("empty %s", x.Name)
					}
				}
				if _, err := a.RewriteMessages(msgBody("user_x_account__session_s"), "", true); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	if c, _ := a.Profile(); c.UserAgent != "claude-cli/2.7.9 (external, cli)" {
		t.Errorf("final ua = %q, want the newest, claude-cli/2.7.9", c.UserAgent)
	}
}
