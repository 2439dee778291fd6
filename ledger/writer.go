package ledger

import (
	"context"
	"time"
)

// Run is the single writer. FlushInterval after a record arrives it
// commits every record queued by then, in batches of at most BatchSize,
// each with one Store.Append.
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
		var first Record
		select {
		case first = <-l.queue:
		case <-ctx.Done():
			l.drain(nil)
			return
		case <-l.stop:
			l.drain(nil)
			return
		}
		// Sleep out the flush interval instead of waking for every record
		// (a wake-up per record costs more than the record itself), then
		// commit everything queued meanwhile in BatchSize chunks.
		batch := append(make([]Record, 0, l.batchSize), first)
		timer.Reset(l.interval)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			l.drain(batch)
			return
		case <-l.stop:
			timer.Stop()
			l.drain(batch)
			return
		}
		l.commitQueued(batch)
	}
}

// commitQueued commits batch and everything queued now, up to BatchSize
// records per transaction: one fsync covers a whole interval's records.
func (l *Ledger) commitQueued(batch []Record) {
	maxGroup := l.batchSize
	for {
		for len(batch) < maxGroup {
			select {
			case r := <-l.queue:
				batch = append(batch, r)
				continue
			default:
			}
			break
		}
		l.flush(batch)
		if len(batch) < maxGroup {
			return
		}
		batch = make([]Record, 0, l.batchSize)
	}
}

// take moves queued records into batch without blocking, up to BatchSize.
func (l *Ledger) take(batch []Record) []Record {
	for len(batch) < l.batchSize {
		select {
		case r := <-l.queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// drain commits batch and everything queued now, in BatchSize chunks.
func (l *Ledger) drain(batch []Record) {
	for len(batch) >= l.batchSize {
		l.flush(batch[:l.batchSize:l.batchSize])
		batch = batch[l.batchSize:]
	}
	for {
		batch = l.take(batch)
		if len(batch) == 0 {
			return
		}
		l.flush(batch)
		batch = make([]Record, 0, l.batchSize)
	}
}

// Close stops intake, commits everything queued and waits for Run to
// return. It is safe to call more than once and works whether or not Run
// was started (without Run, or after Run returned on ctx, Close commits
// the rest itself). Records arriving after Close are logged and dropped.
func (l *Ledger) Close() {
	l.closeOnce.Do(l.close)
}

func (l *Ledger) close() {
	// Free Records blocked on a full queue first: they park their record
	// in late and release the gate, which Close needs next.
	close(l.closing)
	l.gate.Lock()
	l.closed = true
	l.gate.Unlock()

	l.runMu.Lock()
	l.closeCalled = true
	started := l.started
	l.runMu.Unlock()
	close(l.stop)
	if started {
		<-l.runDone
	}

	// No writer runs any more: commit what Run did not take.
	l.lateMu.Lock()
	late := l.late
	l.late = nil
	l.lateMu.Unlock()
	l.drain(late)
}

// flush commits batch and its rollup deltas, retrying with backoff. A batch that still fails
// after appendAttempts is dropped, counted and logged with its size: the
// writer cannot hold records forever without blocking every request.
// A batch is never reused after Append, so a Store may keep it.
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
