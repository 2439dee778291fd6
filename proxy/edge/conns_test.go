package edge

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func tcpPair(t *testing.T) (server *net.TCPConn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); c.Close() })
	return c.(*net.TCPConn), client
}

func TestLazyConnApplies(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		applied, want time.Time
		applies       bool
	}{
		{"first deadline", time.Time{}, base, true},
		{"later within slack", base, base.Add(900 * time.Millisecond), false},
		{"earlier within slack", base, base.Add(-900 * time.Millisecond), false},
		{"later beyond slack", base, base.Add(time.Minute), true},
		{"earlier beyond slack", base, base.Add(-time.Minute), true},
		{"cleared", base, time.Time{}, true},
		{"still none", time.Time{}, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := tcpPair(t)
			c := &lazyConn{TCPConn: srv, slack: time.Second, applied: tt.applied}
			c.SetReadDeadline(tt.want)
			if err := c.applyRead(); err != nil {
				t.Fatal(err)
			}
			want := tt.applied
			if tt.applies {
				want = tt.want
			}
			if got := c.applied; !got.Equal(want) {
				t.Errorf("deadline in force %v, want %v", got, want)
			}
		})
	}
}

// TestLazyConnTimesOut: a read deadline set lazily still cuts a read, and
// moving it far away lets the read wait again.
func TestLazyConnTimesOut(t *testing.T) {
	srv, client := tcpPair(t)
	c := &lazyConn{TCPConn: srv, slack: 10 * time.Millisecond}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read err = %v, want deadline exceeded", err)
	}
	c.SetReadDeadline(time.Now().Add(time.Hour))
	go client.Write([]byte("x"))
	if n, err := c.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read after a new deadline: %d, %v", n, err)
	}
}
