package ledger

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store. AppendErr, when set, is consulted before
// each Append and may fail it. Records are kept in append order; tests
// append them in time order.
type memStore struct {
	mu        sync.Mutex
	records   []Record
	batches   []int
	rollups   map[rollupID]*Rollup
	AppendErr func(call int) error
	calls     int
}

func (s *memStore) Append(batch []Record, rollups []Rollup) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.AppendErr != nil {
		if err := s.AppendErr(s.calls); err != nil {
			return err
		}
	}
	s.records = append(s.records, batch...)
	s.batches = append(s.batches, len(batch))
	if s.rollups == nil {
		s.rollups = make(map[rollupID]*Rollup)
	}
	for _, r := range rollups {
		id := rollupID{r.Hour.Unix(), r.Key, r.Account, r.Model}
		if have := s.rollups[id]; have != nil {
			have.Add(r.Counts)
			continue
		}
		s.rollups[id] = &r
	}
	return nil
}

func (s *memStore) Rollups(from, to time.Time, fn func(Rollup) bool) error {
	s.mu.Lock()
	var out []Rollup
	for _, r := range s.rollups {
		if !r.Hour.Before(from) && r.Hour.Before(to) {
			out = append(out, *r)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Rollup) int {
		if c := a.Hour.Compare(b.Hour); c != 0 {
			return c
		}
		return strings.Compare(a.Key+"\x00"+a.Account+"\x00"+a.Model, b.Key+"\x00"+b.Account+"\x00"+b.Model)
	})
	for _, r := range out {
		if !fn(r) {
			break
		}
	}
	return nil
}

func (s *memStore) DeleteBefore(t time.Time, max int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(s.records) && n < max && s.records[n].Time.Before(t) {
		n++
	}
	s.records = s.records[n:]
	return n, nil
}

func (s *memStore) Scan(from, to time.Time, fn func(Record) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.records {
		if !r.Time.Before(from) && r.Time.Before(to) && !fn(r) {
			break
		}
	}
	return nil
}

func (s *memStore) Last(n int) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for i := len(s.records) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, s.records[i])
	}
	return out, nil
}

func (s *memStore) snapshot() ([]Record, []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.records...), append([]int(nil), s.batches...)
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newTestLedger(t *testing.T, cfg Config) (*Ledger, *memStore, *syncBuffer) {
	t.Helper()
	store := &memStore{}
	logs := &syncBuffer{}
	if cfg.Store == nil {
		cfg.Store = store
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	l := New(cfg)
	l.backoff = time.Millisecond
	return l, store, logs
}

// startRun runs l.Run in a goroutine and returns a channel closed on return.
func startRun(ctx context.Context, l *Ledger) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	return done
}

func TestConcurrentRecordGroupCommit(t *testing.T) {
	l, store, _ := newTestLedger(t, Config{})
	runDone := startRun(context.Background(), l)

	const workers, each = 16, 625
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				l.Record(Record{Model: "claude-sonnet-4-5", Status: w*each + i,
					Usage: Usage{InputTokens: 1000, OutputTokens: 500}})
			}
		})
	}
	wg.Wait()
	l.Close()
	<-runDone

	recs, batches := store.snapshot()
	if got, want := len(recs), workers*each; got != want {
		t.Fatalf("appended %d records, want %d", got, want)
	}
	seen := make(map[int]bool, len(recs))
	for _, r := range recs {
		if seen[r.Status] {
			t.Fatalf("record %d appended twice", r.Status)
		}
		seen[r.Status] = true
		if got, want := r.CostMicros, int64(10_500); got != want {
			t.Fatalf("CostMicros = %d, want %d", got, want)
		}
	}
	biggest := 0
	for _, n := range batches {
		biggest = max(biggest, n)
		if n > defaultBatchSize {
			t.Fatalf("batch of %d records exceeds BatchSize %d", n, defaultBatchSize)
		}
	}
	if biggest <= 1 {
		t.Fatalf("largest batch = %d, want group commits of more than one record", biggest)
	}
	if queued, commits, _ := l.Stats(); queued != 0 || commits != uint64(len(batches)) {
		t.Fatalf("Stats() = %d queued, %d commits; want 0, %d", queued, commits, len(batches))
	}
}

func TestRunBatchesQueuedRecords(t *testing.T) {
	l, store, _ := newTestLedger(t, Config{BatchSize: 256, FlushInterval: time.Hour})
	for i := range 1000 {
		l.Record(Record{Status: i})
	}
	runDone := startRun(context.Background(), l)
	l.Close()
	<-runDone

	recs, batches := store.snapshot()
	if got, want := len(recs), 1000; got != want {
		t.Fatalf("appended %d records, want %d", got, want)
	}
	for i, r := range recs {
		if r.Status != i {
			t.Fatalf("record %d has Status %d: order not kept", i, r.Status)
		}
	}
	if got, want := len(batches), 4; got != want {
		t.Fatalf("batches = %v, want %d batches", batches, want)
	}
}

