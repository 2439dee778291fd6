package proxy

import (
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/edge"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

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
	var batch []edge.Listing
	waitUntil(t, "the request listed", func() bool {
		batch = h.srv.watch.Collect(batch[:0])
		return len(batch) == 1
	})
	wt := batch[0].Watch
	if b := <-done; gjson.GetBytes(b, "type").String() != "message" {
		t.Fatalf("reply %s", b)
	}
	if !wt.Watching() {
		t.Fatal("the run was reset while the watcher held its watch")
	}
	h.srv.watch.PeekAll(batch)
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
