package webui

import (
	"context"
	"errors"
	"strings"
	"testing"

	"subgate/kv"
	"subgate/sched"
)

func accountByName(t *testing.T, r *response, name string) map[string]any {
	t.Helper()
	for _, a := range r.json(t)["accounts"].([]any) {
		if m := a.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("no account %q in %s", name, r.body)
	return nil
}

func TestListAccounts(t *testing.T) {
	hs := newHarness(t)
	lease, err := hs.sched.Acquire(context.Background(), sched.Request{Platform: "anthropic", Model: "claude-sonnet-4-5"})
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(sched.Outcome{Kind: sched.Success})
	r := hs.send("GET", "/admin/api/accounts", nil).must(t, 200)
	c := accountByName(t, r, "claude-1")
	for k, want := range map[string]any{"source": "config", "email": "me@example.com", "state": "ok",
		"token_prefix": "sk-ant-oat01…", "in_flight": 1.0, "concurrency": 2.0, "queued": 0.0} {
		if c[k] != want {
			t.Errorf("claude-1 %s = %v, want %v", k, c[k], want)
		}
	}
	if c["expires_at"] == nil {
		t.Error("claude-1 has no expires_at")
	}
	o := accountByName(t, r, "openai-1")
	if p := o["proxy"].(string); strings.Contains(p, "hunter2") {
		t.Errorf("proxy password leaked: %q", p)
	}
	if o["expires_at"] != nil || o["source"] != "ui" {
		t.Errorf("openai-1 = %v", o)
	}
}

func TestAccountStateActions(t *testing.T) {
	hs := newHarness(t)
	state := func() string {
		return accountByName(t, hs.send("GET", "/admin/api/accounts", nil).must(t, 200), "claude-1")["state"].(string)
	}
	hs.send("POST", "/admin/api/accounts/claude-1/disable", nil).must(t, 200)
	if got := state(); got != "disabled" {
		t.Fatalf("state after disable = %q", got)
	}
	hs.send("POST", "/admin/api/accounts/claude-1/enable", nil).must(t, 200)
	hs.send("POST", "/admin/api/accounts/claude-1/clear", nil).must(t, 200)
	if got := state(); got != "ok" {
		t.Fatalf("state after enable = %q", got)
	}
	hs.send("POST", "/admin/api/accounts/nobody/disable", nil).must(t, 404)
	hs.send("POST", "/admin/api/accounts/claude-1/explode", nil).must(t, 404)
	hs.send("GET", "/admin/api/accounts/claude-1/disable", nil).must(t, 405)
}

func TestAddAccount(t *testing.T) {
	hs := newHarness(t)
	var got kv.Account
	add := hs.acc.AddFn
	hs.acc.AddFn = func(ctx context.Context, a kv.Account) error { got = a; return add(ctx, a) }
	body := map[string]any{"name": "zai-1", "platform": "anthropic", "type": "api_key", "api_key": "sk-123",
		"base_url": "https://api.z.ai/api/anthropic", "proxy": "socks5://127.0.0.1:1080", "concurrency": 3,
		"priority": 1, "group": "cheap", "models": []string{"glm-*"}, "model_map": map[string]string{"a": "b"}}
	hs.send("POST", "/admin/api/accounts", body).must(t, 201)
	if got.Name != "zai-1" || got.APIKey != "sk-123" || got.Concurrency != 3 || got.ModelMap["a"] != "b" || got.Group != "cheap" {
		t.Fatalf("Add got %+v", got)
	}
	a := accountByName(t, hs.send("GET", "/admin/api/accounts", nil).must(t, 200), "zai-1")
	if a["state"] != "ok" || a["source"] != "ui" {
		t.Errorf("new account = %v", a)
	}

	base := func(edit map[string]any) map[string]any {
		b := map[string]any{"name": "x1", "platform": "anthropic", "type": "api_key", "api_key": "k"}
		for k, v := range edit {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	for _, c := range []struct {
		body  any
		field string
	}{
		{base(map[string]any{"name": nil}), "name"},
		{base(map[string]any{"name": "a/b"}), "name"},
		{base(map[string]any{"name": "zai-1"}), "name"},
		{base(map[string]any{"platform": "bard"}), "platform"},
		{base(map[string]any{"api_key": nil}), "api_key"},
		{base(map[string]any{"type": "setup_token"}), "access_token"},
		{base(map[string]any{"type": "setup_token", "platform": "openai", "access_token": "t"}), "type"},
		{base(map[string]any{"type": "oauth"}), "type"},
		{base(map[string]any{"proxy": "ftp://x:1"}), "proxy"},
		{base(map[string]any{"base_url": "not a url"}), "base_url"},
		{base(map[string]any{"concurrency": -1}), "concurrency"},
		{base(map[string]any{"concurrency": "many"}), "concurrency"},
		{base(map[string]any{"models": []string{"claude-["}}), "models"},
		{base(map[string]any{"model_map": map[string]string{"a": ""}}), "model_map"},
		{base(map[string]any{"colour": "red"}), "colour"},
	} {
		r := hs.send("POST", "/admin/api/accounts", c.body).must(t, 400)
		if got := r.errField(t); got != c.field {
			t.Errorf("%v: field %q, want %q (%s)", c.body, got, c.field, r.body)
		}
	}
	hs.send("POST", "/admin/api/accounts", "[1,2]").must(t, 400)
}

func TestUpdateAccount(t *testing.T) {
	hs := newHarness(t)
	var got kv.Account
	update := hs.acc.UpdateFn
	hs.acc.UpdateFn = func(ctx context.Context, name string, a kv.Account) error {
		got = a
		return update(ctx, name, a)
	}
	hs.send("PATCH", "/admin/api/accounts/openai-1", map[string]any{"concurrency": 9, "model_map": map[string]string{"x": "y"}}).must(t, 200)
	if got.Concurrency != 9 || got.Proxy != "socks5://user:hunter2@127.0.0.1:1080" || got.Platform != "openai" ||
		got.APIKey != "" || len(got.ModelMap) != 1 {
		t.Fatalf("Update got %+v", got)
	}
	hs.send("PATCH", "/admin/api/accounts/openai-1", map[string]any{"model_map": map[string]string{"p": "q"}}).must(t, 200)
	if len(got.ModelMap) != 1 || got.ModelMap["p"] != "q" {
		t.Errorf("model_map merged instead of replaced: %v", got.ModelMap)
	}
	hs.send("PATCH", "/admin/api/accounts/claude-1", map[string]any{"concurrency": 1}).must(t, 409)
	hs.send("PATCH", "/admin/api/accounts/nobody", map[string]any{"concurrency": 1}).must(t, 404)
	for field, v := range map[string]any{"platform": "anthropic", "name": "other", "proxy": "gopher://x", "priority": -2} {
		r := hs.send("PATCH", "/admin/api/accounts/openai-1", map[string]any{field: v}).must(t, 400)
		if r.errField(t) != field {
			t.Errorf("PATCH %s: field %q", field, r.errField(t))
		}
	}
}

func TestDeleteAccount(t *testing.T) {
	hs := newHarness(t)
	hs.send("DELETE", "/admin/api/accounts/claude-1", nil).must(t, 409)
	hs.send("DELETE", "/admin/api/accounts/nobody", nil).must(t, 404)
	hs.send("DELETE", "/admin/api/accounts/openai-1", nil).must(t, 200)
	r := hs.send("GET", "/admin/api/accounts", nil).must(t, 200)
	if n := len(r.json(t)["accounts"].([]any)); n != 1 {
		t.Fatalf("%d accounts left, want 1", n)
	}
}

func TestRefreshAndTest(t *testing.T) {
	hs := newHarness(t)
	var refreshed string
	hs.acc.RefreshNowFn = func(ctx context.Context, name string) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("refresh without a deadline")
		}
		refreshed = name
		return nil
	}
	hs.send("POST", "/admin/api/accounts/claude-1/refresh", nil).must(t, 200)
	if refreshed != "claude-1" {
		t.Fatalf("refreshed %q", refreshed)
	}
	hs.acc.RefreshNowFn = func(context.Context, string) error { return errors.New("invalid_grant: refresh token revoked") }
	r := hs.send("POST", "/admin/api/accounts/claude-1/refresh", nil).must(t, 500)
	if !strings.Contains(string(r.body), "invalid_grant") {
		t.Errorf("refresh error body %s", r.body)
	}
	m := hs.send("POST", "/admin/api/accounts/claude-1/test", nil).must(t, 200).json(t)
	if m["ok"] != true || m["status"] != 200.0 || m["latency_ms"] != 420.0 || m["model"] != "claude-haiku-4-5" {
		t.Fatalf("test result %v", m)
	}
	hs.acc.TestFn = func(context.Context, string) (TestResult, error) { return TestResult{}, ErrNotFound }
	hs.send("POST", "/admin/api/accounts/nobody/test", nil).must(t, 404)
}

func TestOAuth(t *testing.T) {
	hs := newHarness(t)
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"platform": "bard", "kind": "oauth"}, "platform"},
		{map[string]any{"platform": "openai", "kind": "setup_token"}, "kind"},
		{map[string]any{"platform": "openai"}, "kind"},
	} {
		if got := hs.send("POST", "/admin/api/oauth/start", c.body).must(t, 400).errField(t); got != c.field {
			t.Errorf("%v: field %q, want %q", c.body, got, c.field)
		}
	}
	m := hs.send("POST", "/admin/api/oauth/start", map[string]any{"platform": "anthropic", "kind": "oauth"}).must(t, 200).json(t)
	if m["state"] != "st-oauth" || !strings.HasPrefix(m["url"].(string), "https://") {
		t.Fatalf("start = %v", m)
	}
	var state, pasted string
	finish := hs.acc.OAuthFinishFn
	hs.acc.OAuthFinishFn = func(ctx context.Context, s, p string, a kv.Account) (string, error) {
		state, pasted = s, p
		return finish(ctx, s, p, a)
	}
	for field, body := range map[string]map[string]any{
		"pasted": {"state": "st-oauth", "name": "max-1"},
		"state":  {"pasted": "code#st", "name": "max-1"},
		"name":   {"state": "st-oauth", "pasted": "code#st"},
		"proxy":  {"state": "st-oauth", "pasted": "code#st", "name": "max-1", "proxy": "nope"},
	} {
		if got := hs.send("POST", "/admin/api/oauth/finish", body).must(t, 400).errField(t); got != field {
			t.Errorf("finish %v: field %q, want %q", body, got, field)
		}
	}
	r := hs.send("POST", "/admin/api/oauth/finish", map[string]any{"state": "st-oauth", "pasted": "code#st",
		"name": "max-1", "concurrency": 2}).must(t, 201)
	if r.json(t)["account"] != "max-1" || state != "st-oauth" || pasted != "code#st" {
		t.Fatalf("finish: %s, state %q, pasted %q", r.body, state, pasted)
	}
}

