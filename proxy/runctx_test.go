package proxy

import (
	"context"
	"errors"
	"testing"
	"time"

	"subgate/proxy/upstream"
)

func TestRunCtx(t *testing.T) {
	var c runCtx
	if c.Err() != nil {
		t.Fatalf("fresh context: Err = %v", c.Err())
	}
	done := c.Done()
	ran := make(chan struct{})
	c.AfterFunc(func() { close(ran) })
	notRun := false
	stop := c.AfterFunc(func() { notRun = true })
	if !stop() {
		t.Error("stop before cancel = false, want true")
	}
	derived, cancelDerived := context.WithTimeout(&c, time.Hour)
	defer cancelDerived()
	uc := &upstream.Call{}
	c.SetCall(uc)

	c.cancel()
	c.cancel() // idempotent
	select {
	case <-done:
	default:
		t.Error("Done not closed by cancel")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Errorf("Err = %v, want Canceled", c.Err())
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc function did not run")
	}
	select {
	case <-derived.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("derived context not canceled")
	}
	if !uc.Interrupted() {
		t.Error("the upstream call in flight was not interrupted")
	}
	if notRun {
		t.Error("a stopped AfterFunc ran")
	}
	// After cancel: Done is closed at once, new functions run, new calls
	// are interrupted as they are set.
	var late runCtx
	late.cancel()
	select {
	case <-late.Done():
	default:
		t.Error("Done made after cancel is not closed")
	}
	lateRan := make(chan struct{})
	if late.AfterFunc(func() { close(lateRan) })() {
		t.Error("stop after the function started = true")
	}
	<-lateRan
	uc2 := &upstream.Call{}
	late.SetCall(uc2)
	if !uc2.Interrupted() {
		t.Error("a call set on a canceled context was not interrupted")
	}
	rc := new(runCtx) // lives in the run, which is allocated anyway
	if n := testing.AllocsPerRun(100, func() {
		rc.canceled.Store(false)
		rc.SetCall(uc)
		rc.SetCall(nil)
		_ = rc.Err()
		rc.cancel()
	}); n != 0 {
		t.Errorf("a request's context allocates %v times, want 0", n)
	}
}
