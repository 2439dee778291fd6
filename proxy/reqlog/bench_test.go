package reqlog

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// The request path as the gateway runs it: many goroutines logging at
// once into one Writer in front of io.Discard.
//
//	go test -run '^$' -bench . -benchmem ./proxy/reqlog
//
// LogParallel is the encoder Log uses (encode on the stack, copy under
// the lock); LogUnderLock encodes straight into the batch with the lock
// held, the alternative it was measured against; Slog is what the gateway
// did before, slog's JSONHandler writing each line.
func BenchmarkLogParallel(b *testing.B) {
	w := New(Config{Out: io.Discard})
	defer w.Close()
	e := entry(1)
	e.Time = time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.Log(e)
		}
	})
}

func BenchmarkLogUnderLock(b *testing.B) {
	w := New(Config{Out: io.Discard})
	defer w.Close()
	e := entry(1)
	e.Time = time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.logUnderLock(e)
		}
	})
}

func BenchmarkSlog(b *testing.B) {
	h := slog.NewJSONHandler(io.Discard, nil)
	e := entry(1)
	e.Time = time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = h.Handle(context.Background(), e.Record())
		}
	})
}

// logUnderLock is Log with the encoding inside the lock (no copy, longer
// hold). Kept for the comparison above.
func (w *Writer) logUnderLock(e *Entry) {
	w.mu.Lock()
	n := len(w.buf)
	w.buf = e.appendJSON(w.buf)
	if len(w.buf) > w.cfg.MaxBytes {
		w.buf = w.buf[:n]
		w.mu.Unlock()
		w.dropped.Add(1)
		return
	}
	w.lines++
	m := len(w.buf)
	w.mu.Unlock()
	if n == 0 || n < w.cfg.FlushBytes && m >= w.cfg.FlushBytes {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}
