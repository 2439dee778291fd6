package ledger

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// flakyStore is a memStore whose Append fails while down is set, and
// for the next failNext calls.
type flakyStore struct {
	memStore
	down     atomic.Bool
	failNext atomic.Int64
	fails    atomic.Int64
}

func (s *flakyStore) Append(batch []Record, rollups []Rollup) error {
	if s.down.Load() || s.failNext.Add(-1) >= 0 {
		s.fails.Add(1)
		return errors.New("disk I/O error")
	}
	return s.memStore.Append(batch, rollups)
}

// assertInOrder checks that the store holds exactly the records with
// Status 0..n-1, in that order, each once.
func assertInOrder(t *testing.T, s *memStore, n int) {
	t.Helper()
	recs, _ := s.snapshot()
	if len(recs) != n {
		t.Fatalf("store holds %d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if r.Status != i {
			t.Fatalf("record %d has Status %d: lost, repeated or out of order", i, r.Status)
		}
	}
}

// TestStoreFailsThenRecovers: records the store refuses are kept in
// memory, in order, while it fails; StoreFailing tells admission; spend
// is settled from them at once; once the store recovers every record
// lands, in order, once, and each state change is logged once.
func TestStoreFailsThenRecovers(t *testing.T) {
	const before, during, after = 10, 200, 10
	store := &flakyStore{}
	l, _, logs := newTestLedger(t, Config{Store: store, FlushInterval: time.Millisecond, BatchSize: 16})
	l.maxDelay = 10 * time.Millisecond
	runDone := startRun(context.Background(), l)
	rec := func(i int) {
		l.Record(Record{Key: "k", Model: "claude-sonnet-4-5", Status: i,
			Usage: Usage{InputTokens: 1000, OutputTokens: 500}}) // 10,500 µ$
	}
	for i := range before {
		rec(i)
	}
	waitFor(t, "the first records committed", func() bool { recs, _ := store.snapshot(); return len(recs) == before })
	if l.StoreFailing() {
		t.Fatal("StoreFailing before any failure")
	}

	store.down.Store(true)
	for i := before; i < before+during; i++ {
		rec(i)
		if i%50 == 0 {
			time.Sleep(2 * time.Millisecond) // several flush intervals, several failed batches
		}
	}
	waitFor(t, "every record pending", func() bool { return l.StoreFailing() && l.Pending() == during })
	waitFor(t, "several failed appends", func() bool { return store.fails.Load() >= 3 })
	// Spend is settled from pending records: budgets see it now.
	assertUsage(t, l, "k", map[Window]int64{WindowTotal: (before + during) * 10_500})
	if got := l.WriteErrors(); got < 3 {
		t.Errorf("WriteErrors() = %d, want >= 3", got)
	}

	store.down.Store(false)
	waitFor(t, "the backlog written", func() bool { return !l.StoreFailing() && l.Pending() == 0 })
	for i := before + during; i < before+during+after; i++ {
		rec(i)
	}
	l.Close()
	<-runDone

	assertInOrder(t, &store.memStore, before+during+after)
	assertUsage(t, l, "k", map[Window]int64{WindowTotal: (before + during + after) * 10_500})
	if got := l.Dropped(); got != 0 {
		t.Errorf("Dropped() = %d, want 0", got)
	}
	out := logs.String()
	for _, msg := range []string{"ledger store failing", "ledger store recovered"} {
		if got := strings.Count(out, msg); got != 1 {
			t.Errorf("%q logged %d times, want once; logs:\n%s", msg, got, out)
		}
	}
	if got := strings.Count(out, "level=ERROR"); got != 2 {
		t.Errorf("%d ERROR lines, want 2 (failing, recovered); logs:\n%s", got, out)
	}
}

// TestBacklogBounded: past MaxPending the newest records are dropped,
// counted and logged once; the oldest still land, in order.
func TestBacklogBounded(t *testing.T) {
	store := &flakyStore{}
	store.down.Store(true)
	l, _, logs := newTestLedger(t, Config{Store: store, MaxPending: 10, FlushInterval: time.Hour})
	l.maxDelay = 10 * time.Millisecond
	for i := range 25 {
		l.Record(Record{Status: i})
	}
	l.commitPending() // as Run would: the store refuses, 10 are kept
	for i := 25; i < 30; i++ {
		l.Record(Record{Status: i})
	}
	l.commitPending()
	if got, want := l.Dropped(), uint64(20); got != want {
		t.Errorf("Dropped() = %d, want %d", got, want)
	}
	if got := l.Pending(); got != 10 {
		t.Errorf("Pending() = %d, want 10", got)
	}
	if got := strings.Count(logs.String(), "ledger backlog full"); got != 1 {
		t.Errorf("backlog full logged %d times, want once; logs:\n%s", got, logs)
	}
	store.down.Store(false)
	l.Close()
	assertInOrder(t, &store.memStore, 10)
}

// TestCloseRetriesFailingStore: at Close a failing store is retried; when
// it recovers in time nothing is lost.
func TestCloseRetriesFailingStore(t *testing.T) {
	store := &flakyStore{}
	store.failNext.Store(appendAttempts - 1) // the last try succeeds
	l, _, _ := newTestLedger(t, Config{Store: store, FlushInterval: time.Hour})
	for i := range 5 {
		l.Record(Record{Status: i})
	}
	l.Close()
	assertInOrder(t, &store.memStore, 5)
	if l.Dropped() != 0 || l.StoreFailing() {
		t.Fatalf("Dropped() = %d, StoreFailing() = %v after recovery", l.Dropped(), l.StoreFailing())
	}
	if got, want := store.fails.Load(), int64(appendAttempts-1); got != want {
		t.Fatalf("%d failed appends, want %d", got, want)
	}
}
