package upstreamtest

import (
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

const ccBody = `{"model":"m","system":[
	{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.330; cc_entrypoint=cli;"},
	{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{"type":"ephemeral"}}],
	"messages":[{"role":"user","content":"hi"}]}`

func refresh(t *testing.T, s *Server, rt string) reply {
	t.Helper()
	return mustPost(t, s, "/v1/oauth/token",
		`{"grant_type":"refresh_token","refresh_token":"`+rt+`","client_id":"9d1c250a-e61b-44d9-88ed-5944d1962f5e"}`)
}

func TestRefreshRotation(t *testing.T) {
	s := mustStart(t, Config{})
	s.AddRefreshToken("sk-ant-ort01-seed")

	r := refresh(t, s, "sk-ant-ort01-seed")
	if got, want := r.status, 200; got != want {
		t.Fatalf("status = %d, want %d: %s", got, want, r.body)
	}
	access := gjson.GetBytes(r.body, "access_token").Str
	next := gjson.GetBytes(r.body, "refresh_token").Str
	if access == "" || next == "" || next == "sk-ant-ort01-seed" {
		t.Fatalf("tokens = %s", r.body)
	}
	if got, want := gjson.GetBytes(r.body, "expires_in").Int(), int64(3600); got != want {
		t.Errorf("expires_in = %d, want %d", got, want)
	}
	if got, want := gjson.GetBytes(r.body, "account.email_address").Str, mockEmail; got != want {
		t.Errorf("email = %q, want %q", got, want)
	}

	r = refresh(t, s, "sk-ant-ort01-seed")
	if got, want := r.status, 400; got != want {
		t.Fatalf("reuse: status = %d, want %d", got, want)
	}
	if got, want := gjson.GetBytes(r.body, "error").Str, "invalid_grant"; got != want {
		t.Errorf("reuse: error = %q, want %q", got, want)
	}
	if got, want := refresh(t, s, next).status, 200; got != want {
		t.Errorf("rotated token: status = %d, want %d", got, want)
	}
	if got, want := refresh(t, s, "sk-ant-ort01-unknown").status, 400; got != want {
		t.Errorf("unknown token: status = %d, want %d", got, want)
	}
	if got, want := s.TokenRequests(), 4; got != want {
		t.Errorf("token requests = %d, want %d", got, want)
	}

	// The issued access token works until revoked.
	beta := []string{"Authorization", "Bearer " + access, "anthropic-beta", "claude-code-20250219,oauth-2025-04-20"}
	if r := mustPost(t, s, "/v1/messages", ccBody, beta...); r.status != 200 {
		t.Errorf("issued token: status = %d: %s", r.status, r.body)
	}
	s.Revoke(access)
	if got, want := mustPost(t, s, "/v1/messages", ccBody, beta...).status, 401; got != want {
		t.Errorf("revoked token: status = %d, want %d", got, want)
	}
}

func TestAuthorizationCode(t *testing.T) {
	s := mustStart(t, Config{})
	s.AddAuthCode("code-1")
	body := `{"grant_type":"authorization_code","code":"code-1","redirect_uri":"https://platform.claude.com/oauth/code/callback","code_verifier":"verifier-xyz","state":"st"}`
	r := mustPost(t, s, "/v1/oauth/token", body)
	if got, want := r.status, 200; got != want {
		t.Fatalf("status = %d, want %d: %s", got, want, r.body)
	}
	if got, want := s.LastVerifier(), "verifier-xyz"; got != want {
		t.Errorf("verifier = %q, want %q", got, want)
	}
	if rt := gjson.GetBytes(r.body, "refresh_token").Str; refresh(t, s, rt).status != 200 {
		t.Errorf("refresh token %q from exchange is not usable", rt)
	}
	if got, want := mustPost(t, s, "/v1/oauth/token", body).status, 400; got != want {
		t.Errorf("code reuse: status = %d, want %d", got, want)
	}

	// A setup-token exchange gets the long lifetime and no refresh token.
	s.AddAuthCode("code-2")
	r = mustPost(t, s, "/v1/oauth/token", `{"grant_type":"authorization_code","code":"code-2","code_verifier":"v","expires_in":31536000}`)
	if gjson.GetBytes(r.body, "refresh_token").Exists() || gjson.GetBytes(r.body, "expires_in").Int() != 31536000 {
		t.Errorf("setup token = %s", r.body)
	}
}

func TestOAuthChecks(t *testing.T) {
	const tok = "sk-ant-oat01-abc"
	tests := []struct {
		name    string
		lax     bool
		body    string
		headers []string
		status  int
		message string
	}{
		{"no beta", false, ccBody, []string{"Authorization", "Bearer " + tok}, 401, msgOAuthNoBeta},
		{"as api key", false, ccBody, []string{"x-api-key", tok, "anthropic-beta", oauthBeta}, 401, msgBadKey},
		{"not claude code", false, `{"model":"m","system":"You are a pirate."}`,
			[]string{"Authorization", "Bearer " + tok, "anthropic-beta", oauthBeta}, 400, msgOnlyCode},
		{"no system", false, `{"model":"m"}`,
			[]string{"Authorization", "Bearer " + tok, "anthropic-beta", oauthBeta}, 400, msgOnlyCode},
		{"string system", false, `{"model":"m","system":"You are Claude Code, Anthropic's official CLI for Claude."}`,
			[]string{"Authorization", "Bearer " + tok, "anthropic-beta", oauthBeta}, 200, ""},
		{"billing header first", false, ccBody,
			[]string{"Authorization", "Bearer " + tok, "anthropic-beta", "x," + oauthBeta}, 200, ""},
		{"lax", true, `{"model":"m","system":"You are a pirate."}`,
			[]string{"Authorization", "Bearer " + tok, "anthropic-beta", oauthBeta}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustStart(t, Config{LaxOAuth: tt.lax})
			s.Script(tok, Overloaded())
			r := mustPost(t, s, "/v1/messages", tt.body, tt.headers...)
			if tt.status == 200 {
				// The credential check passed, so the scripted step ran.
				tt.status = 529
			}
			if got, want := r.status, tt.status; got != want {
				t.Fatalf("status = %d, want %d: %s", got, want, r.body)
			}
			if tt.message == "" {
				return
			}
			if got, want := gjson.GetBytes(r.body, "error.message").Str, tt.message; got != want {
				t.Errorf("message = %q, want %q", got, want)
			}
		})
	}
}

func TestStreamDelayAndSilence(t *testing.T) {
	s := mustStart(t, Config{})
	s.Script(testKey, Silence(150*time.Millisecond), OK().WithStreamDelay(20*time.Millisecond))
	start := time.Now()
	r := mustPost(t, s, "/v1/messages", `{"model":"m","stream":true}`, "x-api-key", testKey)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("silence: stream took %v, want >= 150ms", d)
	}
	if got, want := len(ParseSSE(r.body)), 9; got != want {
		t.Errorf("silence: %d events, want %d", got, want)
	}
	start = time.Now()
	mustPost(t, s, "/v1/messages", `{"model":"m","stream":true}`, "x-api-key", testKey)
	if d := time.Since(start); d < 8*20*time.Millisecond {
		t.Errorf("stream delay: stream took %v, want >= 160ms", d)
	}
}
