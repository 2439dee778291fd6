package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

const (
	serveKey       = "sk-sg-serve-test-key"
	testAdminToken = "admin-test-token"
)

// instance is the real binary's run() serving a config file.
type instance struct {
	t      *testing.T
	addr   string
	client *http.Client // its own connection pool, closed at cleanup
	cancel context.CancelFunc
	done   chan error
	out    *lockedBuffer
	once   sync.Once
}

// serveOpts changes the config writeServeConfig writes; the zero value
// is two Anthropic API-key accounts (a1 on k1, preferred; a2 on k2) and
// the key alice.
type serveOpts struct {
	grace     string // server.shutdown_grace, default 2s
	server    string // more lines of [server]
	scheduler string // more lines of [scheduler]
	accounts  string // [[accounts]] tables replacing a1 and a2
	extra     string // appended at the end (more [[keys]], [[accounts]]…)
}

const defaultServeAccounts = `
[[accounts]]
name = "a1"
type = "api_key"
api_key = "k1"
[[accounts]]
name = "a2"
type = "api_key"
api_key = "k2"
priority = 20
`

// writeServeConfig writes a config whose every upstream, OAuth token
// endpoint included, is the mock at upstream.
func writeServeConfig(t *testing.T, dir, addr, upstream string, o serveOpts) string {
	t.Helper()
	if o.accounts == "" {
		o.accounts = defaultServeAccounts
	}
	if o.grace == "" {
		o.grace = "2s"
	}
	cfg := fmt.Sprintf(`
[server]
listen = %[1]q
data_dir = %[2]q
shutdown_grace = %[10]q
log_format = "json"
%[6]s
[admin]
token = %[3]q
[upstreams.anthropic]
base_url = %[4]q
oauth_token_url = "%[4]s/v1/oauth/token"
oauth_authorize_url = "%[4]s/oauth/authorize"
[upstreams.openai]
base_url = "%[4]s/v1"
codex_base_url = "%[4]s/backend-api/codex"
oauth_token_url = "%[4]s/oauth/token"
oauth_authorize_url = "%[4]s/oauth/authorize"
[upstreams.gemini]
base_url = %[4]q
code_assist_base_url = %[4]q
oauth_token_url = "%[4]s/token"
oauth_authorize_url = "%[4]s/o/oauth2/v2/auth"
[scheduler]
stream_keepalive = "100ms"
%[7]s
%[8]s
[[keys]]
name = "alice"
key = %[5]q
%[9]s
`, addr, filepath.Join(dir, "data"), testAdminToken, upstream, serveKey, o.server, o.scheduler, o.accounts, o.extra, o.grace)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startMock starts the mock upstream for the length of the test.
func startMock(t *testing.T, cfg upstreamtest.Config) *upstreamtest.Server {
	t.Helper()
	up := upstreamtest.New(cfg)
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	return up
}

// startInstance runs run(ctx, serve -c cfgPath) and waits for /healthz.
// The instance stops at cleanup unless the test stopped it first.
func startInstance(t *testing.T, cfgPath, addr string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{t: t, addr: addr, cancel: cancel, done: make(chan error, 1), out: &lockedBuffer{},
		client: &http.Client{Transport: &http.Transport{}}}
	t.Cleanup(in.client.CloseIdleConnections)
	go func() { in.done <- run(ctx, []string{"serve", "-c", cfgPath}, strings.NewReader(""), in.out, in.out) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := in.client.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-in.done:
			cancel()
			t.Fatalf("serve exited: %v\n%s", err, in.out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not come up:\n%s", in.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() { in.stop() })
	return in
}

func (in *instance) stop() { in.once.Do(in.stopOnce) }

func (in *instance) stopOnce() {
	in.cancel()
	select {
	case err := <-in.done:
		if err != nil {
			in.t.Errorf("serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		in.t.Errorf("serve did not stop")
	}
}

// try sends one request and reads the whole reply. It is safe to call
// from any goroutine.
func (in *instance) try(method, path, body string, hdr ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, "http://"+in.addr+path, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, b, fmt.Errorf("%s %s: read reply: %w", method, path, err)
	}
	return resp, b, nil
}

// do is try for the test's own goroutine: a transport error ends the test.
func (in *instance) do(method, path, body string, hdr ...string) (*http.Response, []byte) {
	in.t.Helper()
	resp, b, err := in.try(method, path, body, hdr...)
	if err != nil {
		in.t.Fatal(err)
	}
	return resp, b
}

func (in *instance) message(key, body string) (*http.Response, []byte) {
	in.t.Helper()
	return in.do("POST", "/v1/messages", body, "x-api-key", key, "content-type", "application/json")
}

func (in *instance) admin(method, path, body string) (*http.Response, []byte) {
	in.t.Helper()
	return in.do(method, path, body, "Authorization", "Bearer "+testAdminToken, "content-type", "application/json")
}

const serveBody = `{"model":"claude-sonnet-4-5","max_tokens":50,"metadata":{"user_id":"{\"session_id\":\"serve-sess\"}"},"messages":[{"role":"user","content":"hi"}]}`

// TestServeEndToEnd drives the binary's run(): requests, the admin API,
// then a restart that keeps cooldowns, sticky bindings and the ledger.
func TestServeEndToEnd(t *testing.T) {
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	cfgPath := writeServeConfig(t, dir, addr, up.URL(), serveOpts{})
	in := startInstance(t, cfgPath, addr)

	if resp, body := in.message(serveKey, serveBody); resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	if got := up.Count("k1"); got != 1 {
		t.Fatalf("the first request reached a1 (k1) %d times, want 1", got)
	}
	if acct := sessionAccount(t, in, "serve-sess"); acct != "a1" {
		t.Fatalf("serve-sess is bound to %q, want a1", acct)
	}
	if resp, _ := in.message("sk-sg-wrong", serveBody); resp.StatusCode != 401 {
		t.Fatalf("wrong key: %d", resp.StatusCode)
	}
	// a1 gets rate limited for two hours; the sticky session moves to a2.
	up.Script("k1", upstreamtest.RateLimited(2*time.Hour, time.Now().Add(2*time.Hour)))
	if resp, body := in.message(serveKey, serveBody); resp.StatusCode != 200 {
		t.Fatalf("request after a1's 429: %d %s", resp.StatusCode, body)
	}
	if k1, k2 := up.Count("k1"), up.Count("k2"); k1 != 2 || k2 != 1 {
		t.Errorf("after a1's 429: k1 %d, k2 %d requests; want 2 and 1 (failed over to a2)", k1, k2)
	}
	if acct := sessionAccount(t, in, "serve-sess"); acct != "a2" {
		t.Errorf("after a1's 429 serve-sess is bound to %q, want a2", acct)
	}
	_, accts := in.admin("GET", "/admin/api/accounts", "")
	if st := gjson.GetBytes(accts, `accounts.#(name=="a1").state`).String(); st != "rate_limited" {
		t.Fatalf("a1 state %q: %s", st, accts)
	}
	if resp, _ := in.do("GET", "/admin/api/accounts", ""); resp.StatusCode != 401 {
		t.Errorf("admin API without token: %d", resp.StatusCode)
	}

	// Restart on the same data: the cooldown, the binding and the ledger stay.
	in.stop()
	in = startInstance(t, cfgPath, addr)
	_, accts = in.admin("GET", "/admin/api/accounts", "")
	if st := gjson.GetBytes(accts, `accounts.#(name=="a1").state`).String(); st != "rate_limited" {
		t.Errorf("after restart a1 is %q, want rate_limited", st)
	}
	if acct := sessionAccount(t, in, "serve-sess"); acct != "a2" {
		t.Errorf("after restart serve-sess is bound to %q, want a2", acct)
	}
	_, usage := in.admin("GET", "/admin/api/usage?limit=10", "")
	if n := len(gjson.GetBytes(usage, "records").Array()); n < 2 {
		t.Errorf("ledger after restart has %d records: %s", n, usage)
	}
}

// sessionAccount is the account a sticky session whose id contains id is
// bound to, per the admin API ("" when there is none).
func sessionAccount(t *testing.T, in *instance, id string) string {
	t.Helper()
	_, sess := in.admin("GET", "/admin/api/sessions", "")
	return gjson.GetBytes(sess, `sessions.#(session=="`+sched.SessionID("cc:"+id)+`").account`).String()
}

// TestServeAdminKeysAndAccounts creates a key through the admin API and
// uses it, disables an account and sees traffic move, and adds an account.
func TestServeAdminKeysAndAccounts(t *testing.T) {
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	in := startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{}), addr)

	resp, body := in.admin("POST", "/admin/api/keys", `{"name":"bob","limit_day_usd":5}`)
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("create key: %d %s", resp.StatusCode, body)
	}
	secret := gjson.GetBytes(body, "secret").String()
	if !strings.HasPrefix(secret, "sk-sg-") {
		t.Fatalf("no secret in %s", body)
	}
	if resp, body := in.message(secret, serveBody); resp.StatusCode != 200 {
		t.Fatalf("new key refused: %d %s", resp.StatusCode, body)
	}
	_, keys := in.admin("GET", "/admin/api/keys", "")
	if strings.Contains(string(keys), secret) {
		t.Errorf("key list shows the secret")
	}

	if resp, body := in.admin("POST", "/admin/api/accounts/a1/disable", ""); resp.StatusCode != 200 {
		t.Fatalf("disable: %d %s", resp.StatusCode, body)
	}
	before := up.Count("k1")
	in.message(serveKey, strings.Replace(serveBody, "serve-sess", "other", 1))
	if up.Count("k1") != before || up.Count("k2") == 0 {
		t.Errorf("traffic did not move off the disabled account")
	}

	resp, body = in.admin("POST", "/admin/api/accounts", `{"name":"a3","platform":"anthropic","type":"api_key","api_key":"k3","priority":1}`)
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("add account: %d %s", resp.StatusCode, body)
	}
	in.message(serveKey, strings.Replace(serveBody, "serve-sess", "third", 1))
	if up.Count("k3") != 1 {
		t.Errorf("the added account (priority 1) got %d requests", up.Count("k3"))
	}
	_, accts := in.admin("GET", "/admin/api/accounts", "")
	if strings.Contains(string(accts), `"k3"`) {
		t.Errorf("accounts API shows a secret: %s", accts)
	}
}
