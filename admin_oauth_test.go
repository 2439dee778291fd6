package main

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
)

// uiLogin runs the UI's OAuth login against the mock: start, "authorize"
// (the mock learns the code), paste, finish. It returns the new account's
// name and the authorize URL the UI was given.
func (e *adminEnv) uiLogin(platform, kind, code, extra string, paste func(code, state string) string) (string, *url.URL) {
	e.t.Helper()
	b := e.call("POST", "oauth/start", `{"platform":"`+platform+`","kind":"`+kind+`"}`, 200)
	state := gjson.GetBytes(b, "state").String()
	u, err := url.Parse(gjson.GetBytes(b, "url").String())
	if err != nil || state == "" || u.Query().Get("state") != state {
		e.t.Fatalf("oauth/start %s %s: %s (%v)", platform, kind, b, err)
	}
	e.up.AddAuthCode(code)
	body := `{"state":"` + state + `","pasted":"` + paste(code, state) + `"` + extra + `}`
	b = e.call("POST", "oauth/finish", body, 201)
	// The verifier the token endpoint got is the one the URL committed to.
	sum := sha256.Sum256([]byte(e.up.LastVerifier()))
	if got := base64.RawURLEncoding.EncodeToString(sum[:]); got != u.Query().Get("code_challenge") {
		e.t.Errorf("%s: the exchanged verifier does not match the URL's code_challenge", platform)
	}
	return gjson.GetBytes(b, "account").String(), u
}

func codeHashState(code, state string) string { return code + "#" + state }

// TestAdminOAuthLogin logs in on every platform through the admin API,
// then uses each new account: a request through the gateway or the test
// button carries the token the login got.
func TestAdminOAuthLogin(t *testing.T) {
	e := newAdminEnv(t, serveOpts{})
	mock := e.up.URL()
	for _, tt := range []struct {
		platform, kind, code, extra string
		paste                       func(code, state string) string
		authorize                   string            // authorize URL without query
		query                       map[string]string // parameters the URL must carry
		name, typ                   string            // account name wanted
	}{
		{"anthropic", "oauth", "code-claude", `,"name":"claude-ui","priority":1`, codeHashState,
			mock + "/oauth/authorize", map[string]string{"code": "true", "scope": DefaultConfig().Upstreams.Anthropic.OAuthScopes},
			"claude-ui", "oauth"},
		{"anthropic", "setup_token", "code-setup", `,"name":"claude-setup","priority":2`, codeHashState,
			mock + "/oauth/authorize", map[string]string{"scope": "user:inference"},
			"claude-setup", "setup_token"},
		{"openai", "oauth", "code-codex", `,"name":"codex-ui","group":"default"`,
			func(code, state string) string {
				return "http://localhost:1455/auth/callback?code=" + code + "&scope=openid&state=" + state
			},
			mock + "/oauth/authorize", map[string]string{"codex_cli_simplified_flow": "true"},
			"codex-ui", "oauth"},
		{"gemini", "oauth", "4/code-gemini", `,"name":"gemini-ui","group":"default"`,
			func(code, _ string) string { return code }, // Google's page shows the bare code
			mock + "/o/oauth2/v2/auth", map[string]string{"access_type": "offline", "prompt": "consent"},
			"gemini-ui", "oauth"},
	} {
		name, u := e.uiLogin(tt.platform, tt.kind, tt.code, tt.extra, tt.paste)
		if got := u.Scheme + "://" + u.Host + u.Path; got != tt.authorize {
			t.Errorf("%s %s: authorize URL %s, want %s", tt.platform, tt.kind, got, tt.authorize)
		}
		for k, want := range tt.query {
			if got := u.Query().Get(k); got != want {
				t.Errorf("%s %s: authorize %s = %q, want %q", tt.platform, tt.kind, k, got, want)
			}
		}
		if name != tt.name {
			t.Errorf("%s %s: account %q, want %q", tt.platform, tt.kind, name, tt.name)
		}
		a := e.account(name)
		if a.Get("platform").String() != tt.platform || a.Get("type").String() != tt.typ || a.Get("source").String() != "ui" ||
			a.Get("expires_at").String() == "" || a.Get("state").String() != "ok" {
			t.Errorf("%s as listed: %s", name, a.Raw)
		}
		if tt.platform != "gemini" && a.Get("email").String() != "mock@example.com" {
			t.Errorf("%s: email %q, want the one the token endpoint named", name, a.Get("email").String())
		}
	}

	// The Claude login serves the gateway with its token, under the
	// Claude Code identity OAuth credentials need.
	before := len(e.up.Requests())
	if st, cred := e.send(serveKey, "oauth-1"); st != 200 || !strings.HasPrefix(cred, "sk-ant-oat01-") {
		t.Errorf("request after the Claude login: status %d via %q, want an issued OAuth token", st, cred)
	}
	if r := e.up.Requests()[before]; !strings.Contains(r.Header["anthropic-beta"], "oauth-2025-04-20") {
		t.Errorf("OAuth request without the oauth beta: %v", r.Header)
	}
	// The Codex login serves the Responses API through the Codex backend.
	before = len(e.up.Requests())
	resp, body := e.do("POST", "/v1/responses", `{"model":"gpt-5-codex","input":"hi"}`,
		"authorization", "Bearer "+serveKey, "content-type", "application/json")
	if resp.StatusCode != 200 {
		t.Errorf("responses after the Codex login: %d %s", resp.StatusCode, body)
	}
	if cred := e.lastCredential(before, "/backend-api/codex/responses"); !strings.HasPrefix(cred, "oai-at-mock-") {
		t.Errorf("the Codex request carried %q, want the issued access token", cred)
	}
	// The Gemini login answers the test button (Code Assist behind it).
	if b := e.call("POST", "accounts/gemini-ui/test", "", 200); !gjson.GetBytes(b, "ok").Bool() {
		t.Errorf("test of the Gemini login: %s", b)
	}
	if cred := e.lastCredential(0, "/v1internal:generateContent"); !strings.HasPrefix(cred, "ya29.mock-") {
		t.Errorf("the Code Assist test carried %q, want the issued access token", cred)
	}
}

