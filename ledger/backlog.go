package ledger

import (
	"sync/atomic"
	"time"
)

// backlog holds the records the store would not take, oldest first, until
// a retry commits them. The writer alone touches its plain fields; the
// atomics are read by admission (StoreFailing) and metrics (Pending).
type backlog struct {
	recs    []Record
	max     int           // records kept at most; later ones are dropped
	retryAt time.Time     // when the writer tries the store again
	delay   time.Duration // the wait before that, doubled per failure
	since   time.Time     // start of the current failing period
	errs    uint64        // failed appends in the period (reset by recovered)
	lost    int           // records dropped in the period (reset by recovered)

	failing atomic.Bool
	n       atomic.Int64 // len(recs)
}

// StoreFailing reports whether the store is failing: since its last
// Append failed, records wait in memory and nothing has been committed
// in their place. Callers refuse requests from keys with spend limits
// meanwhile, because a record that is finally dropped, or lost in a
// crash, would be missing from the spend counters after a restart.
func (l *Ledger) StoreFailing() bool { return l.backlog.failing.Load() }

// Pending returns the records not yet committed: queued for the writer,
// or kept in memory while the store fails.
func (l *Ledger) Pending() int {
	l.mu.Lock()
	queued := len(l.pending)
	l.mu.Unlock()
	return queued + int(l.backlog.n.Load())
}

// WriteErrors returns how many Store.Append calls failed.
func (l *Ledger) WriteErrors() uint64 { return l.writeErrors.Load() }

// Dropped returns how many records were lost: past MaxPending while the
// store failed, or still refused by the store at Close. Every loss is
// logged with its count.
func (l *Ledger) Dropped() uint64 { return l.dropped.Load() }

// keep appends recs to the backlog, dropping those past its bound: the
// backlog stays the oldest uncommitted records, in order.
func (l *Ledger) keep(recs []Record) {
	b := &l.backlog
	n := min(len(recs), max(b.max-len(b.recs), 0))
	b.recs = append(b.recs, recs[:n]...)
	b.n.Store(int64(len(b.recs)))
	if lost := len(recs) - n; lost > 0 {
		l.dropped.Add(uint64(lost))
		if b.lost == 0 {
			l.log.Error("ledger backlog full while the store fails, dropping new records",
				"max_pending", b.max, "records", lost)
		}
		b.lost += lost
	}
}

// forget removes the first n records of the backlog, which were committed
// (or dropped). An emptied backlog lets its memory go: after an outage
// it may have held max records.
func (l *Ledger) forget(n int) {
	b := &l.backlog
	rest := copy(b.recs, b.recs[n:])
	clear(b.recs[rest:])
	b.recs = b.recs[:rest]
	if rest == 0 && cap(b.recs) > 4*l.batchSize {
		b.recs = nil
	}
	b.n.Store(int64(rest))
}

// retryBacklog commits the backlog in order, in chunks of BatchSize, and
// stops at the first failure. It reports whether the backlog is empty.
func (l *Ledger) retryBacklog() bool {
	b := &l.backlog
	done := 0
	var err error
	for done < len(b.recs) {
		chunk := b.recs[done:min(done+l.batchSize, len(b.recs))]
		if err = l.append(chunk); err != nil {
			break
		}
		done += len(chunk)
	}
	l.forget(done)
	if err != nil {
		l.failed(err)
		return false
	}
	l.recovered()
	return true
}

// failed notes a failed Append and schedules the next try. The first
// failure of a period is logged at Error; later ones only at Debug, so a
// long outage is two log lines, not one per batch.
func (l *Ledger) failed(err error) {
	b := &l.backlog
	now := time.Now()
	b.errs++
	if !b.failing.Load() {
		b.since, b.delay = now, l.backoff
		b.failing.Store(true)
		l.log.Error("ledger store failing: records kept in memory and retried; "+
			"keys with spend limits get 503 until it recovers",
			"err", err, "pending", len(b.recs), "max_pending", b.max)
	} else {
		b.delay = min(b.delay*2, l.maxDelay)
		l.log.Debug("ledger append failed again", "err", err, "pending", len(b.recs), "retry_in", b.delay)
	}
	b.retryAt = now.Add(b.delay)
}

// recovered ends a failing period once the backlog is committed.
func (l *Ledger) recovered() {
	b := &l.backlog
	if !b.failing.Load() {
		return
	}
	b.failing.Store(false)
	l.log.Error("ledger store recovered: pending records written",
		"failed_for", time.Since(b.since).Round(time.Millisecond).String(),
		"failed_appends", b.errs, "dropped", b.lost)
	b.errs, b.lost = 0, 0
}

// drainBacklog is the writer's last act: it retries the backlog a few
// times with backoff, then drops what the store still refuses, loudly.
func (l *Ledger) drainBacklog() {
	b := &l.backlog
	delay := l.backoff
	for attempt := 1; len(b.recs) > 0; attempt++ {
		if attempt == appendAttempts {
			n := len(b.recs)
			l.dropped.Add(uint64(n))
			l.forget(n)
			l.log.Error("ledger closing while the store fails, records dropped",
				"records", n, "attempts", attempt)
			return
		}
		time.Sleep(delay)
		delay *= 2
		l.retryBacklog()
	}
}
