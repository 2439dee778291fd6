package sched

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestSnapshotSurvivesRestart(t *testing.T) {
	st := &store{}
	clk := newClock()
	cfg := Config{Accounts: []Account{acct("a"), acct("b"), acct("c")}, Store: st, Now: clk.Now}
	s1, _ := mustNew(t, cfg)
	l := mustAcquire(t, s1, sess("s1")) // a, bound
	l.Release(Outcome{Kind: Success, Windows: []Window{{Name: "5h", Utilization: 0.4}}})
	l = mustAcquire(t, s1, sess("s2"))
	if l.Account().Name != "b" {
		t.Fatalf("s2 on %s, want b", l.Account().Name)
	}
	l.Release(Outcome{Kind: RateLimited, ResetAt: clk.Now().Add(2 * time.Hour)})
	_ = s1.Disable("c")
	s1.Bind("g", "old", "a")
	clk.Advance(30 * time.Minute)
	s1.Bind("g", "young", "a")
	s1.save(true)

	// 40 minutes later "old" (bound at 0) has expired; "young" has not.
	clk.Advance(40 * time.Minute)
	s2, _ := mustNew(t, cfg)
	want := map[string]State{"a": StateOK, "b": StateRateLimited, "c": StateDisabled}
	for _, as := range s2.Status() {
		if as.State != want[as.Name] {
			t.Fatalf("%s is %s, want %s", as.Name, as.State, want[as.Name])
		}
	}
	if w := status(t, s2, "a").Windows; len(w) != 1 || w[0].Utilization != 0.4 {
		t.Fatalf("a windows = %v", w)
	}
	var sessions []string
	for _, b := range s2.Sessions() {
		sessions = append(sessions, b.Session)
	}
	// Bindings last an hour: s1, s2 and old were made at 0 and are gone.
	if len(sessions) != 1 || sessions[0] != SessionID("young") {
		t.Fatalf("sessions = %v, want [young]", sessions)
	}
	l = mustAcquire(t, s2, sess("young"))
	if !l.Sticky() || l.Account().Name != "a" {
		t.Fatalf("young on %s sticky %v, want a sticky", l.Account().Name, l.Sticky())
	}
	l.Release(Outcome{})

	// The rate limit ends on time after the restart.
	clk.Advance(time.Hour)
	if got := status(t, s2, "b").State; got != StateOK {
		t.Fatalf("b after its reset is %s, want ok", got)
	}
}

func TestSnapshotHealthOfLateAccount(t *testing.T) {
	st := &store{loadFn: func() (Snapshot, error) {
		return Snapshot{Health: map[string]Health{
			"late":   {State: StateError, Reason: "revoked"},
			"capped": {State: StateCooldown, Until: time.Now().Add(1000 * time.Hour)},
		}}, nil
	}}
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}, Store: st, Now: time.Now})
	s.SetAccounts([]Account{acct("a"), acct("late"), acct("capped")})
	if got := status(t, s, "late"); got.State != StateError || got.Reason != "revoked" {
		t.Fatalf("late = %s (%q), want error (revoked)", got.State, got.Reason)
	}
	if got := status(t, s, "capped").Until; got.After(time.Now().Add(6 * time.Hour)) {
		t.Fatalf("capped until %v, want at most MaxCooldown away", got)
	}
}

func TestLoadError(t *testing.T) {
	boom := errors.New("boom")
	st := &store{loadFn: func() (Snapshot, error) { return Snapshot{}, boom }}
	if _, err := New(Config{Store: st}); !errors.Is(err, boom) {
		t.Fatalf("New = %v, want the load error", err)
	}
}

