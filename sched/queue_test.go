package sched

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestFIFOHandOff(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}})
	held := mustAcquire(t, s, req())
	const n = 5
	var chs []<-chan result
	for i := range n {
		chs = append(chs, goAcquire(t.Context(), s, req()))
		waiting(t, s, i+1) // enqueued in this order
	}
	for i, ch := range chs {
		held.Release(Outcome{})
		// The slot went straight to the head waiter: a newcomer finds the
		// account full and cannot overtake it.
		if in, _ := s.Stats(); in != 1 {
			t.Fatalf("in flight after hand-off = %d, want 1", in)
		}
		got := recv(t, ch)
		if got.err != nil {
			t.Fatalf("waiter %d: %v", i, got.err)
		}
		for j := i + 1; j < n; j++ {
			select {
			case r := <-chs[j]:
				t.Fatalf("waiter %d served before waiter %d (%v)", j, i, r.err)
			default:
			}
		}
		if got.l.Waited() <= 0 {
			t.Fatalf("waiter %d: Waited = %v, want > 0", i, got.l.Waited())
		}
		held = got.l
	}
	held.Release(Outcome{})
	held.Release(Outcome{Kind: AuthFailed}) // second release is a no-op
	if got := status(t, s, "a"); got.State != StateOK || got.InFlight != 0 {
		t.Fatalf("after double release: %s with %d in flight", got.State, got.InFlight)
	}
}

func TestWaitTimeout(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}, FallbackWaitTimeout: 50 * time.Millisecond})
	held := mustAcquire(t, s, req())
	defer held.Release(Outcome{})
	if _, err := s.Acquire(t.Context(), req()); !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("Acquire = %v, want ErrWaitTimeout", err)
	}
	if in, w := s.Stats(); in != 1 || w != 0 {
		t.Fatalf("Stats = %d, %d, want 1, 0", in, w)
	}
}

func TestQueueFull(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}, FallbackMaxWaiting: 1})
	held := mustAcquire(t, s, req())
	ch := goAcquire(t.Context(), s, req())
	waiting(t, s, 1)
	if _, err := s.Acquire(t.Context(), req()); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Acquire = %v, want ErrQueueFull", err)
	}
	held.Release(Outcome{})
	recv(t, ch).l.Release(Outcome{})
}

func TestCancelLeavesQueue(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}})
	held := mustAcquire(t, s, req())
	ctx, cancel := context.WithCancel(t.Context())
	first := goAcquire(ctx, s, req())
	waiting(t, s, 1)
	second := goAcquire(t.Context(), s, req())
	waiting(t, s, 2)
	cancel()
	if got := recv(t, first); !errors.Is(got.err, context.Canceled) {
		t.Fatalf("canceled waiter got %v, want context.Canceled", got.err)
	}
	waiting(t, s, 1)
	held.Release(Outcome{})
	got := recv(t, second)
	if got.err != nil {
		t.Fatalf("second waiter: %v", got.err)
	}
	got.l.Release(Outcome{})
	if _, err := s.Acquire(ctx, req()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire on a done context = %v, want context.Canceled", err)
	}
}

// A waiter granted a slot at the moment its context ends gives the slot
// to the next waiter.
func TestGrantedWhileCanceled(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}})
	held := mustAcquire(t, s, req())
	ctx, cancel := context.WithCancel(t.Context())
	first := goAcquire(ctx, s, req())
	waiting(t, s, 1)
	second := goAcquire(t.Context(), s, req())
	waiting(t, s, 2)
	// Release and cancel under one hold of the mutex, so the first waiter
	// wakes to find both: granted and canceled.
	s.mu.Lock()
	held.released.Store(true)
	cancel()
	s.freeSlot(held.acct, s.now())
	s.mu.Unlock()
	if got := recv(t, first); !errors.Is(got.err, context.Canceled) {
		t.Fatalf("first waiter got %v, %v, want context.Canceled", got.l, got.err)
	}
	got := recv(t, second)
	if got.err != nil {
		t.Fatalf("second waiter: %v", got.err)
	}
	got.l.Release(Outcome{})
}

func TestClose(t *testing.T) {
	a := acct("a")
	a.Concurrency = 2
	s, _ := mustNew(t, Config{Accounts: []Account{a}})
	keyed := req()
	keyed.Key, keyed.KeyConcurrency = "k", 1
	held := mustAcquire(t, s, req())
	keyHeld := mustAcquire(t, s, keyed)
	onAccount := goAcquire(t.Context(), s, req())
	waiting(t, s, 1)
	onKey := goAcquire(t.Context(), s, keyed)
	waiting(t, s, 2)
	s.Close()
	for name, ch := range map[string]<-chan result{"account": onAccount, "key": onKey} {
		if got := recv(t, ch); !errors.Is(got.err, ErrClosed) {
			t.Fatalf("%s waiter got %v, want ErrClosed", name, got.err)
		}
	}
	if _, err := s.Acquire(t.Context(), req()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Acquire after Close = %v, want ErrClosed", err)
	}
	s.Close()
	held.Release(Outcome{})
	keyHeld.Release(Outcome{})
	if in, w := s.Stats(); in != 0 || w != 0 {
		t.Fatalf("Stats = %d, %d, want 0, 0", in, w)
	}
}