// TestAdminOAuthLoginRejects: a state the server never issued, a code the
// token endpoint refuses, and a state used twice all fail with the field
// named, and add nothing.
func TestAdminOAuthLoginRejects(t *testing.T) {
	e := newAdminEnv(t, serveOpts{})
	field := func(b []byte) string { return gjson.GetBytes(b, "error.field").String() }

	if b := e.call("POST", "oauth/finish", `{"name":"x","state":"never-issued","pasted":"c#never-issued"}`, 400); field(b) != "state" {
		t.Errorf("unknown state: %s", b)
	}
	b := e.call("POST", "oauth/start", `{"platform":"anthropic","kind":"oauth"}`, 200)
	state := gjson.GetBytes(b, "state").String()
	// The mock does not know this code: its token endpoint answers 400.
	b = e.call("POST", "oauth/finish", `{"name":"x","state":"`+state+`","pasted":"unknown-code#`+state+`"}`, 400)
	if field(b) != "pasted" || !strings.Contains(string(b), "invalid_grant") || strings.Contains(string(b), "unknown-code") {
		t.Errorf("refused code: %s", b)
	}
	// A login is good for one try: the state is gone.
	e.up.AddAuthCode("good-code")
	if b := e.call("POST", "oauth/finish", `{"name":"x","state":"`+state+`","pasted":"good-code#`+state+`"}`, 400); field(b) != "state" {
		t.Errorf("second finish of one login: %s", b)
	}
	// A pasted answer of another login.
	b = e.call("POST", "oauth/start", `{"platform":"openai","kind":"oauth"}`, 200)
	state = gjson.GetBytes(b, "state").String()
	if b := e.call("POST", "oauth/finish", `{"name":"x","state":"`+state+`","pasted":"good-code#other-state"}`, 400); field(b) != "pasted" {
		t.Errorf("foreign state in the pasted answer: %s", b)
	}
	for _, body := range []string{`{"platform":"cursor","kind":"oauth"}`, `{"platform":"openai","kind":"setup_token"}`} {
		e.call("POST", "oauth/start", body, 400)
	}
	if n := e.up.TokenRequests(); n != 1 {
		t.Errorf("%d token requests, want 1 (the refused code)", n)
	}
	if accts := gjson.GetBytes(e.call("GET", "accounts", "", 200), "accounts.#").Int(); accts != 2 {
		t.Errorf("%d accounts after failed logins, want the 2 of the config", accts)
	}
}

