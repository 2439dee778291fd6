package sched

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestOutcomeTransitions(t *testing.T) {
	type step struct {
		o       Outcome
		advance time.Duration // clock moves after the release
	}
	cfg := Config{
		MaxCooldown:       2 * time.Hour,
		RateLimitCooldown: time.Minute,
		OverloadCooldown:  90 * time.Second,
		ForbiddenCooldown: 10 * time.Minute,
		FailureCooldown:   30 * time.Second,
		FailureThreshold:  3,
	}
	t0 := newClock().Now()
	tests := []struct {
		name      string
		steps     []step
		state     State
		until     time.Duration // after t0 plus every advance; 0 means none
		reason    string
		failures  int
		forbidden int
	}{
		{name: "success", steps: []step{{o: Outcome{Kind: Success}}}, state: StateOK},
		{name: "canceled is no fault", steps: []step{{o: Outcome{Kind: Canceled}}}, state: StateOK},
		{name: "request error is no fault", steps: []step{{o: Outcome{Kind: RequestError, Status: 400}}}, state: StateOK},
		{name: "429 without reset", steps: []step{{o: Outcome{Kind: RateLimited, Status: 429}}},
			state: StateRateLimited, until: time.Minute, reason: "rate limited (status 429)"},
		{name: "429 with reset", steps: []step{{o: Outcome{Kind: RateLimited, ResetAt: t0.Add(20 * time.Minute), Reason: "5h limit"}}},
			state: StateRateLimited, until: 20 * time.Minute, reason: "5h limit"},
		{name: "429 with past reset", steps: []step{{o: Outcome{Kind: RateLimited, ResetAt: t0.Add(-time.Hour)}}},
			state: StateRateLimited, until: time.Minute, reason: "rate limited"},
		{name: "429 reset capped", steps: []step{{o: Outcome{Kind: RateLimited, ResetAt: t0.Add(72 * time.Hour)}}},
			state: StateRateLimited, until: 2 * time.Hour, reason: "rate limited"},
		{name: "rate limit expires", steps: []step{{o: Outcome{Kind: RateLimited}, advance: time.Minute}}, state: StateOK},
		{name: "529", steps: []step{{o: Outcome{Kind: Overloaded, Status: 529}}},
			state: StateOverloaded, until: 90 * time.Second, reason: "overloaded (status 529)"},
		{name: "auth failed", steps: []step{{o: Outcome{Kind: AuthFailed, Reason: "invalid x-api-key"}}},
			state: StateError, reason: "invalid x-api-key"},
		{name: "error survives success", steps: []step{{o: Outcome{Kind: AuthFailed}}, {o: Outcome{Kind: Success}}},
			state: StateError, reason: "authentication failed"},
		{name: "forbidden cools", steps: []step{{o: Outcome{Kind: Forbidden}}},
			state: StateCooldown, until: 10 * time.Minute, reason: "forbidden", forbidden: 1},
		{name: "third forbidden in a row errors",
			steps: []step{{o: Outcome{Kind: Forbidden}, advance: 10 * time.Minute}, {o: Outcome{Kind: Forbidden}, advance: 10 * time.Minute},
				{o: Outcome{Kind: Forbidden, Reason: "org disabled"}}},
			state: StateError, reason: "forbidden 3 times in a row: org disabled"},
		{name: "success breaks the forbidden run",
			steps: []step{{o: Outcome{Kind: Forbidden}, advance: 10 * time.Minute}, {o: Outcome{Kind: Success}},
				{o: Outcome{Kind: Forbidden}, advance: 10 * time.Minute}, {o: Outcome{Kind: Forbidden}}},
			state: StateCooldown, until: 30 * time.Minute, reason: "forbidden", forbidden: 2},
		{name: "server errors below threshold", steps: []step{{o: Outcome{Kind: ServerError}}, {o: Outcome{Kind: ServerError}}},
			state: StateOK, failures: 2},
		{name: "server errors at threshold",
			steps: []step{{o: Outcome{Kind: ServerError}}, {o: Outcome{Kind: ServerError}}, {o: Outcome{Kind: ServerError, Status: 502}}},
			state: StateCooldown, until: 30 * time.Second, reason: "3 failures in a row: server error (status 502)"},
		{name: "success resets failures",
			steps: []step{{o: Outcome{Kind: ServerError}}, {o: Outcome{Kind: ServerError}}, {o: Outcome{Kind: Success}}, {o: Outcome{Kind: ServerError}}},
			state: StateOK, failures: 1},
		{name: "canceled keeps the failure run",
			steps: []step{{o: Outcome{Kind: ServerError}}, {o: Outcome{Kind: Canceled}}, {o: Outcome{Kind: ServerError}}},
			state: StateOK, failures: 2},
		{name: "success ends a rate limit early",
			steps: []step{{o: Outcome{Kind: RateLimited}}, {o: Outcome{Kind: Success}}}, state: StateOK},
		{name: "short cooldown keeps a longer rate limit",
			steps: []step{{o: Outcome{Kind: RateLimited, ResetAt: t0.Add(time.Hour)}}, {o: Outcome{Kind: Overloaded}}},
			state: StateRateLimited, until: time.Hour, reason: "rate limited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			a := acct("a")
			a.Concurrency = len(tt.steps)
			c.Accounts = []Account{a}
			s, clk := mustNew(t, c)
			// Take every lease first: a cooling account takes none.
			var leases []*Lease
			for range tt.steps {
				leases = append(leases, mustAcquire(t, s, req()))
			}
			for i, st := range tt.steps {
				leases[i].Release(st.o)
				clk.Advance(st.advance)
			}
			got := status(t, s, "a")
			var want time.Time
			if tt.until != 0 {
				want = t0.Add(tt.until)
			}
			if got.State != tt.state || !got.Until.Equal(want) || got.Reason != tt.reason {
				t.Fatalf("status = %s until %v (%q), want %s until %v (%q)",
					got.State, got.Until, got.Reason, tt.state, want, tt.reason)
			}
			s.mu.Lock()
			h := s.byName["a"].health
			s.mu.Unlock()
			if h.Failures != tt.failures || h.Forbidden != tt.forbidden {
				t.Fatalf("failures, forbidden = %d, %d, want %d, %d", h.Failures, h.Forbidden, tt.failures, tt.forbidden)
			}
		})
	}
}

