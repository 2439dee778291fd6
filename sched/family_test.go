package sched

import (
	"reflect"
	"testing"
	"time"
)

func TestFamily(t *testing.T) {
	tests := []struct {
		platform, model, want string
	}{
		{"anthropic", "claude-opus-4-1-20250805", "opus"},
		{"anthropic", "claude-opus-4-6[1m]", "opus"},
		{"anthropic", "claude-3-opus-20240229", "opus"},
		{"anthropic", "claude-sonnet-4-5", "sonnet"},
		{"anthropic", "claude-3-5-sonnet-20241022", "sonnet"},
		{"anthropic", "Claude-Haiku-4-5", "haiku"},
		{"anthropic", "claude-2.1", "claude-2.1"},
		{"anthropic", "claude-future-20270101", "claude-future"},
		{"anthropic", "claude-future-20270101[1m]", "claude-future"},
		{"openai", "gpt-5", "gpt-5"},
		{"openai", "gpt-5-codex", "gpt-5-codex"},
		{"openai", "gpt-4o-2024-08-06", "gpt-4o"},
		{"openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"},
		{"openai", "gpt-4-0613", "gpt-4"},
		{"openai", "gpt-4-1106-preview", "gpt-4-1106-preview"},
		{"openai", "o3-20250416", "o3"},
		{"gemini", "gemini-2.5-pro", "gemini-2.5-pro"},
		{"gemini", "models/gemini-2.5-flash", "gemini-2.5-flash"},
		{"gemini", "gemini-2.5-flash-preview-05-20", "gemini-2.5-flash-preview-05-20"},
		{"anthropic", "", ""},
	}
	for _, tt := range tests {
		if got := Family(tt.platform, tt.model); got != tt.want {
			t.Errorf("Family(%q, %q) = %q, want %q", tt.platform, tt.model, got, tt.want)
		}
	}
}

// model returns req() for model.
func model(m string) Request {
	r := req()
	r.Model = m
	return r
}

const (
	opus   = "claude-opus-4-1"
	sonnet = "claude-sonnet-4-5"
)

// favoured returns the accounts a (priority 1) and b (priority 2).
func favoured() []Account {
	a, b := acct("a"), acct("b")
	a.Priority, b.Priority = 1, 2
	a.Concurrency, b.Concurrency = 4, 4
	return []Account{a, b}
}

// on acquires r and returns the account it got, releasing with o.
func on(t *testing.T, s *Scheduler, r Request, o Outcome) string {
	t.Helper()
	l := mustAcquire(t, s, r)
	l.Release(o)
	return l.Account().Name
}

func TestFamilyBench(t *testing.T) {
	s, clk := mustNew(t, Config{Accounts: favoured(), MaxCooldown: 24 * time.Hour})
	reset := clk.Now().Add(3 * time.Hour)
	if got := on(t, s, model(opus), Outcome{Kind: RateLimited, Scope: "opus", ResetAt: reset, Reason: "weekly opus limit"}); got != "a" {
		t.Fatalf("first opus on %s, want a", got)
	}
	st := status(t, s, "a")
	want := []FamilyStatus{{Family: "opus", State: StateRateLimited, Until: reset, Reason: "weekly opus limit", Windows: []Window{}}}
	if st.State != StateOK || !reflect.DeepEqual(st.Families, want) {
		t.Fatalf("a = %s, families %+v; want ok with opus benched", st.State, st.Families)
	}
	// Other families keep using a; opus goes to b.
	if got := on(t, s, model(sonnet), Outcome{Kind: Success}); got != "a" {
		t.Fatalf("sonnet on %s, want a", got)
	}
	if got := on(t, s, model(opus), Outcome{Kind: Success}); got != "b" {
		t.Fatalf("opus while benched on %s, want b", got)
	}
	// A sonnet success does not end the opus bench.
	if got := status(t, s, "a").Families; len(got) != 1 || got[0].State != StateRateLimited {
		t.Fatalf("a families after a sonnet success = %+v, want opus still benched", got)
	}
	// Without b, opus has nowhere to go.
	_ = s.Disable("b")
	if _, err := s.Acquire(t.Context(), model(opus)); err != ErrNoAccount {
		t.Fatalf("opus with a benched and b disabled: %v, want ErrNoAccount", err)
	}
	_ = s.Enable("b")
	clk.Advance(3 * time.Hour)
	if got := on(t, s, model(opus), Outcome{Kind: Success}); got != "a" {
		t.Fatalf("opus after the reset on %s, want a", got)
	}
	if got := status(t, s, "a").Families; len(got) != 0 {
		t.Fatalf("a families after the reset = %+v, want none", got)
	}
}

