package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"subgate/proxy/edge"
	"subgate/proxy/reqlog"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

type edgeStats = edge.Stats

func mustTrust(t *testing.T, cidrs ...string) *edge.Trust {
	t.Helper()
	tr, err := edge.ParseTrust(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// lockedBuf is a bytes.Buffer safe for the request log's goroutine.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestForwardedClientAddress: behind a trusted proxy the client address
// is the right-most X-Forwarded-For hop that is not a trusted proxy (or
// X-Real-IP), and it is what allow_ips checks and the request log shows;
// the same headers from an untrusted peer change nothing.
func TestForwardedClientAddress(t *testing.T) {
	allow := func(c *Config) {
		c.Keys[0].AllowIPs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	}
	var logBuf lockedBuf
	rl := reqlog.New(reqlog.Config{Out: &logBuf, Format: reqlog.JSON})
	t.Cleanup(func() { rl.Close() })
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
		allow(c)
		c.Trust = mustTrust(t, "127.0.0.1", "10.0.0.0/8")
		c.RequestLog = rl
	})
	tests := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"client behind one proxy", []string{"X-Forwarded-For", "203.0.113.5"}, 200},
		{"forged hop left of the real one", []string{"X-Forwarded-For", "198.51.100.1, 203.0.113.5"}, 200},
		{"real hop right of a forged one", []string{"X-Forwarded-For", "203.0.113.5, 198.51.100.1"}, 403},
		{"trusted inner proxy skipped", []string{"X-Forwarded-For", "203.0.113.5, 10.1.2.3"}, 200},
		{"port and spaces", []string{"X-Forwarded-For", " 203.0.113.5:4711 ,10.1.2.3"}, 200},
		{"garbage where the client is", []string{"X-Forwarded-For", "203.0.113.5, nonsense, 10.1.2.3"}, 403},
		{"X-Real-IP", []string{"X-Real-IP", "203.0.113.6"}, 200},
		{"no forwarding headers: the proxy itself", nil, 403},
	}
	for _, tt := range tests {
		resp, body := h.post("/v1/messages", simpleBody, tt.hdr...)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
		}
	}
	rl.Flush()
	if !strings.Contains(logBuf.String(), `"key":"alice","ip":"203.0.113.5"`) {
		t.Errorf("request log lacks the forwarded client address:\n%s", logBuf.String())
	}

	untrusted := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) { allow(c) })
	if resp, body := untrusted.post("/v1/messages", simpleBody, "X-Forwarded-For", "203.0.113.5", "X-Real-IP", "203.0.113.5"); resp.StatusCode != 403 ||
		!strings.Contains(string(body), "127.0.0.1") {
		t.Errorf("forwarding headers from an untrusted peer: %d %s, want 403 for 127.0.0.1", resp.StatusCode, body)
	}
}

// TestForwardedClientLimit: behind a trusted proxy, one forwarded client
// may have max_conns_per_ip requests in flight; other clients are not
// affected, and the slots come back when the replies are written.
func TestForwardedClientLimit(t *testing.T) {
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
		c.MaxConnsPerIP = 2
		c.Trust = mustTrust(t, "127.0.0.1")
	})
	h.up.Script("k1", upstreamtest.Hang(time.Second), upstreamtest.Hang(time.Second))
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", h.url+"/v1/messages", strings.NewReader(simpleBody))
			req.Header.Set("x-api-key", testKey)
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				statuses[i] = resp.StatusCode
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	waitUntil(t, "two requests in flight", func() bool { return h.up.Count("k1") == 2 })
	resp, body := h.post("/v1/messages", simpleBody, "X-Forwarded-For", "203.0.113.9")
	if resp.StatusCode != 429 || gjson.GetBytes(body, "error.type").String() != "rate_limit_error" {
		t.Errorf("third request of one client: %d %s, want 429 rate_limit_error", resp.StatusCode, body)
	}
	if resp, _ := h.post("/v1/messages", simpleBody, "X-Forwarded-For", "198.51.100.1"); resp.StatusCode != 200 {
		t.Errorf("another client: status %d, want 200", resp.StatusCode)
	}
	wg.Wait()
	if statuses[0] != 200 || statuses[1] != 200 {
		t.Errorf("held requests: %v, want 200s", statuses)
	}
	if resp, _ := h.post("/v1/messages", simpleBody, "X-Forwarded-For", "203.0.113.9"); resp.StatusCode != 200 {
		t.Errorf("after the replies: status %d, want 200", resp.StatusCode)
	}
	waitUntil(t, "no client in flight", func() bool { return h.srv.guard.Stats().Clients == 0 })
}

// TestMetricsAccess: /metrics is open only when the admin made it public
// (and set no token); otherwise it takes the metrics token or the admin
// credential.
func TestMetricsAccess(t *testing.T) {
	adminAuth := func(h *fasthttp.RequestHeader) bool { return string(h.Peek("Authorization")) == "Bearer adm" }
	tests := []struct {
		name   string
		token  string
		public bool
		auth   string
		status int
	}{
		{"default: closed", "", false, "", 401},
		{"default: admin token", "", false, "Bearer adm", 200},
		{"default: a client key is not enough", "", false, "Bearer " + testKey, 401},
		{"public", "", true, "", 200},
		{"token: none sent", "mtok", false, "", 401},
		{"token", "mtok", false, "Bearer mtok", 200},
		{"token: admin token", "mtok", false, "Bearer adm", 200},
		{"token: wrong", "mtok", false, "Bearer nope", 401},
		{"token wins over public", "mtok", true, "", 401},
	}
	for _, tt := range tests {
		h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
			c.MetricsEnabled, c.MetricsToken, c.MetricsPublic, c.AdminAuth = true, tt.token, tt.public, adminAuth
		})
		req, _ := http.NewRequest("GET", h.url+"/metrics", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		if tt.status == 200 && !bytes.Contains(b, []byte("subgate_requests_total")) {
			t.Errorf("%s: body lacks the metrics", tt.name)
		}
	}
}