func TestCoolingAccountIsSkippedUntilExpiry(t *testing.T) {
	s, clk := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}})
	l := mustAcquire(t, s, req())
	if got := l.Account().Name; got != "a" {
		t.Fatalf("first account = %q, want a", got)
	}
	l.Release(Outcome{Kind: RateLimited, Windows: []Window{{Name: "5h", Utilization: 1}}})
	if got := status(t, s, "a").Windows; len(got) != 1 || got[0].Utilization != 1 {
		t.Fatalf("windows = %v, want the reported one", got)
	}
	for range 3 {
		l = mustAcquire(t, s, req())
		if got := l.Account().Name; got != "b" {
			t.Fatalf("account while a cools = %q, want b", got)
		}
		l.Release(Outcome{})
	}
	l = mustAcquire(t, s, req())
	l.Release(Outcome{Kind: Overloaded})
	if _, err := s.Acquire(t.Context(), req()); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("Acquire with both cooling = %v, want ErrNoAccount", err)
	}
	clk.Advance(time.Minute)
	l = mustAcquire(t, s, req())
	l.Release(Outcome{})
}

func TestAdmin(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}})
	for _, f := range []func(string) error{s.Clear, s.Disable, s.Enable} {
		if err := f("nope"); !errors.Is(err, ErrUnknownAccount) {
			t.Fatalf("admin call on unknown account = %v, want ErrUnknownAccount", err)
		}
	}
	s.MarkError("nope", "ignored")

	steps := []struct {
		do    func()
		state State
	}{
		{func() { s.MarkError("a", "refresh failed") }, StateError},
		{func() { _ = s.Enable("a") }, StateOK},
		{func() { _ = s.Disable("a") }, StateDisabled},
		{func() { s.MarkError("a", "refresh failed") }, StateDisabled},
		{func() { _ = s.Clear("a") }, StateOK},
		{func() { mustAcquire(t, s, req()).Release(Outcome{Kind: RateLimited}) }, StateRateLimited},
		{func() { _ = s.Enable("a") }, StateRateLimited},
		{func() { _ = s.Disable("a") }, StateDisabled},
		{func() { _ = s.Enable("a") }, StateOK},
	}
	for i, st := range steps {
		st.do()
		if got := status(t, s, "a").State; got != st.state {
			t.Fatalf("step %d: state = %s, want %s", i, got, st.state)
		}
		l, err := s.Acquire(t.Context(), req())
		if st.state != StateOK && !errors.Is(err, ErrNoAccount) {
			t.Fatalf("step %d: Acquire = %v, want ErrNoAccount", i, err)
		}
		if st.state == StateOK && err != nil {
			t.Fatalf("step %d: Acquire = %v, want a lease", i, err)
		}
		if err == nil {
			l.Release(Outcome{Kind: Canceled})
		}
	}
}

