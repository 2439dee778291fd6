package proxy

import (
	"bufio"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/proxy/protocol"
	"subgate/proxy/upstream"
	"subgate/sched"
)

// stream commits to a 200 SSE reply and hands the rest of the request to a
// stream writer, which owns the lease, the upstream exchange and the run
// from here on.
func (r *run) stream(lease *sched.Lease, acct *Account, req *fasthttp.Request, resp *fasthttp.Response) {
	windows := r.call.Proto.Windows(&resp.Header)
	if r.w != nil { // already committed to SSE: relay on this goroutine
		r.relayAndSettle(r.w, lease, acct, req, resp, windows)
		return
	}
	ctx := r.ctx
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.Response.Header.SetContentTypeBytes(resp.Header.ContentType())
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	if r.call.RequestID != "" {
		ctx.Response.Header.Set("request-id", r.call.RequestID)
	}
	r.setOverhead()
	r.streaming = true
	r.conn = ctx.Conn()
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer r.finish()
		defer r.s.recoverStream("relay")
		r.relayAndSettle(w, lease, acct, req, resp, windows)
	})
}

// relayAndSettle relays a successful upstream stream, then releases the
// lease with the stream's outcome and records the usage.
func (r *run) relayAndSettle(w *bufio.Writer, lease *sched.Lease, acct *Account, req *fasthttp.Request, resp *fasthttp.Response, windows []sched.Window) {
	defer lease.Release(sched.Outcome{Kind: sched.Canceled}) // only takes effect after a panic: Release is idempotent
	res := r.s.relay(w, resp, r)
	upstream.Release(req, resp)
	o := sched.Outcome{Kind: sched.Success, Status: 200, Windows: windows}
	status, errMsg := 200, ""
	switch {
	case res.clientGone:
		o = sched.Outcome{Kind: sched.Canceled}
		status, errMsg = 499, "client went away mid-stream"
	case res.failure != "":
		o = sched.Outcome{Kind: sched.ServerError, Status: 200, Reason: res.failure}
		if res.st.Err == "overloaded_error" {
			o.Kind = sched.Overloaded
		}
		errMsg = res.failure
	}
	r.record(status, r.streamUsage(&res), acct.Name, errMsg, res.ttft) // settle before the slot frees: see stillAdmitted
	lease.Release(o)
	if o.Kind == sched.Success {
		r.bindResponse(acct, res.st.ResponseID)
	}
}

type relayResult struct {
	st         protocol.StreamState
	ttft       time.Duration
	clientGone bool
	failure    string // why the stream did not end normally
}

type chunk struct {
	b   []byte
	err error
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// relay copies the upstream SSE body to w as it arrives, event lines
// rewritten by the protocol, flushing after every read. A reader goroutine
// feeds it one buffer at a time (memory per stream stays bounded) so the
// writer can also send keepalives (when the protocol has one) and notice
// idle upstreams and departed clients.
func (s *Server) relay(w *bufio.Writer, resp *fasthttp.Response, r *run) (res relayResult) {
	body := resp.BodyStream()
	chunks := make(chan chunk)
	ack := make(chan struct{})
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		bp := chunkPool.Get().(*[]byte)
		defer chunkPool.Put(bp)
		for {
			n, err := body.Read(*bp)
			select {
			case chunks <- chunk{(*bp)[:n], err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
			select {
			case <-ack:
			case <-stop:
				return
			}
		}
	}()
	defer func() {
		close(stop)
		// Closing an unfinished body stream closes the upstream connection,
		// which is what cancels the upstream generation.
		_ = resp.CloseBodyStream()
		<-readerDone
	}()

	sc := protocol.NewSSEScanner(r.call, &res.st)
	keepalive := r.keepalive() // nil: the protocol has none, silence stays silent
	tick := min(s.cfg.Keepalive, s.cfg.StreamIdleTimeout)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	lastData, lastWrite := time.Now(), time.Now()
	for {
		select {
		case ch := <-chunks:
			if len(ch.b) > 0 {
				if res.ttft == 0 {
					res.ttft = time.Since(r.start)
				}
				lastData = time.Now()
				sc.Feed(w, ch.b)
				if err := r.flush(w); err != nil {
					res.clientGone = true
					return res
				}
				lastWrite = lastData
			}
			if ch.err != nil {
				if errors.Is(ch.err, io.EOF) && res.st.Done {
					sc.Finish(w)
					_ = w.Flush()
					return res
				}
				res.failure = "upstream stream ended before its terminal event"
				if res.st.Err != "" {
					res.failure = "upstream error event: " + res.st.Err
				} else if !errors.Is(ch.err, io.EOF) {
					res.failure = "upstream stream broke: " + ch.err.Error()
				}
				s.endStream(w, r, protocol.KindAPI, "upstream stream interrupted", &res)
				return res
			}
			ack <- struct{}{}
		case now := <-ticker.C:
			if now.Sub(lastData) >= s.cfg.StreamIdleTimeout {
				res.failure = "upstream stream idle timeout"
				s.endStream(w, r, protocol.KindAPI, "upstream stream timed out", &res)
				return res
			}
			if keepalive != nil && now.Sub(lastWrite) >= s.cfg.Keepalive && !sc.MidEvent() {
				_, _ = w.Write(keepalive)
				if err := r.flush(w); err != nil {
					res.clientGone = true
					return res
				}
				lastWrite = now
			}
		case <-r.rctx.Done():
			if r.clientGone() {
				res.clientGone = true
				return res
			}
			res.failure = "server shutting down"
			s.endStream(w, r, protocol.KindOverloaded, "server is shutting down", &res)
			return res
		}
	}
}

// endStream ends a client stream with the protocol's error event, unless
// the client already got the terminal event.
func (s *Server) endStream(w *bufio.Writer, r *run, kind protocol.ErrKind, msg string, res *relayResult) {
	if res.st.Done || res.st.Err != "" {
		return // the client already has the stream's last word
	}
	_, _ = w.Write(r.call.Proto.StreamError(kind, msg))
	if err := r.flush(w); err != nil {
		res.clientGone = true
	}
}

// flush sends what w holds to the client. A client that accepts nothing
// for the write timeout is cut: the deadline on its connection fails
// fasthttp's write, which fails this flush.
func (r *run) flush(w *bufio.Writer) error {
	if r.conn != nil {
		_ = r.conn.SetWriteDeadline(time.Now().Add(r.s.cfg.WriteTimeout))
	}
	return w.Flush()
}
