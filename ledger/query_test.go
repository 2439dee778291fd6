package ledger

import (
	"context"
	"testing"
	"time"
)

// queryLedger returns a closed ledger in Los Angeles time holding
// records around the 2026 spring-forward day.
func queryLedger(t *testing.T) (*Ledger, *time.Location) {
	t.Helper()
	la := mustLoad(t, "America/Los_Angeles")
	l, _, _ := newTestLedger(t, Config{Location: la})
	at := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 10, 0, 0, la) }
	recs := []Record{
		{Time: at(7, 23), Key: "a", Account: "x", Model: "m1", CostMicros: 100, ListMicros: 50, Usage: Usage{InputTokens: 1}},
		{Time: at(8, 1), Key: "a", Account: "y", Model: "m1", CostMicros: 10, ListMicros: 500, Usage: Usage{OutputTokens: 2}},
		{Time: at(8, 3), Key: "b", Account: "x", Model: "m2", CostMicros: 20, ListMicros: 20, Status: 500},
		{Time: at(8, 23), Key: "b", Account: "x", Model: "m2", CostMicros: 30, ListMicros: 30},
		{Time: at(9, 0), Key: "c", Model: "m2", Refused: true, Status: 429},
	}
	for _, r := range recs {
		l.Record(r)
	}
	l.Close()
	return l, la
}

func TestSummaryDays(t *testing.T) {
	l, la := queryLedger(t)
	from := time.Date(2026, 3, 7, 12, 0, 0, 0, la)
	to := time.Date(2026, 3, 10, 0, 0, 0, 0, la)
	pts, err := l.Summary(from, to, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		start    time.Time
		requests int64
		cost     int64
		errors   int64
	}{
		{time.Date(2026, 3, 7, 0, 0, 0, 0, la), 1, 100, 0},
		{time.Date(2026, 3, 8, 0, 0, 0, 0, la), 3, 60, 1}, // 23 hours long
		{time.Date(2026, 3, 9, 0, 0, 0, 0, la), 1, 0, 0},
	}
	if len(pts) != len(want) {
		t.Fatalf("Summary = %d points, want %d: %+v", len(pts), len(want), pts)
	}
	for i, w := range want {
		p := pts[i]
		if !p.Start.Equal(w.start) || p.Start.Location() != la || p.Requests != w.requests ||
			p.CostMicros != w.cost || p.Errors != w.errors {
			t.Errorf("point %d = %v %+v; want %v requests %d cost %d errors %d",
				i, p.Start, p.Counts, w.start, w.requests, w.cost, w.errors)
		}
	}
	if pts[2].Refusals != 1 {
		t.Errorf("refusals on the 9th = %d, want 1", pts[2].Refusals)
	}
}

func TestSummaryHours(t *testing.T) {
	l, la := queryLedger(t)
	// 00:00 to 04:00 local on the spring-forward day is three hours.
	from := time.Date(2026, 3, 8, 0, 0, 0, 0, la)
	to := time.Date(2026, 3, 8, 4, 0, 0, 0, la)
	pts, err := l.Summary(from, to, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 3 {
		t.Fatalf("Summary = %d points, want 3", len(pts))
	}
	costs := []int64{0, 10, 20} // 00:00, 01:00, 03:00 PDT
	for i, c := range costs {
		if pts[i].CostMicros != c {
			t.Errorf("hour %d (%v) cost = %d, want %d", i, pts[i].Start, pts[i].CostMicros, c)
		}
	}
	if _, err := l.Summary(from, to, time.Minute); err == nil {
		t.Error("Summary with a one-minute step succeeded")
	}
	if pts, err := l.Summary(to, from, time.Hour); err != nil || pts != nil {
		t.Errorf("Summary over an empty range = %v, %v", pts, err)
	}
	if _, err := l.Summary(from, from.AddDate(2, 0, 0), time.Hour); err == nil {
		t.Error("Summary over two years of hours succeeded")
	}
}

func TestTop(t *testing.T) {
	l, la := queryLedger(t)
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, la)
	to := time.Date(2026, 4, 1, 0, 0, 0, 0, la)
	tests := []struct {
		by    string
		n     int
		names []string
	}{
		{"key", 0, []string{"a", "b", "c"}},
		{"key", 2, []string{"a", "b"}},
		{"account", 0, []string{"y", "x", ""}}, // by list price: y 500, x 100
		{"model", 1, []string{"m1"}},
	}
	for _, tt := range tests {
		gs, err := l.Top(from, to, tt.by, tt.n)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range gs {
			names = append(names, g.Name)
		}
		if len(names) != len(tt.names) {
			t.Errorf("Top(%s, %d) = %v, want %v", tt.by, tt.n, names, tt.names)
			continue
		}
		for i := range names {
			if names[i] != tt.names[i] {
				t.Errorf("Top(%s, %d) = %v, want %v", tt.by, tt.n, names, tt.names)
				break
			}
		}
	}
	gs, _ := l.Top(from, to, "key", 1)
	if got := gs[0]; got.CostMicros != 110 || got.ListMicros != 550 || got.Requests != 2 {
		t.Errorf("Top key a = %+v", got)
	}
	if _, err := l.Top(from, to, "platform", 3); err == nil {
		t.Error("Top by platform succeeded")
	}
}

func TestExport(t *testing.T) {
	l, la := queryLedger(t)
	var keys []string
	err := l.Export(time.Date(2026, 3, 8, 0, 0, 0, 0, la), time.Date(2026, 3, 9, 0, 0, 0, 0, la), func(r Record) bool {
		keys = append(keys, r.Key)
		return len(keys) < 2
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != "a" || keys[1] != "b" {
		t.Fatalf("Export = %v, want [a b] (stopped after 2)", keys)
	}
}

func TestPrune(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l, store, _ := newTestLedger(t, Config{Now: func() time.Time { return start }})
	const n = 5000
	for i := range n {
		l.Record(Record{Key: "k", Time: start.Add(time.Duration(i) * time.Second), CostMicros: 1})
	}
	l.Close()
	before := start.Add(4500 * time.Second)
	got, err := l.Prune(before)
	if err != nil {
		t.Fatal(err)
	}
	if got != 4500 {
		t.Fatalf("Prune = %d, want 4500", got)
	}
	recs, _ := store.snapshot()
	if len(recs) != 500 || recs[0].Time.Before(before) {
		t.Fatalf("%d records left, first at %v", len(recs), recs[0].Time)
	}
	// Rollups are kept.
	sum, err := l.Totals(start, start.Add(24*time.Hour), nil)
	if err != nil || sum.Requests != n {
		t.Fatalf("Totals after Prune = %d requests, %v; want %d", sum.Requests, err, n)
	}
}

// TestRunPrunes: Run deletes records older than RetentionDays when it
// starts.
func TestRunPrunes(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	l, store, _ := newTestLedger(t, Config{Now: func() time.Time { return now }, RetentionDays: 30})
	l.Record(Record{Key: "k", Time: now.AddDate(0, 0, -31)})
	l.Record(Record{Key: "k", Time: now.AddDate(0, 0, -29)})
	l.Close() // commits both; Run below prunes the old one
	l2 := New(Config{Store: store, Now: func() time.Time { return now }, RetentionDays: 30})
	ctx, cancel := context.WithCancel(context.Background())
	done := startRun(ctx, l2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if recs, _ := store.snapshot(); len(recs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not prune the 31-day-old record")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}
