package upstream

import (
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// The buffered upstream calls put a header deadline on their pooled
// connection every call, minutes ahead and nearly the same as the last
// one. deadlineConn, around every connection the buffered clients dial,
// remembers the deadline in force so that a call may skip moving it
// later by less than a slack (a 64th of the call's timeout): the call's
// deadline is then at most that much early. Any other deadline (an
// interrupt's past one, a clear) is applied at once, whatever goroutine
// sets it.
type deadlineConn struct {
	net.Conn
	mu    sync.Mutex
	set   time.Time // the deadline in force for reads and writes
	known bool      // set is known: only SetDeadline and extend keep it
}

// deadlineDial wraps the connections dial makes.
func deadlineDial(dial fasthttp.DialFunc) fasthttp.DialFunc {
	return func(addr string) (net.Conn, error) {
		c, err := dial(addr)
		if err != nil {
			return nil, err
		}
		return &deadlineConn{Conn: c}, nil
	}
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set, c.known = t, true
	return c.Conn.SetDeadline(t)
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.known = false
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.known = false
	return c.Conn.SetWriteDeadline(t)
}

// extend sets the deadline t unless the one in force is at most slack
// earlier.
func (c *deadlineConn) extend(t time.Time, slack time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known && !c.set.IsZero() && !t.Before(c.set) && t.Sub(c.set) < slack {
		return nil
	}
	c.set, c.known = t, true
	return c.Conn.SetDeadline(t)
}

// setCallDeadline puts a buffered call's deadline t on conn (a
// deadlineConn, or TLS over one), allowing it to fire up to timeout/64
// early.
func setCallDeadline(conn net.Conn, t time.Time, timeout time.Duration) error {
	raw := conn
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		raw = tc.NetConn()
	}
	if dc, ok := raw.(*deadlineConn); ok {
		return dc.extend(t, timeout/64)
	}
	return conn.SetDeadline(t)
}
