package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// The abuse tests of a stranger with no key: what the gateway costs and
// answers before it knows who is asking.

func (h *harness) addr() string { return strings.TrimPrefix(h.url, "http://") }

// dialRaw opens a client connection to the gateway and sends head (and
// nothing else).
func dialRaw(t *testing.T, addr, head string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if head != "" {
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// readReply reads one response from c, failing after patience (the test
// is then stuck, not slow).
func readReply(t *testing.T, c net.Conn, patience time.Duration) (*http.Response, []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(patience))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// closedBy reports whether the server closes c within patience, reading
// and dropping whatever it sends first.
func closedBy(c net.Conn, patience time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(patience))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errorsAs(err, &ne) && ne.Timeout())
}

// rssBytes is the process's resident set from /proc/self/status.
func rssBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// TestPreAuthFlood: a thousand strangers each declare a 32 MiB body and
// send none of it. Nothing is allocated for those bodies: each gets its
// 401 at once and is closed, and the process grows by far less than one
// such body per connection (before the fix, 40 of them took 1.3 GB).
// The budget, 64 MB, is four times that under the race detector.
func TestPreAuthFlood(t *testing.T) {
	before, ok := rssBytes()
	if !ok {
		t.Skip("no /proc/self/status VmRSS here: cannot measure the resident set")
	}
	const conns, budget = 1000, raceFactor * (64 << 20)
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
		c.MaxBodyBytes = 32 << 20 // the default: the declared body is allowed to a key holder
		c.ReadTimeout = 2 * time.Second
	})
	runtime.GC()
	debug.FreeOSMemory()
	before, _ = rssBytes()
	head := "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-api-key: wrong\r\n" +
		"Content-Length: 33554432\r\n\r\n"
	cs := make([]net.Conn, 0, conns)
	grew := int64(0)
	for i := range conns {
		cs = append(cs, dialRaw(t, h.addr(), head))
		if i%50 == 49 { // stop early, before a regression eats the machine
			now, _ := rssBytes()
			if grew = now - before; grew > budget {
				t.Fatalf("after %d connections RSS grew by %d MB, want < %d MB", i+1, grew>>20, budget>>20)
			}
		}
	}
	for i, c := range cs {
		resp, body := readReply(t, c, 10*time.Second)
		if resp.StatusCode != 401 || gjson.GetBytes(body, "error.type").String() != "authentication_error" {
			t.Fatalf("connection %d: %d %s, want 401 authentication_error", i, resp.StatusCode, body)
		}
		if !closedBy(c, 2*time.Second+5*time.Second) { // read_timeout + patience
			t.Fatalf("connection %d still open", i)
		}
	}
	after, _ := rssBytes()
	grew = max(grew, after-before)
	t.Logf("%d connections declaring 32 MiB each: RSS %d MB → %d MB (+%d MB)", conns, before>>20, after>>20, grew>>20)
	if grew > budget {
		t.Fatalf("RSS grew by %d MB, want < %d MB", grew>>20, budget>>20)
	}
	for _, c := range cs {
		c.Close()
	}

	// The same strangers stopping short of the end of their headers are
	// held until read_timeout: what each costs meanwhile is a connection's
	// buffers, and every one is closed when the timeout strikes.
	runtime.GC()
	debug.FreeOSMemory()
	before, _ = rssBytes()
	cs = cs[:0]
	for range conns {
		cs = append(cs, dialRaw(t, h.addr(), strings.TrimSuffix(head, "\r\n")))
	}
	waitUntil(t, "every connection accepted", func() bool { return h.srv.srv.GetOpenConnectionsCount() >= conns })
	held, _ := rssBytes()
	t.Logf("%d connections holding partial headers: RSS %d MB → %d MB (+%d MB)", conns, before>>20, held>>20, (held-before)>>20)
	if held-before > budget {
		t.Errorf("RSS grew by %d MB, want < %d MB", (held-before)>>20, budget>>20)
	}
	for i, c := range cs {
		if !closedBy(c, 2*time.Second+5*time.Second) {
			t.Fatalf("connection %d still open after read_timeout", i)
		}
	}
}

// shape is the set of JSON paths of an error body: the protocol's shape
// without its words.
func shape(b []byte) string {
	var paths []string
	var walk func(prefix string, r gjson.Result)
	walk = func(prefix string, r gjson.Result) {
		if !r.IsObject() {
			paths = append(paths, prefix)
			return
		}
		r.ForEach(func(k, v gjson.Result) bool {
			walk(prefix+"."+k.String(), v)
			return true
		})
	}
	walk("", gjson.ParseBytes(b))
	sort.Strings(paths)
	return strings.Join(paths, " ")
}

