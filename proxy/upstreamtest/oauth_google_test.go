package upstreamtest

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

const googleClient = "client_id=681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com&client_secret=mock-secret"

var formCT = []string{"Content-Type", "application/x-www-form-urlencoded"}

func TestGoogleRefreshDoesNotRotate(t *testing.T) {
	s := mustStart(t, Config{})
	s.AddRefreshToken("1//seed")
	form := "grant_type=refresh_token&refresh_token=1%2F%2Fseed&" + googleClient
	var last string
	for i := range 3 {
		r := send(t, s, "POST", "/token", form, formCT...)
		if r.status != 200 {
			t.Fatalf("refresh %d = %d %s", i, r.status, r.body)
		}
		access := gjson.GetBytes(r.body, "access_token").Str
		if !strings.HasPrefix(access, "ya29.mock-") || access == last {
			t.Errorf("access token %q after %q", access, last)
		}
		last = access
		if gjson.GetBytes(r.body, "refresh_token").Exists() {
			t.Errorf("refresh %d returned a refresh_token: %s", i, r.body)
		}
		if gjson.GetBytes(r.body, "expires_in").Int() != 3599 || gjson.GetBytes(r.body, "token_type").Str != "Bearer" {
			t.Errorf("reply = %s", r.body)
		}
	}
	// The access token works on Code Assist.
	if r := mustPost(t, s, "/v1internal:loadCodeAssist", `{}`, "Authorization", "Bearer "+last); r.status != 200 {
		t.Errorf("issued token = %d %s", r.status, r.body)
	}
	s.Revoke("1//seed")
	r := send(t, s, "POST", "/token", form, formCT...)
	if r.status != 400 || gjson.GetBytes(r.body, "error").Str != "invalid_grant" {
		t.Errorf("revoked = %d %s", r.status, r.body)
	}
	r = send(t, s, "POST", "/token", "grant_type=refresh_token&refresh_token=nope&"+googleClient, formCT...)
	if r.status != 400 || gjson.GetBytes(r.body, "error").Str != "invalid_grant" {
		t.Errorf("unknown = %d %s", r.status, r.body)
	}
	r = send(t, s, "POST", "/token", "grant_type=refresh_token&refresh_token=1%2F%2Fseed", formCT...)
	if r.status != 401 || gjson.GetBytes(r.body, "error").Str != "invalid_client" {
		t.Errorf("no client = %d %s", r.status, r.body)
	}
	r = send(t, s, "POST", "/token", "grant_type=password&"+googleClient, formCT...)
	if r.status != 400 || gjson.GetBytes(r.body, "error").Str != "unsupported_grant_type" {
		t.Errorf("password grant = %d %s", r.status, r.body)
	}
	if got, want := s.TokenRequestsTo("/token"), 7; got != want {
		t.Errorf("token requests = %d, want %d", got, want)
	}
	if got := s.TokenRequestsTo("/oauth/token"); got != 0 {
		t.Errorf("openai token requests = %d", got)
	}
}

func TestGoogleAuthorizationCode(t *testing.T) {
	s := mustStart(t, Config{ExpiresIn: 120})
	s.AddAuthCode("4/0Amock")
	form := "grant_type=authorization_code&code=4%2F0Amock&redirect_uri=http%3A%2F%2F127.0.0.1%3A8085%2Foauth2callback&code_verifier=v9&" + googleClient
	r := send(t, s, "POST", "/token", form, formCT...)
	rt := gjson.GetBytes(r.body, "refresh_token").Str
	if r.status != 200 || !strings.HasPrefix(rt, "1//") || gjson.GetBytes(r.body, "expires_in").Int() != 120 {
		t.Fatalf("exchange = %d %s", r.status, r.body)
	}
	if got := s.LastVerifier(); got != "v9" {
		t.Errorf("verifier = %q", got)
	}
	if r := send(t, s, "POST", "/token", form, formCT...); r.status != 400 {
		t.Errorf("code reuse = %d %s", r.status, r.body)
	}
	// JSON bodies are accepted too, and the refresh token stays good.
	for range 2 {
		r = mustPost(t, s, "/token", `{"grant_type":"refresh_token","refresh_token":"`+rt+`","client_id":"c","client_secret":"s"}`)
		if r.status != 200 {
			t.Errorf("refresh = %d %s", r.status, r.body)
		}
	}
}
