//go:build unix

package edge

import (
	"context"
	"crypto/tls"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestAcceptedConnsKeepAlive: every client connection the server accepts
// has TCP keepalive on, plain or TLS, even from a listener configured
// without it: the only thing that keeps a Gemini stream's connection
// alive through NAT while it is queued or its upstream is silent.
func TestAcceptedConnsKeepAlive(t *testing.T) {
	tests := []struct {
		name string
		wrap func(net.Listener) net.Listener
	}{
		{"plain", func(ln net.Listener) net.Listener { return ln }},
		{"tls", func(ln net.Listener) net.Listener { return tls.NewListener(ln, &tls.Config{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lc := net.ListenConfig{KeepAlive: -1} // Go's default keepalive off
			ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			ll := lazyListener{tt.wrap(ln), time.Second}
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			c, err := ll.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var raw net.Conn = c
			if lc, ok := c.(*lazyConn); ok {
				raw = lc.TCPConn
			}
			if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
				raw = nc.NetConn()
			}
			tc, ok := raw.(*net.TCPConn)
			if !ok {
				t.Fatalf("accepted %T", raw)
			}
			if got, want := soKeepAlive(t, tc), true; got != want {
				t.Errorf("SO_KEEPALIVE = %v, want %v", got, want)
			}
		})
	}
}

func soKeepAlive(t *testing.T, c *net.TCPConn) bool {
	t.Helper()
	sc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := sc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v != 0
}
