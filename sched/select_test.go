package sched

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestRank(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	resets := func(ds ...time.Duration) []Window {
		var ws []Window
		for _, d := range ds {
			ws = append(ws, Window{Name: "5h", ResetAt: now.Add(d)})
		}
		return ws
	}
	tests := []struct {
		name   string
		prefer bool
		cands  []candidate
		want   []string
	}{
		{
			name: "priority first",
			cands: []candidate{
				{Name: "b", Priority: 2, Limit: 1},
				{Name: "a", Priority: 1, Limit: 1, InFlight: 1},
				{Name: "c", Priority: 3, Limit: 1},
			},
			want: []string{"a", "b", "c"},
		},
		{
			name: "load is a ratio",
			cands: []candidate{
				{Name: "a", Limit: 2, InFlight: 1},  // 0.5
				{Name: "b", Limit: 10, InFlight: 3}, // 0.3
				{Name: "c", Limit: 4, InFlight: 4},  // 1
				{Name: "d", Limit: 1},               // 0
			},
			want: []string{"d", "b", "a", "c"},
		},
		{
			name: "waiters count as load",
			cands: []candidate{
				{Name: "a", Limit: 2, InFlight: 2, Waiting: 3},
				{Name: "b", Limit: 2, InFlight: 2, Waiting: 1},
			},
			want: []string{"b", "a"},
		},
		{
			name: "least recently used, never used first",
			cands: []candidate{
				{Name: "a", Limit: 1, LastUsed: ago(time.Minute)},
				{Name: "b", Limit: 1, LastUsed: ago(time.Hour)},
				{Name: "c", Limit: 1},
			},
			want: []string{"c", "b", "a"},
		},
		{
			name: "windows ignored unless preferred",
			cands: []candidate{
				{Name: "a", Limit: 1, LastUsed: ago(time.Hour), Windows: resets(3 * time.Hour)},
				{Name: "b", Limit: 1, LastUsed: ago(2 * time.Hour), Windows: resets(time.Hour)},
				{Name: "c", Limit: 1, LastUsed: ago(3 * time.Hour)},
			},
			want: []string{"c", "b", "a"},
		},
		{
			name:   "soonest reset, none last, past ignored",
			prefer: true,
			cands: []candidate{
				{Name: "a", Limit: 1, Windows: resets(3*time.Hour, 7*24*time.Hour)},
				{Name: "b", Limit: 1, Windows: resets(-time.Hour, 5*time.Hour)},
				{Name: "c", Limit: 1},
				{Name: "d", Limit: 1, Windows: resets(time.Hour)},
				{Name: "e", Limit: 1, Windows: resets(-time.Minute)},
			},
			want: []string{"d", "a", "b", "c", "e"},
		},
		{
			name:   "priority and load beat resets",
			prefer: true,
			cands: []candidate{
				{Name: "a", Priority: 1, Limit: 1, Windows: resets(time.Minute)},
				{Name: "b", Limit: 2, InFlight: 1, Windows: resets(time.Minute)},
				{Name: "c", Limit: 2, Windows: resets(time.Hour)},
			},
			want: []string{"c", "b", "a"},
		},
		{
			name:  "name breaks ties",
			cands: []candidate{{Name: "c", Limit: 1}, {Name: "a", Limit: 1}, {Name: "b", Limit: 1}},
			want:  []string{"a", "b", "c"},
		},
		{name: "empty", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rank(tt.cands, now, tt.prefer); !slices.Equal(got, tt.want) {
				t.Fatalf("rank = %v, want %v", got, tt.want)
			}
		})
	}
}