func TestRunSavesDebouncedAndOnExit(t *testing.T) {
	st := &store{saves: make(chan Changes, 16)}
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}, Store: st, SnapshotDebounce: 10 * time.Millisecond})
	// Leases that change no health (LastUsed only) do not dirty the snapshot.
	for range 10 {
		mustAcquire(t, s, req()).Release(Outcome{})
	}
	if s.isDirty() {
		t.Fatal("plain leases dirtied the snapshot")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	_ = s.Disable("a")
	select {
	case snap := <-st.saves:
		if got := snap.Health["a"].State; got != StateDisabled {
			t.Fatalf("saved state = %s, want disabled", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no save after a change")
	}
	// A change just before shutdown is in the final save.
	_ = s.Enable("a")
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	for n := len(st.saves); n > 0; n-- {
		<-st.saves
	}
	if got := st.snapshot().Health["a"].State; got != StateOK {
		t.Fatalf("final state = %q, want ok", got)
	}
}

func TestSaveFailureStaysDirty(t *testing.T) {
	fail := true
	st := &store{saveFn: func(Changes) error {
		if fail {
			return errors.New("disk full")
		}
		return nil
	}}
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}, Store: st})
	_ = s.Disable("a")
	s.save(false)
	if !s.isDirty() {
		t.Fatal("failed save cleared dirty")
	}
	fail = false
	s.save(false)
	if s.isDirty() {
		t.Fatal("successful save left dirty")
	}
	if got := st.snapshot(); got.Health["a"].State != StateDisabled {
		t.Fatalf("saved %+v, want a disabled", got)
	}
}

func (s *Scheduler) isDirty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirty
}

// TestSaveWritesOnlyChanges binds 10,000 sessions, saves, then changes
// one: the second save carries that one binding and nothing else, and a
// restart from the store still finds all 10,000.
func TestSaveWritesOnlyChanges(t *testing.T) {
	st := &store{saves: make(chan Changes, 8)}
	clk := newClock()
	cfg := Config{Accounts: []Account{acct("a"), acct("b")}, Store: st, Now: clk.Now}
	s1, _ := mustNew(t, cfg)
	for i := range 10_000 {
		s1.BindKey("g", fmt.Sprint("s", i), "a", "k")
	}
	_ = s1.Disable("b")
	s1.save(false)
	first := saved(t, st)
	if got := len(first.Bindings); got != 10_000 || len(first.Health) != 1 {
		t.Fatalf("first save: %d bindings, %d health, want 10000 and 1", got, len(first.Health))
	}
	clk.Advance(time.Minute)
	s1.BindKey("g", "s42", "b", "k") // moved
	s1.save(false)
	second := saved(t, st)
	if len(second.Bindings) != 1 || second.Bindings[0].Session != SessionID("s42") ||
		second.Bindings[0].Account != "b" || len(second.Unbound)+len(second.Health)+len(second.Forget) != 0 {
		t.Fatalf("second save = %d bindings (%+v), %d unbound, %d health, %d forget; want the one moved binding",
			len(second.Bindings), second.Bindings[:min(1, len(second.Bindings))], len(second.Unbound), len(second.Health), len(second.Forget))
	}
	s1.save(false) // nothing changed: no save
	if len(st.saves) != 0 {
		t.Fatalf("a save with no changes reached the store: %+v", <-st.saves)
	}

	s2, _ := mustNew(t, cfg)
	bs := s2.Sessions()
	if len(bs) != 10_000 {
		t.Fatalf("restored %d bindings, want 10000", len(bs))
	}
	for _, b := range bs {
		want := "a"
		if b.Session == SessionID("s42") {
			want = "b"
		}
		if b.Account != want || b.Key != "k" {
			t.Fatalf("restored %+v, want account %s key k", b, want)
		}
	}
	if got := status(t, s2, "b").State; got != StateDisabled {
		t.Fatalf("restored b is %s, want disabled", got)
	}
}

