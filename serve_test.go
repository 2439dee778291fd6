package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
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

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// instance is the real binary's run() serving a config file.
type instance struct {
	t      *testing.T
	addr   string
	cancel context.CancelFunc
	done   chan error
	out    *syncBuf
	once   sync.Once
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func writeServeConfig(t *testing.T, dir, addr, upstream string, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
[server]
listen = %q
data_dir = %q
shutdown_grace = "2s"
log_format = "json"
[admin]
token = %q
[upstreams.anthropic]
base_url = %q
oauth_token_url = "%s/v1/oauth/token"
[scheduler]
stream_keepalive = "100ms"
[[accounts]]
name = "a1"
type = "api_key"
api_key = "k1"
[[accounts]]
name = "a2"
type = "api_key"
api_key = "k2"
priority = 20
[[keys]]
name = "alice"
key = %q
%s
`, addr, filepath.Join(dir, "data"), testAdminToken, upstream, upstream, serveKey, extra)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startInstance(t *testing.T, cfgPath, addr string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{t: t, addr: addr, cancel: cancel, done: make(chan error, 1), out: &syncBuf{}}
	go func() { in.done <- run(ctx, []string{"serve", "-c", cfgPath}, strings.NewReader(""), in.out, in.out) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-in.done:
			t.Fatalf("serve exited: %v\n%s", err, in.out.String())
		default:
		}
		if time.Now().After(deadline) {
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

func (in *instance) do(method, path, body string, hdr ...string) (*http.Response, []byte) {
	in.t.Helper()
	req, _ := http.NewRequest(method, "http://"+in.addr+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (in *instance) message(key, body string) (*http.Response, []byte) {
	return in.do("POST", "/v1/messages", body, "x-api-key", key, "content-type", "application/json")
}

func (in *instance) admin(method, path, body string) (*http.Response, []byte) {
	return in.do(method, path, body, "Authorization", "Bearer "+testAdminToken, "content-type", "application/json")
}

const serveBody = `{"model":"claude-sonnet-4-5","max_tokens":50,"metadata":{"user_id":"{\"session_id\":\"serve-sess\"}"},"messages":[{"role":"user","content":"hi"}]}`

// TestServeEndToEnd drives the binary's run(): requests, the admin API,
// then a restart that keeps cooldowns, sticky bindings and the ledger.
func TestServeEndToEnd(t *testing.T) {
	up := upstreamtest.New(upstreamtest.Config{})
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	dir, addr := t.TempDir(), freeAddr(t)
	cfgPath := writeServeConfig(t, dir, addr, up.URL(), "")
	in := startInstance(t, cfgPath, addr)

	if resp, body := in.message(serveKey, serveBody); resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	if resp, _ := in.message("sk-sg-wrong", serveBody); resp.StatusCode != 401 {
		t.Fatalf("wrong key: %d", resp.StatusCode)
	}
	// a1 gets rate limited for two hours; the sticky session moves to a2.
	up.Script("k1", upstreamtest.RateLimited(2*time.Hour, time.Now().Add(2*time.Hour)))
	in.message(serveKey, serveBody)
	if resp, _ := in.admin("GET", "/admin/api/accounts", ""); resp.StatusCode != 200 {
		t.Fatalf("accounts: %d", resp.StatusCode)
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
	_, sess := in.admin("GET", "/admin/api/sessions", "")
	if !strings.Contains(string(sess), sched.SessionID("cc:serve-sess")) {
		t.Errorf("sticky binding lost across restart: %s", sess)
	}
	_, usage := in.admin("GET", "/admin/api/usage?limit=10", "")
	if n := len(gjson.GetBytes(usage, "records").Array()); n < 2 {
		t.Errorf("ledger after restart has %d records: %s", n, usage)
	}
}

// TestServeAdminKeysAndAccounts creates a key through the admin API and
// uses it, disables an account and sees traffic move, and adds an account.
func TestServeAdminKeysAndAccounts(t *testing.T) {
	up := upstreamtest.New(upstreamtest.Config{})
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	dir, addr := t.TempDir(), freeAddr(t)
	in := startInstance(t, writeServeConfig(t, dir, addr, up.URL(), ""), addr)

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

// TestGracefulShutdown: a running stream finishes; a queued request gets
// 503.
func TestGracefulShutdown(t *testing.T) {
	up := upstreamtest.New(upstreamtest.Config{})
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	dir, addr := t.TempDir(), freeAddr(t)
	in := startInstance(t, writeServeConfig(t, dir, addr, up.URL(), ""), addr)
	up.Script("k1", upstreamtest.OK().WithStreamDelay(150*time.Millisecond))
	var wg sync.WaitGroup
	var streamBody []byte
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, streamBody = in.message(serveKey, strings.Replace(serveBody, `"max_tokens"`, `"stream":true,"max_tokens"`, 1))
	}()
	time.Sleep(200 * time.Millisecond)
	in.cancel()
	wg.Wait()
	if !bytes.Contains(streamBody, []byte("message_stop")) {
		t.Errorf("running stream was cut at shutdown: %s", streamBody)
	}
}
