package reqlog

import (
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Format is the shape of a line: what slog's JSONHandler or tint writes.
type Format uint8

const (
	JSON Format = iota // slog.JSONHandler's line
	Text               // tint's line, with TextTimeFormat and colours
)

// TextTimeFormat is the time layout of Text lines; give tint the same.
const TextTimeFormat = time.TimeOnly

// Config configures a Writer.
type Config struct {
	Out    io.Writer  // the destination, usually os.Stderr
	Format Format     // of request lines; slog's handler decides its own
	Level  slog.Level // request lines are written when LevelInfo >= Level

	FlushBytes    int           // a batch this large is written at once; default 64 KiB
	FlushInterval time.Duration // longest wait of a line in a batch; default 50ms
	MaxBytes      int           // a batch past this drops lines; default 4 MiB
}

func (c *Config) defaults() {
	if c.FlushBytes <= 0 {
		c.FlushBytes = 64 << 10
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 50 * time.Millisecond
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 4 << 20
	}
	c.FlushBytes = min(c.FlushBytes, c.MaxBytes)
}

// Writer batches request lines and passes slog's lines through, all to one
// destination. It is an io.Writer for slog's handler.
type Writer struct {
	cfg     Config
	enabled bool

	mu    sync.Mutex // guards buf and lines: held only to copy bytes
	buf   []byte     // the batch being filled
	lines int        // lines in buf

	ioMu  sync.Mutex // serializes writes to cfg.Out; guards spare
	spare []byte     // the batch being written, reused

	dropped atomic.Uint64
	closed  atomic.Bool
	wake    chan struct{} // a batch started, or grew past FlushBytes
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// Stats are the Writer's counters.
type Stats struct {
	Dropped uint64 // request lines lost: batch full, or the destination failed
}

// New starts a Writer; Close it after the last line.
func New(cfg Config) *Writer {
	cfg.defaults()
	w := &Writer{
		cfg:     cfg,
		enabled: cfg.Level <= slog.LevelInfo,
		buf:     make([]byte, 0, cfg.FlushBytes+lineBuf),
		spare:   make([]byte, 0, cfg.FlushBytes+lineBuf),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go w.run()
	return w
}

// Enabled reports whether request lines are written at the configured
// level; callers skip building an Entry when not.
func (w *Writer) Enabled() bool { return w.enabled }

// lineBuf is the stack buffer a line is encoded into; longer lines
// allocate.
const lineBuf = 1024

// Log encodes e and queues it for the next batch. It never blocks on I/O
// (until Close, after which it writes at once).
func (w *Writer) Log(e *Entry) {
	if !w.enabled {
		return
	}
	var tmp [lineBuf]byte
	var line []byte
	if w.cfg.Format == Text {
		line = e.appendText(tmp[:0])
	} else {
		line = e.appendJSON(tmp[:0])
	}
	w.enqueue(line)
}

// enqueue appends one encoded line to the batch, or drops it when the
// batch is full.
func (w *Writer) enqueue(line []byte) {
	w.mu.Lock()
	n := len(w.buf)
	if n+len(line) > w.cfg.MaxBytes {
		w.mu.Unlock()
		w.dropped.Add(1)
		return
	}
	w.buf = append(w.buf, line...)
	w.lines++
	m := len(w.buf)
	w.mu.Unlock()
	// Wake the flusher when a batch starts (to time it) and when it
	// crosses FlushBytes (to write it now): twice per batch at most.
	if n == 0 || n < w.cfg.FlushBytes && m >= w.cfg.FlushBytes {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	if w.closed.Load() {
		w.Flush()
	}
}

// Write writes one slog line (or any whole lines) to the destination,
// after the pending batch so the output keeps its order. It blocks on the
// destination as a direct write would.
func (w *Writer) Write(p []byte) (int, error) {
	w.ioMu.Lock()
	defer w.ioMu.Unlock()
	w.flushLocked()
	return w.cfg.Out.Write(p)
}

// Flush writes the pending batch now.
func (w *Writer) Flush() {
	w.ioMu.Lock()
	defer w.ioMu.Unlock()
	w.flushLocked()
}

// flushLocked swaps the batch for the spare and writes it; ioMu is held.
func (w *Writer) flushLocked() {
	w.mu.Lock()
	if len(w.buf) == 0 {
		w.mu.Unlock()
		return
	}
	batch, lines := w.buf, w.lines
	w.buf, w.lines = w.spare[:0], 0
	w.mu.Unlock()
	if _, err := w.cfg.Out.Write(batch); err != nil {
		// Nowhere to report it but the counter; some of the lines may
		// have been written.
		w.dropped.Add(uint64(lines))
	}
	w.spare = batch[:0]
}

// run is the flusher: a batch is written FlushInterval after its first
// line, or as soon as it reaches FlushBytes.
func (w *Writer) run() {
	defer close(w.done)
	t := time.NewTimer(w.cfg.FlushInterval)
	t.Stop()
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			return
		}
		if !w.full() {
			t.Reset(w.cfg.FlushInterval)
			select {
			case <-t.C:
			case <-w.wake:
			case <-w.stop:
				t.Stop()
				return
			}
			t.Stop()
		}
		w.Flush()
	}
}

func (w *Writer) full() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf) >= w.cfg.FlushBytes
}

// Close stops the flusher and writes what is pending. Lines logged later
// are written at once. Safe to call more than once.
func (w *Writer) Close() error {
	w.once.Do(func() {
		w.closed.Store(true)
		close(w.stop)
		<-w.done
	})
	w.Flush()
	return nil
}

// Stats returns the Writer's counters; safe at any time.
func (w *Writer) Stats() Stats {
	return Stats{Dropped: w.dropped.Load()}
}
