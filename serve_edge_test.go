package main

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/proxy/edge"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
	"subgate/webui"
)

// startAdminServer serves ui through newAdminServer on a loopback port.
func startAdminServer(t *testing.T, sc ServerConfig, ui adminUI, trust *edge.Trust, log *slog.Logger) (string, *edge.Guard) {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv, guard := newAdminServer(sc, ui, trust, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(guard.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String(), guard
}

func testUI(t *testing.T) *webui.Handler {
	t.Helper()
	s, err := sched.New(sched.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return webui.New(webui.Config{TokenHash: sha256.Sum256([]byte(testAdminToken)), Sched: s})
}

// rawReply sends head on a new connection and reads one response.
func rawReply(t *testing.T, addr, head string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second)) // far below read_timeout
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// panicky is an admin UI whose handler panics.
type panicky struct{ adminUI }

func (panicky) Handler(*fasthttp.RequestCtx) { panic("boom") }

// TestAdminServerRecoversPanics: a panic in an admin handler is answered
// 500 and logged; the admin server keeps serving.
func TestAdminServerRecoversPanics(t *testing.T) {
	var logs lockedBuffer
	addr, _ := startAdminServer(t, DefaultConfig().Server, panicky{testUI(t)}, nil, slog.New(slog.NewJSONHandler(&logs, nil)))
	for i := range 2 {
		resp, body := rawReply(t, addr, "GET /admin/ HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != 500 || !strings.Contains(body, `"internal error"`) {
			t.Fatalf("request %d: %d %s, want 500", i, resp.StatusCode, body)
		}
	}
	if !strings.Contains(logs.String(), "admin handler panic") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

// TestAdminServerGuards: the admin listener reads no body before the
// admin credential, and bounds connections per address, like the main
// server.
func TestAdminServerGuards(t *testing.T) {
	sc := DefaultConfig().Server
	sc.ReadTimeout = Duration{time.Minute}
	sc.MaxConnsPerIP = 3
	addr, guard := startAdminServer(t, sc, testUI(t), nil, nil)

	resp, body := rawReply(t, addr, "POST /admin/api/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
	if resp.StatusCode != 401 || !strings.Contains(body, `"status":401`) {
		t.Errorf("stranger's large body: %d %s, want 401 without reading it", resp.StatusCode, body)
	}
	resp, body = rawReply(t, addr, "POST /admin/api/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testAdminToken+
		"\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat(" ", 1000000))
	if resp.StatusCode == 401 {
		t.Errorf("admin's large body: %d %s, want it read", resp.StatusCode, body)
	}

	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitFor(t, "3 connections counted", func() bool { return guard.Stats().Conns == 3 })
	if resp, _ := rawReply(t, addr, "GET /admin/login HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 429 {
		t.Errorf("4th connection: status %d, want 429", resp.StatusCode)
	}
}

// TestServeEdgeWiring: the new keys reach the servers — trusted_proxies
// feeds allow_ips, /metrics is closed by default and opens to the admin
// token, admin.cookie_secure marks the cookie on the admin listener.
func TestServeEdgeWiring(t *testing.T) {
	up := upstreamtest.New(upstreamtest.Config{})
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	dir := t.TempDir()
	addr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`
[server]
listen = %q
admin_listen = %q
data_dir = %q
shutdown_grace = "2s"
log_format = "json"
trusted_proxies = ["127.0.0.1"]
[admin]
token = %q
cookie_secure = true
[upstreams.anthropic]
base_url = %q
[[accounts]]
name = "a1"
type = "api_key"
api_key = "k1"
[[keys]]
name = "alice"
key = %q
allow_ips = ["203.0.113.0/24"]
`, addr, adminAddr, filepath.Join(dir, "data"), testAdminToken, up.URL(), serveKey)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startInstance(t, path, addr)

	if resp, body := in.do("POST", "/v1/messages", serveBody, "x-api-key", serveKey, "content-type", "application/json",
		"X-Forwarded-For", "203.0.113.5"); resp.StatusCode != 200 {
		t.Errorf("forwarded allowed client: %d %s", resp.StatusCode, body)
	}
	if resp, _ := in.message(serveKey, serveBody); resp.StatusCode != 403 {
		t.Errorf("the proxy's own address: status %d, want 403", resp.StatusCode)
	}
	if resp, _ := in.do("GET", "/metrics", ""); resp.StatusCode != 401 {
		t.Errorf("/metrics without a token: status %d, want 401", resp.StatusCode)
	}
	if resp, _ := in.do("GET", "/metrics", "", "Authorization", "Bearer "+testAdminToken); resp.StatusCode != 200 {
		t.Errorf("/metrics with the admin token: status %d, want 200", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", "http://"+adminAddr+"/admin/login", strings.NewReader(`{"secret":"`+testAdminToken+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := strings.ToLower(resp.Header.Get("Set-Cookie")); resp.StatusCode != 200 || !strings.Contains(c, "; secure") {
		t.Errorf("admin login: %d, cookie %q, want a Secure cookie", resp.StatusCode, c)
	}
}

func TestEdgeConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"per-ip off", func(c *Config) { c.Server.MaxConnsPerIP = 0 }, ""},
		{"per-ip negative", func(c *Config) { c.Server.MaxConnsPerIP = -1 }, "server.max_conns_per_ip"},
		{"proxies", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "::1", "192.0.2.7"} }, ""},
		{"bad proxy", func(c *Config) { c.Server.TrustedProxies = []string{"proxy.local"} }, "server.trusted_proxies"},
		{"public metrics", func(c *Config) { c.Metrics.Public = true }, ""},
		{"public metrics with a token", func(c *Config) { c.Metrics.Public, c.Metrics.Token = true, "t" }, "metrics.public"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.edit(&c)
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one naming %s", tt.name, err, tt.want)
		}
	}
}
