package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"subgate/kv"
	"subgate/proxy/oauth"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// testEndpoints are the mock's token endpoints under base.
func testEndpoints(base string) map[string]oauth.Endpoint {
	return map[string]oauth.Endpoint{
		"anthropic": {TokenURL: base + "/v1/oauth/token", ClientID: "test-client"},
		"openai":    {TokenURL: base + "/oauth/token", ClientID: "test-client"},
		"gemini":    {TokenURL: base + "/token", ClientID: "test-client", ClientSecret: "test-secret", UserAgent: "test-agent/1"},
	}
}

// memStore is a TokenStore in memory whose saves fail while fail is not
// zero (counting down when positive; forever when negative).
type memStore struct {
	mu    sync.Mutex
	toks  map[string]kv.Token
	fail  int
	saves int
}

func newMemStore() *memStore { return &memStore{toks: map[string]kv.Token{}} }

func (m *memStore) LoadToken(name string) (kv.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if tok, ok := m.toks[name]; ok {
		return tok, nil
	}
	return kv.Token{}, kv.ErrNotFound
}

func (m *memStore) SaveToken(name string, tok kv.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves++
	if m.fail != 0 {
		if m.fail > 0 {
			m.fail--
		}
		return errors.New("disk full")
	}
	m.toks[name] = tok
	return nil
}

func (m *memStore) setFail(n int) {
	m.mu.Lock()
	m.fail = n
	m.mu.Unlock()
}

func (m *memStore) counts() (saves int, stored kv.Token, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok = m.toks["max1"]
	return m.saves, stored, ok
}

// withTokens gives the gateway a token manager over store, with a token
// request timeout (0: the default) and short waits between saves.
func withTokens(store oauth.TokenStore, timeout time.Duration) harnessOpt {
	return func(c *Config, _ *sched.Config) {
		c.Tokens = oauth.NewTokens(oauth.TokensConfig{Store: store, Endpoints: testEndpoints(c.AnthropicBaseURL),
			Timeout: timeout, SaveBackoff: time.Millisecond})
	}
}

// postStatus sends a Messages request and returns its status, 0 when the
// request failed; safe on any goroutine.
func (h *harness) postStatus(body string) int {
	req, _ := http.NewRequest("POST", h.url+"/v1/messages", strings.NewReader(body))
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// staleOAuth is an OAuth account whose access token the mock refuses, so
// that its first request needs a refresh with a valid refresh token.
func staleOAuth(h *harness) {
	h.up.Revoke("sk-ant-oat01-old")
	h.up.AddRefreshToken("sk-ant-ort01-seed")
}

// TestOAuthConcurrent401sShareOneRefresh: requests that all hit a 401 on
// one account while its refresh runs wait for that refresh and retry with
// its token: one token request, whatever the number of requests.
func TestOAuthConcurrent401sShareOneRefresh(t *testing.T) {
	const n = 4
	a := oauthAccount("max1", "sk-ant-oat01-old", "sk-ant-ort01-seed", time.Now().Add(time.Hour))
	a.Concurrency = n
	h := newHarness(t, []Account{a})
	staleOAuth(h)
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the harness's checks, should the test stop early
	h.up.ScriptTokens(upstreamtest.TokenStep{Hold: hold})

	statuses := make(chan int, n)
	for i := range n {
		go func() { statuses <- h.postStatus(uniqueBody("req"+string(rune('a'+i)), false)) }()
	}
	waitUntil(t, "every request's 401", func() bool { return h.up.Count("sk-ant-oat01-old") == n })
	release()
	for range n {
		if got := <-statuses; got != 200 {
			t.Errorf("status %d, want 200", got)
		}
	}
	if got, want := h.up.TokenRequests(), 1; got != want {
		t.Errorf("token requests = %d, want %d", got, want)
	}
	retried := map[string]int{}
	for _, r := range h.up.Requests() {
		if r.Path == "/v1/messages" && r.Credential != "sk-ant-oat01-old" {
			retried[r.Credential]++
		}
	}
	if len(retried) != 1 {
		t.Errorf("retries used tokens %v, want one shared token", retried)
	}
	for tok, got := range retried {
		if got != n {
			t.Errorf("%d retries with %s, want %d", got, tok, n)
		}
	}
}

// TestOAuthRefreshFailures: a token endpoint that fails (5xx, no answer
// in time, a reply without an access token) costs the request nothing (a
// backup account answers), does not set the account to error, and spends
// no refresh token: the next request refreshes and is served by it.
func TestOAuthRefreshFailures(t *testing.T) {
	never := make(chan struct{})
	t.Cleanup(func() { close(never) })
	tests := []struct {
		name    string
		step    upstreamtest.TokenStep
		timeout time.Duration
		reason  string
	}{
		{"5xx", upstreamtest.TokenStep{Status: 503}, 0, "status 503 server_error"},
		{"timeout", upstreamtest.TokenStep{Hold: never}, 100 * time.Millisecond, "timeout"},
		{"no access token", upstreamtest.TokenStep{NoAccessToken: true}, 0, "no access_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs lockedBuffer
			a := oauthAccount("max1", "sk-ant-oat01-old", "sk-ant-ort01-seed", time.Now().Add(time.Hour))
			backup := apiAccount("backup", "k2")
			backup.Priority = 99
			h := newHarness(t, []Account{a, backup}, withTokens(nil, tt.timeout), func(c *Config, _ *sched.Config) {
				c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			})
			staleOAuth(h)
			h.up.ScriptTokens(tt.step)

			if got := h.postStatus(uniqueBody("first", false)); got != 200 {
				t.Fatalf("status %d, want the backup's 200", got)
			}
			if rec := h.records(1)[0]; rec.Account != "backup" {
				t.Errorf("answered by %s, want backup", rec.Account)
			}
			if st := h.status("max1"); st.State != sched.StateOK {
				t.Errorf("max1 %s (%s) after one failed refresh, want ok", st.State, st.Reason)
			}
			if !strings.Contains(logs.String(), tt.reason) {
				t.Errorf("log does not name the cause %q:\n%s", tt.reason, logs.String())
			}
			if got := h.postStatus(uniqueBody("second", false)); got != 200 {
				t.Fatalf("second request: status %d", got)
			}
			if rec := h.records(2)[1]; rec.Account != "max1" {
				t.Errorf("second request answered by %s, want max1 with a refreshed token", rec.Account)
			}
			tokenReqs := 0 // counted on arrival: the held one never got its answer
			for _, r := range h.up.Requests() {
				if r.Path == "/v1/oauth/token" {
					tokenReqs++
				}
			}
			if got, want := tokenReqs, 2; got != want {
				t.Errorf("token requests = %d, want %d", got, want)
			}
		})
	}
}

