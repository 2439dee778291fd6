package edge

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// fasthttp moves a keep-alive connection's read deadline twice per
// request: to the idle timeout before it waits for the next request, and
// to the read timeout once its first byte arrives. Each move reads the
// clock three times and re-arms a runtime timer, and under load almost
// none of them matters: the next request is already in the buffer. So
// the server's plain TCP connections keep the read deadline fasthttp asks
// for in the connection and apply it to the socket only when a read is
// about to happen and the deadline in force differs from it by more than
// a slack. A timeout therefore fires at most slack early or late.
//
// Only fasthttp's connection goroutine sets read deadlines and reads, so
// the fields need no lock; write deadlines (stream writes) pass through.

// LazyListener turns TCP keepalive on for every connection ln accepts
// (see keepAlive) and wraps the plain TCP ones in lazyConns whose read
// deadline may be off by slack (LazySlack).
func LazyListener(ln net.Listener, slack time.Duration) net.Listener {
	return lazyListener{ln, slack}
}

type lazyListener struct {
	net.Listener
	slack time.Duration
}

func (l lazyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	keepAlive(c)
	if tc, ok := c.(*net.TCPConn); ok {
		return &lazyConn{TCPConn: tc, slack: l.slack}, nil
	}
	return c, nil
}

// tcpKeepAlive probes an idle client connection after 15s, then every
// 15s, and gives up after 9 unanswered probes (Go's own defaults).
var tcpKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 9}

// keepAlive turns TCP keepalive on for an accepted connection (the TCP
// one under TLS too), whatever the listener was configured with. Some
// streams legitimately carry no byte for minutes: a Gemini stream waiting
// in the queue or on a silent upstream, whose protocol has no keepalive
// its clients accept. TCP keepalives keep NAT and firewall state for the
// connection meanwhile. A failure only costs that protection.
func keepAlive(c net.Conn) {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetKeepAliveConfig(tcpKeepAlive)
	}
}

// LazySlack is how far a server connection's read deadline may be off:
// a sixteenth of the shorter timeout, and at most a second.
func LazySlack(timeouts ...time.Duration) time.Duration {
	s := time.Second
	for _, d := range timeouts {
		if d > 0 {
			s = min(s, d/16)
		}
	}
	return s
}

type lazyConn struct {
	*net.TCPConn
	slack   time.Duration
	want    time.Time // the read deadline asked for
	applied time.Time // the read deadline in force on the socket
	pending bool      // want differs from applied
}

// SetReadDeadline records t; the next read applies it if it must.
func (c *lazyConn) SetReadDeadline(t time.Time) error {
	c.want, c.pending = t, true
	return nil
}

// SetDeadline applies both deadlines at once.
func (c *lazyConn) SetDeadline(t time.Time) error {
	c.want, c.applied, c.pending = t, t, false
	return c.TCPConn.SetDeadline(t)
}

func (c *lazyConn) Read(p []byte) (int, error) {
	if c.pending {
		if err := c.applyRead(); err != nil {
			return 0, err
		}
	}
	return c.TCPConn.Read(p)
}

// WriteTo keeps io.Copy from the connection under the read deadline.
func (c *lazyConn) WriteTo(w io.Writer) (int64, error) {
	if c.pending {
		if err := c.applyRead(); err != nil {
			return 0, err
		}
	}
	return c.TCPConn.WriteTo(w)
}

// applyRead puts want in force unless the deadline in force is within
// slack of it. No deadline and some deadline are never close.
func (c *lazyConn) applyRead() error {
	c.pending = false
	w, a := c.want, c.applied
	if w.IsZero() == a.IsZero() {
		if d := w.Sub(a); w.IsZero() || (d < c.slack && d > -c.slack) {
			return nil
		}
	}
	c.applied = w
	return c.TCPConn.SetReadDeadline(w)
}

// Conns is the server's open client connections, kept so that a
// shutdown whose grace period ran out can close them. fasthttp's
// ShutdownWithContext returns at its deadline leaving busy connections
// open, and a second call returns at once (the first one already took
// its listeners away), so without this every keep-alive connection would
// go on being served after Shutdown returned, against a closed scheduler,
// ledger and store.
type Conns struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

// NewConns returns an empty set.
func NewConns() *Conns { return &Conns{m: make(map[net.Conn]struct{})} }

// Track is the fasthttp.Server ConnState hook. fasthttp calls it twice
// per request as well (active, idle); those states cost a switch only.
func (cs *Conns) Track(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateNew:
		cs.mu.Lock()
		cs.m[c] = struct{}{}
		cs.mu.Unlock()
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		cs.mu.Lock()
		delete(cs.m, c)
		cs.mu.Unlock()
	}
}

// CloseAll closes every tracked connection; their fasthttp goroutines
// then end on the failed read or write.
func (cs *Conns) CloseAll() {
	cs.mu.Lock()
	conns := make([]net.Conn, 0, len(cs.m))
	for c := range cs.m {
		conns = append(conns, c)
	}
	cs.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}