func TestFamilyBenchEnds(t *testing.T) {
	far := 100 * time.Hour
	tests := []struct {
		name  string
		end   func(t *testing.T, s *Scheduler, held *Lease, clk *clock)
		bench bool // opus still benched on a
	}{
		{"success of its own family", func(_ *testing.T, _ *Scheduler, held *Lease, _ *clock) {
			held.Release(Outcome{Kind: Success})
		}, false},
		{"success of another family", func(t *testing.T, s *Scheduler, held *Lease, _ *clock) {
			held.Release(Outcome{Kind: Canceled})
			on(t, s, model(sonnet), Outcome{Kind: Success})
		}, true},
		{"admin clear", func(t *testing.T, s *Scheduler, held *Lease, _ *clock) {
			held.Release(Outcome{Kind: Canceled})
			if err := s.Clear("a"); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"enable leaves it", func(t *testing.T, s *Scheduler, held *Lease, _ *clock) {
			held.Release(Outcome{Kind: Canceled})
			_ = s.Enable("a")
		}, true},
		{"capped by MaxCooldown", func(_ *testing.T, _ *Scheduler, held *Lease, clk *clock) {
			held.Release(Outcome{Kind: Canceled})
			clk.Advance(2 * time.Hour)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := mustNew(t, Config{Accounts: favoured(), MaxCooldown: 2 * time.Hour})
			held := mustAcquire(t, s, model(opus)) // in flight when the limit comes
			on(t, s, model(opus), Outcome{Kind: RateLimited, Scope: "opus", ResetAt: clk.Now().Add(far)})
			tt.end(t, s, held, clk)
			fs := status(t, s, "a").Families
			if got := len(fs) == 1 && fs[0].State == StateRateLimited; got != tt.bench {
				t.Fatalf("opus benched = %v (%+v), want %v", got, fs, tt.bench)
			}
		})
	}
}

func TestStickySessionMovesOnceWhenFamilyBenched(t *testing.T) {
	s, clk := mustNew(t, Config{Accounts: favoured()})
	r := model(opus)
	r.Session = "s1"
	s.Bind("g", "s1", "a")
	on(t, s, model(opus), Outcome{Kind: RateLimited, Scope: "opus", ResetAt: clk.Now().Add(30 * time.Minute)})
	l := mustAcquire(t, s, r)
	if l.Account().Name != "b" || l.Sticky() {
		t.Fatalf("s1 on %s sticky %v, want b not sticky", l.Account().Name, l.Sticky())
	}
	l.Release(Outcome{Kind: Success})
	clk.Advance(31 * time.Minute) // the bench is over; s1 stays where it moved
	l = mustAcquire(t, s, r)
	if l.Account().Name != "b" || !l.Sticky() {
		t.Fatalf("s1 after the bench on %s sticky %v, want b sticky", l.Account().Name, l.Sticky())
	}
	l.Release(Outcome{Kind: Success})
}

func TestFamilyBenchWakesOnlyItsWaiters(t *testing.T) {
	a, b := acct("a"), acct("b")
	a.Priority, b.Priority = 1, 2
	s, clk := mustNew(t, Config{Accounts: []Account{a, b}})
	held := mustAcquire(t, s, model(sonnet))        // a
	busy := mustAcquire(t, s, model(sonnet))        // b
	opusW := goAcquire(t.Context(), s, model(opus)) // both full: queues on a
	waiting(t, s, 1)
	sonnetW := goAcquire(t.Context(), s, model(sonnet)) // behind it
	waiting(t, s, 2)
	// The limit comes back on a's lease: opus is benched there. The opus
	// waiter selects again (and queues on b); the sonnet one gets a's slot.
	held.Release(Outcome{Kind: RateLimited, Scope: "opus", ResetAt: clk.Now().Add(time.Hour)})
	got := recv(t, sonnetW)
	if got.err != nil || got.l.Account().Name != "a" {
		t.Fatalf("sonnet waiter got %v, %v; want a", got.l, got.err)
	}
	waitFor(t, "the opus waiter on b", func() bool { return status(t, s, "b").Waiting == 1 })
	busy.Release(Outcome{Kind: Success})
	if got := recv(t, opusW); got.err != nil || got.l.Account().Name != "b" {
		t.Fatalf("opus waiter got %v, %v; want b", got.l, got.err)
	} else {
		got.l.Release(Outcome{Kind: Canceled})
	}
	got.l.Release(Outcome{Kind: Canceled})
}

func TestFamilyStatePersists(t *testing.T) {
	st := &store{}
	clk := newClock()
	cfg := Config{Accounts: favoured(), Store: st, Now: clk.Now}
	s1, _ := mustNew(t, cfg)
	reset := clk.Now().Add(2 * time.Hour)
	wins := []Window{{Name: "5h", Utilization: 0.3}, {Name: "7d", Utilization: 0.95, ResetAt: reset, Scope: "opus"}}
	on(t, s1, model(opus), Outcome{Kind: RateLimited, Scope: "opus", ResetAt: reset, Windows: wins})
	s1.save(true)
	s2, _ := mustNew(t, cfg)
	st2 := status(t, s2, "a")
	if len(st2.Windows) != 1 || st2.Windows[0].Name != "5h" {
		t.Fatalf("account windows = %+v, want the unscoped 5h only", st2.Windows)
	}
	want := FamilyStatus{Family: "opus", State: StateRateLimited, Until: reset, Reason: "rate limited",
		Windows: []Window{wins[1]}}
	if len(st2.Families) != 1 || st2.Families[0].Family != want.Family || st2.Families[0].State != want.State ||
		!st2.Families[0].Until.Equal(want.Until) || len(st2.Families[0].Windows) != 1 || st2.Families[0].Windows[0] != want.Windows[0] {
		t.Fatalf("families after restart = %+v, want %+v", st2.Families, want)
	}
	if got := on(t, s2, model(opus), Outcome{Kind: Canceled}); got != "b" {
		t.Fatalf("opus after restart on %s, want b", got)
	}
	// Windows of one scope replace only that scope's.
	on(t, s2, model(sonnet), Outcome{Kind: Success, Windows: []Window{{Name: "5h", Utilization: 0.5}}})
	st2 = status(t, s2, "a")
	if len(st2.Windows) != 1 || st2.Windows[0].Utilization != 0.5 || len(st2.Families[0].Windows) != 1 {
		t.Fatalf("after an unscoped update: windows %+v families %+v", st2.Windows, st2.Families)
	}
}
