package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
)

// Shutdown of the real serve: requests still waiting for a slot get 503,
// streams that outlive shutdown_grace end with their protocol's error
// event, and run returns with none of serve's goroutines left behind.

const shutdownAccounts = `
[[accounts]]
name = "a1"
type = "api_key"
api_key = "k1"
concurrency = 1
[[accounts]]
name = "o1"
platform = "openai"
type = "api_key"
api_key = "ok1"
[[accounts]]
name = "g1"
platform = "gemini"
type = "api_key"
api_key = "gk1"
`

// startShutdownInstance serves a1 (one slot), o1 and g1 with a short
// shutdown grace.
func startShutdownInstance(t *testing.T) (*instance, *upstreamtest.Server) {
	t.Helper()
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeServeConfig(t, dir, addr, up.URL(), serveOpts{accounts: shutdownAccounts, grace: "300ms",
		scheduler: `fallback_wait_timeout = "1m"`})
	return startInstance(t, cfg, addr), up
}

// reply is what a request sent from another goroutine got.
type reply struct {
	status int
	body   []byte
	err    error
}

// startStream sends a streaming request and returns once its headers are
// in; the body arrives on the channel when the stream ends.
func startStream(t *testing.T, in *instance, path, body string, hdr ...string) <-chan reply {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+in.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("content-type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := in.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := make(chan reply, 1)
	go func() {
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- reply{resp.StatusCode, b, err}
	}()
	return out
}

// await waits for a reply from another goroutine.
func await(t *testing.T, what string, ch <-chan reply) reply {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no reply", what)
		return reply{}
	}
}

// stopServe cancels run's context and waits for it to return.
func stopServe(t *testing.T, in *instance) {
	t.Helper()
	in.cancel()
	select {
	case err := <-in.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not return within 20s of its context ending")
	}
	in.once.Do(func() {}) // stopped: the cleanup has nothing left to do
}

// serveFrame matches a stack frame of serve or of the packages it runs
// (the mock upstream is the test's and stays).
var serveFrame = regexp.MustCompile(`(?m)^((main|subgate)\.serve[(.]|subgate/(proxy|sched|ledger|kv|webui)\.)`)

// serveGoroutines waits up to 2s for the goroutines of serve, and of
// what it started, to end, and returns the stacks of those left.
func serveGoroutines() []string {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		var left []string
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if serveFrame.MatchString(g) {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
	}
}