// TestStrangerBodyRefusedUnread: on every gateway route, a request with
// no (or a wrong) key that declares a large body is answered 401 in the
// route's own shape — the answer it gets with a small body — without the
// gateway waiting for the body.
func TestStrangerBodyRefusedUnread(t *testing.T) {
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) { c.ReadTimeout = time.Minute })
	routes := []string{
		"/v1/messages", "/v1/messages/count_tokens", "/v1/responses", "/openai/v1/responses",
		"/backend-api/codex/responses", "/v1/chat/completions", "/openai/v1/chat/completions",
		"/v1beta/models/gemini-2.5-pro:generateContent", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
	}
	for _, path := range routes {
		for _, cred := range []string{"", "x-api-key: wrong\r\n", "Authorization: Bearer wrong\r\n", "x-goog-api-key: wrong\r\n"} {
			req := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + cred
			small := dialRaw(t, h.addr(), req+"Content-Length: 2\r\n\r\n{}")
			wantResp, wantBody := readReply(t, small, 10*time.Second)
			big := dialRaw(t, h.addr(), req+"Content-Length: 1000000\r\n\r\n")
			// Patience far below read_timeout: the answer must not wait for the body.
			resp, body := readReply(t, big, 5*time.Second)
			if resp.StatusCode != 401 || wantResp.StatusCode != 401 {
				t.Errorf("%s %q: status %d (small body: %d), want 401", path, cred, resp.StatusCode, wantResp.StatusCode)
			}
			if got, want := shape(body), shape(wantBody); got != want {
				t.Errorf("%s %q: error shape %s, want the route's %s", path, cred, got, want)
			}
		}
	}
	// Chunked: refused once the stranger has sent more than a few KB.
	c := dialRaw(t, h.addr(), "POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	go func() {
		chunk := "1000\r\n" + strings.Repeat("x", 0x1000) + "\r\n"
		for range 64 {
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
	}()
	if resp, _ := readReply(t, c, 5*time.Second); resp.StatusCode != 401 {
		t.Errorf("chunked stranger: status %d, want 401", resp.StatusCode)
	}
}

// TestKeyHolderBodyRead: a valid key, in any of the places clients send
// it, earns the full body limit; past it the answer is 413.
func TestKeyHolderBodyRead(t *testing.T) {
	h := newHarness(t, twoAccounts())
	pad := `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"` + strings.Repeat("x", 200<<10) + `"}]}`
	for _, cred := range [][2]string{{"x-api-key", testKey}, {"Authorization", "Bearer " + testKey}, {"x-goog-api-key", testKey}} {
		resp, body := h.post("/v1/messages", pad, "x-api-key", "", cred[0], cred[1])
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d %s, want 200", cred[0], resp.StatusCode, body)
		}
	}
	// Gemini's legacy ?key= in the query: admitted, so the body is read
	// (and the request fails later for want of a Gemini account, not 401).
	resp, body := h.post("/v1beta/models/gemini-2.5-pro:generateContent?key="+testKey, `{"contents":[{"parts":[{"text":"`+strings.Repeat("x", 100<<10)+`"}]}]}`, "x-api-key", "")
	if resp.StatusCode == 401 || resp.StatusCode == 413 {
		t.Errorf("?key=: status %d %s, want the body read", resp.StatusCode, body)
	}
	// Over max_body (1 MiB here): 413, at once (the headers are sent
	// alone, as a client could not finish writing a body being refused).
	c := dialRaw(t, h.addr(), "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: "+testKey+"\r\nContent-Length: 2097152\r\n\r\n")
	resp, body = readReply(t, c, 5*time.Second)
	if resp.StatusCode != 413 || gjson.GetBytes(body, "error.type").String() != "request_too_large" {
		t.Errorf("over max_body: %d %s, want 413 request_too_large", resp.StatusCode, body)
	}
}

// TestAdminPathGate: under /admin/ the admin credential (not a client
// key) earns a body; a stranger's large body is refused unread with the
// admin API's 401.
func TestAdminPathGate(t *testing.T) {
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
		c.ReadTimeout = time.Minute
		c.Admin = func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(strconv.Itoa(len(ctx.PostBody()))) }
		c.AdminAuth = func(h *fasthttp.RequestHeader) bool { return string(h.Peek("Authorization")) == "Bearer adm" }
	})
	body := strings.Repeat("a", 100<<10)
	for _, tt := range []struct {
		auth   string
		status int
	}{{"Bearer adm", 200}, {"", 401}, {"Bearer " + testKey, 401}} {
		req, _ := http.NewRequest("POST", h.url+"/admin/api/keys", strings.NewReader(body))
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			// A refusal may close before the client has written its body.
			if tt.status == 200 {
				t.Fatalf("%q: %v", tt.auth, err)
			}
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%q: status %d %s, want %d", tt.auth, resp.StatusCode, b, tt.status)
		}
		if tt.status == 200 && string(b) != strconv.Itoa(len(body)) {
			t.Errorf("admin handler read %s bytes, want %d", b, len(body))
		}
	}
	c := dialRaw(t, h.addr(), "POST /admin/api/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
	resp, b := readReply(t, c, 5*time.Second)
	if resp.StatusCode != 401 || gjson.GetBytes(b, "error.status").Int() != 401 {
		t.Errorf("admin stranger: %d %s, want 401 in the admin shape", resp.StatusCode, b)
	}
	// The login form needs no credential and fits.
	c = dialRaw(t, h.addr(), "POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\nsecret=abcd")
	if resp, b := readReply(t, c, 5*time.Second); resp.StatusCode != 200 || string(b) != "11" {
		t.Errorf("login form: %d %s, want it read", resp.StatusCode, b)
	}
}

