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

// commitStream hands an upstream stream and the lease it holds to a
// stream writer: the request commits to a 200 SSE reply now, and the
// writer relays x and settles the attempt. This is the one hand-over of a
// lease; the writer owns it, the exchange and the run from here on.
func (r *run) commitStream(lease *sched.Lease, x exchange) {
	r.commit(x.resp.Header.ContentType())
	r.ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer r.finish()
		defer r.s.recoverStream("relay")
		r.w = w
		res := result{o: canceled} // what a panic leaves
		defer r.settle(lease, &res)
		res = r.relayStream(w, x)
	})
}

// relayStream relays a successful upstream stream to the committed client
// stream w and ends the attempt with the stream's outcome.
func (r *run) relayStream(w *bufio.Writer, x exchange) result {
	windows := protocol.Windows(r.upcall(), &x.resp.Header)
	var sink protocol.EventSink
	if r.tx != nil {
		r.tx.stream = r.tx.t.Stream()
		sink = r.tx.stream
	}
	rr := r.s.relay(w, x.resp, r, sink)
	upstream.Release(x.req, x.resp) // before settling: the upstream connection goes back at once
	o := sched.Outcome{Kind: sched.Success, Status: 200, Windows: windows}
	status, errMsg := 200, ""
	switch {
	case rr.clientGone:
		o = canceled
		status, errMsg = 499, "client went away mid-stream"
	case rr.failure != "":
		o = sched.Outcome{Kind: sched.ServerError, Status: 200, Reason: rr.failure}
		if rr.st.Err == "overloaded_error" {
			o.Kind = sched.Overloaded
		}
		errMsg = rr.failure
	}
	if o.Kind == sched.Success && r.tx == nil {
		r.bindResponse(x.acct, rr.st.ResponseID)
	}
	return result{o: o, end: ending{status: status, usage: r.streamUsage(&rr), acct: x.acct.Name, err: errMsg, ttft: rr.ttft}, next: answered}
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

// chunkReader reads an upstream body on a goroutine of its own, one
// pooled buffer at a time: it sends a chunk and waits for ack before it
// reads into the buffer again, so memory per stream stays bounded.
type chunkReader struct {
	chunks chan chunk
	ack    chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

func readChunks(body io.Reader) chunkReader {
	cr := chunkReader{make(chan chunk), make(chan struct{}), make(chan struct{}), make(chan struct{})}
	go cr.run(body)
	return cr
}

func (cr chunkReader) run(body io.Reader) {
	defer close(cr.done)
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	for {
		n, err := body.Read(*bp)
		select {
		case cr.chunks <- chunk{(*bp)[:n], err}:
		case <-cr.stop:
			return
		}
		if err != nil {
			return
		}
		select {
		case <-cr.ack:
		case <-cr.stop:
			return
		}
	}
}

// close stops the reader and waits for it. Closing an unfinished body
// stream closes the upstream connection, which is what cancels the
// upstream generation (and unblocks a read in progress).
func (cr chunkReader) close(resp *fasthttp.Response) {
	close(cr.stop)
	_ = resp.CloseBodyStream()
	<-cr.done
}

// relay copies the upstream SSE body to w as it arrives, event lines
// rewritten by the protocol, flushing after every read; with a sink
// (a translation, a collector), the upstream protocol still reads every
// event and the sink writes what the client gets. A reader goroutine
// feeds it one buffer at a time (chunkReader) so the writer can also send
// keepalives (when the client's protocol has one) and notice idle
// upstreams and departed clients.
func (s *Server) relay(w *bufio.Writer, resp *fasthttp.Response, r *run, sink protocol.EventSink) relayResult {
	cr := readChunks(resp.BodyStream())
	defer cr.close(resp)
	rl := relaying{s: s, r: r, w: w, keepalive: r.keepalive()} // nil keepalive: silence stays silent
	if sink != nil {
		rl.sc = protocol.NewTranslatingScanner(r.upcall(), &rl.res.st, sink)
	} else {
		rl.sc = protocol.NewSSEScanner(r.call, &rl.res.st)
	}
	ticker := time.NewTicker(min(s.cfg.Keepalive, s.cfg.StreamIdleTimeout))
	defer ticker.Stop()
	rl.lastData, rl.lastWrite = time.Now(), time.Now()
	for {
		select {
		case ch := <-cr.chunks:
			if rl.chunk(ch) {
				return rl.res
			}
			cr.ack <- struct{}{}
		case now := <-ticker.C:
			if rl.tick(now) {
				return rl.res
			}
		case <-r.rctx.Done():
			if r.clientGone() {
				rl.res.clientGone = true
				return rl.res
			}
			rl.res.failure = "server shutting down"
			s.endStream(w, r, protocol.KindOverloaded, "server is shutting down", &rl.res)
			return rl.res
		}
	}
}

// relaying is one relay's state.
type relaying struct {
	s         *Server
	r         *run
	w         *bufio.Writer
	sc        *protocol.SSEScanner
	keepalive []byte
	res       relayResult
	// lastData is when the upstream last sent bytes, lastWrite when the
	// client was last sent some.
	lastData, lastWrite time.Time
}

// chunk relays one read of the upstream body; it reports whether the
// stream ended.
func (rl *relaying) chunk(ch chunk) bool {
	res, r := &rl.res, rl.r
	if len(ch.b) > 0 {
		if res.ttft == 0 {
			res.ttft = time.Since(r.start)
		}
		rl.lastData = time.Now()
		rl.sc.Feed(rl.w, ch.b)
		if err := r.flush(rl.w); err != nil {
			res.clientGone = true
			return true
		}
		rl.lastWrite = rl.lastData
	}
	if ch.err == nil {
		return false
	}
	if errors.Is(ch.err, io.EOF) && res.st.Done {
		rl.sc.Finish(rl.w)
		_ = rl.w.Flush()
		return true
	}
	res.failure = "upstream stream ended before its terminal event"
	if res.st.Err != "" {
		res.failure = "upstream error event: " + res.st.Err
	} else if !errors.Is(ch.err, io.EOF) {
		res.failure = "upstream stream broke: " + ch.err.Error()
	}
	rl.s.endStream(rl.w, r, protocol.KindAPI, "upstream stream interrupted", res)
	return true
}

// tick ends a stream whose upstream has been idle too long, and keeps an
// idle client stream alive between events; it reports whether the stream
// ended.
func (rl *relaying) tick(now time.Time) bool {
	cfg := &rl.s.cfg
	if now.Sub(rl.lastData) >= cfg.StreamIdleTimeout {
		rl.res.failure = "upstream stream idle timeout"
		rl.s.endStream(rl.w, rl.r, protocol.KindAPI, "upstream stream timed out", &rl.res)
		return true
	}
	if rl.keepalive != nil && now.Sub(rl.lastWrite) >= cfg.Keepalive && !rl.sc.MidEvent() {
		_, _ = rl.w.Write(rl.keepalive)
		if err := rl.r.flush(rl.w); err != nil {
			rl.res.clientGone = true
			return true
		}
		rl.lastWrite = now
	}
	return false
}

// endStream ends a client stream with the protocol's error event, unless
// the client already got the terminal event. A translated stream ends in
// its state machine's error event, which writes nothing once the client
// has its terminal event.
func (s *Server) endStream(w *bufio.Writer, r *run, kind protocol.ErrKind, msg string, res *relayResult) {
	if res.st.Done || res.st.Err != "" {
		return // the client already has the stream's last word
	}
	if r.tx != nil && r.tx.stream != nil {
		_, _ = w.Write(r.tx.stream.Fail(nil, streamStatus(kind), msg))
	} else {
		_, _ = w.Write(r.call.Proto.StreamError(kind, msg))
	}
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
