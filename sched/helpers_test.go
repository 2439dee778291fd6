package sched

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"
)

// clock is a fake Config.Now that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// store is a fake StateStore with function fields; nil fields act as an
// empty, working store that applies every save to what it holds.
type store struct {
	mu     sync.Mutex
	health map[string]Health
	binds  map[BindingRef]Binding
	saves  chan Changes // receives every save when non-nil
	loadFn func() (Snapshot, error)
	saveFn func(Changes) error
}

func (f *store) SaveChanges(c Changes) error {
	if f.saveFn != nil {
		if err := f.saveFn(c); err != nil {
			return err
		}
	}
	f.mu.Lock()
	if f.health == nil {
		f.health, f.binds = map[string]Health{}, map[BindingRef]Binding{}
	}
	for name, h := range c.Health {
		f.health[name] = h
	}
	for _, name := range c.Forget {
		delete(f.health, name)
	}
	for _, b := range c.Bindings {
		f.binds[BindingRef{b.Group, b.Session}] = b
	}
	for _, r := range c.Unbound {
		delete(f.binds, r)
	}
	f.mu.Unlock()
	if f.saves != nil {
		f.saves <- c
	}
	return nil
}

func (f *store) LoadState() (Snapshot, error) {
	if f.loadFn != nil {
		return f.loadFn()
	}
	return f.snapshot(), nil
}

// snapshot returns what the store holds.
func (f *store) snapshot() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	snap := Snapshot{Health: maps.Clone(f.health)}
	for _, b := range f.binds {
		snap.Bindings = append(snap.Bindings, b)
	}
	return snap
}

// acct returns an anthropic account in group "g" with concurrency 1.
func acct(name string) Account {
	return Account{Name: name, Platform: "anthropic", Group: "g", Concurrency: 1}
}

// req returns a request the accounts of acct can serve.
func req() Request {
	return Request{Group: "g", Platform: "anthropic", Model: "claude-sonnet-4-5"}
}

// mustNew builds a scheduler on a fake clock and checks its bookkeeping
// when the test ends.
func mustNew(t testing.TB, cfg Config) (*Scheduler, *clock) {
	t.Helper()
	c := newClock()
	if cfg.Now == nil {
		cfg.Now = c.Now
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.check(); err != nil {
			t.Errorf("consistency: %v", err)
		}
	})
	return s, c
}

// mustAcquire acquires with a background context or fails the test.
func mustAcquire(t testing.TB, s *Scheduler, r Request) *Lease {
	t.Helper()
	l, err := s.Acquire(context.Background(), r)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return l
}

// result is what an Acquire run in a goroutine returned.
type result struct {
	l   *Lease
	err error
}

// goAcquire runs Acquire in a goroutine and returns where its result lands.
func goAcquire(ctx context.Context, s *Scheduler, r Request) <-chan result {
	ch := make(chan result, 1)
	go func() {
		l, err := s.Acquire(ctx, r)
		ch <- result{l, err}
	}()
	return ch
}

// waitFor polls cond until it holds; it fails the test after 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waiting waits until the scheduler has n queued requests.
func waiting(t testing.TB, s *Scheduler, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d waiters", n), func() bool { _, w := s.Stats(); return w == n })
}

// recv returns the result from ch, failing after 10s.
func recv(t testing.TB, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire did not return")
		return result{}
	}
}

// status returns the status of the account called name.
func status(t testing.TB, s *Scheduler, name string) AccountStatus {
	t.Helper()
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no account %q in Status", name)
	return AccountStatus{}
}

// check verifies the scheduler's bookkeeping: counters match the queues
// and slots, and queues only exist on full accounts and keys.
func (s *Scheduler) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	inFlight, waiting := 0, 0
	checkQueue := func(what string, q *queue) {
		n := 0
		var prev *waiter
		for w := q.head; w != nil; prev, w = w, w.next {
			n++
			if w.q != q || w.prev != prev || w.state != stateQueued {
				errs = append(errs, fmt.Errorf("%s: waiter %d badly linked or settled", what, n))
			}
		}
		if n != q.n || q.tail != prev {
			errs = append(errs, fmt.Errorf("%s: queue holds %d, counts %d", what, n, q.n))
		}
		waiting += n
	}
	for name, a := range s.byName {
		inFlight += a.inFlight
		checkQueue("account "+name, &a.queue)
		if a.inFlight < 0 {
			errs = append(errs, fmt.Errorf("account %s: in flight %d", name, a.inFlight))
		}
		if a.queue.n > 0 && (a.removed || a.inFlight < a.limit || !a.available(s.now())) {
			errs = append(errs, fmt.Errorf("account %s: %d waiters with %d/%d in flight, state %s",
				name, a.queue.n, a.inFlight, a.limit, a.health.State))
		}
		for w := a.queue.head; w != nil; w = w.next {
			if _, how := a.serves(&w.req, s.now()); how == Unreachable && !a.removed {
				errs = append(errs, fmt.Errorf("account %s: a waiter for %s it cannot serve", name, w.req.Model))
			}
		}
	}
	for name, k := range s.keys {
		checkQueue("key "+name, &k.queue)
		if k.inFlight < 0 || (k.queue.n > 0 && k.inFlight < k.limit) {
			errs = append(errs, fmt.Errorf("key %s: %d waiters with %d/%d in flight", name, k.queue.n, k.inFlight, k.limit))
		}
	}
	linked := 0
	for key, l := range s.byKey {
		n := 0
		var prev *binding
		for b := l.head; b != nil; prev, b = b, b.next {
			n++
			if b.key != key || b.prev != prev || s.bindings[b.bindKey] != b {
				errs = append(errs, fmt.Errorf("key %q: binding %d badly linked", key, n))
			}
		}
		if n != l.n || l.tail != prev || n == 0 || n > s.cfg.MaxSessionsPerKey {
			errs = append(errs, fmt.Errorf("key %q: list holds %d, counts %d, cap %d", key, n, l.n, s.cfg.MaxSessionsPerKey))
		}
		linked += n
	}
	if linked != len(s.bindings) {
		errs = append(errs, fmt.Errorf("%d bindings, %d in key lists", len(s.bindings), linked))
	}
	if inFlight != s.inFlight || waiting != s.waiting {
		errs = append(errs, fmt.Errorf("totals %d/%d, counted %d/%d", s.inFlight, s.waiting, inFlight, waiting))
	}
	return errors.Join(errs...)
}