// noServeGoroutines fails the test if a goroutine of serve outlived it.
func noServeGoroutines(t *testing.T) {
	t.Helper()
	if left := serveGoroutines(); len(left) > 0 {
		t.Errorf("%d goroutines of serve outlived it:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// TestShutdownFailsQueuedRequests: a request waiting for a1's only slot
// gets 503 in the protocol's error shape when serve shuts down; the
// request holding the slot is cut at the end of the grace period; run
// returns and leaves no goroutine behind.
func TestShutdownFailsQueuedRequests(t *testing.T) {
	in, up := startShutdownInstance(t)
	up.Script("k1", upstreamtest.Silence(time.Minute))
	holder := startStream(t, in, "/v1/messages", streamBody("holder"), "x-api-key", serveKey)
	queued := make(chan reply, 1)
	go func() {
		resp, b, err := in.try("POST", "/v1/messages", strings.Replace(serveBody, "serve-sess", "queued", 1),
			"x-api-key", serveKey, "content-type", "application/json")
		if err != nil {
			queued <- reply{err: err}
			return
		}
		queued <- reply{resp.StatusCode, b, nil}
	}()
	waitFor(t, "a request queued behind a1's slot", func() bool {
		_, b := in.admin("GET", "/admin/api/accounts", "")
		return gjson.GetBytes(b, `accounts.#(name=="a1").waiting`).Int() == 1
	})

	stopServe(t, in)
	q := await(t, "queued request", queued)
	if q.err != nil || q.status != 503 || gjson.GetBytes(q.body, "error.type").String() != "overloaded_error" ||
		!strings.Contains(gjson.GetBytes(q.body, "error.message").String(), "shutting down") {
		t.Errorf("queued request at shutdown: %d %s (%v), want 503 overloaded_error", q.status, q.body, q.err)
	}
	if n := up.Count("k1"); n != 1 {
		t.Errorf("a1 got %d requests, want 1 (the queued one never went upstream)", n)
	}
	if h := await(t, "holder", holder); !bytes.Contains(h.body, []byte("event: error")) {
		t.Errorf("the stream holding the slot past the grace period: %s", h.body)
	}
	noServeGoroutines(t)
}

// TestShutdownDrainsWithinGrace: a stream that ends within the grace
// period is relayed whole, and then nothing of serve is left running.
func TestShutdownDrainsWithinGrace(t *testing.T) {
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	in := startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{grace: "30s"}), addr)
	// Eight events 100ms apart: the stream outlives the shutdown's start
	// and ends well within the grace, which then ends early.
	up.Script("k1", upstreamtest.OK().WithStreamDelay(100*time.Millisecond))
	stream := startStream(t, in, "/v1/messages", streamBody("drain"), "x-api-key", serveKey)
	stopServe(t, in)
	r := await(t, "stream", stream)
	if event, _ := lastSSE(r.body); r.status != 200 || event != "message_stop" {
		t.Errorf("the stream running at shutdown ended with %q: %d %s", event, r.status, r.body)
	}
	noServeGoroutines(t)
}

// streamBody is a streaming Messages request on its own session.
func streamBody(session string) string {
	return strings.Replace(strings.Replace(serveBody, `"max_tokens"`, `"stream":true,"max_tokens"`, 1), "serve-sess", session, 1)
}

// TestShutdownEndsStreamsPastGrace: a stream whose upstream is still
// silent when shutdown_grace runs out ends with the error event of its
// own protocol, after what it had already relayed; run returns.
func TestShutdownEndsStreamsPastGrace(t *testing.T) {
	for _, tt := range []struct {
		name, path, body, cred string
		hdr                    []string
		first                  string // in the relayed start of the stream
		errPath                string // gjson path of the message in the final event
		event                  string // its SSE event name, "" for none
	}{
		{"anthropic", "/v1/messages", streamBody("s"), "k1", []string{"x-api-key", serveKey},
			"message_start", "error.message", "error"},
		{"responses", "/v1/responses", `{"model":"gpt-5","input":"hi","stream":true}`, "ok1",
			[]string{"authorization", "Bearer " + serveKey}, "response.created", "message", "error"},
		{"chat", "/v1/chat/completions", `{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "ok1",
			[]string{"authorization", "Bearer " + serveKey}, "chat.completion.chunk", "error.message", ""},
		{"gemini", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, "gk1",
			[]string{"x-goog-api-key", serveKey}, "candidates", "error.message", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, up := startShutdownInstance(t)
			up.Script(tt.cred, upstreamtest.Silence(time.Minute))
			stream := startStream(t, in, tt.path, tt.body, tt.hdr...)
			waitFor(t, "the stream under way", func() bool { return up.Count(tt.cred) == 1 })
			start := time.Now()
			stopServe(t, in)
			r := await(t, "stream", stream)
			if r.status != 200 || !bytes.Contains(r.body, []byte(tt.first)) {
				t.Fatalf("stream: %d %s, want a relayed start with %s", r.status, r.body, tt.first)
			}
			event, data := lastSSE(r.body)
			if event != tt.event || !strings.Contains(gjson.Get(data, tt.errPath).String(), "shutting down") {
				t.Errorf("the stream's last event is %q %s, want %q with %s about the shutdown\n%s",
					event, data, tt.event, tt.errPath, r.body)
			}
			if d := time.Since(start); d < 300*time.Millisecond {
				t.Errorf("the stream was cut %v after shutdown began, before the 300ms grace", d)
			}
			noServeGoroutines(t)
		})
	}
}

// lastSSE returns the event name and data of the last event of an SSE
// body ("\n" or "\r\n" line ends).
func lastSSE(body []byte) (event, data string) {
	text := strings.ReplaceAll(string(body), "\r\n", "\n")
	blocks := strings.Split(strings.TrimSpace(text), "\n\n")
	for _, line := range strings.Split(blocks[len(blocks)-1], "\n") {
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	return event, data
}

// waitFor polls cond until it holds, or fails the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestServeStoppedAtOnce: serve whose context has already ended starts
// and stops at once. Shutdown then runs before the servers' Serve has
// begun, which it does not stop: serve must still close its listeners and
// wait for them, or a Serve goes on accepting after serve returned.
func TestServeStoppedAtOnce(t *testing.T) {
	up := startMock(t, upstreamtest.Config{})
	dir, addr, adminAddr := t.TempDir(), freeAddr(t), freeAddr(t)
	cfg, err := LoadConfig(writeServeConfig(t, dir, addr, up.URL(), serveOpts{server: "admin_listen = \"" + adminAddr + "\""}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := serve(ctx, cfg, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{addr, adminAddr} {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after serve returned", a)
		}
	}
	noServeGoroutines(t)
}
