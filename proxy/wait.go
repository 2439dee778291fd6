package proxy

import (
	"bufio"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/sched"
)

type acquired struct {
	lease *sched.Lease
	err   error
}

// acquire asks the scheduler for a slot. A streaming request that has to
// wait longer than one keepalive period commits to a 200 SSE reply and
// keeps the client alive with keepalive events while it waits: the handler
// then returns (handedOff) and the stream writer goroutine carries the
// request on, so no client gives up on a queued stream. A protocol without
// a keepalive waits silently instead, its reply uncommitted, for as long
// as the scheduler's wait timeouts allow; TCP keepalives hold the
// connection meanwhile.
func (r *run) acquire() (lease *sched.Lease, err error, handedOff bool) {
	if !r.call.Stream || r.keepalive() == nil {
		// The run's own lease storage: every attempt releases its lease
		// before the next one acquires (see next), and a stream writer
		// that takes the lease over never hands the run back. The
		// request is built here, not above: the goroutine below would
		// move it to the heap.
		lease, err = r.s.sched.AcquireInto(r.rctx, r.schedRequest(), &r.leasev)
		return lease, err, false
	}
	req := r.schedRequest()
	ch := make(chan acquired, 1)
	go func() {
		l, err := r.s.sched.Acquire(r.rctx, req)
		ch <- acquired{l, err}
	}()
	if r.w != nil {
		a := r.waitWithKeepalive(ch)
		return a.lease, a.err, false
	}
	timer := time.NewTimer(r.s.cfg.Keepalive)
	select {
	case a := <-ch:
		timer.Stop()
		return a.lease, a.err, false
	case <-timer.C:
	}
	r.commitStream(func() bool {
		a := r.waitWithKeepalive(ch)
		return r.use(a.lease, a.err)
	})
	return nil, nil, true
}

// commitStream answers 200 SSE now and runs the rest of the request in the
// stream writer: first resume, then further attempts until one answers.
func (r *run) commitStream(resume func() bool) {
	ctx := r.ctx
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	r.setOverhead()
	r.streaming = true
	r.conn = ctx.Conn()
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer r.finish()
		defer r.s.recoverStream("queued stream")
		r.w = w
		r.writeEvent(r.keepalive())
		if resume() {
			return
		}
		for !r.try() {
		}
	})
}

// keepalive is the request's protocol keepalive, nil when the protocol has
// none. It is the one place the gateway asks: acquire commits a queued
// stream early only with one, and relay fills upstream silence only with
// one.
func (r *run) keepalive() []byte { return r.call.Proto.Keepalive() }

// waitWithKeepalive waits for Acquire, writing a keepalive every period. A
// failed write means the client left: cancel, and Acquire returns at once.
func (r *run) waitWithKeepalive(ch <-chan acquired) acquired {
	t := time.NewTicker(r.s.cfg.Keepalive)
	defer t.Stop()
	for {
		select {
		case a := <-ch:
			return a
		case <-t.C:
			r.writeEvent(r.keepalive())
		}
	}
}

// writeEvent writes and flushes bytes to a committed client stream; a
// failed write cancels the request.
func (r *run) writeEvent(b []byte) {
	if _, err := r.w.Write(b); err == nil {
		if err = r.flush(r.w); err == nil {
			return
		}
	}
	r.rc.cancel()
}
