package proxy

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"subgate/proxy/upstream"
)

// runCtx is a request's context, embedded in its run: it is canceled
// when the client hangs up, when a write to the client fails, or when
// shutdown runs out of time. It costs no allocation unless something waits
// on Done, and it knows the buffered upstream call in flight, so a cancel
// cuts that call directly instead of through a registered callback
// (context.WithCancel and context.AfterFunc cost seven allocations and
// two locks per request between them).
type runCtx struct {
	canceled atomic.Bool

	mu     sync.Mutex
	done   chan struct{}  // made on the first Done
	afters []*afterEntry  // functions of derived contexts (token refresh)
	call   *upstream.Call // the buffered upstream call in flight
	uc     upstream.Call  // what call points to: a run's calls take turns
	// shared is set once Done or AfterFunc hands the context to someone
	// who may keep it past the request: its run is then never reused.
	shared bool
}

type afterEntry struct{ f func() }

var _ upstream.Interruptible = (*runCtx)(nil)

func (c *runCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *runCtx) Value(any) any               { return nil }

func (c *runCtx) Err() error {
	if c.canceled.Load() {
		return context.Canceled
	}
	return nil
}

func (c *runCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shared = true
	if c.done == nil {
		c.done = make(chan struct{})
		if c.canceled.Load() {
			close(c.done)
		}
	}
	return c.done
}

// cancel cancels the context once: Done closes, the upstream call in
// flight is interrupted and functions registered by AfterFunc start.
// Cancel implements edge.Canceler: the watcher cancels a request whose
// client hung up, and shutdown cancels them all.
func (c *runCtx) Cancel() { c.cancel() }

func (c *runCtx) cancel() {
	c.mu.Lock()
	if c.canceled.Load() {
		c.mu.Unlock()
		return
	}
	c.canceled.Store(true)
	if c.done != nil {
		close(c.done)
	}
	afters, call := c.afters, c.call
	c.afters = nil
	c.mu.Unlock()
	if call != nil {
		call.Interrupt()
	}
	for _, e := range afters {
		go e.f()
	}
}

// OwnCall implements upstream.Interruptible: the run's own call record.
func (c *runCtx) OwnCall() *upstream.Call { return &c.uc }

// SetCall implements upstream.Interruptible: it records the buffered
// upstream call in flight (nil when it ended). A call set on a canceled
// context is interrupted at once.
func (c *runCtx) SetCall(uc *upstream.Call) {
	c.mu.Lock()
	c.call = uc
	c.mu.Unlock()
	if uc != nil && c.canceled.Load() {
		uc.Interrupt()
	}
}

// AfterFunc lets context.AfterFunc and contexts derived from this one
// register with it instead of starting a goroutine to watch Done.
func (c *runCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	c.shared = true
	if c.canceled.Load() {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	e := &afterEntry{f: f}
	c.afters = append(c.afters, e)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if i := slices.Index(c.afters, e); i >= 0 {
			c.afters = slices.Delete(c.afters, i, i+1)
			return true
		}
		return false
	}
}

// private reports whether the context never left its run (see shared).
func (c *runCtx) private() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.shared
}
