package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// ErrHeaderTimeout is returned when the upstream sent no response headers
// within the header timeout.
var ErrHeaderTimeout = errors.New("upstream header timeout")

// Config configures Clients.
type Config struct {
	// MaxResponseBytes caps a buffered upstream body.
	MaxResponseBytes int
}

// Clients holds one pair of fasthttp clients (buffered and streaming) per
// egress proxy. The streaming client pools connections per host itself;
// buffered calls go straight to per-host HostClients (hostclients.go).
type Clients struct {
	mu    sync.Mutex // serializes adding to pairs and hosts
	pairs atomic.Pointer[map[string]*Pair]
	// hosts are the buffered clients' connection pools (hostclients.go).
	hosts atomic.Pointer[map[*fasthttp.Client]*hostClients]
	// maxResponse caps a buffered upstream body.
	maxResponse int
	// tr carries every buffered client's calls.
	tr *interruptible
}

// Pair is the clients for one egress proxy: Buffered for calls whose
// whole reply is read at once, Streaming for SSE.
type Pair struct {
	Buffered  *fasthttp.Client
	Streaming *fasthttp.Client
}

// New returns an empty set of clients; pairs are made on first use.
func New(cfg Config) *Clients {
	u := &Clients{maxResponse: cfg.MaxResponseBytes, tr: newInterruptible()}
	u.pairs.Store(&map[string]*Pair{})
	u.hosts.Store(&map[*fasthttp.Client]*hostClients{})
	return u
}

// For returns the clients for an egress proxy ("" is direct).
func (u *Clients) For(proxyURL string) (*Pair, error) {
	if c := (*u.pairs.Load())[proxyURL]; c != nil {
		return c, nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if c := (*u.pairs.Load())[proxyURL]; c != nil {
		return c, nil
	}
	dial, err := dialerFor(proxyURL)
	if err != nil {
		return nil, err
	}
	mk := func(stream bool) *fasthttp.Client {
		d := dial
		if !stream {
			d = deadlineDial(dial) // see setCallDeadline
		}
		return &fasthttp.Client{
			Name:                          "subgate",
			NoDefaultUserAgentHeader:      true,
			Dial:                          d,
			DialDualStack:                 false,
			MaxConnsPerHost:               4096,
			MaxIdleConnDuration:           90 * time.Second,
			MaxResponseBodySize:           u.maxResponse,
			StreamResponseBody:            stream,
			DisableHeaderNamesNormalizing: false,
			DisablePathNormalizing:        true,
			ReadBufferSize:                16 << 10,
			// TLS verification stays on: TLSConfig nil means the system roots.
		}
	}
	c := &Pair{Buffered: mk(false), Streaming: mk(true)}
	c.Buffered.Transport = u.tr
	next := maps.Clone(*u.pairs.Load())
	next[proxyURL] = c
	u.pairs.Store(&next)
	return c, nil
}

// Registered is how many buffered calls are registered with the
// interruptible transport right now: none once every call returned
// (tests check that nothing is left behind).
func (u *Clients) Registered() int { return u.tr.registered() }

// flight tracks one upstream call running on its own goroutine so the
// caller can stop waiting (client gone, header timeout) without waiting for
// fasthttp. Whoever loses the race owns the cleanup and puts the flight
// back in flights: its channel and timer are reused, not reallocated, on
// every request.
type flight struct {
	state atomic.Int32 // 0 running, 1 finished first, 2 abandoned first
	done  chan error
	timer *time.Timer
	c     *fasthttp.Client
	req   *fasthttp.Request
	resp  *fasthttp.Response
}

var flights = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &flight{done: make(chan error, 1), timer: t}
}}

// run is the flight's goroutine.
func (f *flight) run() {
	err := f.c.Do(f.req, f.resp)
	if f.state.CompareAndSwap(0, 1) {
		f.done <- err
		return
	}
	// The caller gave up: close a stream at once so the upstream stops
	// generating, then free the buffers.
	Release(f.req, f.resp)
	f.recycle()
}

