package upstreamtest

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

func TestCloseDuringStream(t *testing.T) {
	s := New(Config{})
	if _, err := s.Start(); err != nil {
		t.Fatal(err)
	}
	s.Script(testKey, Silence(time.Minute))
	type result struct {
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(s.URL() + "/v1/messages")
		req.Header.SetMethod("POST")
		req.Header.Set("x-api-key", testKey)
		req.SetBodyString(`{"model":"m","stream":true}`)
		c := &fasthttp.Client{StreamResponseBody: true}
		if err := c.Do(req, resp); err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.BodyStream())
		done <- result{b, err}
	}()
	for s.Count(testKey) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let message_start reach the client
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("close took %v", d)
	}
	select {
	case r := <-done:
		if bytes.Contains(r.body, []byte("message_stop")) {
			t.Errorf("stream completed despite close: %q", r.body)
		}
		if !bytes.Contains(r.body, []byte("message_start")) {
			t.Errorf("message_start missing: %q (err %v)", r.body, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client still reading after close")
	}
}

func TestSplitFrames(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"event: a\ndata: {}\n\n", 1},
		{"event: a\ndata: {}\n\nevent: b\ndata: {}\n\n", 2},
		{"event: a\r\ndata: {}\r\n\r\nevent: b\r\ndata: {}\r\n\r\n", 2},
		{"event: a\ndata: {}\n\nevent: b\ndata: {}", 2},
	}
	for _, tt := range tests {
		got := splitFrames([]byte(tt.in))
		if len(got) != tt.want {
			t.Errorf("splitFrames(%q) = %d frames, want %d", tt.in, len(got), tt.want)
		}
		if j := bytes.Join(got, nil); string(j) != tt.in {
			t.Errorf("splitFrames(%q) lost bytes: %q", tt.in, j)
		}
	}
}

// benchClient serves s on an in-memory listener for the benchmark.
func benchClient(b *testing.B, s *Server) *fasthttp.Client {
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: s.Handler}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = ln.Close(); _ = s.Close() })
	return &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
}

func benchMessages(b *testing.B, body string) {
	s := New(Config{NoRecord: true})
	c := benchClient(b, s)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://mock/v1/messages")
		req.Header.SetMethod("POST")
		req.Header.Set("x-api-key", testKey)
		req.SetBodyString(body)
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("status %d, err %v", resp.StatusCode(), err)
			}
		}
	})
}

func BenchmarkMessagesJSON(b *testing.B) { benchMessages(b, `{"model":"m","max_tokens":5}`) }

func BenchmarkMessagesStream(b *testing.B) {
	benchMessages(b, `{"model":"m","max_tokens":5,"stream":true}`)
}