func TestOutcomeOnDisabledLeaseKeepsDisabled(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}})
	l := mustAcquire(t, s, req())
	if err := s.Disable("a"); err != nil {
		t.Fatal(err)
	}
	l.Release(Outcome{Kind: RateLimited})
	if got := status(t, s, "a").State; got != StateDisabled {
		t.Fatalf("state = %s, want disabled", got)
	}
}

func TestWaiterReselectsWhenAccountCools(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a"), acct("b")}})
	la := mustAcquire(t, s, req())
	lb := mustAcquire(t, s, req())
	r := req()
	r.Exclude = []string{"b"} // can only use a
	ch := goAcquire(t.Context(), s, r)
	waiting(t, s, 1)
	// a is rate limited by its lease: the waiter must not wait out its
	// timeout but learn there is no account left for it.
	la.Release(Outcome{Kind: RateLimited})
	if got := recv(t, ch); !errors.Is(got.err, ErrNoAccount) {
		t.Fatalf("waiter got %v, want ErrNoAccount", got.err)
	}
	lb.Release(Outcome{})

	// A waiter that may use either queues on a (same load, same last use,
	// first by name) and moves to b when a is disabled.
	if err := s.Clear("a"); err != nil {
		t.Fatal(err)
	}
	la = mustAcquire(t, s, req())
	lb = mustAcquire(t, s, req())
	ch = goAcquire(t.Context(), s, req())
	waiting(t, s, 1)
	if got := status(t, s, "a").Waiting; got != 1 {
		t.Fatalf("waiters on a = %d, want 1", got)
	}
	if err := s.Disable("a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "waiter to move to b", func() bool { return status(t, s, "b").Waiting == 1 })
	lb.Release(Outcome{})
	got := recv(t, ch)
	if got.err != nil || got.l.Account().Name != "b" {
		t.Fatalf("waiter got %v, %v, want a lease on b", got.l, got.err)
	}
	got.l.Release(Outcome{})
	la.Release(Outcome{})
}

// TestCallerTime: a time the caller passes stands for the scheduler's
// clock, for the pick (last use) and for the outcome (cooldown start).
func TestCallerTime(t *testing.T) {
	s, clk := mustNew(t, Config{Accounts: []Account{acct("a")}})
	at := clk.Now().Add(time.Hour)
	r := req()
	r.Now = at
	l := mustAcquire(t, s, r)
	if got := status(t, s, "a").LastUsed; !got.Equal(at) {
		t.Errorf("LastUsed = %v, want the caller's %v", got, at)
	}
	ended := at.Add(time.Minute)
	l.Release(Outcome{Kind: RateLimited, Status: 429, At: ended})
	if got, want := status(t, s, "a").Until, ended.Add(time.Minute); !got.Equal(want) {
		t.Errorf("Until = %v, want %v (a minute after the caller's time)", got, want)
	}
}

// TestAcquireInto: one lease's storage serves attempt after attempt
// without an allocation, each lease releasing its slot.
func TestAcquireInto(t *testing.T) {
	s, _ := mustNew(t, Config{Accounts: []Account{acct("a")}})
	var l Lease
	ctx := context.Background()
	for range 3 {
		got, err := s.AcquireInto(ctx, req(), &l)
		if err != nil || got != &l {
			t.Fatalf("AcquireInto = %p, %v; want the caller's lease", got, err)
		}
		if st := status(t, s, "a"); st.InFlight != 1 {
			t.Fatalf("in flight = %d, want 1", st.InFlight)
		}
		l.Release(Outcome{Kind: Success, Status: 200})
		l.Release(Outcome{Kind: Success, Status: 200}) // still only once
		if st := status(t, s, "a"); st.InFlight != 0 {
			t.Fatalf("in flight = %d after release, want 0", st.InFlight)
		}
	}
	if n := testing.AllocsPerRun(50, func() {
		s.AcquireInto(ctx, req(), &l)
		l.Release(Outcome{Kind: Success, Status: 200})
	}); n != 0 {
		t.Errorf("allocations per acquire and release = %v, want 0", n)
	}
}
