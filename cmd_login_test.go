package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// codexConfig points the OpenAI token endpoint at ts and the redirect at a
// free loopback port.
func codexConfig(t *testing.T, ts *formTokenServer) Config {
	cfg := testConfig(t)
	cfg.Upstreams.OpenAI.OAuthTokenURL = ts.URL + "/oauth/token"
	_, port, _ := net.SplitHostPort(freeAddr(t))
	cfg.Upstreams.OpenAI.OAuthRedirectURL = "http://localhost:" + port + "/auth/callback"
	return cfg
}

// getCallback performs the browser's redirect to the local listener.
func getCallback(t *testing.T, redirect string, q url.Values) (int, string) {
	t.Helper()
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = strings.Replace(u.Host, "localhost", "127.0.0.1", 1)
	u.RawQuery = q.Encode()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(u.String())
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func checkCodexAccount(t *testing.T, cfg Config, out string) {
	t.Helper()
	for _, secret := range []string{"SECRET"} {
		if strings.Contains(out, secret) {
			t.Errorf("output leaks %q:\n%s", secret, out)
		}
	}
	db := openTestDB(t, cfg)
	a, err := db.GetAccount("codex-oauth-1")
	if err != nil {
		t.Fatalf("GetAccount: %v\n%s", err, out)
	}
	if a.Platform != "openai" || a.Type != "oauth" || a.AccessToken != testOAIAccess || a.RefreshToken != testOAIRefresh ||
		a.AccountID != testChatGPTAcct || a.Email != "coder@example.com" || a.IDToken == "" || a.Group != "team" {
		t.Errorf("account = %+v", a)
	}
	if !strings.Contains(out, `"codex-oauth-1"`) || !strings.Contains(out, "coder@example.com") {
		t.Errorf("output lacks name or email:\n%s", out)
	}
}

func TestLoginCodexCallback(t *testing.T) {
	ts := newFormTokenServer(t, "", openAIReply(t))
	cfg := codexConfig(t, ts)
	redirect := cfg.Upstreams.OpenAI.OAuthRedirectURL
	var status int
	var page string
	out, err := runLogin(t, cfg, []string{"codex", "--no-browser", "--group", "team"}, func(u *url.URL) string {
		q := u.Query()
		if got := q.Get("redirect_uri"); got != redirect {
			t.Errorf("redirect_uri = %q, want %q", got, redirect)
		}
		ts.setChallenge(q.Get("code_challenge"))
		// A redirect of another login is refused and does not end this one.
		if code, _ := getCallback(t, redirect, url.Values{"code": {"the-code"}, "state": {"stale"}}); code != http.StatusBadRequest {
			t.Errorf("callback with a foreign state = %d, want 400", code)
		}
		status, page = getCallback(t, redirect, url.Values{"code": {"the-code"}, "scope": {"openid"}, "state": {q.Get("state")}})
		return ""
	})
	if err != nil {
		t.Fatalf("cmdLogin: %v\n%s", err, out)
	}
	if status != http.StatusOK || !strings.Contains(page, "Signed in") {
		t.Errorf("callback page = %d %q", status, page)
	}
	if n := len(ts.requests()); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	checkCodexAccount(t, cfg, out)
	// The listener is gone once the command returns.
	u, _ := url.Parse(redirect)
	if c, err := net.Dial("tcp", "127.0.0.1:"+u.Port()); err == nil {
		c.Close()
		t.Errorf("callback listener still accepts connections")
	}
}

func TestLoginCodexPaste(t *testing.T) {
	ts := newFormTokenServer(t, "", openAIReply(t))
	cfg := codexConfig(t, ts)
	out, err := runLogin(t, cfg, []string{"codex", "--no-browser", "--group", "team"}, func(u *url.URL) string {
		ts.setChallenge(u.Query().Get("code_challenge"))
		// What the address bar of a browser on another machine shows.
		return cfg.Upstreams.OpenAI.OAuthRedirectURL + "?code=the-code&scope=openid&state=" + u.Query().Get("state")
	})
	if err != nil {
		t.Fatalf("cmdLogin: %v\n%s", err, out)
	}
	checkCodexAccount(t, cfg, out)
}

func TestLoginCodexPortBusy(t *testing.T) {
	ts := newFormTokenServer(t, "", openAIReply(t))
	cfg := testConfig(t)
	cfg.Upstreams.OpenAI.OAuthTokenURL = ts.URL
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg.Upstreams.OpenAI.OAuthRedirectURL = fmt.Sprintf("http://localhost:%d/auth/callback", ln.Addr().(*net.TCPAddr).Port)
	out, err := runLogin(t, cfg, []string{"codex", "--no-browser", "--group", "team"}, func(u *url.URL) string {
		ts.setChallenge(u.Query().Get("code_challenge"))
		return "the-code#" + u.Query().Get("state")
	})
	if err != nil {
		t.Fatalf("cmdLogin: %v\n%s", err, out)
	}
	if !strings.Contains(out, "no local callback") {
		t.Errorf("output does not say the callback is unavailable:\n%s", out)
	}
	checkCodexAccount(t, cfg, out)
}

func TestLoginCodexWrongState(t *testing.T) {
	ts := newFormTokenServer(t, "", openAIReply(t))
	cfg := codexConfig(t, ts)
	_, err := runLogin(t, cfg, []string{"codex", "--no-browser"}, func(u *url.URL) string {
		return cfg.Upstreams.OpenAI.OAuthRedirectURL + "?code=the-code&state=not-the-state"
	})
	if err == nil || !strings.Contains(err.Error(), "state mismatch") {
		t.Fatalf("cmdLogin = %v, want a state mismatch", err)
	}
	if n := len(ts.requests()); n != 0 {
		t.Errorf("%d token requests after a state mismatch", n)
	}
	db := openTestDB(t, cfg)
	if accts, _ := db.Accounts(); len(accts) != 0 {
		t.Errorf("accounts stored: %v", accts)
	}
}

func TestLoginCodexDenied(t *testing.T) {
	ts := newFormTokenServer(t, "", openAIReply(t))
	cfg := codexConfig(t, ts)
	var status int
	var page string
	_, err := runLogin(t, cfg, []string{"codex", "--no-browser"}, func(u *url.URL) string {
		status, page = getCallback(t, cfg.Upstreams.OpenAI.OAuthRedirectURL,
			url.Values{"error": {"access_denied"}, "state": {u.Query().Get("state")}})
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("cmdLogin = %v, want access_denied", err)
	}
	if status != http.StatusBadGateway || !strings.Contains(page, "access_denied") {
		t.Errorf("callback page = %d %q", status, page)
	}
}

func TestLoginGemini(t *testing.T) {
	ts := newFormTokenServer(t, testGoogleSecret, googleReply(t))
	cfg := testConfig(t)
	cfg.Upstreams.Gemini.OAuthTokenURL = ts.URL + "/token"
	cfg.Upstreams.Gemini.OAuthClientSecret = testGoogleSecret
	out, err := runLogin(t, cfg, []string{"gemini", "--priority", "5"}, func(u *url.URL) string {
		if got := u.Query().Get("access_type"); got != "offline" {
			t.Errorf("access_type = %q", got)
		}
		ts.setChallenge(u.Query().Get("code_challenge"))
		return "the-code" // the code codeassist.google.com/authcode shows
	})
	if err != nil {
		t.Fatalf("cmdLogin: %v\n%s", err, out)
	}
	if strings.Contains(out, "SECRET") || strings.Contains(out, testGoogleSecret) {
		t.Errorf("output leaks a secret:\n%s", out)
	}
	db := openTestDB(t, cfg)
	a, err := db.GetAccount("gemini-oauth-1")
	if err != nil {
		t.Fatalf("GetAccount: %v\n%s", err, out)
	}
	if a.Platform != "gemini" || a.Type != "oauth" || a.AccessToken != testGoogleAccess ||
		a.RefreshToken != testGoogleRT || a.Email != "g@example.com" || a.Priority != 5 {
		t.Errorf("account = %+v", a)
	}
	if d := time.Until(a.ExpiresAt.Time); d < 58*time.Minute || d > time.Hour {
		t.Errorf("ExpiresAt in %v, want about 1h", d)
	}
	if got := ts.requests()[0].Get("client_secret"); got != testGoogleSecret {
		t.Errorf("client_secret = %q", got)
	}
}

func TestLoginGeminiTokenError(t *testing.T) {
	ts := newFormTokenServer(t, testGoogleSecret, googleReply(t))
	cfg := testConfig(t)
	cfg.Upstreams.Gemini.OAuthTokenURL = ts.URL
	cfg.Upstreams.Gemini.OAuthClientSecret = testGoogleSecret
	_, err := runLogin(t, cfg, []string{"gemini"}, func(u *url.URL) string { return "4/expired-code" })
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request: invalid_grant") {
		t.Fatalf("cmdLogin = %v, want 400 invalid_grant", err)
	}
	if strings.Contains(err.Error(), "expired-code") {
		t.Errorf("error echoes the code: %v", err)
	}
}

func TestLoginUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"cursor"}, {"codex", "--setup-token"}, {"gemini", "--no-browser"}, {"claude", "extra"}} {
		if err := cmdLogin(t.Context(), testConfig(t), args, strings.NewReader(""), io.Discard); err == nil ||
			!strings.Contains(err.Error(), "usage") {
			t.Errorf("cmdLogin(%q) = %v, want a usage error", args, err)
		}
	}
}
