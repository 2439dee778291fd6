package proxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// errHeaderTimeout is returned when the upstream sent no response headers
// within the header timeout.
var errHeaderTimeout = errors.New("upstream header timeout")

// upstreams holds one pair of fasthttp clients (buffered and streaming) per
// egress proxy. The streaming client pools connections per host itself;
// buffered calls go straight to per-host HostClients (hostclients.go).
type upstreams struct {
	mu      sync.Mutex // serializes adding to clients and hosts
	clients atomic.Pointer[map[string]*clientPair]
	// hosts are the buffered clients' connection pools (hostclients.go).
	hosts atomic.Pointer[map[*fasthttp.Client]*hostClients]
	// maxResponse caps a buffered upstream body.
	maxResponse int
	// tr carries every buffered client's calls.
	tr *interruptible
}

type clientPair struct {
	buffered  *fasthttp.Client
	streaming *fasthttp.Client
}

func newUpstreams(maxResponse int) *upstreams {
	u := &upstreams{maxResponse: maxResponse, tr: newInterruptible()}
	u.clients.Store(&map[string]*clientPair{})
	u.hosts.Store(&map[*fasthttp.Client]*hostClients{})
	return u
}

// client returns the clients for an egress proxy ("" is direct).
func (u *upstreams) client(proxyURL string) (*clientPair, error) {
	if c := (*u.clients.Load())[proxyURL]; c != nil {
		return c, nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if c := (*u.clients.Load())[proxyURL]; c != nil {
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
	c := &clientPair{buffered: mk(false), streaming: mk(true)}
	c.buffered.Transport = u.tr
	next := maps.Clone(*u.clients.Load())
	next[proxyURL] = c
	u.clients.Store(&next)
	return c, nil
}

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
	_ = f.resp.CloseBodyStream()
	fasthttp.ReleaseRequest(f.req)
	fasthttp.ReleaseResponse(f.resp)
	f.recycle()
}

func (f *flight) recycle() {
	f.c, f.req, f.resp = nil, nil, nil
	f.state.Store(0)
	flights.Put(f)
}

// do sends req and waits for the response headers (stream) or the whole
// response (buffered), the context, or the header timeout. On success the
// caller owns req and resp; on failure do releases them.
//
// A buffered call runs on the caller's goroutine: the interruptible
// transport lets a canceled context cut it. A streaming call runs on a
// goroutine of its own, because its transport is fasthttp's.
func (u *upstreams) do(ctx context.Context, c *fasthttp.Client, req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) error {
	return u.doSent(ctx, c, req, resp, time.Time{}, timeout)
}

// doSent is do for a caller that read the clock just before (sent), which
// spares reading it again for a buffered call's deadline.
func (u *upstreams) doSent(ctx context.Context, c *fasthttp.Client, req *fasthttp.Request, resp *fasthttp.Response, sent time.Time, timeout time.Duration) error {
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
		cause = errHeaderTimeout
	}
	f.timer.Stop()
	if f.state.CompareAndSwap(0, 2) {
		return cause // the goroutine cleans up and recycles f
	}
	// The call finished just as we gave up: clean up here.
	<-f.done
	_ = resp.CloseBodyStream()
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)
	f.recycle()
	return cause
}

// doBuffered is do for the buffered clients.
func (u *upstreams) doBuffered(ctx context.Context, c *fasthttp.Client, req *fasthttp.Request, resp *fasthttp.Response, sent time.Time, timeout time.Duration) error {
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
	rc, own := ctx.(*runCtx) // a request's own context: no callback to register
	var uc *upCall
	if own {
		uc = &rc.uc // a run makes one call at a time
	} else {
		uc = new(upCall)
	}
	uc.reset(sent, timeout)
	u.tr.begin(req, uc)
	if own {
		rc.setCall(uc)
		err = hc.Do(req, resp)
		rc.setCall(nil)
	} else {
		stop := context.AfterFunc(ctx, uc.interrupt)
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
	case uc.wasInterrupted() && ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, fasthttp.ErrTimeout):
		return errHeaderTimeout
	}
	return fmt.Errorf("upstream: %w", err)
}
