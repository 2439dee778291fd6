package kv_test

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"testing"
	"time"

	"subgate/kv/kvtest"
	"subgate/ledger"
)

// t0 is UTC with no monotonic reading, so times built from it survive a
// JSON round trip unchanged and records compare with reflect.DeepEqual.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)

// records returns n records one millisecond apart from start, each with a
// distinct RequestID.
func records(start time.Time, n int) []ledger.Record {
	recs := make([]ledger.Record, n)
	for i := range recs {
		recs[i] = ledger.Record{
			Time:          start.Add(time.Duration(i) * time.Millisecond),
			Key:           "team-a",
			Account:       "claude-max-1",
			Platform:      "anthropic",
			Model:         "claude-sonnet-4-5",
			UpstreamModel: "claude-sonnet-4-5-20250929",
			Usage: ledger.Usage{
				InputTokens: 1200 + int64(i), OutputTokens: 350, CacheCreationTokens: 2048,
				CacheCreation5m: 2048, CacheReadTokens: 30000,
			},
			CostMicros: 18250,
			ListMicros: 18250,
			Stream:     true,
			Status:     200,
			Duration:   4200 * time.Millisecond,
			TTFT:       900 * time.Millisecond,
			RequestID:  fmt.Sprintf("req_%06d", i),
		}
	}
	return recs
}

func requestIDs(recs []ledger.Record) []string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.RequestID
	}
	return ids
}

