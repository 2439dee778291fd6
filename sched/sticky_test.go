package sched

import (
	"errors"
	"testing"
	"time"
)

// sess returns req() with a session.
func sess(id string) Request {
	r := req()
	r.Session = id
	return r
}

func TestStickyBindsAndReuses(t *testing.T) {
	s, clk := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}})
	l := mustAcquire(t, s, sess("s1"))
	if l.Sticky() {
		t.Fatal("first lease of a session is sticky")
	}
	first := l.Account().Name
	l.Release(Outcome{})
	clk.Advance(time.Second)
	// Plain selection would now prefer the other (least recently used)
	// account; the binding wins.
	for range 3 {
		l = mustAcquire(t, s, sess("s1"))
		if got := l.Account().Name; got != first || !l.Sticky() {
			t.Fatalf("lease = %s sticky %v, want %s sticky", got, l.Sticky(), first)
		}
		l.Release(Outcome{})
		clk.Advance(50 * time.Minute) // refreshed on use, never expires
	}
	bs := s.Sessions()
	if len(bs) != 1 || bs[0] != (Binding{Group: "g", Session: "s1", Account: first,
		Created: newClock().Now(), Expires: clk.Now().Add(-50*time.Minute + time.Hour)}) {
		t.Fatalf("Sessions = %+v", bs)
	}
	clk.Advance(time.Hour)
	if got := s.Sessions(); len(got) != 0 {
		t.Fatalf("Sessions after TTL = %+v, want none", got)
	}
	if n := s.sweep(clk.Now()); n != 1 {
		t.Fatalf("sweep removed %d, want 1", n)
	}
}

func TestStickyRebindsWhenBoundAccountCannotServe(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, s *Scheduler, r *Request)
	}{
		{"rate limited", func(t *testing.T, s *Scheduler, _ *Request) {
			mustAcquire(t, s, sess("s1")).Release(Outcome{Kind: RateLimited})
		}},
		{"disabled", func(t *testing.T, s *Scheduler, _ *Request) { _ = s.Disable("a") }},
		{"errored", func(t *testing.T, s *Scheduler, _ *Request) { s.MarkError("a", "refresh failed") }},
		{"excluded", func(_ *testing.T, _ *Scheduler, r *Request) { r.Exclude = []string{"a"} }},
		{"removed", func(t *testing.T, s *Scheduler, _ *Request) { s.SetAccounts([]Account{acct("b")}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}})
			s.Bind("g", "s1", "a")
			r := sess("s1")
			tt.spoil(t, s, &r)
			l := mustAcquire(t, s, r)
			if got := l.Account().Name; got != "b" || l.Sticky() {
				t.Fatalf("lease = %s sticky %v, want b not sticky", got, l.Sticky())
			}
			l.Release(Outcome{})
			if bs := s.Sessions(); len(bs) != 1 || bs[0].Account != "b" {
				t.Fatalf("Sessions = %+v, want s1 bound to b", bs)
			}
		})
	}
}

func TestStickyWaitsWhenBusy(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}})
	s.Bind("g", "s1", "a")
	held := mustAcquire(t, s, sess("s1"))
	ch := goAcquire(t.Context(), s, sess("s1"))
	waiting(t, s, 1)
	if got := status(t, s, "b").InFlight; got != 0 {
		t.Fatalf("b in flight = %d, want 0: the sticky request must wait for a", got)
	}
	held.Release(Outcome{})
	got := recv(t, ch)
	if got.err != nil || got.l.Account().Name != "a" || !got.l.Sticky() {
		t.Fatalf("waiter got %v, %v, want a sticky lease on a", got.l, got.err)
	}
	got.l.Release(Outcome{})
}

func TestStickyQueueFullFallsThrough(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}, StickyMaxWaiting: 1})
	s.Bind("g", "s1", "a")
	held := mustAcquire(t, s, sess("s1"))
	ch := goAcquire(t.Context(), s, sess("s1"))
	waiting(t, s, 1)
	l := mustAcquire(t, s, sess("s1")) // a's queue is full: take b
	if got := l.Account().Name; got != "b" || l.Sticky() {
		t.Fatalf("lease = %s sticky %v, want b not sticky", got, l.Sticky())
	}
	held.Release(Outcome{})
	got := recv(t, ch)
	if got.err != nil || got.l.Account().Name != "a" {
		t.Fatalf("waiter got %v, %v, want a lease on a", got.l, got.err)
	}
	got.l.Release(Outcome{})
	l.Release(Outcome{})
}

func TestStickyWaitTimeout(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}, StickyWaitTimeout: 50 * time.Millisecond})
	s.Bind("g", "s1", "a")
	held := mustAcquire(t, s, sess("s1"))
	defer held.Release(Outcome{})
	if _, err := s.Acquire(t.Context(), sess("s1")); !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("Acquire = %v, want ErrWaitTimeout", err)
	}
}

func TestBindUnbind(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}})
	s.Bind("g", "resp_1", "b")
	s.Bind("h", "resp_1", "b")
	s.Bind("g", "resp_2", "a")
	s.Bind("g", "", "a") // ignored
	l := mustAcquire(t, s, sess("resp_1"))
	if got := l.Account().Name; got != "b" || !l.Sticky() {
		t.Fatalf("lease = %s sticky %v, want b sticky", got, l.Sticky())
	}
	l.Release(Outcome{})
	if n := s.Unbind("resp_1"); n != 2 {
		t.Fatalf("Unbind = %d, want 2", n)
	}
	if bs := s.Sessions(); len(bs) != 1 || bs[0].Session != "resp_2" {
		t.Fatalf("Sessions = %+v, want only resp_2", bs)
	}
}
