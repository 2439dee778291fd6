package ledger

import (
	"context"
	"slices"
	"time"
)

// Run is the single writer. FlushInterval after a record arrives, or as
// soon as the queue is full, it takes every record queued by then and
// commits them in batches of at most BatchSize, each with one
// Store.Append.
// It returns when ctx is done or Close is called, after committing
// everything queued at that moment. Call it once, in its own goroutine;
// a second call, or a call after Close, returns at once.
//
// While it runs, a second goroutine it owns prunes raw records older than
// RetentionDays, once at start and then hourly; Run waits for it before
// returning.
func (l *Ledger) Run(ctx context.Context) {
	l.runMu.Lock()
	if l.started || l.closeCalled {
		l.runMu.Unlock()
		l.log.Error("ledger run called twice or after close")
		return
	}
	l.started = true
	l.runMu.Unlock()
	defer close(l.runDone)

	if l.retention > 0 {
		pctx, stopPrune := context.WithCancel(ctx)
		pruned := make(chan struct{})
		go func() {
			defer close(pruned)
			l.pruneLoop(pctx)
		}()
		defer func() { stopPrune(); <-pruned }()
	}
	timer := time.NewTimer(l.interval)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-l.wake:
		case <-ctx.Done():
			l.commitPending()
			return
		case <-l.stop:
			l.commitPending()
			return
		}
		// Sleep out the flush interval instead of waking for every record
		// (a wake-up per record costs more than the record itself), unless
		// the queue fills first: Records wait for room then.
		timer.Reset(l.interval)
		select {
		case <-timer.C:
		case <-l.full:
			timer.Stop()
		case <-ctx.Done():
			timer.Stop()
			l.commitPending()
			return
		case <-l.stop:
			timer.Stop()
			l.commitPending()
			return
		}
		l.commitPending()
	}
}

// commitPending takes every pending record and commits them in chunks of
// at most BatchSize, one Store.Append each: one fsync covers a whole
// interval's records.
func (l *Ledger) commitPending() {
	batch := l.take()
	for chunk := range slices.Chunk(batch, l.batchSize) {
		l.flush(chunk)
	}
	// Keep the slice for the next swap, without the records' strings.
	clear(batch)
	l.spare = batch[:0]
}

// take swaps pending with the writer's empty spare slice and frees the
// Records blocked on a full queue.
func (l *Ledger) take() []Record {
	l.mu.Lock()
	batch := l.pending
	l.pending, l.spare = l.spare, nil
	// Signals sent for the records just taken are stale: drop them, so
	// a signal always means records pending now.
	select {
	case <-l.wake:
	default:
	}
	select {
	case <-l.full:
	default:
	}
	blocked := l.blocked > 0
	l.mu.Unlock()
	if blocked {
		l.taken.Broadcast()
	}
	return batch
}

// Close stops intake, commits everything queued and waits for Run to
// return. It is safe to call more than once and works whether or not Run
// was started (without Run, or after Run returned on ctx, Close commits
// the rest itself). Records arriving after Close are logged and dropped.
func (l *Ledger) Close() {
	l.closeOnce.Do(l.close)
}

func (l *Ledger) close() {
	// Stop intake. Records blocked on a full queue were settled already:
	// they append past QueueSize, and intake has stopped only once they
	// all have.
	l.mu.Lock()
	l.closed = true
	l.taken.Broadcast()
	for l.blocked > 0 {
		l.taken.Wait()
	}
	l.mu.Unlock()

	l.runMu.Lock()
	l.closeCalled = true
	started := l.started
	l.runMu.Unlock()
	close(l.stop)
	if started {
		<-l.runDone
	}

	// No writer runs any more: commit what Run did not take.
	l.commitPending()
}

// flush commits batch and its rollup deltas, retrying with backoff. A batch that still fails
// after appendAttempts is dropped, counted and logged with its size: the
// writer cannot hold records forever without blocking every request.
// The batch's memory is reused once flush returns; see Store.Append.
func (l *Ledger) flush(batch []Record) {
	if len(batch) == 0 {
		return
	}
	rollups := Aggregate(batch)
	delay := l.backoff
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := l.store.Append(batch, rollups)
		if err == nil {
			l.commits.Add(1)
			l.lastCommit.Store(int64(time.Since(start)))
			return
		}
		if attempt == appendAttempts {
			l.dropped.Add(uint64(len(batch)))
			l.log.Error("ledger append failed, records dropped",
				"records", len(batch), "attempts", attempt, "err", err)
			return
		}
		l.log.Warn("ledger append failed, retrying",
			"records", len(batch), "attempt", attempt, "err", err)
		time.Sleep(delay)
		delay *= 2
	}
}
