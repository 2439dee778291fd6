package oauth

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"subgate/kv"
	"subgate/proxy/upstream"
	"subgate/proxy/upstreamtest"
)

// tokensOn is a token manager over store talking to a fresh mock's token
// endpoints.
func tokensOn(t *testing.T, store TokenStore) (*Tokens, *upstreamtest.Server) {
	t.Helper()
	up := upstreamtest.New(upstreamtest.Config{})
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	return NewTokens(TokensConfig{Store: store, Endpoints: testEndpoints(up.URL()), SaveBackoff: time.Millisecond}), up
}

func oauthOf(platform string) upstream.Account {
	a := oauthAccount("max1", "at-config", "rt-config", time.Now().Add(time.Hour))
	a.Platform = platform
	return a
}

// TestTokensStoredOrConfigured: a rotated token in the store wins, except
// over a config account whose credentials changed since (a new login
// pasted into the file); Forget makes the next use read them again.
func TestTokensStoredOrConfigured(t *testing.T) {
	tests := []struct {
		name       string
		fromConfig bool
		seedOf     string // the config access token the stored one descends from
		want       string
	}{
		{"added by the admin", false, "", "at-stored"},
		{"config, same login", true, "at-config", "at-stored"},
		{"config, new login", true, "at-older", "at-config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemStore()
			a := oauthOf("anthropic")
			a.FromConfig = tt.fromConfig
			seeded := a
			seeded.AccessToken = tt.seedOf
			store.toks["max1"] = kv.Token{AccessToken: "at-stored", RefreshToken: "rt-stored", IDToken: "id-stored",
				ExpiresAt: time.Now().Add(time.Hour), Seed: seed(&seeded)}
			tk, _ := tokensOn(t, store)
			got, err := tk.Token(context.Background(), &a)
			if err != nil || got != tt.want {
				t.Fatalf("Token = %q, %v; want %q", got, err, tt.want)
			}

			store.toks["max1"] = kv.Token{AccessToken: "at-edited", ExpiresAt: time.Now().Add(time.Hour), Seed: seed(&a)}
			if got, _ := tk.Token(context.Background(), &a); got != tt.want {
				t.Errorf("Token = %q before Forget, want the cached %q", got, tt.want)
			}
			tk.Forget("max1")
			if got, _ := tk.Token(context.Background(), &a); got != "at-edited" {
				t.Errorf("Token = %q after Forget, want the stored at-edited", got)
			}
		})
	}
}

// TestTokensCannotRefresh: the refreshes that cannot even be tried fail
// with a reason, and only a missing refresh token means a new login.
func TestTokensCannotRefresh(t *testing.T) {
	tk, up := tokensOn(t, nil)
	noRefresh := oauthOf("anthropic")
	noRefresh.RefreshToken = ""
	apiKey := apiAccount("k", "sk")
	noEndpoint := oauthOf("mystery")
	badProxy := oauthOf("anthropic")
	badProxy.Proxy = "gopher://proxy.invalid:70"
	tests := []struct {
		name     string
		a        upstream.Account
		rejected bool
		msg      string
	}{
		{"no refresh token", noRefresh, true, "no refresh token"},
		{"api key", apiKey, false, "api_key tokens are not refreshed"},
		{"no endpoint", noEndpoint, false, "no oauth endpoint for platform mystery"},
		{"bad egress proxy", badProxy, false, "gopher"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk.Forget(tt.a.Name)
			_, err := tk.ForceRefresh(context.Background(), &tt.a)
			if err == nil || errors.Is(err, ErrRefreshRejected) != tt.rejected || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want one with %q (rejected %v)", err, tt.msg, tt.rejected)
			}
		})
	}
	if got := up.TokenRequests(); got != 0 {
		t.Errorf("%d token requests, want none", got)
	}
}

// TestTokensPlatforms: each platform's grant is sent its own way (JSON,
// or Google's form with the client secret and user agent); a grant
// without a refresh token keeps the current one; an OAuth error object is
// read into the reason.
func TestTokensPlatforms(t *testing.T) {
	tk, up := tokensOn(t, nil)
	up.AddRefreshToken("rt-config")

	gem := oauthOf("gemini")
	gem.AccessToken, gem.ExpiresAt = "", time.Time{} // no token yet: Token refreshes
	access, err := tk.Token(context.Background(), &gem)
	if err != nil || !strings.HasPrefix(access, "ya29.mock-") {
		t.Fatalf("gemini Token = %q, %v", access, err)
	}
	req := up.Requests()[0]
	form, _ := url.ParseQuery(string(req.Body))
	if req.Header["user-agent"] != "test-agent/1" || form.Get("client_secret") != "test-secret" || form.Get("refresh_token") != "rt-config" {
		t.Errorf("google grant: user-agent %q form %v", req.Header["user-agent"], form)
	}
	if st := tk.state(&gem); st.refresh != "rt-config" || st.expires.IsZero() {
		t.Errorf("after a grant without refresh_token: refresh %q expires %v; want the old refresh token kept", st.refresh, st.expires)
	}

	oai := oauthOf("openai")
	oai.Name = "oai"
	if _, err = tk.ForceRefresh(context.Background(), &oai); err != nil {
		t.Fatalf("openai refresh: %v", err)
	}
	tk.Forget("oai")
	_, err = tk.ForceRefresh(context.Background(), &oai) // the config's refresh token again, spent (no store)
	if !errors.Is(err, ErrRefreshRejected) || !strings.Contains(err.Error(), "status 401 invalid_request_error") {
		t.Fatalf("reused openai refresh token: err = %v, want a rejection naming the error type", err)
	}
	if ok, failed := tk.Refreshes(); ok != 2 || failed != 1 {
		t.Errorf("refreshes ok=%d failed=%d, want 2 and 1", ok, failed)
	}
}

// TestTokensWaiterCanceled: a caller waiting for another's refresh stops
// waiting as soon as its context ends; the refresh carries on for the
// others.
func TestTokensWaiterCanceled(t *testing.T) {
	tk, up := tokensOn(t, nil)
	up.AddRefreshToken("rt-config")
	hold := make(chan struct{})
	up.ScriptTokens(upstreamtest.TokenStep{Hold: hold, Status: 503})
	a := oauthOf("anthropic")

	errs := make(chan error, 1)
	go func() { _, err := tk.Refresh(context.Background(), &a, "at-config"); errs <- err }()
	waitUntil(t, "the refresh in flight", func() bool { return len(up.Requests()) == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tk.Refresh(ctx, &a, "at-config"); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled waiter: err = %v, want context.Canceled", err)
	}
	close(hold)
	if err := <-errs; err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Errorf("refreshing caller: err = %v, want the 503", err)
	}
	if got := len(up.Requests()); got != 1 {
		t.Errorf("%d token requests, want 1", got)
	}
}