// TestOAuthRotatedTokenNotPersisted: a rotated token is saved before its
// access token is used. A store that fails for a moment is retried; one
// that keeps failing sets the account to error("token not persisted") and
// the new access token never goes upstream. The rotated refresh token is
// kept in memory, so a refresh once the store works recovers the login.
func TestOAuthRotatedTokenNotPersisted(t *testing.T) {
	t.Run("retried", func(t *testing.T) {
		store := newMemStore()
		store.setFail(2)
		a := oauthAccount("max1", "sk-ant-oat01-old", "sk-ant-ort01-seed", time.Now().Add(time.Hour))
		h := newHarness(t, []Account{a}, withTokens(store, 0))
		staleOAuth(h)
		if got := h.postStatus(simpleBody); got != 200 {
			t.Fatalf("status %d", got)
		}
		saves, tok, ok := store.counts()
		if saves != 3 || !ok || tok.RefreshToken == "sk-ant-ort01-seed" || tok.RefreshToken == "" {
			t.Errorf("%d saves, stored %v %+v; want the rotated token saved on the third try", saves, ok, tok)
		}
	})
	t.Run("never saved", func(t *testing.T) {
		store := newMemStore()
		store.setFail(-1)
		a := oauthAccount("max1", "sk-ant-oat01-old", "sk-ant-ort01-seed", time.Now().Add(time.Hour))
		h := newHarness(t, []Account{a}, withTokens(store, 0))
		staleOAuth(h)
		if got := h.postStatus(simpleBody); got != 502 {
			t.Fatalf("status %d, want 502", got)
		}
		st := h.status("max1")
		if st.State != sched.StateError || st.Reason != "token not persisted" {
			t.Errorf("max1 %s (%q), want error (token not persisted)", st.State, st.Reason)
		}
		for _, r := range h.up.Requests() {
			if r.Path == "/v1/messages" && r.Credential != "sk-ant-oat01-old" {
				t.Errorf("the unsaved access token %s went upstream", r.Credential)
			}
		}
		if saves, _, ok := store.counts(); saves != oauth.SaveAttempts || ok {
			t.Errorf("%d saves (stored %v), want %d failed tries", saves, ok, oauth.SaveAttempts)
		}
		if rec := h.records(1)[0]; rec.Status != 502 {
			t.Errorf("record %+v", rec)
		}

		store.setFail(0)
		access, err := h.srv.tokens.ForceRefresh(context.Background(), &a)
		if err != nil {
			t.Fatalf("refresh once the store works: %v (the rotated refresh token was lost)", err)
		}
		if _, tok, ok := store.counts(); !ok || tok.AccessToken != access {
			t.Errorf("stored %v %+v, want the new token %s", ok, tok, access)
		}
	})
}
