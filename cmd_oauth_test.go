package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"subgate/proxy/oauth"
)

const (
	// Each starts with the 12 characters tokenPrefix may show.
	testOAIAccess    = "oai-at-12345SECRETaccessSECRETaccessSECRET"
	testOAIRefresh   = "rt_123456789SECRETrefreshSECRETrefreshSECRET"
	testGoogleAccess = "ya29.a0AfB_xSECRETaccessSECRETaccessSECRET"
	testGoogleRT     = "1//0g1234567SECRETrefreshSECRETrefreshSECRET"
	testGoogleSecret = "GOCSPX-test-secret"
	testChatGPTAcct  = "acct-1234"
)

// testJWT returns an unsigned JWT with claims as its payload.
func testJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(b) + "." + enc([]byte("sig"))
}

// openAIIDToken is an id_token shaped like auth.openai.com's.
func openAIIDToken(t *testing.T) string {
	return testJWT(t, map[string]any{
		"email": "coder@example.com",
		"https://api.openai.com/auth": map[string]any{
			"chatgpt_account_id": testChatGPTAcct, "chatgpt_plan_type": "plus",
		},
	})
}

// formTokenServer is the one fake token endpoint of these tests, for the
// form-encoded ones (OpenAI, Google), kept for what the mock upstream's
// endpoints (which the Claude login tests and the admin tests use) do not
// do: it checks the PKCE verifier against the challenge, refuses a wrong
// client_secret, and echoes the verifier in an error. It accepts the code
// "the-code" with the verifier of challenge and, when secret is set, only
// that client_secret; without secret it refuses any client_secret.
type formTokenServer struct {
	*httptest.Server
	secret string
	reply  string // JSON answered on success

	mu        sync.Mutex
	challenge string
	forms     []url.Values
}

func newFormTokenServer(t *testing.T, secret, reply string) *formTokenServer {
	ts := &formTokenServer{secret: secret, reply: reply}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *formTokenServer) setChallenge(c string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.challenge = c
}

func (ts *formTokenServer) requests() []url.Values {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]url.Values(nil), ts.forms...)
}

func (ts *formTokenServer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_request","error_description":"form expected"}`)
		return
	}
	ts.mu.Lock()
	ts.forms = append(ts.forms, r.PostForm)
	challenge := ts.challenge
	ts.mu.Unlock()
	f := r.PostForm
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case f.Get("client_secret") != ts.secret:
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"invalid_client","error_description":"Unauthorized"}`)
	case f.Get("grant_type") != "authorization_code" || f.Get("code") != "the-code" || f.Get("redirect_uri") == "":
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_grant","error_description":"Bad Request"}`)
	case base64.RawURLEncoding.EncodeToString(sum[:]) != challenge:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"PKCE failed for `+f.Get("code_verifier")+`","type":"invalid_request_error","code":"invalid_grant"}}`)
	default:
		io.WriteString(w, ts.reply)
	}
}

func openAIReply(t *testing.T) string {
	return `{"id_token":"` + openAIIDToken(t) + `","access_token":"` + testOAIAccess +
		`","refresh_token":"` + testOAIRefresh + `","expires_in":864000,"token_type":"Bearer"}`
}

func googleReply(t *testing.T) string {
	return `{"access_token":"` + testGoogleAccess + `","refresh_token":"` + testGoogleRT +
		`","expires_in":3599,"token_type":"Bearer","id_token":"` + testJWT(t, map[string]any{"email": "g@example.com"}) + `"}`
}