func scanAll(t *testing.T, s ledger.Store, from, to time.Time) []ledger.Record {
	t.Helper()
	var out []ledger.Record
	if err := s.Scan(from, to, func(r ledger.Record) bool { out = append(out, r); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppendScan(t *testing.T) {
	db := kvtest.Open(t)
	recs := records(t0, 20)
	// Append out of time order, in two batches: Scan still returns time order.
	if err := db.Append(recs[10:], ledger.Aggregate(recs[10:])); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(recs[:10], ledger.Aggregate(recs[:10])); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(nil, nil); err != nil {
		t.Fatal(err)
	}

	got := scanAll(t, db, time.Time{}, t0.Add(time.Hour))
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("Scan all = %v, want %v", requestIDs(got), requestIDs(recs))
	}

	tests := []struct {
		name     string
		from, to time.Time
		want     []ledger.Record
	}{
		{"from inclusive, to exclusive", recs[3].Time, recs[7].Time, recs[3:7]},
		{"between records", recs[3].Time.Add(time.Nanosecond), recs[7].Time.Add(time.Nanosecond), recs[4:8]},
		{"to before from", recs[7].Time, recs[3].Time, nil},
		{"empty range", recs[3].Time, recs[3].Time, nil},
		{"before all", t0.Add(-time.Hour), t0, nil},
		{"after all", recs[19].Time.Add(time.Nanosecond), t0.Add(time.Hour), nil},
		{"zero to", t0, time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scanAll(t, db, tt.from, tt.to)
			if got, want := requestIDs(got), requestIDs(tt.want); !reflect.DeepEqual(got, want) {
				t.Fatalf("Scan = %v, want %v", got, want)
			}
		})
	}
}

func TestScanStops(t *testing.T) {
	db := kvtest.Open(t)
	if err := db.Append(records(t0, 10), nil); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := db.Scan(t0, t0.Add(time.Hour), func(ledger.Record) bool {
		calls++
		return calls < 3
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := calls, 3; got != want {
		t.Fatalf("fn called %d times, want %d", got, want)
	}
}

// TestScanChunks scans across several read transactions and calls back
// into the DB from fn, which would deadlock if fn ran inside a transaction
// that a write then waited on.
func TestScanChunks(t *testing.T) {
	db := kvtest.Open(t)
	const n = 2500
	recs := records(t0, n)
	if err := db.Append(recs, ledger.Aggregate(recs)); err != nil {
		t.Fatal(err)
	}
	var got []ledger.Record
	err := db.Scan(t0, t0.Add(time.Hour), func(r ledger.Record) bool {
		got = append(got, r)
		if len(got)%1000 == 0 {
			if err := db.PutMeta("progress", r.RequestID); err != nil {
				t.Error(err)
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(requestIDs(got), requestIDs(recs)) {
		t.Fatalf("Scan returned %d records, want %d in order", len(got), n)
	}
}

func TestLast(t *testing.T) {
	db := kvtest.Open(t)
	if got, err := db.Last(5); err != nil || len(got) != 0 {
		t.Fatalf("Last on empty = %v, %v", got, err)
	}
	recs := records(t0, 10)
	if err := db.Append(recs, ledger.Aggregate(recs)); err != nil {
		t.Fatal(err)
	}
	got, err := db.Last(3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := requestIDs(got), requestIDs([]ledger.Record{recs[9], recs[8], recs[7]}); !reflect.DeepEqual(got, want) {
		t.Fatalf("Last(3) = %v, want %v", got, want)
	}
	if got, err := db.Last(100); err != nil || len(got) != 10 {
		t.Fatalf("Last(100) = %d records, %v; want 10", len(got), err)
	}
	if got, err := db.Last(0); err != nil || got != nil {
		t.Fatalf("Last(0) = %v, %v; want nil", got, err)
	}
}

func TestSameNanosecond(t *testing.T) {
	db := kvtest.Open(t)
	recs := records(t0, 5)
	for i := range recs {
		recs[i].Time = t0
	}
	if err := db.Append(recs[:3], ledger.Aggregate(recs[:3])); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(recs[3:], ledger.Aggregate(recs[3:])); err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, db, t0, t0.Add(time.Nanosecond))
	if got, want := requestIDs(got), requestIDs(recs); !reflect.DeepEqual(got, want) {
		t.Fatalf("Scan = %v, want %v (all distinct, in append order)", got, want)
	}
	last, err := db.Last(5)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := last[0].RequestID, recs[4].RequestID; got != want {
		t.Fatalf("Last(5)[0] = %s, want %s", got, want)
	}
}

// BenchmarkAppend measures the group-commit path: one transaction per batch
// of 256 records, each an fsync.
func BenchmarkAppend(b *testing.B) {
	const batch = 256
	db := kvtest.Open(b)
	recs := records(t0, batch)
	n := 0
	for b.Loop() {
		for i := range recs {
			recs[i].Time = t0.Add(time.Duration(n+i) * time.Millisecond)
		}
		if err := db.Append(recs, ledger.Aggregate(recs)); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")

	// The file grows ahead of its data (bbolt doubles the mmap up to 1 GiB),
	// so report both the file and the pages in use, which is what WriteTo
	// copies.
	fi, err := os.Stat(db.Path())
	if err != nil {
		b.Fatal(err)
	}
	used, err := db.WriteTo(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/float64(n), "file-B/record")
	b.ReportMetric(float64(used)/float64(n), "used-B/record")
}

// TestAppendReusesArena appends batches whose records outgrow the encoding
// arena kept between commits (long error texts) and then small ones that
// reuse it: every record reads back as written, so no commit's bytes were
// overwritten by a later one.
func TestAppendReusesArena(t *testing.T) {
	db := kvtest.Open(t)
	var all []ledger.Record
	for batch, size := range []int{3, 40, 2, 40, 1} {
		recs := records(t0.Add(time.Duration(batch)*time.Second), size)
		for i := range recs {
			recs[i].RequestID = fmt.Sprintf("req_%d_%d", batch, i)
			if batch%2 == 1 {
				recs[i].Status = 529
				recs[i].Error = fmt.Sprintf("%0*d", 300+i*7, i) // several arenas' worth
			}
		}
		if err := db.Append(recs, ledger.Aggregate(recs)); err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	got := scanAll(t, db, time.Time{}, t0.Add(time.Hour))
	if !reflect.DeepEqual(got, all) {
		t.Fatalf("Scan = %v, want %v", requestIDs(got), requestIDs(all))
	}
}
