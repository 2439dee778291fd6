package ledger

import (
	"strings"
	"testing"
	"time"
)

func TestAggregate(t *testing.T) {
	h := time.Date(2026, 4, 8, 10, 0, 0, 0, time.UTC)
	recs := []Record{
		{Time: h.Add(time.Minute), Key: "a", Account: "acc", Model: "m", Usage: Usage{InputTokens: 10, OutputTokens: 1}, CostMicros: 5, ListMicros: 4, Status: 200},
		{Time: h.Add(59 * time.Minute), Key: "a", Account: "acc", Model: "m", Usage: Usage{CacheCreationTokens: 7, CacheReadTokens: 3}, CostMicros: 2, ListMicros: 2, Status: 529, Error: "overloaded"},
		{Time: h.Add(time.Hour), Key: "a", Account: "acc", Model: "m", CostMicros: 1, ListMicros: 1, Status: 200},
		{Time: h.Add(2 * time.Minute).In(time.FixedZone("x", 3600)), Key: "a", Account: "", Model: "m", Status: 429, Refused: true},
		{Time: h.Add(3 * time.Minute), Key: "a", Account: "acc", Model: "m", Status: 200, Intercepted: true},
		{Time: h, Key: "b\x00c", Account: "acc", Model: strings.Repeat("é", 100), Status: 200},
	}
	got := Aggregate(recs)
	want := []Rollup{
		{Hour: h, Key: "a", Account: "acc", Model: "m", Counts: Counts{Requests: 3, Errors: 1, Intercepted: 1,
			InputTokens: 10, OutputTokens: 1, CacheCreationTokens: 7, CacheReadTokens: 3, CostMicros: 7, ListMicros: 6}},
		{Hour: h.Add(time.Hour), Key: "a", Account: "acc", Model: "m", Counts: Counts{Requests: 1, CostMicros: 1, ListMicros: 1}},
		{Hour: h, Key: "a", Account: "", Model: "m", Counts: Counts{Requests: 1, Refusals: 1}},
		{Hour: h, Key: "b\uFFFDc", Account: "acc", Model: strings.Repeat("é", 64), Counts: Counts{Requests: 1}},
	}
	if len(got) != len(want) {
		t.Fatalf("Aggregate = %d rollups, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rollup %d = %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if Aggregate(nil) != nil {
		t.Error("Aggregate(nil) != nil")
	}
}

// TestRollupsMerge: the writer's batches become rollup deltas that the
// store sums, within a batch and across batches; refusals are counted but
// not billed.
func TestRollupsMerge(t *testing.T) {
	h := time.Date(2026, 4, 8, 10, 0, 0, 0, time.UTC)
	clk := newClock(h.Add(30 * time.Minute))
	l, store, _ := newTestLedger(t, Config{Now: clk.Now, BatchSize: 3})
	u := Usage{InputTokens: 1000, OutputTokens: 500} // 10_500 at sonnet list price
	for range 4 {
		l.Record(Record{Key: "k", Account: "acc", Model: "claude-sonnet-4-5", Usage: u, Status: 200})
	}
	l.Record(Record{Key: "k", Model: "claude-sonnet-4-5", Usage: u, Status: 403, Refused: true, Error: "model not allowed"})
	l.Record(Record{Key: "k", Account: "acc", Model: "claude-sonnet-4-5", Status: 502, Error: "upstream"})
	l.Close()

	if _, batches := store.snapshot(); len(batches) != 2 {
		t.Fatalf("batches = %v, want 2", batches)
	}
	sum, err := l.Totals(h, h.Add(time.Hour), func(r Rollup) bool { return r.Account == "acc" })
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{Requests: 5, Errors: 1, InputTokens: 4000, OutputTokens: 2000, CostMicros: 42_000, ListMicros: 42_000}
	if sum.Counts != want {
		t.Fatalf("Totals(acc) = %+v, want %+v", sum.Counts, want)
	}
	all, err := l.Totals(h, h.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if all.Requests != 6 || all.Refusals != 1 || all.CostMicros != 42_000 || all.InputTokens != 5000 {
		t.Fatalf("Totals(all) = %+v, want 6 requests, 1 refusal, cost 42000, 5000 input", all.Counts)
	}
	assertUsage(t, l, "k", map[Window]int64{WindowTotal: 42_000})
}