// TestAdminRefresh: the refresh button gets a new token from the token
// endpoint and the next request carries it; a revoked refresh token is
// reported; editing the credential of an OAuth account makes the gateway
// drop the token it holds and use the pasted one.
func TestAdminRefresh(t *testing.T) {
	e := newAdminEnv(t, serveOpts{})
	name, _ := e.uiLogin("anthropic", "oauth", "code-1", `,"name":"claude-ui","priority":1`, codeHashState)
	_, first := e.send(serveKey, "r-1")
	if !strings.HasPrefix(first, "sk-ant-oat01-") {
		t.Fatalf("request after the login went out with %q", first)
	}

	n := e.up.TokenRequestsTo("/v1/oauth/token")
	e.call("POST", "accounts/"+name+"/refresh", "", 200)
	if got := e.up.TokenRequestsTo("/v1/oauth/token"); got != n+1 {
		t.Errorf("refresh made %d token requests, want 1", got-n)
	}
	_, second := e.send(serveKey, "r-1")
	if second == first || !strings.HasPrefix(second, "sk-ant-oat01-") {
		t.Errorf("after the refresh the request carried %q, want a new token (was %q)", second, first)
	}
	if raw := string(e.call("GET", "accounts", "", 200)); strings.Contains(raw, second) {
		t.Errorf("the account list shows the access token")
	}

	// A pasted access token replaces the refreshed one at once.
	const pasted = "sk-ant-oat01-pasted-by-the-admin-0000"
	e.call("PATCH", "accounts/"+name, `{"access_token":"`+pasted+`"}`, 200)
	if _, got := e.send(serveKey, "r-1"); got != pasted {
		t.Errorf("after the credential edit the request carried %q, want the pasted token", got)
	}

	// The refresh token of the account is revoked: the refresh fails and
	// says why.
	rt := "sk-ant-ort01-" + strings.TrimPrefix(second, "sk-ant-oat01-")
	e.up.Revoke(rt)
	b := e.call("POST", "accounts/"+name+"/refresh", "", 500)
	if msg := gjson.GetBytes(b, "error.message").String(); !strings.Contains(msg, "rejected") || strings.Contains(msg, rt) {
		t.Errorf("refresh with a revoked token: %s", b)
	}
	if b := e.call("POST", "accounts/a1/refresh", "", 400); gjson.GetBytes(b, "error.field").String() != "type" {
		t.Errorf("refresh of an API-key account: %s", b)
	}
}

// TestAdminCredentialEditExpired: the token an OAuth account holds is due
// for refresh (the mock issues one-minute tokens, inside the five minutes
// of refresh_ahead); a pasted access token is still the one used next,
// not refreshed away before its first use.
func TestAdminCredentialEditExpired(t *testing.T) {
	up := startMock(t, upstreamtest.Config{ExpiresIn: 60})
	dir, addr := t.TempDir(), freeAddr(t)
	e := &adminEnv{instance: startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{}), addr), up: up}
	name, _ := e.uiLogin("anthropic", "oauth", "code-1", `,"name":"claude-ui","priority":1`, codeHashState)
	n := up.TokenRequests()
	if _, got := e.send(serveKey, "x-1"); !strings.HasPrefix(got, "sk-ant-oat01-") {
		t.Fatalf("request after the login carried %q", got)
	}
	if up.TokenRequests() != n+1 {
		t.Fatalf("a due token was not refreshed before use (%d token requests)", up.TokenRequests()-n)
	}
	const pasted = "sk-ant-oat01-pasted-by-the-admin-0000"
	e.call("PATCH", "accounts/"+name, `{"access_token":"`+pasted+`"}`, 200)
	if _, got := e.send(serveKey, "x-1"); got != pasted {
		t.Errorf("after the credential edit the request carried %q, want the pasted token", got)
	}
}