func TestFlushInterval(t *testing.T) {
	l, store, _ := newTestLedger(t, Config{FlushInterval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := startRun(ctx, l)
	defer func() { cancel(); <-runDone; l.Close() }()

	l.Record(Record{Model: "x"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if recs, _ := store.snapshot(); len(recs) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a lone record was not committed by the flush interval")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseWithoutRun(t *testing.T) {
	l, store, _ := newTestLedger(t, Config{BatchSize: 4})
	for i := range 10 {
		l.Record(Record{Status: i})
	}
	l.Close()
	l.Close() // idempotent
	recs, batches := store.snapshot()
	if got, want := len(recs), 10; got != want {
		t.Fatalf("appended %d records, want %d", got, want)
	}
	if got, want := len(batches), 3; got != want {
		t.Fatalf("batches = %v, want %d", batches, want)
	}
	l.Run(context.Background()) // after Close: returns at once
}

func TestRunStopsOnContext(t *testing.T) {
	l, store, _ := newTestLedger(t, Config{FlushInterval: time.Hour})
	for i := range 5 {
		l.Record(Record{Status: i})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Run(ctx)
	if recs, _ := store.snapshot(); len(recs) != 5 {
		t.Fatalf("after Run returned, %d records appended, want 5", len(recs))
	}
	// Records after Run returned are committed by Close.
	l.Record(Record{Status: 5})
	l.Close()
	if recs, _ := store.snapshot(); len(recs) != 6 {
		t.Fatalf("after Close, %d records appended, want 6", len(recs))
	}
}

func TestRecordAfterClose(t *testing.T) {
	l, store, logs := newTestLedger(t, Config{})
	l.Close()
	l.Record(Record{Model: "late"})
	if recs, _ := store.snapshot(); len(recs) != 0 {
		t.Fatalf("record after Close was appended: %+v", recs)
	}
	if !strings.Contains(logs.String(), "ledger closed, record dropped") {
		t.Fatalf("no error logged for a record after Close; logs:\n%s", logs)
	}
}

func TestBackpressureNeverLoses(t *testing.T) {
	l, store, logs := newTestLedger(t, Config{QueueSize: 1})
	l.Record(Record{Status: 1})
	blocked := make(chan struct{})
	go func() {
		defer close(blocked)
		l.Record(Record{Status: 2}) // queue full, no writer: blocks
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "ledger queue full") {
		if time.Now().After(deadline) {
			t.Fatal("no queue-full warning")
		}
		time.Sleep(time.Millisecond)
	}
	l.Close()
	<-blocked
	if recs, _ := store.snapshot(); len(recs) != 2 {
		t.Fatalf("appended %d records, want 2", len(recs))
	}
}

func TestAppendRetries(t *testing.T) {
	l, store, _ := newTestLedger(t, Config{})
	store.AppendErr = func(call int) error {
		if call <= 2 {
			return errors.New("disk busy")
		}
		return nil
	}
	for i := range 3 {
		l.Record(Record{Status: i})
	}
	l.Close()
	if recs, _ := store.snapshot(); len(recs) != 3 {
		t.Fatalf("appended %d records, want 3", len(recs))
	}
	if got := l.Dropped(); got != 0 {
		t.Fatalf("Dropped() = %d, want 0", got)
	}
}

func TestAppendGivesUpLoudly(t *testing.T) {
	l, store, logs := newTestLedger(t, Config{})
	store.AppendErr = func(int) error { return errors.New("disk full") }
	for i := range 3 {
		l.Record(Record{Status: i})
	}
	l.Close()
	if got, want := l.Dropped(), uint64(3); got != want {
		t.Fatalf("Dropped() = %d, want %d", got, want)
	}
	if out := logs.String(); !strings.Contains(out, "records dropped") || !strings.Contains(out, "records=3") {
		t.Fatalf("drop not logged with its count; logs:\n%s", out)
	}
	if store.calls != appendAttempts {
		t.Fatalf("Append called %d times, want %d", store.calls, appendAttempts)
	}
}

func TestRecordPricing(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l, store, logs := newTestLedger(t, Config{Now: func() time.Time { return now }})
	u := Usage{InputTokens: 1000, OutputTokens: 500}
	l.Record(Record{Model: "claude-sonnet-4-5", Usage: u})
	l.Record(Record{Model: "alias", UpstreamModel: "claude-opus-4-5", Usage: u})
	l.Record(Record{Model: "claude-sonnet-4-5", Usage: u, CostMicros: 42, ListMicros: 21})
	l.Record(Record{Model: "claude-sonnet-4-5", Usage: u, Intercepted: true})
	for range 3 {
		l.Record(Record{Model: "mystery-1", Usage: u})
	}
	l.Close()

	recs, _ := store.snapshot()
	want := []struct{ cost, list int64 }{{10_500, 10_500}, {17_500, 17_500}, {42, 21}, {0, 0}, {0, 0}, {0, 0}, {0, 0}}
	if len(recs) != len(want) {
		t.Fatalf("appended %d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		if recs[i].CostMicros != w.cost || recs[i].ListMicros != w.list {
			t.Errorf("record %d: cost, list = %d, %d; want %d, %d",
				i, recs[i].CostMicros, recs[i].ListMicros, w.cost, w.list)
		}
		if !recs[i].Time.Equal(now) {
			t.Errorf("record %d: Time = %v, want %v", i, recs[i].Time, now)
		}
	}
	if got := strings.Count(logs.String(), "no price for model"); got != 1 {
		t.Fatalf("unpriced model warned %d times, want once", got)
	}
	if p, ok := l.Price("claude-haiku-4-5"); !ok || p.Input != 1_000_000 {
		t.Fatalf("Price(haiku) = %+v, %v", p, ok)
	}
}

func TestRecent(t *testing.T) {
	l, _, _ := newTestLedger(t, Config{})
	for i := range 5 {
		l.Record(Record{Status: i})
	}
	l.Close()
	recs, err := l.Recent(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Status != 4 || recs[1].Status != 3 {
		t.Fatalf("Recent(2) = %+v, want statuses 4, 3", recs)
	}
}
