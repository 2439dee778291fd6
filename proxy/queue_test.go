package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

func oneSlot() []Account {
	a := apiAccount("a1", "k1")
	a.Concurrency = 1
	return []Account{a}
}

// background sends a request that holds the only slot for d.
func (h *harness) background(d time.Duration) *sync.WaitGroup {
	h.up.Script("k1", upstreamtest.Hang(d))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.postBG("/v1/messages", uniqueBody("holder", false))
	}()
	waitUntil(h.t, "slot taken", func() bool { return h.status("a1").InFlight == 1 })
	return &wg
}

func TestQueuedRequestGetsTheSlot(t *testing.T) {
	h := newHarness(t, oneSlot())
	wg := h.background(150 * time.Millisecond)
	resp, body := h.post("/v1/messages", simpleBody)
	wg.Wait()
	if resp.StatusCode != 200 {
		t.Fatalf("queued request: status %d %s", resp.StatusCode, body)
	}
}

func TestQueueFullAndWaitTimeout(t *testing.T) {
	tests := []struct {
		name    string
		opt     harnessOpt
		wantMsg string
	}{
		{"queue full", func(_ *Config, s *sched.Config) { s.FallbackMaxWaiting = 1 }, "too many pending requests"},
		{"wait timeout", func(_ *Config, s *sched.Config) { s.FallbackWaitTimeout = 50 * time.Millisecond }, "concurrency limit, retry later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, oneSlot(), tt.opt)
			wg := h.background(500 * time.Millisecond)
			defer wg.Wait()
			if tt.name == "queue full" { // one waiter fills the queue
				wg.Add(1)
				go func() { defer wg.Done(); h.postBG("/v1/messages", uniqueBody("waiter", false)) }()
				waitUntil(t, "queue filled", func() bool { return h.status("a1").Waiting == 1 })
			}
			resp, body := h.post("/v1/messages", uniqueBody("tested", false))
			if resp.StatusCode != 429 || gjson.GetBytes(body, "error.type").String() != "rate_limit_error" {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if got := gjson.GetBytes(body, "error.message").String(); got != tt.wantMsg {
				t.Errorf("message = %q, want %q", got, tt.wantMsg)
			}
			if resp.Header.Get("retry-after") == "" {
				t.Errorf("no retry-after")
			}
		})
	}
}

func fastKeepalive(c *Config, _ *sched.Config) { c.Keepalive = 40 * time.Millisecond }

// TestStreamKeepaliveWhileQueued: a streaming request that waits for a
// slot gets ping events, then the whole stream.
func TestStreamKeepaliveWhileQueued(t *testing.T) {
	h := newHarness(t, oneSlot(), fastKeepalive)
	wg := h.background(300 * time.Millisecond)
	resp, body := h.post("/v1/messages", streamBody)
	wg.Wait()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	evs := sseEvents(body)
	if evs[0][0] != "ping" {
		t.Fatalf("first event %q, want a ping while queued", evs[0][0])
	}
	if last := evs[len(evs)-1][0]; last != "message_stop" {
		t.Fatalf("last event %q", last)
	}
	if rec := h.records(2); rec[1].Status != 200 || rec[1].OutputTokens == 0 {
		t.Errorf("queued stream record = %+v", rec[1])
	}
}

// TestQueuedStreamFailsInShape: a committed stream whose wait times out
// ends with an error event, not a hang.
func TestQueuedStreamFailsAsEvent(t *testing.T) {
	h := newHarness(t, oneSlot(), fastKeepalive, func(_ *Config, s *sched.Config) { s.FallbackWaitTimeout = 150 * time.Millisecond })
	wg := h.background(500 * time.Millisecond)
	defer wg.Wait()
	resp, body := h.post("/v1/messages", uniqueBody("tested", true))
	evs := sseEvents(body)
	last := evs[len(evs)-1]
	if resp.StatusCode != 200 || last[0] != "error" || gjson.Get(last[1], "error.message").String() != "concurrency limit, retry later" {
		t.Fatalf("status %d events %v", resp.StatusCode, evs)
	}
}

func TestKeepaliveDuringUpstreamSilence(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, fastKeepalive)
	h.up.Script("k1", upstreamtest.Silence(250*time.Millisecond))
	_, body := h.post("/v1/messages", streamBody)
	evs := sseEvents(body)
	pings := 0
	for _, e := range evs[1:] {
		if e[0] == "ping" {
			pings++
		}
	}
	if pings < 3 || evs[len(evs)-1][0] != "message_stop" {
		t.Fatalf("pings = %d, events %v", pings, evs)
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, func(c *Config, _ *sched.Config) {
		c.StreamIdleTimeout = 100 * time.Millisecond
	})
	h.up.Script("k1", upstreamtest.Silence(3*time.Second))
	start := time.Now()
	_, body := h.post("/v1/messages", streamBody)
	evs := sseEvents(body)
	if last := evs[len(evs)-1]; last[0] != "error" {
		t.Fatalf("events %v", evs)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("idle stream was not cut")
	}
	if rec := h.records(1)[0]; !strings.Contains(rec.Error, "idle") {
		t.Errorf("record error %q", rec.Error)
	}
}

