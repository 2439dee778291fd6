package ledger

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedStore is a memStore whose Append waits until release is closed,
// so a test can hold the writer inside a commit.
type gatedStore struct {
	memStore
	release chan struct{}
	entered chan struct{} // closed when the first Append starts
	once    sync.Once
}

func newGatedStore() *gatedStore {
	return &gatedStore{release: make(chan struct{}), entered: make(chan struct{})}
}

func (s *gatedStore) Append(batch []Record, rollups []Rollup) error {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return s.memStore.Append(batch, rollups)
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline: only a hang fails it, never a slow machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// blockedRecords reports how many Records wait for room in the queue.
func blockedRecords(l *Ledger) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.blocked
}

// assertCommittedOnce checks that the store holds exactly the records
// with Status 0..n-1, each once, and that its rollups count n requests.
func assertCommittedOnce(t *testing.T, s *memStore, n int) {
	t.Helper()
	recs, _ := s.snapshot()
	if got, want := len(recs), n; got != want {
		t.Fatalf("store holds %d records, want %d", got, want)
	}
	seen := make([]bool, n)
	for _, r := range recs {
		if r.Status < 0 || r.Status >= n || seen[r.Status] {
			t.Fatalf("record %d unexpected or committed twice", r.Status)
		}
		seen[r.Status] = true
	}
	var requests int64
	s.mu.Lock()
	for _, r := range s.rollups {
		requests += r.Requests
	}
	s.mu.Unlock()
	if got, want := requests, int64(n); got != want {
		t.Fatalf("rollups count %d requests, want %d", got, want)
	}
}

func TestBackpressureManyProducers(t *testing.T) {
	const queue, workers, each = 16, 64, 2000
	store := newGatedStore()
	l, _, logs := newTestLedger(t, Config{Store: store, QueueSize: queue, BatchSize: 8,
		FlushInterval: time.Millisecond})
	runDone := startRun(context.Background(), l)

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				l.Record(Record{Key: "k", Model: "claude-sonnet-4-5", Status: w*each + i,
					Usage: Usage{InputTokens: 10, OutputTokens: 5}})
			}
		})
	}
	// The writer is held in its first Append: the queue fills and the
	// producers must block rather than drop or grow the queue.
	<-store.entered
	waitFor(t, "producers blocked on a full queue", func() bool {
		queued, _, _ := l.Stats()
		return queued == queue && blockedRecords(l) > 0
	})
	if !strings.Contains(logs.String(), "ledger queue full") {
		t.Fatalf("Record blocked without a queue-full warning; logs:\n%s", logs)
	}
	close(store.release)
	wg.Wait()
	l.Close()
	<-runDone

	assertCommittedOnce(t, &store.memStore, workers*each)
	_, batches := store.snapshot()
	for _, n := range batches {
		if n > 8 {
			t.Fatalf("batch of %d records exceeds BatchSize 8", n)
		}
	}
	if got := l.Dropped(); got != 0 {
		t.Fatalf("Dropped() = %d, want 0", got)
	}
}

func TestCloseFreesBlockedRecords(t *testing.T) {
	const queue, producers = 4, 20
	tests := []struct {
		name string
		run  bool // a writer is running, held inside an Append
	}{
		{"without Run", false},
		{"writer in Append", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newGatedStore()
			if !tt.run {
				close(store.release)
			}
			l, _, _ := newTestLedger(t, Config{Store: store, QueueSize: queue})
			var runDone <-chan struct{}
			if tt.run {
				runDone = startRun(context.Background(), l)
			}
			var returned atomic.Int64
			var wg sync.WaitGroup
			for i := range producers {
				wg.Go(func() {
					l.Record(Record{Status: i})
					returned.Add(1)
				})
			}
			if tt.run {
				<-store.entered
			}
			waitFor(t, "every producer queued or blocked", func() bool {
				return int(returned.Load())+blockedRecords(l) == producers && blockedRecords(l) > 0
			})

			closed := make(chan struct{})
			go func() {
				defer close(closed)
				l.Close()
			}()
			wg.Wait() // Close frees the blocked Records before any commit
			if tt.run {
				close(store.release)
				<-runDone
			}
			<-closed

			assertCommittedOnce(t, &store.memStore, producers)
			if queued, _, _ := l.Stats(); queued != 0 {
				t.Fatalf("Stats() queued = %d after Close, want 0", queued)
			}
		})
	}
}

