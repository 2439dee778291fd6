package ledger

import (
	"context"
	"time"
)

// Run is the single writer. FlushInterval after a record arrives, or as
// soon as the queue is full, it takes every record queued by then and
// commits them in batches of at most BatchSize, each with one
// Store.Append. Records the store refuses stay in memory, in order, and
// are retried with backoff (see StoreFailing); records that arrive
// meanwhile join them, up to MaxPending.
// It returns when ctx is done or Close is called, after committing
// everything queued at that moment (retrying a failing store a few times
// before it gives up, loudly). Call it once, in its own goroutine; a
// second call, or a call after Close, returns at once.
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
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		var retryC <-chan time.Time
		if len(l.backlog.recs) > 0 {
			retry.Reset(time.Until(l.backlog.retryAt))
			retryC = retry.C
		}
		select {
		case <-l.wake:
			retry.Stop()
		case <-retryC:
			l.commitPending()
			continue
		case <-ctx.Done():
			l.drain()
			return
		case <-l.stop:
			l.drain()
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
			l.drain()
			return
		case <-l.stop:
			timer.Stop()
			l.drain()
			return
		}
		l.commitPending()
	}
}

// commitPending takes every pending record and commits them in chunks of
// at most BatchSize, one Store.Append each: one fsync covers a whole
// interval's records. While a backlog waits for its retry, the records
// join it instead, so that they are committed after it, in order; once
// the retry is due the backlog is tried first.
func (l *Ledger) commitPending() {
	batch := l.take()
	if len(l.backlog.recs) > 0 {
		l.keep(batch)
		if !time.Now().Before(l.backlog.retryAt) {
			l.retryBacklog()
		}
	} else {
		for start := 0; start < len(batch); start += l.batchSize {
			if err := l.append(batch[start:min(start+l.batchSize, len(batch))]); err != nil {
				l.keep(batch[start:])
				l.failed(err)
				break
			}
		}
	}
	// Keep the slice for the next swap, without the records' strings.
	clear(batch)
	l.spare = batch[:0]
}

// append commits one chunk and its rollup deltas. The chunk's memory is
// reused once append returns; see Store.Append.
func (l *Ledger) append(chunk []Record) error {
	start := time.Now()
	if err := l.store.Append(chunk, Aggregate(chunk)); err != nil {
		l.writeErrors.Add(1)
		return err
	}
	l.commits.Add(1)
	l.lastCommit.Store(int64(time.Since(start)))
	return nil
}

// drain commits what is queued and what the store refused so far, trying
// a failing store a few more times; see drainBacklog.
func (l *Ledger) drain() {
	l.commitPending()
	l.drainBacklog()
}

// Close stops intake, commits everything queued and waits for Run to
// return. It is safe to call more than once and works whether or not Run
// was started (without Run, or after Run returned on ctx, Close commits
// the rest itself). Records arriving after Close are logged and dropped.
// While the store fails, Close retries it for a fraction of a second
// before it drops the records it holds, counted and logged.
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
	l.drain()
}
