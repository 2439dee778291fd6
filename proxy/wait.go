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
// wait longer than one keepalive period reports wait instead: the loop
// then commits it to a 200 SSE reply and carries on in the stream writer
// (commitQueued), whose first attempt takes the scheduler's answer from
// r.waiting, writing keepalive events meanwhile, so no client gives up on
// a queued stream. A protocol without a keepalive waits silently instead,
// its reply uncommitted, for as long as the scheduler's wait timeouts
// allow; TCP keepalives hold the connection meanwhile.
func (r *run) acquire() (lease *sched.Lease, err error, wait bool) {
	if ch := r.waiting; ch != nil { // the stream writer's first attempt
		r.waiting = nil
		a := r.waitWithKeepalive(ch)
		return a.lease, a.err, false
	}
	if !r.call.Stream || r.keepalive() == nil {
		// The run's own lease storage: every attempt settles its lease
		// before the next one acquires, and a stream writer that takes
		// the lease over never hands the run back. The request is built
		// here, not above: the goroutine below would move it to the heap.
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
	r.waiting = ch
	return nil, nil, true
}

var sseContentType = []byte("text/event-stream")

// commitQueued answers 200 SSE now for a stream waiting for a slot, and
// runs the rest of the loop in the stream writer: a keepalive first, then
// attempts until one ends the request.
func (r *run) commitQueued() {
	r.commit(sseContentType)
	r.ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer r.finish()
		defer r.s.recoverStream("queued stream")
		r.w = w
		r.writeEvent(r.keepalive())
		r.serve()
	})
}

// commit answers 200 SSE: the status and headers go out with the first
// flush of the stream writer the caller sets next. The writer owns the
// run from then on: it finishes it, and the run is never reused.
func (r *run) commit(contentType []byte) {
	ctx := r.ctx
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.Response.Header.SetContentTypeBytes(contentType)
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	if r.call.RequestID != "" {
		ctx.Response.Header.Set("request-id", r.call.RequestID)
	}
	r.setOverhead()
	r.streaming = true
	r.conn = ctx.Conn()
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