func TestHeaderTimeoutFailsOver(t *testing.T) {
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) { c.HeaderTimeout = 100 * time.Millisecond })
	h.up.Script("k1", upstreamtest.Hang(3*time.Second))
	resp, _ := h.post("/v1/messages", simpleBody)
	if resp.StatusCode != 200 || h.records(1)[0].Account != "a2" {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestRateLimitStorm(t *testing.T) {
	h := newHarness(t, twoAccounts())
	for _, k := range []string{"k1", "k2"} {
		h.up.Script(k, upstreamtest.RateLimited(time.Hour, time.Now().Add(2*time.Hour)), upstreamtest.RateLimited(time.Hour, time.Time{}))
	}
	resp, body := h.post("/v1/messages", simpleBody)
	if resp.StatusCode != 429 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Both accounts now rest; the next request is answered at once, not hung.
	start := time.Now()
	resp, body = h.post("/v1/messages", simpleBody)
	if resp.StatusCode != 503 || time.Since(start) > time.Second {
		t.Fatalf("status %d after %v: %s", resp.StatusCode, time.Since(start), body)
	}
	for _, a := range []string{"a1", "a2"} {
		if st := h.status(a); st.State != sched.StateRateLimited || st.Until.Before(time.Now().Add(90*time.Minute)) {
			t.Errorf("%s: %s until %v", a, st.State, st.Until)
		}
	}
}

func TestDisconnectWhileQueued(t *testing.T) {
	h := newHarness(t, oneSlot())
	wg := h.background(600 * time.Millisecond)
	defer wg.Wait()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + testKey +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(simpleBody)) + "\r\n\r\n" + simpleBody))
	waitUntil(t, "queued", func() bool { return h.status("a1").Waiting == 1 })
	conn.Close()
	waitUntil(t, "left the queue", func() bool { return h.status("a1").Waiting == 0 })
}

// uniqueBody is a request whose content-hash session is its own, so it
// neither shares nor waits on another request's sticky account.
func uniqueBody(text string, stream bool) string {
	return `{"model":"claude-sonnet-4-5","max_tokens":10,"stream":` + strconv.FormatBool(stream) +
		`,"messages":[{"role":"user","content":"` + text + `"}]}`
}

// TestShutdownFailsWaiters: at shutdown a request still waiting for a slot
// gets 503 at once, in the protocol's shape, while the running one finishes.
func TestShutdownFailsWaiters(t *testing.T) {
	h := newHarness(t, oneSlot())
	wg := h.background(300 * time.Millisecond)
	done := make(chan []byte, 1)
	var status int
	go func() {
		resp, body := h.postBG("/v1/messages", uniqueBody("waiter", false))
		status = resp.StatusCode
		done <- body
	}()
	waitUntil(t, "queued", func() bool { return h.status("a1").Waiting == 1 })
	h.sched.Close()
	body := <-done
	if status != 503 || gjson.GetBytes(body, "error.type").String() != "overloaded_error" {
		t.Fatalf("waiter got %d %s", status, body)
	}
	wg.Wait()
	if recs := h.records(2); recs[0].Status != 503 && recs[1].Status != 503 {
		t.Errorf("no 503 record: %+v", recs)
	}
}

// TestShutdownCutsRunningRequests: when graceful shutdown runs out of
// time, requests still waiting for their upstream are canceled (every run
// is reached through the watcher list, not a context tree), so Shutdown
// returns instead of waiting for the upstream.
func TestShutdownCutsRunningRequests(t *testing.T) {
	for _, body := range []string{simpleBody, streamBody} {
		h := newHarness(t, []Account{apiAccount("a1", "k1")})
		h.up.Script("k1", upstreamtest.Hang(30*time.Second))
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.postBG("/v1/messages", body)
		}()
		waitUntil(t, "request in flight", func() bool { return h.status("a1").InFlight == 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		h.srv.Shutdown(ctx)
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("request still running after shutdown")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("shutdown took %v", d)
		}
		waitUntil(t, "slot freed", func() bool { return h.status("a1").InFlight == 0 })
	}
}

// TestShutdownClosesKeptAliveConns: once a shutdown's grace period ran
// out, no client connection is served any more. The connection of a
// request cut by the shutdown is closed after its error reply rather than
// kept alive to answer new requests against a closed scheduler and ledger
// (fasthttp's own shutdown has returned by then and forgotten it).
func TestShutdownClosesKeptAliveConns(t *testing.T) {
	for _, body := range []string{simpleBody, streamBody} {
		h := newHarness(t, []Account{apiAccount("a1", "k1")})
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		send := func() (*http.Response, error) {
			req, _ := http.NewRequest("POST", h.url+"/v1/messages", strings.NewReader(body))
			req.Header.Set("x-api-key", testKey)
			req.Header.Set("content-type", "application/json")
			if err := req.Write(conn); err != nil {
				return nil, err
			}
			resp, err := http.ReadResponse(br, req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			return resp, err
		}
		h.up.Script("k1", upstreamtest.Hang(30*time.Second))
		type result struct {
			resp *http.Response
			err  error
		}
		first := make(chan result, 1)
		go func() {
			resp, err := send()
			first <- result{resp, err}
		}()
		waitUntil(t, "request in flight", func() bool { return h.status("a1").InFlight == 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		h.srv.Shutdown(ctx)
		cancel()
		<-first // cut: an error reply or a closed connection, either is fine
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if resp, err := send(); err == nil {
			t.Fatalf("a connection was still served after Shutdown returned: %d", resp.StatusCode)
		}
	}
}
