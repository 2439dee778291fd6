package sched

import (
	"errors"
	"fmt"
	"slices"
	"strings"
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
	if len(bs) != 1 || bs[0] != (Binding{Group: "g", Session: SessionID("s1"), Account: first,
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
	if bs := s.Sessions(); len(bs) != 1 || bs[0].Session != SessionID("resp_2") {
		t.Fatalf("Sessions = %+v, want only resp_2", bs)
	}
}

func TestSessionIDsAreHashed(t *testing.T) {
	st := &store{}
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}, Store: st})
	huge := strings.Repeat("x", 1<<20) // a client may send a megabyte id
	mustAcquire(t, s, sess(huge)).Release(Outcome{})
	s.Bind("g", "resp:"+huge, "b")
	s.save(true)
	want := map[string]bool{SessionID(huge): true, SessionID("resp:" + huge): true}
	for _, b := range s.Sessions() {
		if !want[b.Session] || len(b.Session) != 32 {
			t.Errorf("Sessions has %.40q…, want one of the hashes", b.Session)
		}
	}
	saved := st.snapshot().Bindings
	if len(saved) != 2 {
		t.Fatalf("saved %d bindings, want 2", len(saved))
	}
	for _, b := range saved {
		if !want[b.Session] {
			t.Errorf("saved session %.40q…, want a hash", b.Session)
		}
	}
	// The admin unbinds by the hash it sees, or by the id itself.
	if n := s.Unbind(SessionID(huge)); n != 1 {
		t.Fatalf("Unbind(hash) = %d, want 1", n)
	}
	if n := s.Unbind("resp:" + huge); n != 1 {
		t.Fatalf("Unbind(raw) = %d, want 1", n)
	}
	if bs := s.Sessions(); len(bs) != 0 {
		t.Fatalf("Sessions after unbind = %+v", bs)
	}
}

func TestBindOnlyAfterSuccess(t *testing.T) {
	tests := []struct {
		o    Outcome
		want int
	}{
		{Outcome{Kind: Success}, 1},
		{Outcome{Kind: Canceled}, 0},
		{Outcome{Kind: RequestError, Status: 400}, 0},
		{Outcome{Kind: RateLimited, Status: 429}, 0},
		{Outcome{Kind: Overloaded, Status: 529}, 0},
		{Outcome{Kind: AuthFailed, Status: 401}, 0},
		{Outcome{Kind: Forbidden, Status: 403}, 0},
		{Outcome{Kind: ServerError, Status: 502}, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.o.Kind), func(t *testing.T) {
			s, _ := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}})
			l := mustAcquire(t, s, sess("s1"))
			if got := len(s.Sessions()); got != 0 {
				t.Fatalf("%d bindings while the attempt runs, want none", got)
			}
			l.Release(tt.o)
			bs := s.Sessions()
			if len(bs) != tt.want {
				t.Fatalf("%d bindings after %+v, want %d", len(bs), tt.o, tt.want)
			}
			if tt.want == 1 && bs[0].Account != l.Account().Name {
				t.Fatalf("bound to %s, want %s", bs[0].Account, l.Account().Name)
			}
		})
	}
}

func TestFailureKeepsTheBindingAsItWas(t *testing.T) {
	s, clk := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}})
	s.Bind("g", "s1", "a")
	before := s.Sessions()
	clk.Advance(10 * time.Minute)
	l := mustAcquire(t, s, sess("s1"))
	l.Release(Outcome{Kind: ServerError})
	if got := s.Sessions(); len(got) != 1 || got[0] != before[0] {
		t.Fatalf("Sessions after a failure = %+v, want %+v", got, before)
	}
	// The session moves on: a failure on b binds nothing, a success does.
	r := sess("s1")
	r.Exclude = []string{"a"}
	mustAcquire(t, s, r).Release(Outcome{Kind: ServerError})
	if got := s.Sessions(); got[0].Account != "a" {
		t.Fatalf("bound to %s after b failed, want a", got[0].Account)
	}
	mustAcquire(t, s, r).Release(Outcome{Kind: Success})
	if got := s.Sessions(); got[0].Account != "b" || !got[0].Expires.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("after b succeeded: %+v, want bound to b for an hour", got[0])
	}
}

func TestMaxSessionsPerKey(t *testing.T) {
	s, clk := mustNew(t, Config{Accounts: []Account{acct("a")}, MaxSessionsPerKey: 3})
	use := func(key, session string) {
		t.Helper()
		r := sess(session)
		r.Key = key
		mustAcquire(t, s, r).Release(Outcome{})
		clk.Advance(time.Second)
	}
	for _, id := range []string{"s1", "s2", "s3"} {
		use("k1", id)
	}
	use("k2", "t1")
	use("k1", "s1") // refreshed: s2 is now k1's least recently used
	use("k1", "s4")
	use("k1", "s5")
	var got []string
	for _, b := range s.Sessions() {
		got = append(got, b.Key+"/"+b.Session)
	}
	want := []string{"k1/" + SessionID("s1"), "k1/" + SessionID("s4"), "k1/" + SessionID("s5"), "k2/" + SessionID("t1")}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("bindings = %v, want %v", got, want)
	}
	// A session used by another key moves to that key's count.
	use("k2", "s5")
	n := map[string]int{}
	for _, b := range s.Sessions() {
		n[b.Key]++
	}
	if n["k1"] != 2 || n["k2"] != 2 {
		t.Fatalf("bindings per key = %v, want k1:2 k2:2", n)
	}
}
