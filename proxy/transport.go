package proxy

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// interruptible is the RoundTripper of the buffered upstream clients. It
// runs fasthttp's default steps for a buffered exchange on the caller's
// goroutine, and for calls registered by upstreams.do it publishes the
// connection while the reply is read, so that a client hang-up can cut the
// read from outside with a past deadline. The header timeout is a plain
// connection deadline. So a buffered call costs no goroutine, channel or
// timer of its own; calls nobody registered (token refreshes) go through
// fasthttp's default transport unchanged.
type interruptible struct {
	mu    sync.Mutex
	calls map[*fasthttp.Request]*upCall
}

// upCall is one registered buffered call.
type upCall struct {
	deadline time.Time

	mu          sync.Mutex
	conn        net.Conn // set while the reply is read
	interrupted bool
}

func newInterruptible() *interruptible {
	return &interruptible{calls: make(map[*fasthttp.Request]*upCall)}
}

// begin registers req's call, which ends at deadline.
func (t *interruptible) begin(req *fasthttp.Request, deadline time.Time) *upCall {
	uc := &upCall{deadline: deadline}
	t.mu.Lock()
	t.calls[req] = uc
	t.mu.Unlock()
	return uc
}

// end unregisters req's call.
func (t *interruptible) end(req *fasthttp.Request) {
	t.mu.Lock()
	delete(t.calls, req)
	t.mu.Unlock()
}

// interrupt makes the call fail at once: a read in progress returns a
// timeout, and a call not yet reading gives up before it starts.
func (uc *upCall) interrupt() {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	uc.interrupted = true
	if uc.conn != nil {
		_ = uc.conn.SetDeadline(aLongTimeAgo)
	}
}

// attach publishes conn for interrupt; false when the call was already
// interrupted.
func (uc *upCall) attach(conn net.Conn) bool {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	if uc.interrupted {
		return false
	}
	uc.conn = conn
	return true
}

// detach withdraws the connection; it reports whether an interrupt
// touched it, in which case it must not go back to the pool.
func (uc *upCall) detach() (interrupted bool) {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	uc.conn = nil
	return uc.interrupted
}

// wasInterrupted reports whether interrupt ran.
func (uc *upCall) wasInterrupted() bool {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	return uc.interrupted
}

var (
	aLongTimeAgo     = time.Unix(1, 0)
	errInterrupted   = errors.New("upstream call interrupted")
	defaultTransport = fasthttp.DefaultTransport
)

// RoundTrip implements fasthttp.RoundTripper. The retry results follow
// fasthttp's default transport: the HostClient retries only idempotent
// requests, so never a POST.
func (t *interruptible) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	t.mu.Lock()
	uc := t.calls[req]
	t.mu.Unlock()
	if uc == nil {
		return defaultTransport.RoundTrip(hc, req, resp)
	}
	cc, err := hc.AcquireConn(time.Until(uc.deadline), req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	resp.ParseNetConn(conn)
	// The deadline first: an interrupt after attach must not be undone.
	if err := conn.SetDeadline(uc.deadline); err != nil {
		hc.CloseConn(cc)
		return true, err
	}
	if !uc.attach(conn) {
		hc.ReleaseConn(cc) // nothing was written; users set their own deadlines
		return false, errInterrupted
	}
	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		uc.detach()
		hc.CloseConn(cc)
		return true, timeoutErr(err)
	}
	if hc.DisableHeaderNamesNormalizing {
		resp.Header.DisableNormalizing()
	}
	br := hc.AcquireReader(conn)
	err = resp.ReadLimitBody(br, hc.MaxResponseBodySize)
	hc.ReleaseReader(br)
	interrupted := uc.detach()
	if err != nil {
		hc.CloseConn(cc)
		return !errors.Is(err, fasthttp.ErrBodyTooLarge), timeoutErr(err)
	}
	if interrupted || req.ConnectionClose() || resp.ConnectionClose() {
		hc.CloseConn(cc) // a past deadline may be set on it
	} else {
		hc.ReleaseConn(cc)
	}
	return false, nil
}

// timeoutErr reports any timeout as fasthttp.ErrTimeout, as fasthttp's
// own transport does.
func timeoutErr(err error) error {
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return fasthttp.ErrTimeout
	}
	return err
}
