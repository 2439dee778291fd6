package upstream

import (
	"crypto/tls"
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

func TestDeadlineConnExtend(t *testing.T) {
	srv, _ := tcpPair(t)
	c := &deadlineConn{Conn: srv}
	base := time.Now().Add(time.Hour)
	steps := []struct {
		name string
		do   func() error
		want time.Time // the deadline in force afterwards
	}{
		{"first", func() error { return c.extend(base, time.Second) }, base},
		{"later within slack", func() error { return c.extend(base.Add(500*time.Millisecond), time.Second) }, base},
		{"later beyond slack", func() error { return c.extend(base.Add(2*time.Second), time.Second) }, base.Add(2 * time.Second)},
		{"earlier", func() error { return c.extend(base, time.Second) }, base},
		{"interrupt", func() error { return c.SetDeadline(aLongTimeAgo) }, aLongTimeAgo},
		{"after interrupt", func() error { return c.extend(base, time.Second) }, base},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !c.set.Equal(st.want) {
			t.Errorf("%s: deadline %v, want %v", st.name, c.set, st.want)
		}
	}
	// After a read deadline alone the one in force is unknown: extend sets.
	c.SetReadDeadline(time.Time{})
	if err := c.extend(base, time.Hour); err != nil || !c.known {
		t.Errorf("extend after SetReadDeadline: err %v, known %v", err, c.known)
	}
}

// TestDeadlineConnInterrupt: a past deadline set from another goroutine
// cuts a read at once, through TLS too (setCallDeadline finds the
// deadlineConn under it).
func TestDeadlineConnInterrupt(t *testing.T) {
	srv, _ := tcpPair(t)
	c := &deadlineConn{Conn: srv}
	if err := setCallDeadline(c, time.Now().Add(time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.SetDeadline(aLongTimeAgo)
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read err = %v, want deadline exceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("interrupt did not cut the read")
	}
	srv2, _ := tcpPair(t)
	under := &deadlineConn{Conn: srv2}
	at := time.Now().Add(time.Hour)
	if err := setCallDeadline(tls.Client(under, &tls.Config{}), at, time.Hour); err != nil {
		t.Fatal(err)
	}
	if !under.set.Equal(at) {
		t.Errorf("through TLS: deadline %v, want %v", under.set, at)
	}
}
