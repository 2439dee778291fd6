package kv_test

import (
	"context"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"subgate/kv"
	"subgate/ledger"
)

// TestRestartKeepsSpend records spend through a Ledger on kv, closes
// both, reopens the file with a new Ledger and Rebuild: every window of
// every key reports the same usage, so a restart resets nobody's spend.
func TestRestartKeepsSpend(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Skip(err)
	}
	path := filepath.Join(t.TempDir(), "subgate.db")
	now := time.Date(2026, 3, 9, 9, 0, 0, 0, la) // the Monday after spring forward
	var mu sync.Mutex
	clock := now.Add(-35 * 24 * time.Hour)
	nowFn := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	setNow := func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }

	db, err := kv.Open(path, kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ledger.Config{Store: db, Now: nowFn, Location: la, FlushInterval: time.Millisecond}
	led := ledger.New(cfg)
	done := make(chan struct{})
	go func() { defer close(done); led.Run(context.Background()) }()
	keys := []string{"alice", "bob"}
	lim := ledger.Limits{Limit5h: 50_000_000, LimitDay: 50_000_000, LimitWeek: 100_000_000, Quota: 1e9}
	i := 0
	for at := now.Add(-35 * 24 * time.Hour); at.Before(now); at = at.Add(17 * time.Minute) {
		setNow(at)
		key := keys[i%2]
		res, err := led.Reserve(key, lim, 5000)
		if err != nil {
			t.Fatal(err)
		}
		led.Record(ledger.Record{Key: key, Account: "acc", Model: "claude-haiku-4-5",
			Usage: ledger.Usage{InputTokens: int64(1000 + i%7*100), OutputTokens: 200}, Status: 200,
			Multiplier: 1.5, Reservation: res})
		i++
	}
	setNow(now)
	want := map[string][]ledger.WindowUsage{}
	for _, k := range keys {
		want[k] = led.KeyUsage(k, lim)
	}
	led.Close()
	<-done
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = kv.Open(path, kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg.Store = db
	led2 := ledger.New(cfg)
	if err := led2.Rebuild(now); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		got := led2.KeyUsage(k, lim)
		if !reflect.DeepEqual(got, want[k]) {
			t.Errorf("key %s after restart:\n got %+v\nwant %+v", k, got, want[k])
		}
		for _, u := range got {
			if u.Used == 0 {
				t.Errorf("key %s: %s window empty; the test records miss it", k, u.Window)
			}
		}
	}
}
