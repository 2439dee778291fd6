package ledger

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestRebuildMatchesLive writes 40 days of records through one ledger,
// then rebuilds a second one from the same store: every key's usage in
// every window must come out the same, in a whole-hour zone with DST and
// in a half-hour zone, where the day starts inside a UTC hour.
func TestRebuildMatchesLive(t *testing.T) {
	for _, zone := range []string{"UTC", "America/Los_Angeles", "Asia/Kolkata"} {
		t.Run(zone, func(t *testing.T) {
			loc := mustLoad(t, zone)
			// The last day ends around a local midnight, so records fall on
			// both sides of the period starts.
			end := time.Date(2026, 3, 9, 0, 40, 0, 0, loc)
			start := end.Add(-40 * 24 * time.Hour)
			clk := newClock(start)
			cfg := Config{Now: clk.Now, Location: loc, BatchSize: 64}
			live, store, _ := newTestLedger(t, cfg)
			rng := rand.New(rand.NewPCG(7, 7))
			keys := []string{"alice", "bob", "carol"}
			for at := start; at.Before(end); at = at.Add(time.Duration(1+rng.IntN(40)) * time.Minute) {
				clk.Set(at)
				r := Record{Key: keys[rng.IntN(len(keys))], Account: "acc", Model: "claude-sonnet-4-5",
					Usage: Usage{InputTokens: int64(rng.IntN(5000)), OutputTokens: int64(rng.IntN(900))}, Status: 200}
				if rng.IntN(20) == 0 {
					r.Refused, r.Status = true, 429
				}
				live.Record(r)
			}
			live.Close()
			for _, now := range []time.Time{end, end.Add(3 * time.Minute)} {
				clk.Set(now)
				want := make(map[string][]WindowUsage)
				for _, k := range keys {
					want[k] = live.KeyUsage(k, Limits{})
				}
				cfg.Store = store
				rebuilt := New(cfg)
				if err := rebuilt.Rebuild(now); err != nil {
					t.Fatal(err)
				}
				var day int64
				for _, k := range keys {
					got := rebuilt.KeyUsage(k, Limits{})
					if !reflect.DeepEqual(got, want[k]) {
						t.Errorf("at %v key %s:\n rebuilt %+v\n    live %+v", now, k, got, want[k])
					}
					day += got[1].Used
				}
				if day == 0 {
					t.Error("no key spent anything today: the test data misses the day start")
				}
			}
		})
	}
}

// TestRebuildKeepsReservations: Rebuild while requests are in flight does
// not forget their reservations.
func TestRebuildKeepsReservations(t *testing.T) {
	l, _, _ := newTestLedger(t, Config{})
	res, err := l.Reserve("k", Limits{Quota: 1000}, 600)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Rebuild(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reserve("k", Limits{Quota: 1000}, 600); err == nil {
		t.Fatal("reservation lost by Rebuild")
	}
	l.Release(res)
	if got := reservedOf(l, "k"); got != 0 {
		t.Fatalf("reserved = %d, want 0", got)
	}
}

func TestRebuildRPM(t *testing.T) {
	now := time.Date(2026, 4, 8, 12, 0, 0, 0, time.UTC)
	clk := newClock(now.Add(-90 * time.Second))
	l, store, _ := newTestLedger(t, Config{Now: clk.Now})
	for range 4 {
		l.Record(Record{Key: "k", Status: 200}) // made 90s to 30s ago
		clk.Add(20 * time.Second)
	}
	l.Record(Record{Key: "k", Status: 429, Refused: true})
	l.Close()
	clk.Set(now)
	l2 := New(Config{Store: store, Now: clk.Now})
	if err := l2.Rebuild(now); err != nil {
		t.Fatal(err)
	}
	// Two of the four were in the last minute: one slot of three is left.
	if _, err := l2.Reserve("k", Limits{RPM: 3}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l2.Reserve("k", Limits{RPM: 3}, 0); err == nil {
		t.Fatal("RPM not rebuilt")
	}
}