func (f *flight) recycle() {
	f.c, f.req, f.resp = nil, nil, nil
	f.state.Store(0)
	flights.Put(f)
}

// Do sends req and waits for the response headers (stream) or the whole
// response (buffered), the context, or the header timeout. On success the
// caller owns req and resp (Release frees them); on failure Do releases
// them.
//
// A buffered call runs on the caller's goroutine: the interruptible
// transport lets a canceled context cut it (see Interruptible). A
// streaming call runs on a goroutine of its own, because its transport is
// fasthttp's.
func (u *Clients) Do(ctx context.Context, c *fasthttp.Client, req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) error {
	return u.DoSent(ctx, c, req, resp, time.Time{}, timeout)
}

// DoSent is Do for a caller that read the clock just before (sent), which
// spares reading it again for a buffered call's deadline.
func (u *Clients) DoSent(ctx context.Context, c *fasthttp.Client, req *fasthttp.Request, resp *fasthttp.Response, sent time.Time, timeout time.Duration) error {
	if c.Transport == u.tr {
		if sent.IsZero() {
			sent = time.Now()
		}
		return u.doBuffered(ctx, c, req, resp, sent, timeout)
	}
	f := flights.Get().(*flight)
	f.c, f.req, f.resp = c, req, resp
	go f.run()
	f.timer.Reset(timeout)
	var cause error
	select {
	case err := <-f.done:
		f.timer.Stop()
		f.recycle()
		if err != nil {
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
			return fmt.Errorf("upstream: %w", err)
		}
		return nil
	case <-ctx.Done():
		cause = ctx.Err()
	case <-f.timer.C:
		cause = ErrHeaderTimeout
	}
	f.timer.Stop()
	if f.state.CompareAndSwap(0, 2) {
		return cause // the goroutine cleans up and recycles f
	}
	// The call finished just as we gave up: clean up here.
	<-f.done
	Release(req, resp)
	f.recycle()
	return cause
}

// doBuffered is Do for the buffered clients.
func (u *Clients) doBuffered(ctx context.Context, c *fasthttp.Client, req *fasthttp.Request, resp *fasthttp.Response, sent time.Time, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		return err
	}
	hc, err := u.hostClient(c, req)
	if err != nil {
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		return fmt.Errorf("upstream: %w", err)
	}
	ic, own := ctx.(Interruptible) // a request that lends its call record: no callback to register
	var uc *Call
	if own {
		uc = ic.OwnCall()
	} else {
		uc = new(Call)
	}
	uc.reset(sent, timeout)
	u.tr.begin(req, uc)
	if own {
		ic.SetCall(uc)
		err = hc.Do(req, resp)
		ic.SetCall(nil)
	} else {
		stop := context.AfterFunc(ctx, uc.Interrupt)
		err = hc.Do(req, resp)
		stop()
	}
	u.tr.end(req)
	if err == nil {
		return nil
	}
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)
	switch {
	case uc.Interrupted() && ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, fasthttp.ErrTimeout):
		return ErrHeaderTimeout
	}
	return fmt.Errorf("upstream: %w", err)
}

// Release closes resp's body stream, if any (which closes an unfinished
// upstream stream's connection), and frees req and resp.
func Release(req *fasthttp.Request, resp *fasthttp.Response) {
	_ = resp.CloseBodyStream()
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)
}

// ReadLimited reads at most n bytes of a (possibly streamed) body.
func ReadLimited(resp *fasthttp.Response, n int64) []byte {
	if bs := resp.BodyStream(); bs != nil {
		b, _ := io.ReadAll(io.LimitReader(bs, n))
		return b
	}
	return resp.Body()
}

// IsEventStream reports whether resp is an SSE stream.
func IsEventStream(resp *fasthttp.Response) bool {
	ct := resp.Header.ContentType()
	return len(ct) >= 17 && string(ct[:17]) == "text/event-stream"
}
