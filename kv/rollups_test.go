package kv_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"subgate/kv/kvtest"
	"subgate/ledger"
)

func allRollups(t *testing.T, s ledger.Store, from, to time.Time) []ledger.Rollup {
	t.Helper()
	var out []ledger.Rollup
	if err := s.Rollups(from, to, func(r ledger.Rollup) bool { out = append(out, r); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRollupsMergeAcrossBatches(t *testing.T) {
	db := kvtest.Open(t)
	h := time.Date(2026, 4, 8, 10, 0, 0, 0, time.UTC)
	rec := func(min int, key string, cost int64) ledger.Record {
		return ledger.Record{Time: h.Add(time.Duration(min) * time.Minute), Key: key, Account: "acc",
			Model: "m", CostMicros: cost, ListMicros: cost, Usage: ledger.Usage{InputTokens: 10}, Status: 200}
	}
	b1 := []ledger.Record{rec(1, "a", 5), rec(2, "a", 7), rec(3, "b", 1), rec(61, "a", 2)}
	b2 := []ledger.Record{rec(4, "a", 100), {Time: h.Add(5 * time.Minute), Key: "a", Model: "m", Refused: true, Status: 429}}
	for _, b := range [][]ledger.Record{b1, b2} {
		if err := db.Append(b, ledger.Aggregate(b)); err != nil {
			t.Fatal(err)
		}
	}
	got := allRollups(t, db, time.Time{}, h.Add(24*time.Hour))
	c := func(req, in, cost int64) ledger.Counts {
		return ledger.Counts{Requests: req, InputTokens: in, CostMicros: cost, ListMicros: cost}
	}
	want := []ledger.Rollup{
		{Hour: h, Key: "a", Account: "", Model: "m", Counts: ledger.Counts{Requests: 1, Refusals: 1}},
		{Hour: h, Key: "a", Account: "acc", Model: "m", Counts: c(3, 30, 112)},
		{Hour: h, Key: "b", Account: "acc", Model: "m", Counts: c(1, 10, 1)},
		{Hour: h.Add(time.Hour), Key: "a", Account: "acc", Model: "m", Counts: c(1, 10, 2)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Rollups =\n%+v\nwant\n%+v", got, want)
	}

	// Bounds: hours >= from (rounded up) and < to.
	tests := []struct {
		name     string
		from, to time.Time
		n        int
	}{
		{"one hour", h, h.Add(time.Hour), 3},
		{"from inside the hour skips it", h.Add(time.Nanosecond), h.Add(2 * time.Hour), 1},
		{"to is exclusive", h.Add(time.Hour), h.Add(time.Hour), 0},
		{"to inside the hour keeps it", h, h.Add(time.Hour + time.Second), 4},
	}
	for _, tt := range tests {
		if got := allRollups(t, db, tt.from, tt.to); len(got) != tt.n {
			t.Errorf("%s: %d rollups, want %d", tt.name, len(got), tt.n)
		}
	}
	calls := 0
	db.Rollups(time.Time{}, h.Add(24*time.Hour), func(ledger.Rollup) bool { calls++; return false })
	if calls != 1 {
		t.Errorf("fn called %d times after returning false, want 1", calls)
	}
}

// TestRollupsChunks reads more rollups than one read transaction holds.
func TestRollupsChunks(t *testing.T) {
	db := kvtest.Open(t)
	h := time.Date(2026, 4, 8, 10, 0, 0, 0, time.UTC)
	const n = 10_000
	rs := make([]ledger.Rollup, n)
	for i := range rs {
		rs[i] = ledger.Rollup{Hour: h.Add(time.Duration(i/100) * time.Hour), Key: fmt.Sprintf("k%04d", i),
			Counts: ledger.Counts{Requests: 1}}
	}
	if err := db.Append(nil, rs); err != nil {
		t.Fatal(err)
	}
	got := allRollups(t, db, time.Time{}, h.Add(1000*time.Hour))
	if len(got) != n {
		t.Fatalf("%d rollups, want %d", len(got), n)
	}
	for i := 1; i < n; i++ {
		if got[i].Hour.Before(got[i-1].Hour) {
			t.Fatalf("rollup %d out of hour order", i)
		}
	}
}

func TestDeleteBefore(t *testing.T) {
	db := kvtest.Open(t)
	recs := records(t0, 100)
	if err := db.Append(recs, ledger.Aggregate(recs)); err != nil {
		t.Fatal(err)
	}
	cut := recs[70].Time
	n, err := db.DeleteBefore(cut, 30)
	if err != nil || n != 30 {
		t.Fatalf("DeleteBefore = %d, %v; want 30", n, err)
	}
	n, err = db.DeleteBefore(cut, 1000)
	if err != nil || n != 40 {
		t.Fatalf("second DeleteBefore = %d, %v; want 40", n, err)
	}
	if n, _ := db.DeleteBefore(cut, 1000); n != 0 {
		t.Fatalf("third DeleteBefore = %d, want 0", n)
	}
	left := scanAll(t, db, time.Time{}, t0.Add(time.Hour))
	if len(left) != 30 || left[0].RequestID != recs[70].RequestID {
		t.Fatalf("%d records left starting %s, want 30 from %s", len(left), left[0].RequestID, recs[70].RequestID)
	}
	// Rollups stay.
	var sum ledger.Counts
	for _, r := range allRollups(t, db, time.Time{}, t0.Add(24*time.Hour)) {
		sum.Add(r.Counts)
	}
	if sum.Requests != 100 {
		t.Fatalf("rollups count %d requests after delete, want 100", sum.Requests)
	}
}

// TestRecordRoundTrip stores every field of a record and reads it back.
func TestRecordRoundTrip(t *testing.T) {
	db := kvtest.Open(t)
	r := ledger.Record{
		Time: t0, Key: "k\x00é", Account: "acc", Platform: "anthropic", Model: "claude-sonnet-4-5",
		UpstreamModel: "claude-sonnet-4-5-20250929",
		Usage: ledger.Usage{InputTokens: 1, OutputTokens: 1 << 40, CacheCreationTokens: 3,
			CacheCreation5m: 2, CacheCreation1h: 1, CacheReadTokens: -5},
		CostMicros: 123456789, ListMicros: 98765, Stream: true, Status: 529,
		Duration: 90 * time.Second, TTFT: time.Millisecond, RequestID: "req_1", Intercepted: true,
		Error: "upstream overloaded", Refused: true, Multiplier: 1.3, Estimated: true,
	}
	if err := db.Append([]ledger.Record{r, {Time: t0.Add(time.Second)}}, nil); err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, db, t0, t0.Add(time.Minute))
	if len(got) != 2 {
		t.Fatalf("%d records, want 2", len(got))
	}
	if !reflect.DeepEqual(got[0], r) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got[0], r)
	}
	if !reflect.DeepEqual(got[1], ledger.Record{Time: t0.Add(time.Second)}) {
		t.Fatalf("zero record round trip: %+v", got[1])
	}
}
