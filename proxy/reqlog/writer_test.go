package reqlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records every Write the destination gets. Its buffer is not
// locked: concurrent writes would be a data race the race detector sees.
type sink struct {
	b      bytes.Buffer
	writes int
	gate   chan struct{} // when set, each Write waits for a token
	err    error
	notify chan struct{} // when set, told after each Write
}

func (s *sink) Write(p []byte) (int, error) {
	if s.gate != nil {
		<-s.gate
	}
	if s.err != nil {
		return 0, s.err
	}
	s.writes++
	s.b.Write(p)
	if s.notify != nil {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func entry(i int) *Entry {
	return &Entry{Time: time.Unix(int64(i), 0), Route: "/v1/messages", Key: "alice", Acct: "a1",
		Model: "claude-sonnet-4-5", Status: 200, In: int64(i), Out: 7, Ms: 12}
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestCloseWritesPending: a line logged just before Close is written,
// though neither the size nor the interval was reached.
func TestCloseWritesPending(t *testing.T) {
	var out sink
	w := New(Config{Out: &out, FlushInterval: time.Hour})
	w.Log(entry(1))
	w.Log(entry(2))
	w.Close()
	got := lines(out.b.String())
	if len(got) != 2 || got[1] != strings.TrimSuffix(slogJSON(t, entry(2)), "\n") {
		t.Fatalf("after Close: %q", got)
	}
	if got, want := out.writes, 1; got != want {
		t.Errorf("writes = %d, want %d (one batch)", got, want)
	}
	w.Log(entry(3)) // after Close: written at once
	if n := len(lines(out.b.String())); n != 3 {
		t.Errorf("line logged after Close not written: %d lines", n)
	}
}

// TestBatchBySize: nothing reaches the destination until a batch reaches
// FlushBytes; then it is written in one Write without waiting for the
// interval.
func TestBatchBySize(t *testing.T) {
	out := sink{notify: make(chan struct{}, 1)}
	line := len(entry(0).appendJSON(nil))
	w := New(Config{Out: &out, FlushInterval: time.Hour, FlushBytes: 10 * line})
	defer w.Close()
	w.Log(entry(0))
	for len(w.wake) > 0 { // the flusher took the batch's start: it now waits for the interval
		runtime.Gosched()
	}
	for i := 1; i < 9; i++ {
		w.Log(entry(i))
	}
	w.mu.Lock()
	pending := w.lines
	w.mu.Unlock()
	if pending != 9 {
		t.Fatalf("pending = %d, want 9 (nothing written below FlushBytes)", pending)
	}
	w.Log(entry(9))
	select {
	case <-out.notify:
	case <-time.After(10 * time.Second):
		t.Fatal("a full batch was not written")
	}
	w.ioMu.Lock() // the flusher's Write has returned
	got, writes := len(lines(out.b.String())), out.writes
	w.ioMu.Unlock()
	if got != 10 || writes != 1 {
		t.Errorf("lines = %d in %d writes, want 10 in 1", got, writes)
	}
}

// TestBatchByInterval: a lone line is written FlushInterval after it was
// logged, without Close.
func TestBatchByInterval(t *testing.T) {
	out := sink{notify: make(chan struct{}, 1)}
	w := New(Config{Out: &out, FlushInterval: 5 * time.Millisecond})
	defer w.Close()
	w.Log(entry(1))
	select {
	case <-out.notify:
	case <-time.After(10 * time.Second):
		t.Fatal("a lone line was never written")
	}
}

// TestBoundedWhenBlocked: with the destination blocked, Log keeps
// returning, the batch stays under MaxBytes, and the lines past it are
// counted; none is lost uncounted.
func TestBoundedWhenBlocked(t *testing.T) {
	out := sink{gate: make(chan struct{})}
	line := len(entry(0).appendJSON(nil))
	w := New(Config{Out: &out, FlushInterval: time.Millisecond, FlushBytes: 4 * line, MaxBytes: 20 * line})
	const n = 200
	for i := range n { // the flusher takes a batch and blocks in Write
		w.Log(entry(i))
	}
	w.mu.Lock()
	size := len(w.buf)
	w.mu.Unlock()
	if size > 20*line {
		t.Errorf("batch %d bytes, over MaxBytes %d", size, 20*line)
	}
	dropped := w.Stats().Dropped
	if dropped < n-2*20 {
		t.Errorf("dropped = %d, want at least %d", dropped, n-2*20)
	}
	close(out.gate) // unblock
	w.Close()
	if got, want := uint64(len(lines(out.b.String())))+dropped, uint64(n); got != want {
		t.Errorf("written + dropped = %d, want %d", got, want)
	}
}

// TestWriteErrorCounts: lines of a batch the destination refused count as
// dropped.
func TestWriteErrorCounts(t *testing.T) {
	out := sink{err: errors.New("broken pipe")}
	w := New(Config{Out: &out, FlushInterval: time.Hour})
	w.Log(entry(1))
	w.Log(entry(2))
	w.Close()
	if got, want := w.Stats().Dropped, uint64(2); got != want {
		t.Errorf("dropped = %d, want %d", got, want)
	}
}

// TestLevel: at warn, no request line is written.
func TestLevel(t *testing.T) {
	var out sink
	w := New(Config{Out: &out, Level: slog.LevelWarn})
	if w.Enabled() {
		t.Error("Enabled at warn")
	}
	w.Log(entry(1))
	w.Close()
	if out.b.Len() != 0 {
		t.Errorf("wrote at warn: %q", out.b.String())
	}
}

// TestSharedWithSlog: slog lines and request lines from many goroutines
// come out whole (each Write is whole lines, every line parses), all of
// them, and a slog line follows the request lines logged before it.
func TestSharedWithSlog(t *testing.T) {
	var out sink
	w := New(Config{Out: &out, FlushInterval: time.Millisecond, FlushBytes: 4096})
	log := slog.New(slog.NewJSONHandler(w, nil))
	w.Log(entry(0))
	log.Warn("first warning", "n", 0)
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if i%10 == 0 {
					log.Warn("upstream slow", "g", g, "i", i, "detail", strings.Repeat("x", i))
				} else {
					w.Log(entry(i))
				}
			}
		}()
	}
	wg.Wait()
	w.Close()
	all := lines(out.b.String())
	if got, want := len(all), 2+goroutines*each; got != want {
		t.Fatalf("lines = %d, want %d", got, want)
	}
	var first map[string]any
	for i, l := range all {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not whole: %v\n%s", i, err, l)
		}
		if i == 1 {
			first = m
		}
	}
	if first["msg"] != "first warning" || !strings.Contains(all[0], `"msg":"request"`) {
		t.Errorf("order lost: %s / %s", all[0], all[1])
	}
}

// TestLogAllocs: the request path allocates nothing.
func TestLogAllocs(t *testing.T) {
	for _, f := range []Format{JSON, Text} {
		var out sink
		w := New(Config{Out: &out, Format: f, FlushInterval: time.Hour, MaxBytes: 1 << 20, FlushBytes: 1 << 20})
		e := entry(1)
		e.Err = "upstream said \"no\"\n" // escapes too
		if got := testing.AllocsPerRun(1000, func() { w.Log(e) }); got != 0 {
			t.Errorf("format %d: %v allocs per Log, want 0", f, got)
		}
		w.Close()
	}
}