// TestSlowHeadersClosed: a client that trickles header bytes and never
// completes its request is cut at read_timeout, however steadily it
// trickles.
func TestSlowHeadersClosed(t *testing.T) {
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
		c.ReadTimeout = 300 * time.Millisecond
		c.IdleTimeout = time.Minute
	})
	c := dialRaw(t, h.addr(), "POST /v1/messages HTTP/1.1\r\nHost: x\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(c, "x-a: b\r\n"); err != nil {
					return
				}
			}
		}
	}()
	if !closedBy(c, 5*time.Second) {
		t.Fatal("a client trickling headers is still connected long after read_timeout")
	}
}

// TestIdleConnClosed: a keep-alive connection that sends nothing after
// its request is closed at idle_timeout.
func TestIdleConnClosed(t *testing.T) {
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
		c.ReadTimeout = time.Minute
		c.IdleTimeout = 300 * time.Millisecond
	})
	c := dialRaw(t, h.addr(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF well before the minute of read_timeout", err)
	}
}

// TestBufferedReplyWriteTimeout: a client that never reads its 20 MB
// buffered reply is cut at write_timeout, and the reply's memory is
// freed.
func TestBufferedReplyWriteTimeout(t *testing.T) {
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
		c.WriteTimeout = 300 * time.Millisecond
		c.MaxConnsPerIP = 10 // its count tells when the connection is closed
	})
	big := `{"type":"error","error":{"type":"invalid_request_error","message":"` + strings.Repeat("x", 20<<20) + `"}}`
	h.up.Script("k1", upstreamtest.Step{Kind: upstreamtest.KindError, Status: 400, Body: big})
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // sync.Pool keeps a buffer for one more cycle
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	c, err := net.Dial("tcp", h.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
	req := "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + testKey + "\r\nContent-Type: application/json\r\n" +
		"anthropic-version: 2023-06-01\r\nContent-Length: " + strconv.Itoa(len(simpleBody)) + "\r\n\r\n" + simpleBody
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the request upstream", func() bool { return h.up.Count("k1") == 1 && h.srv.guard.Stats().Conns == 1 })
	waitUntilFor(t, 10*time.Second, "the server to cut the client that never reads", func() bool {
		return h.srv.guard.Stats().Conns == 0
	})
	if after := heap(); after > base+8<<20 {
		t.Errorf("heap %d MB after the cut, was %d MB before the request: the reply was not freed", after>>20, base>>20)
	}
	// What the client can still read is what the socket buffers held.
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	n, _ := io.Copy(io.Discard, c)
	if n >= int64(len(big)) {
		t.Errorf("client read %d bytes: the whole reply went out", n)
	}
}

// TestMaxConnsPerIP: one address holds at most max_conns_per_ip
// connections; more are refused with 429 at accept, and a closed one
// frees its slot. A trusted proxy is not counted.
func TestMaxConnsPerIP(t *testing.T) {
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
		c.MaxConnsPerIP = 3
		c.ReadTimeout = time.Minute
	})
	var held []net.Conn
	for range 3 {
		held = append(held, dialRaw(t, h.addr(), ""))
	}
	waitUntil(t, "3 connections counted", func() bool { return h.srv.guard.Stats().Conns == 3 })
	extra := dialRaw(t, h.addr(), "")
	resp, body := readReply(t, extra, 5*time.Second)
	if resp.StatusCode != 429 || gjson.GetBytes(body, "error.type").String() != "rate_limit_error" {
		t.Fatalf("4th connection: %d %s, want 429 rate_limit_error", resp.StatusCode, body)
	}
	held[0].Close()
	waitUntil(t, "the closed connection uncounted", func() bool { return h.srv.guard.Stats().Conns == 2 })
	c := dialRaw(t, h.addr(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := readReply(t, c, 5*time.Second); resp.StatusCode != 200 {
		t.Fatalf("after a slot freed: status %d, want 200", resp.StatusCode)
	}
	for _, c := range held[1:] {
		c.Close()
	}
	c.Close()
	waitUntil(t, "every connection uncounted", func() bool { return h.srv.guard.Stats() == (edgeStats{}) })

	trusted := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
		c.MaxConnsPerIP = 3
		c.Trust = mustTrust(t, "127.0.0.0/8")
	})
	for i := range 6 {
		c := dialRaw(t, trusted.addr(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := readReply(t, c, 5*time.Second); resp.StatusCode != 200 {
			t.Fatalf("trusted proxy connection %d: status %d, want 200", i, resp.StatusCode)
		}
	}
}