func TestAccountsWithoutManager(t *testing.T) {
	hs := newHarness(t, func(c *Config) { c.Accounts = nil })
	r := hs.send("GET", "/admin/api/accounts", nil).must(t, 200)
	if a := accountByName(t, r, "claude-1"); a["source"] != "" || a["platform"] != "anthropic" {
		t.Errorf("claude-1 = %v", a)
	}
	hs.send("POST", "/admin/api/accounts", map[string]any{"name": "a"}).must(t, 501)
	hs.send("POST", "/admin/api/accounts/claude-1/test", nil).must(t, 501)
	hs.send("POST", "/admin/api/accounts/claude-1/disable", nil).must(t, 200)
}

func TestAccountCallTimeout(t *testing.T) {
	hs := newHarness(t)
	hs.acc.DeleteFn = func(ctx context.Context, _ string) error {
		return context.DeadlineExceeded
	}
	hs.send("DELETE", "/admin/api/accounts/openai-1", nil).must(t, 504)
}

// TestAccountIdentitySettings: the identity mode and pinned profile go
// through the API to the account model and back to the listing, and are
// checked as the model checks them.
func TestAccountIdentitySettings(t *testing.T) {
	hs := newHarness(t)
	body := map[string]any{"name": "st-1", "platform": "anthropic", "type": "setup_token", "access_token": "sk-ant-oat01-x",
		"identity": "mask", "identity_profile": map[string]any{"user_agent": "claude-cli/2.1.332 (external, cli)", "os": "MacOS"}}
	hs.send("POST", "/admin/api/accounts", body).must(t, 201)
	a := accountByName(t, hs.send("GET", "/admin/api/accounts", nil).must(t, 200), "st-1")
	prof, _ := a["identity_profile"].(map[string]any)
	if a["identity"] != "mask" || a["identity_mode"] != "mask" || prof["user_agent"] != "claude-cli/2.1.332 (external, cli)" || prof["os"] != "MacOS" {
		t.Fatalf("listing: identity %v, mode %v, profile %v", a["identity"], a["identity_mode"], a["identity_profile"])
	}
	hs.send("PATCH", "/admin/api/accounts/st-1", map[string]any{"identity": "passthrough"}).must(t, 200)
	a = accountByName(t, hs.send("GET", "/admin/api/accounts", nil).must(t, 200), "st-1")
	if a["identity"] != "passthrough" || a["identity_mode"] != "passthrough" || a["identity_profile"] == nil {
		t.Errorf("after PATCH: identity %v, mode %v, profile %v (kept)", a["identity"], a["identity_mode"], a["identity_profile"])
	}
	for _, tt := range []struct {
		patch map[string]any
		field string
	}{
		{map[string]any{"identity": "hide"}, "identity"},
		{map[string]any{"identity_profile": map[string]any{"user_agent": "curl/8"}}, "identity_profile.user_agent"},
	} {
		if got := hs.send("PATCH", "/admin/api/accounts/st-1", tt.patch).must(t, 400).errField(t); got != tt.field {
			t.Errorf("PATCH %v: error field %q, want %q", tt.patch, got, tt.field)
		}
	}
}