func TestKeyConcurrency(t *testing.T) {
	a := acct("a")
	a.Concurrency = 10
	s, _ := mustNew(t, Config{Accounts: []Account{a}, FallbackMaxWaiting: 1, FallbackWaitTimeout: 50 * time.Millisecond})
	keyed := func(key string) Request {
		r := req()
		r.Key, r.KeyConcurrency = key, 1
		return r
	}
	held := mustAcquire(t, s, keyed("k"))
	other := mustAcquire(t, s, keyed("other")) // keys are counted apart
	other.Release(Outcome{})

	ch := goAcquire(t.Context(), s, keyed("k"))
	waiting(t, s, 1)
	if _, err := s.Acquire(t.Context(), keyed("k")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("second key waiter = %v, want ErrQueueFull", err)
	}
	held.Release(Outcome{})
	got := recv(t, ch)
	if got.err != nil {
		t.Fatalf("key waiter: %v", got.err)
	}
	if _, err := s.Acquire(t.Context(), keyed("k")); !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("key wait = %v, want ErrWaitTimeout", err)
	}
	// No account: fail at once rather than wait for the key.
	r := keyed("k")
	r.Model, r.Exclude = "x", []string{"a"}
	if _, err := s.Acquire(t.Context(), r); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("Acquire without account = %v, want ErrNoAccount", err)
	}
	got.l.Release(Outcome{})

	// A key slot taken before the account phase fails is given back.
	r = keyed("k")
	r.Exclude = []string{"a"}
	if _, err := s.Acquire(t.Context(), r); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("Acquire = %v, want ErrNoAccount", err)
	}
	l := mustAcquire(t, s, keyed("k"))
	l.Release(Outcome{})
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, k := range s.keys {
		if k.inFlight != 0 {
			t.Fatalf("key %s holds %d slots", name, k.inFlight)
		}
	}
}

func TestFreeSlotServesOtherQueue(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}})
	la := mustAcquire(t, s, req())
	lb := mustAcquire(t, s, req())
	ch := goAcquire(t.Context(), s, req())
	waiting(t, s, 1)
	if got := status(t, s, "a").Waiting; got != 1 {
		t.Fatalf("waiters on a = %d, want 1", got)
	}
	lb.Release(Outcome{}) // b frees first: the waiter takes it
	got := recv(t, ch)
	if got.err != nil || got.l.Account().Name != "b" {
		t.Fatalf("waiter got %v, %v, want a lease on b", got.l, got.err)
	}
	got.l.Release(Outcome{})
	la.Release(Outcome{})
}

func TestSetAccounts(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}})
	la := mustAcquire(t, s, req())
	lb := mustAcquire(t, s, req())
	if la.Account().Name != "a" || lb.Account().Name != "b" {
		t.Fatalf("leases on %s, %s, want a, b", la.Account().Name, lb.Account().Name)
	}
	r := req()
	r.Exclude = []string{"b"}
	ch := goAcquire(t.Context(), s, r)
	waiting(t, s, 1)

	// Remove a: its waiter has nowhere to go; its lease still releases.
	s.SetAccounts([]Account{acct("b"), acct("c")})
	if got := recv(t, ch); got.err != nil || got.l.Account().Name != "c" {
		t.Fatalf("waiter got %v, %v, want a lease on c", got.l, got.err)
	} else {
		got.l.Release(Outcome{})
	}
	la.Release(Outcome{Kind: RateLimited})
	var names []string
	for _, st := range s.Status() {
		names = append(names, st.Name)
	}
	if fmt.Sprint(names) != "[b c]" {
		t.Fatalf("Status names = %v, want [b c]", names)
	}
	if err := s.Disable("a"); !errors.Is(err, ErrUnknownAccount) {
		t.Fatalf("Disable(removed) = %v, want ErrUnknownAccount", err)
	}

	// Raising b's concurrency serves its waiter at once and keeps health.
	_ = s.Disable("c")
	ch = goAcquire(t.Context(), s, req())
	waiting(t, s, 1)
	b := acct("b")
	b.Concurrency = 2
	s.SetAccounts([]Account{b, acct("c")})
	got := recv(t, ch)
	if got.err != nil || got.l.Account().Name != "b" || got.l.Account().Concurrency != 2 {
		t.Fatalf("waiter got %v, %v, want a lease on b", got.l, got.err)
	}
	got.l.Release(Outcome{})
	lb.Release(Outcome{})
	if st := status(t, s, "c"); st.State != StateDisabled {
		t.Fatalf("c is %s, want disabled kept across SetAccounts", st.State)
	}
	if in, w := s.Stats(); in != 0 || w != 0 {
		t.Fatalf("Stats = %d, %d, want 0, 0", in, w)
	}
}
