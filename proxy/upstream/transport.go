package upstream

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// interruptible is the RoundTripper of the buffered upstream clients. It
// runs fasthttp's default steps for a buffered exchange on the caller's
// goroutine, and for calls registered by Clients.Do it publishes the
// connection while the reply is read, so that a client hang-up can cut the
// read from outside with a past deadline. The header timeout is a plain
// connection deadline. So a buffered call costs no goroutine, channel or
// timer of its own; calls nobody registered (token refreshes) go through
// fasthttp's default transport unchanged.
type interruptible struct {
	// shards register the calls in flight by their request; one lock
	// for all of them was contended by every buffered request.
	shards [callShards]callShard
}

const callShards = 32

type callShard struct {
	mu    sync.Mutex
	calls map[*fasthttp.Request]*Call
	_     [40]byte // one shard per cache line
}

// Interruptible is what a buffered call needs from the request it serves
// to run on the request's goroutine and still be cut when the request is
// canceled: a call record to reuse and a place to register the call in
// flight. The gateway's request context implements it, which spares every
// buffered call a context.AfterFunc registration (a callback, a lock and
// allocations); Do falls back to that for any other context.
type Interruptible interface {
	context.Context
	// OwnCall is the request's own call record, reused by each of its
	// calls: a request makes one buffered call at a time.
	OwnCall() *Call
	// SetCall records the call in flight, nil when it ended. A request
	// canceled meanwhile interrupts it (Call.Interrupt); one set on a
	// request already canceled is interrupted at once.
	SetCall(*Call)
}

// Call is one registered buffered call. Its zero value is ready to use.
type Call struct {
	deadline time.Time
	timeout  time.Duration // for a dial: deadline less the send time

	mu          sync.Mutex
	conn        net.Conn // set while the reply is read
	interrupted bool
}

func newInterruptible() *interruptible {
	t := &interruptible{}
	for i := range t.shards {
		t.shards[i].calls = make(map[*fasthttp.Request]*Call)
	}
	return t
}

func (t *interruptible) shard(req *fasthttp.Request) *callShard {
	h := uint64(uintptr(unsafe.Pointer(req))) * 0x9e3779b97f4a7c15
	return &t.shards[h>>59] // the top 5 bits: callShards
}

// reset readies uc for a new call sent at sent that ends by sent+timeout.
func (uc *Call) reset(sent time.Time, timeout time.Duration) {
	uc.mu.Lock()
	uc.deadline, uc.timeout = sent.Add(timeout), timeout
	uc.conn, uc.interrupted = nil, false
	uc.mu.Unlock()
}

// begin registers uc as req's call.
func (t *interruptible) begin(req *fasthttp.Request, uc *Call) {
	sh := t.shard(req)
	sh.mu.Lock()
	sh.calls[req] = uc
	sh.mu.Unlock()
}

// end unregisters req's call.
func (t *interruptible) end(req *fasthttp.Request) {
	sh := t.shard(req)
	sh.mu.Lock()
	delete(sh.calls, req)
	sh.mu.Unlock()
}

// registered counts the calls in the registry.
func (t *interruptible) registered() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.calls)
		sh.mu.Unlock()
	}
	return n
}

func (t *interruptible) lookup(req *fasthttp.Request) *Call {
	sh := t.shard(req)
	sh.mu.Lock()
	uc := sh.calls[req]
	sh.mu.Unlock()
	return uc
}

// Interrupt makes the call fail at once: a read in progress returns a
// timeout, and a call not yet reading gives up before it starts.
func (uc *Call) Interrupt() {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	uc.interrupted = true
	if uc.conn != nil {
		_ = uc.conn.SetDeadline(aLongTimeAgo)
	}
}

// attach publishes conn for Interrupt; false when the call was already
// interrupted.
func (uc *Call) attach(conn net.Conn) bool {
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
func (uc *Call) detach() (interrupted bool) {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	uc.conn = nil
	return uc.interrupted
}

// Interrupted reports whether Interrupt ran.
func (uc *Call) Interrupted() bool {
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
	uc := t.lookup(req)
	if uc == nil {
		return defaultTransport.RoundTrip(hc, req, resp)
	}
	cc, err := hc.AcquireConn(uc.timeout, req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	resp.ParseNetConn(conn)
	// The deadline first: an interrupt after attach must not be undone.
	if err := setCallDeadline(conn, uc.deadline, uc.timeout); err != nil {
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
