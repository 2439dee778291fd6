package edge

import (
	"net"
	"testing"
	"time"
)

type countCancel struct{ n int }

func (c *countCancel) Cancel() { c.n++ }

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

// TestWatchStaleListing: a listing the goroutine collected is not acted
// on once its watch was removed, even if the client is gone.
func TestWatchStaleListing(t *testing.T) {
	closed, open := hungUpConn(t)
	w := NewWatcher(time.Hour)
	var wt Watch
	first := &countCancel{}
	w.Add(&wt, closed, first)
	batch := w.Collect(nil)
	if free := w.Remove(&wt); free {
		t.Fatal("remove called a collected watch free")
	}
	w.PeekAll(batch)
	if first.n != 0 {
		t.Fatalf("stale listing acted on: %d cancels", first.n)
	}
	// A listed watch whose client hung up is canceled and unlisted; a live
	// client is left alone.
	var gone, alive Watch
	second, third := &countCancel{}, &countCancel{}
	w.Add(&gone, closed, second)
	w.Add(&alive, open, third)
	waitUntil(t, "the hang-up seen", func() bool {
		w.PeekAll(w.Collect(nil))
		return second.n == 1
	})
	if gone.next != nil {
		t.Error("a canceled watch stays listed")
	}
	if third.n != 0 {
		t.Error("a live client's request was canceled")
	}
	w.Remove(&alive)
}

// TestWatchFree: only a watch the goroutine never collected is free for
// reuse when it is removed.
func TestWatchFree(t *testing.T) {
	_, open := hungUpConn(t)
	w := NewWatcher(time.Hour)
	var quick, slow Watch
	w.Add(&quick, open, &countCancel{})
	if !w.Remove(&quick) {
		t.Error("a watch never collected is not free")
	}
	w.Add(&slow, open, &countCancel{})
	w.Collect(nil)
	if w.Remove(&slow) {
		t.Error("a collected watch is free")
	}
}

// waitUntil polls cond for up to five seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
