package proxy

import (
	"net"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
	"subgate/sched"
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

// TestWatchStaleListing: a listing the goroutine collected is not acted
// on once its watch was removed, even if the client is gone.
func TestWatchStaleListing(t *testing.T) {
	closed, open := hungUpConn(t)
	w := newWatcher(time.Hour)
	var wt watch
	first := &countCancel{}
	w.add(&wt, closed, first)
	batch := w.collect(nil)
	if free := w.remove(&wt); free {
		t.Fatal("remove called a collected watch free")
	}
	w.peekAll(batch)
	if first.n != 0 {
		t.Fatalf("stale listing acted on: %d cancels", first.n)
	}
	// A listed watch whose client hung up is canceled and unlisted; a live
	// client is left alone.
	var gone, alive watch
	second, third := &countCancel{}, &countCancel{}
	w.add(&gone, closed, second)
	w.add(&alive, open, third)
	waitUntil(t, "the hang-up seen", func() bool {
		w.peekAll(w.collect(nil))
		return second.n == 1
	})
	if gone.next != nil {
		t.Error("a canceled watch stays listed")
	}
	if third.n != 0 {
		t.Error("a live client's request was canceled")
	}
	w.remove(&alive)
}

// TestWatchFree: only a watch the goroutine never collected is free for
// reuse when it is removed.
func TestWatchFree(t *testing.T) {
	_, open := hungUpConn(t)
	w := newWatcher(time.Hour)
	var quick, slow watch
	w.add(&quick, open, &countCancel{})
	if !w.remove(&quick) {
		t.Error("a watch never collected is not free")
	}
	w.add(&slow, open, &countCancel{})
	w.collect(nil)
	if w.remove(&slow) {
		t.Error("a collected watch is free")
	}
}

// TestCollectedRunNotReused forces the interleaving that raced: the
// watcher collects a request's watch, the request finishes and would go
// back to the pool, and only then does the watcher peek at its batch.
// The run must not have been reset under the watcher (its watch keeps
// its connection), and the stale listing must not cancel anything.
func TestCollectedRunNotReused(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, func(c *Config, _ *sched.Config) {
		c.WatchInterval = time.Hour // the test drives the watcher itself
	})
	h.up.Script("k1", upstreamtest.Step{Delay: 300 * time.Millisecond})
	done := make(chan []byte, 1)
	go func() {
		_, b := h.postBG("/v1/messages", simpleBody)
		done <- b
	}()
	var batch []listing
	waitUntil(t, "the request listed", func() bool {
		batch = h.srv.watch.collect(batch[:0])
		return len(batch) == 1
	})
	wt := batch[0].wt
	if b := <-done; gjson.GetBytes(b, "type").String() != "message" {
		t.Fatalf("reply %s", b)
	}
	if wt.conn == nil || wt.ctx == nil {
		t.Fatal("the run was reset while the watcher held its watch")
	}
	h.srv.watch.peekAll(batch)
	// The next requests run normally, whatever run they get.
	for range 3 {
		if resp, b := h.post("/v1/messages", simpleBody); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
}

// TestRunCtxPrivate: a context whose Done channel or AfterFunc was handed
// out is no longer private to its run.
func TestRunCtxPrivate(t *testing.T) {
	var a, b, c runCtx
	_ = a.Err()
	a.SetCall(&a.uc)
	a.SetCall(nil)
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
