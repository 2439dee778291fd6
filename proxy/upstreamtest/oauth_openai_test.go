package upstreamtest

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

const codexClientID = "app_EMoamEEZ73f0CkXaXp7hrann"

func openaiRefresh(t *testing.T, s *Server, rt string) reply {
	t.Helper()
	return mustPost(t, s, "/oauth/token", `{"client_id":"`+codexClientID+`","grant_type":"refresh_token","refresh_token":"`+rt+`"}`)
}

// jwtClaims decodes the payload of an unsigned JWT.
func jwtClaims(t *testing.T, tok string) gjson.Result {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q is not a JWT", tok)
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	return gjson.ParseBytes(p)
}

func TestOpenAIRefreshRotation(t *testing.T) {
	s := mustStart(t, Config{ChatGPTAccountID: "acct_123"})
	s.AddRefreshToken("rt-seed")
	r := openaiRefresh(t, s, "rt-seed")
	if r.status != 200 {
		t.Fatalf("status = %d: %s", r.status, r.body)
	}
	access, next := gjson.GetBytes(r.body, "access_token").Str, gjson.GetBytes(r.body, "refresh_token").Str
	if access == "" || next == "" || next == "rt-seed" || gjson.GetBytes(r.body, "expires_in").Int() != 3600 {
		t.Fatalf("tokens = %s", r.body)
	}
	claims := jwtClaims(t, gjson.GetBytes(r.body, "id_token").Str)
	if got := claims.Get(`https://api\.openai\.com/auth.chatgpt_account_id`).Str; got != "acct_123" {
		t.Errorf("chatgpt_account_id = %q: %s", got, claims.Raw)
	}
	if got := claims.Get("email").Str; got != mockEmail {
		t.Errorf("email = %q", got)
	}

	for _, c := range []struct{ rt, code string }{{"rt-seed", "refresh_token_reused"}, {"rt-never", "refresh_token_expired"}} {
		r = openaiRefresh(t, s, c.rt)
		if r.status != 401 || gjson.GetBytes(r.body, "error.code").Str != c.code {
			t.Errorf("%s = %d %s, want 401 %s", c.rt, r.status, r.body, c.code)
		}
	}
	if got := openaiRefresh(t, s, next); got.status != 200 {
		t.Errorf("rotated token = %d %s", got.status, got.body)
	}
	s.AddRefreshToken("rt-2")
	s.Revoke("rt-2")
	if r = openaiRefresh(t, s, "rt-2"); gjson.GetBytes(r.body, "error.code").Str != "refresh_token_invalidated" {
		t.Errorf("revoked = %d %s", r.status, r.body)
	}
	if r = mustPost(t, s, "/oauth/token", `{"grant_type":"refresh_token","refresh_token":"x"}`); r.status != 400 {
		t.Errorf("no client_id = %d %s", r.status, r.body)
	}
	if got, want := s.TokenRequestsTo("/oauth/token"), 6; got != want {
		t.Errorf("token requests = %d, want %d", got, want)
	}
	if got, want := s.TokenRequests(), 6; got != want {
		t.Errorf("all token requests = %d, want %d", got, want)
	}
	// The issued access token works on the Codex backend until revoked.
	h := []string{"Authorization", "Bearer " + access, "chatgpt-account-id", "acct_123"}
	body := `{"model":"m","stream":true,"store":false,"instructions":""}`
	if r := mustPost(t, s, "/backend-api/codex/responses", body, h...); r.status != 200 {
		t.Errorf("issued token = %d %s", r.status, r.body)
	}
	s.Revoke(access)
	if r := mustPost(t, s, "/backend-api/codex/responses", body, h...); r.status != 401 {
		t.Errorf("revoked access token = %d", r.status)
	}
}

func TestOpenAIAuthorizationCode(t *testing.T) {
	s := mustStart(t, Config{})
	s.AddAuthCode("ac-1")
	form := "grant_type=authorization_code&code=ac-1&redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback&client_id=" + codexClientID + "&code_verifier=ver-1"
	ct := []string{"Content-Type", "application/x-www-form-urlencoded"}
	r := send(t, s, "POST", "/oauth/token", form, ct...)
	if r.status != 200 || gjson.GetBytes(r.body, "refresh_token").Str == "" || gjson.GetBytes(r.body, "id_token").Str == "" {
		t.Fatalf("exchange = %d %s", r.status, r.body)
	}
	if got, want := s.LastVerifier(), "ver-1"; got != want {
		t.Errorf("verifier = %q, want %q", got, want)
	}
	if got := jwtClaims(t, gjson.GetBytes(r.body, "id_token").Str).Get(`https://api\.openai\.com/auth.chatgpt_account_id`).Str; got != MockChatGPTAccountID {
		t.Errorf("default account id = %q", got)
	}
	if rt := gjson.GetBytes(r.body, "refresh_token").Str; openaiRefresh(t, s, rt).status != 200 {
		t.Errorf("refresh token %q from exchange is not usable", rt)
	}
	if r := send(t, s, "POST", "/oauth/token", form, ct...); r.status != 400 || gjson.GetBytes(r.body, "error").Str != "invalid_grant" {
		t.Errorf("code reuse = %d %s", r.status, r.body)
	}
	s.AddAuthCode("ac-2")
	for _, drop := range []string{"&code_verifier=ver-1", "&redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback"} {
		f := strings.Replace(strings.Replace(form, "ac-1", "ac-2", 1), drop, "", 1)
		if r := send(t, s, "POST", "/oauth/token", f, ct...); r.status != 400 || gjson.GetBytes(r.body, "error").Str != "invalid_request" {
			t.Errorf("without %s = %d %s", drop, r.status, r.body)
		}
	}
}

func TestIDToken(t *testing.T) {
	c := jwtClaims(t, IDToken("acct_9", "a@b.c"))
	if c.Get(`https://api\.openai\.com/auth.chatgpt_account_id`).Str != "acct_9" || c.Get("email").Str != "a@b.c" || c.Get("exp").Int() == 0 {
		t.Errorf("claims = %s", c.Raw)
	}
}
