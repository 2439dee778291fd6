package upstreamtest

import (
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// TestScriptTokens: scripted token requests fail as told at every token
// endpoint without spending the refresh token, and a held one waits.
func TestScriptTokens(t *testing.T) {
	endpoints := []struct {
		name, path, body string
		headers          []string
	}{
		{"claude", "/v1/oauth/token", `{"grant_type":"refresh_token","refresh_token":"rt-seed","client_id":"c"}`, nil},
		{"openai", "/oauth/token", `{"grant_type":"refresh_token","refresh_token":"rt-seed","client_id":"c"}`, nil},
		{"google", "/token", "grant_type=refresh_token&refresh_token=rt-seed&" + googleClient, formCT},
	}
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			s := mustStart(t, Config{})
			s.AddRefreshToken("rt-seed")
			hold := make(chan struct{})
			s.ScriptTokens(TokenStep{Status: 503}, TokenStep{NoAccessToken: true}, TokenStep{Hold: hold})

			if r := mustPost(t, s, ep.path, ep.body, ep.headers...); r.status != 503 || gjson.GetBytes(r.body, "error").Str != "server_error" {
				t.Errorf("5xx step: %d %s", r.status, r.body)
			}
			if r := mustPost(t, s, ep.path, ep.body, ep.headers...); r.status != 200 || gjson.GetBytes(r.body, "access_token").Exists() {
				t.Errorf("no-access-token step: %d %s", r.status, r.body)
			}
			got := make(chan reply, 1)
			go func() {
				r, _ := post(t, s, ep.path, ep.body, ep.headers...) // an error shows as status 0
				got <- r
			}()
			select {
			case r := <-got:
				t.Fatalf("held request answered before its hold was released: %d", r.status)
			case <-time.After(50 * time.Millisecond):
			}
			close(hold)
			if r := <-got; r.status != 200 || gjson.GetBytes(r.body, "access_token").Str == "" {
				t.Errorf("released request: %d %s (the failed steps must not spend the refresh token)", r.status, r.body)
			}
			if got, want := s.TokenRequests(), 3; got != want {
				t.Errorf("token requests = %d, want %d", got, want)
			}
		})
	}
}
