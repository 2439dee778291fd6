package oauth

import (
	"sync"
	"testing"
	"time"

	"subgate/kv"
	"subgate/proxy/upstream"
	"subgate/sched"
)

// The token manager's test scaffolding; package proxy's gateway tests
// keep their own copy of the store and the endpoints.

// testEndpoints are the mock's token endpoints under base.
func testEndpoints(base string) map[string]Endpoint {
	return map[string]Endpoint{
		"anthropic": {TokenURL: base + "/v1/oauth/token", ClientID: "test-client"},
		"openai":    {TokenURL: base + "/oauth/token", ClientID: "test-client"},
		"gemini":    {TokenURL: base + "/token", ClientID: "test-client", ClientSecret: "test-secret", UserAgent: "test-agent/1"},
	}
}

func oauthAccount(name, access, refresh string, exp time.Time) upstream.Account {
	return upstream.Account{
		Account:     sched.Account{Name: name, Platform: "anthropic", Type: "oauth", Group: "default", Priority: 10, Concurrency: 3},
		AccessToken: access, RefreshToken: refresh, ExpiresAt: exp, FromConfig: true,
	}
}

func apiAccount(name, key string) upstream.Account {
	return upstream.Account{Account: sched.Account{Name: name, Platform: "anthropic", Type: "api_key", Group: "default", Priority: 10, Concurrency: 3}, APIKey: key}
}

// memStore is a TokenStore in memory.
type memStore struct {
	mu   sync.Mutex
	toks map[string]kv.Token
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
	m.toks[name] = tok
	return nil
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