// rank returns the names of cands in the order better gives them.
func rank(cands []candidate, now time.Time, prefer bool) []string {
	cs := slices.Clone(cands)
	slices.SortStableFunc(cs, func(x, y candidate) int {
		switch {
		case better(&x, &y, now, prefer):
			return -1
		case better(&y, &x, now, prefer):
			return 1
		}
		return 0
	})
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func TestChoose(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		cands      []candidate
		free, best int
	}{
		{"empty", nil, -1, -1},
		{"all busy", []candidate{{Name: "a", Limit: 1, InFlight: 1}, {Name: "b", Limit: 1, InFlight: 1, Waiting: 1}}, -1, 0},
		{"preferred is full", []candidate{
			{Name: "backup", Priority: 1, Limit: 1, Free: true},
			{Name: "main", Limit: 1, InFlight: 1},
			{Name: "main2", Limit: 2, InFlight: 1, Free: true},
		}, 2, 2},
		{"only backup free", []candidate{
			{Name: "backup", Priority: 1, Limit: 1, Free: true},
			{Name: "main", Limit: 1, InFlight: 1},
		}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			free, best := choose(tt.cands, now, false)
			if free != tt.free || best != tt.best {
				t.Fatalf("choose = %d, %d, want %d, %d", free, best, tt.free, tt.best)
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	mapped := acct("mapped")
	mapped.ModelMap = map[string]string{"claude-sonnet-4-5": "claude-sonnet-4-5-20250929", "opus": "claude-opus-4-1"}
	mapped.Models = []string{"claude-sonnet-*", "claude-opus-4-1"}
	haiku := acct("haiku")
	haiku.Models = []string{"claude-haiku-*"}
	haiku.Priority = -1
	openai := acct("openai")
	openai.Platform = "openai"
	other := acct("other")
	other.Group = "h"
	pool := []Account{mapped, haiku, openai, other}

	tests := []struct {
		name     string
		r        Request
		want     string
		upstream string
		err      error
	}{
		{"map then allow", Request{Group: "g", Platform: "anthropic", Model: "claude-sonnet-4-5"}, "mapped", "claude-sonnet-4-5-20250929", nil},
		{"alias", Request{Group: "g", Platform: "anthropic", Model: "opus"}, "mapped", "claude-opus-4-1", nil},
		{"glob on upstream name", Request{Group: "g", Platform: "anthropic", Model: "claude-haiku-4-5"}, "haiku", "claude-haiku-4-5", nil},
		{"not allowed anywhere", Request{Group: "g", Platform: "anthropic", Model: "gpt-5"}, "", "", ErrNoAccount},
		{"excluded", Request{Group: "g", Platform: "anthropic", Model: "opus", Exclude: []string{"mapped"}}, "", "", ErrNoAccount},
		{"platform", Request{Group: "g", Platform: "openai", Model: "gpt-5"}, "openai", "gpt-5", nil},
		{"group", Request{Group: "h", Platform: "anthropic", Model: "x"}, "other", "x", nil},
		{"unknown group", Request{Group: "z", Platform: "anthropic", Model: "x"}, "", "", ErrNoAccount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustNew(t, Config{Accounts: pool})
			l, err := s.Acquire(t.Context(), tt.r)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Acquire error = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			defer l.Release(Outcome{})
			if got := l.Account().Name; got != tt.want {
				t.Fatalf("account = %q, want %q", got, tt.want)
			}
			if got := l.UpstreamModel(); got != tt.upstream {
				t.Fatalf("upstream model = %q, want %q", got, tt.upstream)
			}
		})
	}
}

func TestSelectionSpreadsAndPrefers(t *testing.T) {
	a, b, backup := acct("a"), acct("b"), acct("backup")
	a.Concurrency, b.Concurrency = 2, 2
	backup.Priority = 5
	s, clk := mustNew(t, Config{Accounts: []Account{backup, b, a}})
	var got []string
	var leases []*Lease
	for range 5 {
		l := mustAcquire(t, s, req())
		clk.Advance(time.Second)
		got = append(got, l.Account().Name)
		leases = append(leases, l)
	}
	// a and b alternate by load then LRU; backup only once both are full.
	if want := []string{"a", "b", "a", "b", "backup"}; !slices.Equal(got, want) {
		t.Fatalf("accounts = %v, want %v", got, want)
	}
	for _, l := range leases {
		l.Release(Outcome{})
	}
}

func TestModelCacheIsBounded(t *testing.T) {
	a := &account{Account: acct("a")}
	a.Models = []string{"claude-*"}
	for i := range 3 * maxModelCache {
		m := fmt.Sprint("claude-", i)
		if up, _, ok := a.model(m); !ok || up != m {
			t.Fatalf("model(%q) = %q, %v", m, up, ok)
		}
	}
	if len(a.models) > maxModelCache {
		t.Fatalf("cache holds %d models, want at most %d", len(a.models), maxModelCache)
	}
	if _, _, ok := a.model("gpt-5"); ok {
		t.Fatal("gpt-5 allowed by claude-*")
	}
}

func TestBadConfig(t *testing.T) {
	bad := acct("bad")
	bad.Models = []string{"[x"}
	for name, cfg := range map[string]Config{
		"glob":      {Accounts: []Account{bad}},
		"duplicate": {Accounts: []Account{acct("a"), acct("a")}},
		"no name":   {Accounts: []Account{{}}},
		"negative":  {StickyTTL: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
}
