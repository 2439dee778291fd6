package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// rawUpstream is a loopback TCP server that reads one request per
// connection turn and answers with reply, or never when reply is "".
// It counts accepted connections and reports each one's end on closed.
type rawUpstream struct {
	ln       net.Listener
	accepted atomic.Int32
	closed   chan struct{}
}

func newRawUpstream(t *testing.T, reply string) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, closed: make(chan struct{}, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.accepted.Add(1)
			go func() {
				defer func() { c.Close(); u.closed <- struct{}{} }()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if reply == "" {
						_, _ = io.Copy(io.Discard, br) // hang until the peer closes
						return
					}
					if _, err := io.WriteString(c, reply); err != nil {
						return
					}
				}
			}()
		}
	}()
	return u
}

func okReply(body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func newTestExchange(url string) (*fasthttp.Request, *fasthttp.Response) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(url + "/v1/messages")
	req.Header.SetMethod("POST")
	req.SetBodyString(`{"model":"m"}`)
	return req, resp
}

// TestBufferedCallReusesConnection: buffered calls run through the
// interruptible transport and keep the connection pooled.
func TestBufferedCallReusesConnection(t *testing.T) {
	up := newRawUpstream(t, okReply(`{"ok":true}`))
	u := New(Config{MaxResponseBytes: 1 << 20})
	cp, err := u.For("")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		req, resp := newTestExchange("http://" + up.ln.Addr().String())
		if err := u.Do(context.Background(), cp.Buffered, req, resp, 5*time.Second); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got := string(resp.Body()); got != `{"ok":true}` {
			t.Errorf("call %d: body %q", i, got)
		}
		Release(req, resp)
	}
	if got := up.accepted.Load(); got != 1 {
		t.Errorf("connections = %d, want 1 (pooled)", got)
	}
	if n := u.Registered(); n != 0 {
		t.Errorf("%d calls left registered", n)
	}
}

// TestBufferedCallInterrupted: canceling the context cuts a buffered call
// that waits for its reply, and closes the upstream connection so the
// upstream stops working for nobody.
func TestBufferedCallInterrupted(t *testing.T) {
	up := newRawUpstream(t, "")
	u := New(Config{MaxResponseBytes: 1 << 20})
	cp, _ := u.For("")
	ctx, cancel := context.WithCancel(context.Background())
	req, resp := newTestExchange("http://" + up.ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- u.Do(ctx, cp.Buffered, req, resp, time.Minute) }()
	for deadline := time.Now().Add(5 * time.Second); up.accepted.Load() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the request at the upstream")
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("canceled call did not return")
	}
	select {
	case <-up.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream connection left open")
	}
	if n := u.Registered(); n != 0 {
		t.Errorf("%d calls left registered", n)
	}
	// An already canceled context does not call at all.
	req, resp = newTestExchange("http://" + up.ln.Addr().String())
	if err := u.Do(ctx, cp.Buffered, req, resp, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled before the call: err = %v", err)
	}
	if got := up.accepted.Load(); got != 1 {
		t.Errorf("connections = %d, want 1", got)
	}
}

// TestBufferedCallTimeout: the header timeout ends a buffered call as
// ErrHeaderTimeout, which the loop fails over on.
func TestBufferedCallTimeout(t *testing.T) {
	up := newRawUpstream(t, "")
	u := New(Config{MaxResponseBytes: 1 << 20})
	cp, _ := u.For("")
	req, resp := newTestExchange("http://" + up.ln.Addr().String())
	if err := u.Do(context.Background(), cp.Buffered, req, resp, 50*time.Millisecond); !errors.Is(err, ErrHeaderTimeout) {
		t.Errorf("err = %v, want ErrHeaderTimeout", err)
	}
	select {
	case <-up.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("timed-out connection left open")
	}
}

// TestUnregisteredCallUsesDefaultTransport: a buffered client used
// directly (token refresh) keeps fasthttp's own timeout handling.
func TestUnregisteredCallUsesDefaultTransport(t *testing.T) {
	up := newRawUpstream(t, "")
	u := New(Config{MaxResponseBytes: 1 << 20})
	cp, _ := u.For("")
	req, resp := newTestExchange("http://" + up.ln.Addr().String())
	defer Release(req, resp)
	if err := cp.Buffered.DoTimeout(req, resp, 50*time.Millisecond); !errors.Is(err, fasthttp.ErrTimeout) {
		t.Errorf("err = %v, want fasthttp.ErrTimeout", err)
	}
}

// TestHostClients: the buffered client's pools are found per scheme and
// host without fasthttp.Client's lock, one pool per host, and a request
// fasthttp could not send is refused with the reason.
func TestHostClients(t *testing.T) {
	u := New(Config{MaxResponseBytes: 1 << 20})
	cp, err := u.For("")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := u.For(""); again != cp {
		t.Error("a second lookup made a new client pair")
	}
	get := func(url string) (*fasthttp.HostClient, error) {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI(url)
		return u.hostClient(cp.Buffered, req)
	}
	a, _ := get("http://up.example:8080/v1/messages")
	b, _ := get("http://up.example:8080/v1/models")
	s, _ := get("https://up.example:8080/v1/messages")
	switch {
	case a == nil || a != b:
		t.Errorf("same host, two pools: %p %p", a, b)
	case s == a:
		t.Error("http and https share a pool")
	case a.Addr != "up.example:8080" || a.IsTLS || !s.IsTLS:
		t.Errorf("pools: %s tls=%v, %s tls=%v", a.Addr, a.IsTLS, s.Addr, s.IsTLS)
	case a.Transport != u.tr || a.MaxResponseBodySize != 1<<20:
		t.Error("a pool lacks the buffered client's settings")
	}
	if _, err := get("ftp://up.example/x"); err == nil || !strings.Contains(err.Error(), "unsupported protocol") {
		t.Errorf("ftp: err = %v", err)
	}
}