func TestStatsQueued(t *testing.T) {
	tests := []struct {
		records int
		want    int
	}{
		{0, 0},
		{1, 1},
		{7, 7},
	}
	for _, tt := range tests {
		l, store, _ := newTestLedger(t, Config{FlushInterval: time.Hour})
		for i := range tt.records {
			l.Record(Record{Status: i})
		}
		if got, _, _ := l.Stats(); got != tt.want {
			t.Errorf("%d records before Run: Stats() queued = %d, want %d", tt.records, got, tt.want)
		}
		l.Close()
		if got, _, _ := l.Stats(); got != 0 {
			t.Errorf("%d records after Close: Stats() queued = %d, want 0", tt.records, got)
		}
		if recs, _ := store.snapshot(); len(recs) != tt.records {
			t.Errorf("%d records: store holds %d", tt.records, len(recs))
		}
	}
}

// TestRecordDoesNotAllocate checks the hot path, pricing and settling
// included, once the queue slices have grown. No writer runs while it is
// measured (AllocsPerRun counts every goroutine's allocations); the test
// takes the queue itself, as Run would, to warm both slices up.
func TestRecordDoesNotAllocate(t *testing.T) {
	const runs = 1000
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l, _, _ := newTestLedger(t, Config{Store: nopStore{}, Now: func() time.Time { return now }})
	tests := []struct {
		name   string
		record func(t *testing.T)
	}{
		{"priced", func(*testing.T) {
			l.Record(Record{Key: "k1", Account: "a1", Model: "claude-sonnet-4-5", Multiplier: 1.5,
				Usage: Usage{InputTokens: 1000, OutputTokens: 500, CacheReadTokens: 2000}})
		}},
		{"reserved", func(t *testing.T) { // Reserve is measured too
			res, err := l.Reserve("k2", Limits{LimitDay: 1 << 40}, 50_000)
			if err != nil {
				t.Fatal(err)
			}
			l.Record(Record{Key: "k2", Model: "claude-opus-4-5", Reservation: res,
				Usage: Usage{InputTokens: 1000, OutputTokens: 500}})
		}},
		{"refused", func(*testing.T) {
			l.Record(Record{Key: "k3", Model: "claude-opus-4-5", Refused: true, Status: 429})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			record := func() { tt.record(t) }
			for range 2 { // grow pending, then the spare it is swapped with
				for range runs + 1 {
					record()
				}
				l.commitPending()
			}
			if got := testing.AllocsPerRun(runs, record); got != 0 {
				t.Fatalf("Record allocates %v times per call, want 0", got)
			}
			l.commitPending()
		})
	}
	l.Close()
}

// BenchmarkRecord measures Record from parallel callers with a writer
// committing to a store that discards. cpu-ns/op is the process's CPU
// time per record, the writer's share included.
func BenchmarkRecord(b *testing.B) {
	l := New(Config{Store: nopStore{}})
	runDone := startRun(context.Background(), l)
	r := Record{Model: "claude-sonnet-4-5", UpstreamModel: "claude-sonnet-4-5",
		Key: "k1", Account: "a1", Usage: Usage{InputTokens: 1000, OutputTokens: 500}}
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Record(r)
		}
	})
	l.Close()
	<-runDone
	b.StopTimer()
	if cpu1, ok := processCPU(); cpuOK && ok {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// nopStore is a Store that discards everything.
type nopStore struct{}

func (nopStore) Append([]Record, []Rollup) error                       { return nil }
func (nopStore) Scan(time.Time, time.Time, func(Record) bool) error    { return nil }
func (nopStore) Last(int) ([]Record, error)                            { return nil, nil }
func (nopStore) Rollups(time.Time, time.Time, func(Rollup) bool) error { return nil }
func (nopStore) DeleteBefore(time.Time, int) (int, error)              { return 0, nil }