func TestOAuthFlowStart(t *testing.T) {
	cfg := DefaultConfig()
	for _, tt := range []struct {
		platform, kind string
		want           map[string]string
		absent         []string
	}{
		{"anthropic", "oauth", map[string]string{
			"code": "true", "client_id": cfg.Upstreams.Anthropic.OAuthClientID,
			"redirect_uri": cfg.Upstreams.Anthropic.OAuthRedirectURL, "scope": cfg.Upstreams.Anthropic.OAuthScopes,
		}, []string{"access_type", "codex_cli_simplified_flow"}},
		{"anthropic", "setup_token", map[string]string{"scope": "user:inference"}, nil},
		{"openai", "oauth", map[string]string{
			"client_id": "app_EMoamEEZ73f0CkXaXp7hrann", "redirect_uri": "http://localhost:1455/auth/callback",
			"scope": "openid profile email offline_access", "id_token_add_organizations": "true",
			"codex_cli_simplified_flow": "true",
		}, []string{"code", "access_type", "client_secret"}},
		{"gemini", "oauth", map[string]string{
			"client_id": cfg.Upstreams.Gemini.OAuthClientID, "redirect_uri": "https://codeassist.google.com/authcode",
			"scope": cfg.Upstreams.Gemini.OAuthScopes, "access_type": "offline", "prompt": "consent",
		}, []string{"code", "client_secret", "codex_cli_simplified_flow"}},
	} {
		f, err := newOAuthFlow(cfg, tt.platform, tt.kind)
		if err != nil {
			t.Fatalf("newOAuthFlow(%s, %s): %v", tt.platform, tt.kind, err)
		}
		raw, state, verifier, err := f.Start()
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(raw, f.Config().AuthorizeURL+"?") {
			t.Errorf("%s: URL %s does not start with %s", tt.platform, raw, f.Config().AuthorizeURL)
		}
		q := u.Query()
		sum := sha256.Sum256([]byte(verifier))
		tt.want["response_type"] = "code"
		tt.want["code_challenge_method"] = "S256"
		tt.want["code_challenge"] = base64.RawURLEncoding.EncodeToString(sum[:])
		tt.want["state"] = state
		for k, want := range tt.want {
			if got := q.Get(k); got != want {
				t.Errorf("%s %s: %s = %q, want %q", tt.platform, tt.kind, k, got, want)
			}
		}
		for _, k := range tt.absent {
			if q.Has(k) {
				t.Errorf("%s: unexpected parameter %s", tt.platform, k)
			}
		}
		if len(state) < 32 || len(verifier) != 43 {
			t.Errorf("%s: state %q verifier %q too short", tt.platform, state, verifier)
		}
	}
}

func TestNewOAuthFlowRejects(t *testing.T) {
	cfg := DefaultConfig()
	for _, tt := range []struct{ platform, kind, want string }{
		{"openai", "setup_token", "no \"setup_token\" login"},
		{"gemini", "api_key", "no \"api_key\" login"},
		{"cursor", "oauth", "unknown platform"},
	} {
		if _, err := newOAuthFlow(cfg, tt.platform, tt.kind); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("newOAuthFlow(%s, %s) = %v, want %q", tt.platform, tt.kind, err, tt.want)
		}
	}
	cfg.Upstreams.OpenAI.OAuthClientID = ""
	if _, err := newOAuthFlow(cfg, "openai", "oauth"); err == nil || !strings.Contains(err.Error(), "upstreams.openai.oauth_client_id") {
		t.Errorf("empty client id: %v", err)
	}
}

func TestOAuthFinishOpenAI(t *testing.T) {
	ts := newFormTokenServer(t, "", openAIReply(t))
	cfg := DefaultConfig()
	cfg.Upstreams.OpenAI.OAuthTokenURL = ts.URL + "/oauth/token"
	f, err := newOAuthFlow(cfg, "openai", "oauth")
	if err != nil {
		t.Fatal(err)
	}
	raw, state, verifier, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	ts.setChallenge(u.Query().Get("code_challenge"))
	a, err := f.Finish(context.Background(), "http://localhost:1455/auth/callback?code=the-code&scope=x&state="+state, state, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if a.Platform != "openai" || a.Type != "oauth" || a.AccessToken != testOAIAccess || a.RefreshToken != testOAIRefresh ||
		a.IDToken == "" || a.Email != "coder@example.com" || a.AccountID != testChatGPTAcct {
		t.Errorf("account = %+v", a)
	}
	if d := time.Until(a.ExpiresAt.Time); d < 239*time.Hour || d > 240*time.Hour {
		t.Errorf("ExpiresAt in %v, want 240h", d)
	}
	reqs := ts.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d token requests, want 1", len(reqs))
	}
	if got := reqs[0]; got.Get("client_id") != cfg.Upstreams.OpenAI.OAuthClientID ||
		got.Get("redirect_uri") != cfg.Upstreams.OpenAI.OAuthRedirectURL || got.Get("code_verifier") != verifier {
		t.Errorf("token form = %v", got)
	}

	// A second exchange with a wrong verifier: the error is summarised
	// without the verifier the endpoint echoed.
	_, err = f.Finish(context.Background(), "the-code#"+state, state, "wrong-verifier")
	var oe *oauth.EndpointError
	if !errors.As(err, &oe) || oe.Status != 400 || oe.Code != "invalid_grant" {
		t.Fatalf("Finish with a wrong verifier = %v, want a 400 invalid_grant", err)
	}
	if strings.Contains(err.Error(), "wrong-verifier") {
		t.Errorf("error echoes the verifier: %v", err)
	}
}

