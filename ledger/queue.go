package ledger

import "time"

// enqueue settles r and appends it to pending, waiting while pending
// holds queueSize records. It reports false, having done nothing, when
// intake has stopped. Settling under mu means a record is either settled
// and queued or neither: Close cannot slip in between.
func (l *Ledger) enqueue(r *Record) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.settle(r)
	r.Reservation = Reservation{} // the store never needs it
	if len(l.pending) >= l.queueSize {
		l.waitForRoom()
	}
	l.pending = append(l.pending, *r)
	// Sent under mu, so the writer, which receives before it takes
	// pending, never misses a record, and take can drop stale signals.
	if len(l.pending) == 1 {
		signal(l.wake)
	}
	if len(l.pending) == l.queueSize {
		signal(l.full)
	}
	return true
}

// signal sends on a channel of capacity 1 without blocking: one pending
// signal stands for any number sent.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// waitForRoom blocks, with mu held on entry and on return, until the
// writer takes pending or intake stops. A record already settled must not
// be lost, so once intake stops it is appended past queueSize: Close
// waits for blocked to reach 0 before its final drain.
func (l *Ledger) waitForRoom() {
	l.blocked++
	l.mu.Unlock() // never log under mu: the writer needs it to make room
	l.warnFull()
	l.mu.Lock()
	for len(l.pending) >= l.queueSize && !l.closed {
		l.taken.Wait()
	}
	l.blocked--
	if l.closed && l.blocked == 0 {
		l.taken.Broadcast() // Close waits for this
	}
}

func (l *Ledger) warnFull() {
	now := time.Now().UnixNano()
	last := l.lastFullWarn.Load()
	if last != 0 && now-last < int64(fullWarnEvery) {
		return
	}
	if l.lastFullWarn.CompareAndSwap(last, now) {
		l.log.Warn("ledger queue full, recording blocks until the writer catches up",
			"queue", l.queueSize)
	}
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