func TestSaveDeletesEndedBindings(t *testing.T) {
	st := &store{saves: make(chan Changes, 8)}
	s, clk := mustNew(t, Config{Accounts: []Account{acct("a")}, Store: st, MaxSessionsPerKey: 2})
	s.Bind("g", "old", "a")
	clk.Advance(30 * time.Minute)
	s.Bind("g", "gone", "a")
	s.Bind("g", "young", "a") // evicts "old", the key's least recently used
	s.save(true)
	saved(t, st)
	if n := s.Unbind("gone"); n != 1 {
		t.Fatalf("Unbind = %d", n)
	}
	clk.Advance(61 * time.Minute) // "young" expired
	if n := s.sweep(clk.Now()); n != 1 {
		t.Fatalf("sweep removed %d, want 1", n)
	}
	s.save(false)
	c := saved(t, st)
	var got []string
	for _, r := range c.Unbound {
		got = append(got, r.Session)
	}
	slices.Sort(got)
	want := []string{SessionID("gone"), SessionID("young")}
	slices.Sort(want)
	if !slices.Equal(got, want) || len(c.Bindings) != 0 {
		t.Fatalf("unbound %v bindings %d, want %v and none", got, len(c.Bindings), want)
	}
	if left := st.snapshot().Bindings; len(left) != 0 {
		t.Fatalf("store still holds %+v", left)
	}
}

func TestSaveFailureRequeuesChanges(t *testing.T) {
	fail := true
	st := &store{saveFn: func(Changes) error {
		if fail {
			return errors.New("disk full")
		}
		return nil
	}}
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}, Store: st})
	s.Bind("g", "s1", "a")
	s.save(false)
	fail = false
	s.Bind("g", "s2", "a")
	s.save(false)
	var got []string
	for _, b := range st.snapshot().Bindings {
		got = append(got, b.Session)
	}
	slices.Sort(got)
	want := []string{SessionID("s1"), SessionID("s2")}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v: the failed save's binding is lost", got, want)
	}
}

// TestRestoreRawSessions reads bindings stored before session ids were
// hashed: they keep working under their hash, and the first save replaces
// the raw records.
func TestRestoreRawSessions(t *testing.T) {
	clk := newClock()
	st := &store{saves: make(chan Changes, 1)}
	st.health = map[string]Health{}
	st.binds = map[BindingRef]Binding{
		{"g", "cc:abc"}: {Group: "g", Session: "cc:abc", Account: "b", Created: clk.Now(), Expires: clk.Now().Add(time.Hour)},
		{"g", "cc:old"}: {Group: "g", Session: "cc:old", Account: "b", Created: clk.Now(), Expires: clk.Now()},
	}
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}, Store: st, Now: clk.Now})
	l := mustAcquire(t, s, sess("cc:abc"))
	if l.Account().Name != "b" || !l.Sticky() {
		t.Fatalf("cc:abc on %s sticky %v, want b sticky", l.Account().Name, l.Sticky())
	}
	l.Release(Outcome{Kind: Canceled})
	s.save(false)
	saved(t, st)
	got := st.snapshot().Bindings
	if len(got) != 1 || got[0].Session != SessionID("cc:abc") || got[0].Account != "b" {
		t.Fatalf("store holds %+v, want only the hashed cc:abc", got)
	}
}

// saved returns the save that a synchronous save just made.
func saved(t *testing.T, st *store) Changes {
	t.Helper()
	select {
	case c := <-st.saves:
		return c
	default:
		t.Fatal("nothing reached the store")
		return Changes{}
	}
}

// TestQueuedRemovalsBounded: while the store keeps failing, churn (here
// a key evicting its bindings) cannot grow the queue of removals forever.
func TestQueuedRemovalsBounded(t *testing.T) {
	st := &store{saveFn: func(Changes) error { return errors.New("disk full") }}
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}, Store: st, MaxSessionsPerKey: 1})
	for i := range maxQueuedUnbinds + 5000 {
		s.BindKey("g", fmt.Sprint("s", i), "a", "k")
		if i%10_000 == 0 {
			s.save(false)
		}
	}
	s.save(false)
	s.mu.Lock()
	n := len(s.dirtyBinds)
	s.mu.Unlock()
	if n > 1+maxQueuedUnbinds {
		t.Fatalf("%d binding changes queued, want at most %d", n, 1+maxQueuedUnbinds)
	}
}
