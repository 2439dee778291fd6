package proxy

import (
	"net"
	"testing"
	"time"
)

type countCancel struct{ n int }

func (c *countCancel) cancel() { c.n++ }

// hungUpConn returns the server side of a loopback connection whose client
// has closed, and one whose client is still there.
func hungUpConn(t *testing.T) (closed, open net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accept := func() net.Conn {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	gone, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	closed = accept()
	gone.Close()
	alive, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alive.Close() })
	return closed, accept()
}

// TestWatchReuse: a watch the goroutine collected, then removed and added
// again for another request (a reused run), is not acted on for the old
// listing; the new listing is.
func TestWatchReuse(t *testing.T) {
	closed, open := hungUpConn(t)
	w := newWatcher(time.Hour)
	var wt watch
	first := &countCancel{}
	w.add(&wt, closed, first)
	stale := wt.gen.Load() // what the goroutine collected
	w.remove(&wt)
	second := &countCancel{}
	w.add(&wt, closed, second)
	w.peek(&wt, stale)
	if first.n != 0 || second.n != 0 {
		t.Fatalf("stale listing acted on: cancels %d, %d", first.n, second.n)
	}
	waitUntil(t, "the hang-up seen", func() bool {
		w.peek(&wt, wt.gen.Load())
		return second.n == 1
	})
	if wt.next != nil {
		t.Error("a canceled watch stays listed")
	}
	// A live client is left alone.
	third := &countCancel{}
	w.add(&wt, open, third)
	w.peek(&wt, wt.gen.Load())
	if third.n != 0 {
		t.Error("a live client's request was canceled")
	}
	w.remove(&wt)
}

// TestWatchRemoveWaitsForPeek: remove returns only once a peek in
// progress is over, so a finished run can be reused safely.
func TestWatchRemoveWaitsForPeek(t *testing.T) {
	_, open := hungUpConn(t)
	w := newWatcher(time.Hour)
	var wt watch
	w.add(&wt, open, &countCancel{})
	wt.mu.Lock() // the goroutine is peeking
	removed := make(chan struct{})
	go func() { w.remove(&wt); close(removed) }()
	select {
	case <-removed:
		t.Fatal("remove returned during a peek")
	case <-time.After(50 * time.Millisecond):
	}
	wt.mu.Unlock()
	<-removed
}

// TestRunCtxPrivate: a context whose Done channel or AfterFunc was handed
// out is no longer private to its run.
func TestRunCtxPrivate(t *testing.T) {
	var a, b, c runCtx
	_ = a.Err()
	a.setCall(&a.uc)
	a.setCall(nil)
	a.cancel()
	_ = b.Done()
	c.AfterFunc(func() {})()
	for _, tt := range []struct {
		name string
		rc   *runCtx
		want bool
	}{{"Err, setCall, cancel", &a, true}, {"Done", &b, false}, {"AfterFunc", &c, false}} {
		if got := tt.rc.private(); got != tt.want {
			t.Errorf("%s: private = %v, want %v", tt.name, got, tt.want)
		}
	}
}