func TestOAuthFinishGemini(t *testing.T) {
	ts := newFormTokenServer(t, testGoogleSecret, googleReply(t))
	cfg := DefaultConfig()
	cfg.Upstreams.Gemini.OAuthTokenURL = ts.URL + "/token"
	cfg.Upstreams.Gemini.OAuthClientSecret = testGoogleSecret
	f, err := newOAuthFlow(cfg, "gemini", "oauth")
	if err != nil {
		t.Fatal(err)
	}
	raw, state, verifier, err := f.Start()
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	ts.setChallenge(u.Query().Get("code_challenge"))
	a, err := f.Finish(context.Background(), "  the-code\n", state, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if a.Platform != "gemini" || a.Type != "oauth" || a.AccessToken != testGoogleAccess ||
		a.RefreshToken != testGoogleRT || a.Email != "g@example.com" || a.IDToken != "" {
		t.Errorf("account = %+v", a)
	}
	if got := ts.requests()[0]; got.Get("client_secret") != testGoogleSecret ||
		got.Get("redirect_uri") != "https://codeassist.google.com/authcode" || got.Get("code_verifier") != verifier {
		t.Errorf("token form = %v", got)
	}

	// A pasted URL carries a state, which must match.
	_, err = f.Finish(context.Background(), "https://codeassist.google.com/authcode?code=the-code&state=other", state, verifier)
	if err == nil || !strings.Contains(err.Error(), "state mismatch") {
		t.Errorf("Finish with a foreign state = %v, want a state mismatch", err)
	}

	// A wrong client secret is a 401 invalid_client.
	cfg.Upstreams.Gemini.OAuthClientSecret = "other"
	f, _ = newOAuthFlow(cfg, "gemini", "oauth")
	_, err = f.Finish(context.Background(), "the-code", state, verifier)
	var oe *oauth.EndpointError
	if !errors.As(err, &oe) || oe.Status != 401 || oe.Code != "invalid_client" {
		t.Errorf("Finish with a wrong secret = %v, want 401 invalid_client", err)
	}
}

func TestOAuthFinishWrongState(t *testing.T) {
	for _, platform := range []string{"anthropic", "openai", "gemini"} {
		ts := newFormTokenServer(t, "", "{}")
		cfg := DefaultConfig()
		cfg.Upstreams.Anthropic.OAuthTokenURL = ts.URL
		cfg.Upstreams.OpenAI.OAuthTokenURL = ts.URL
		cfg.Upstreams.Gemini.OAuthTokenURL = ts.URL
		f, err := newOAuthFlow(cfg, platform, "oauth")
		if err != nil {
			t.Fatal(err)
		}
		_, state, verifier, err := f.Start()
		if err != nil {
			t.Fatal(err)
		}
		for _, pasted := range []string{"the-code#nope", "http://localhost:1455/auth/callback?code=the-code&state=nope"} {
			_, err := f.Finish(context.Background(), pasted, state, verifier)
			if err == nil || !strings.Contains(err.Error(), "state mismatch") {
				t.Errorf("%s: Finish(%q) = %v, want a state mismatch", platform, pasted, err)
			}
		}
		if platform != "gemini" {
			if _, err := f.Finish(context.Background(), "the-code", state, verifier); err == nil {
				t.Errorf("%s: a bare code without state was accepted", platform)
			}
		}
		if n := len(ts.requests()); n != 0 {
			t.Errorf("%s: %d token requests after state mismatches", platform, n)
		}
	}
}
