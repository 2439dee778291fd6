package kv_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"subgate/kv"
	"subgate/kv/kvtest"
	"subgate/ledger"
)

// benchShape is the traffic the ledger benchmarks generate: 50 keys, each
// bound to one of 5 accounts and using 2 of 4 models, the shape of a
// subscription shared by a team.
const (
	benchKeys     = 50
	benchAccounts = 5
)

var benchModels = []string{"claude-sonnet-4-5", "claude-opus-4-5", "claude-haiku-4-5", "claude-sonnet-4-6"}

// benchRecord returns the i-th synthetic record at time at.
func benchRecord(i int, at time.Time) ledger.Record {
	k := i % benchKeys
	model := benchModels[(k+i/benchKeys%2)%len(benchModels)]
	r := ledger.Record{
		Time: at, Key: fmt.Sprintf("key-%02d", k), Account: fmt.Sprintf("claude-max-%d", k%benchAccounts),
		Platform: "anthropic", Model: model, UpstreamModel: model + "-20250929",
		Usage: ledger.Usage{InputTokens: int64(50 + i%400), OutputTokens: int64(200 + i%3000),
			CacheCreationTokens: int64(i % 5000), CacheCreation5m: int64(i % 5000), CacheReadTokens: int64(20_000 + i%60_000)},
		Stream: true, Status: 200, Duration: time.Duration(2000+i%20_000) * time.Millisecond,
		TTFT: time.Duration(300+i%2000) * time.Millisecond, RequestID: fmt.Sprintf("req_011CV%018d", i),
		Multiplier: 1,
	}
	r.ListMicros = 1000 + int64(i%50_000)
	r.CostMicros = r.ListMicros
	if i%97 == 0 {
		r.Status, r.Error = 529, "upstream overloaded"
	}
	return r
}

// BenchmarkLedgerRecord measures the sustained rate of Reserve + Record
// from many goroutines through the group-commit writer into kv, rollups
// included, until everything is committed; and the bytes per record on
// disk.
func BenchmarkLedgerRecord(b *testing.B) {
	db := kvtest.Open(b)
	led := ledger.New(ledger.Config{Store: db})
	done := make(chan struct{})
	go func() { defer close(done); led.Run(context.Background()) }()
	lim := ledger.Limits{RPM: 1 << 30, LimitDay: 1 << 50}
	var seq atomic.Int64
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(seq.Add(1))
			r := benchRecord(i, time.Time{})
			r.CostMicros, r.ListMicros = 0, 0 // priced by the ledger
			res, err := led.Reserve(r.Key, lim, led.Estimate(r.Model, 30_000, 4096, 1))
			if err != nil {
				b.Error(err)
				return
			}
			r.Reservation = res
			led.Record(r)
		}
	})
	led.Close() // waits for the last commit
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	n := seq.Load()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
	if n >= 10_000 {
		reportSize(b, db, n)
	}
}

// reportSize reports the file size and the pages in use (what WriteTo
// copies) per record.
func reportSize(b *testing.B, db *kv.DB, n int64) {
	b.Helper()
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

// BenchmarkLedgerMillion fills a ledger with 1,000,000 records over 30
// days through direct Append batches, then times what the dashboard and
// /v1/usage ask: KeyUsage (memory), Summary over 30 days by hour and by
// day, and Top by key, account and model (rollups). Each must stay under
// 50 ms. Rebuild, run once at startup, is timed too. Skipped with -short.
func BenchmarkLedgerMillion(b *testing.B) {
	if testing.Short() {
		b.Skip("needs a million records")
	}
	const total = 1_000_000
	const batch = 10_000
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		b.Skip(err)
	}
	end := time.Date(2026, 3, 31, 12, 0, 0, 0, la)
	begin := end.Add(-30 * 24 * time.Hour)
	step := end.Sub(begin) / total

	db := kvtest.Open(b)
	gen := time.Now()
	recs := make([]ledger.Record, batch)
	for n := 0; n < total; n += batch {
		for j := range recs {
			recs[j] = benchRecord(n+j, begin.Add(time.Duration(n+j)*step))
		}
		if err := db.Append(recs, ledger.Aggregate(recs)); err != nil {
			b.Fatal(err)
		}
	}
	fill := time.Since(gen)
	fi, err := os.Stat(db.Path())
	if err != nil {
		b.Fatal(err)
	}
	used, err := db.WriteTo(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	var rollups int64
	db.Rollups(time.Time{}, end.Add(time.Hour), func(ledger.Rollup) bool { rollups++; return true })
	b.Logf("filled %d records in %v (%.0f records/s in batches of %d); file %.1f B/record, used %.1f B/record; %d rollup rows",
		total, fill.Round(time.Millisecond), total/fill.Seconds(), batch,
		float64(fi.Size())/total, float64(used)/total, rollups)

	led := ledger.New(ledger.Config{Store: db, Location: la, Now: func() time.Time { return end }})
	if err := led.Rebuild(end); err != nil {
		b.Fatal(err)
	}

	lim := ledger.Limits{Limit5h: 1 << 40, LimitDay: 1 << 40, LimitWeek: 1 << 40, LimitMonth: 1 << 40, Quota: 1 << 40}
	queries := []struct {
		name string
		fn   func() error
	}{
		{"Rebuild", func() error { return led.Rebuild(end) }},
		{"KeyUsage", func() error {
			if ws := led.KeyUsage("key-07", lim); ws[4].Used == 0 {
				return fmt.Errorf("no spend: %+v", ws)
			}
			return nil
		}},
		{"Summary30dHourly", func() error { _, err := led.Summary(begin, end, time.Hour); return err }},
		{"Summary30dDaily", func() error { _, err := led.Summary(begin, end, 24*time.Hour); return err }},
		{"TopKey30d", func() error { _, err := led.Top(begin, end, "key", 10); return err }},
		{"TopAccount30d", func() error { _, err := led.Top(begin, end, "account", 10); return err }},
		{"TopModel30d", func() error { _, err := led.Top(begin, end, "model", 10); return err }},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				if err := q.fn(); err != nil {
					b.Fatal(err)
				}
			}
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per.Nanoseconds())/1e6, "ms/op")
			if per > 50*time.Millisecond && q.name != "Rebuild" {
				b.Errorf("%s takes %v, over the 50 ms budget", q.name, per)
			}
		})
	}
}
