package sched

import (
	"context"
	"errors"
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
	if len(sessions) != 1 || sessions[0] != "young" {
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
	st := &store{saves: make(chan Snapshot, 16)}
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
	var last Snapshot
	for n := len(st.saves); n > 0; n-- {
		last = <-st.saves
	}
	if got := last.Health["a"].State; got != StateOK {
		t.Fatalf("final state = %q, want ok", got)
	}
}

func TestSaveFailureStaysDirty(t *testing.T) {
	fail := true
	st := &store{saveFn: func(Snapshot) error {
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
	if st.last == nil || st.last.Health["a"].State != StateDisabled {
		t.Fatalf("saved %+v, want a disabled", st.last)
	}
}

func (s *Scheduler) isDirty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirty
}
