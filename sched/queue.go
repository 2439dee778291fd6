package sched

import (
	"context"
	"sync"
	"time"
)

// waitState is where a waiter stands. Only code holding Scheduler.mu reads
// or writes it.
type waitState uint8

const (
	stateQueued  waitState = iota // in a queue
	stateGranted                  // a slot was counted for it and handed over
	stateWoken                    // its account stopped serving; select again
	stateClosed                   // the scheduler closed
)

// waiter is one blocked Acquire. It sits in at most one FIFO queue at a
// time and is told of every change of its state through ch (buffered, one
// token per change).
type waiter struct {
	ch         chan struct{}
	timer      *time.Timer // reused across waits; stopped when idle
	state      waitState
	q          *queue
	prev, next *waiter
	seq        uint64   // global enqueue order
	sticky     bool     // waits for its bound account; never moved elsewhere
	req        Request  // what it needs, for moving it to another account
	acct       *account // the account whose slot it was granted
}

// queue is an intrusive FIFO list of waiters.
type queue struct {
	head, tail *waiter
	n          int
}

func (q *queue) push(w *waiter) {
	w.q, w.prev, w.next = q, q.tail, nil
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	q.n++
}

func (q *queue) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.q, w.prev, w.next = nil, nil, nil
	q.n--
}

// enqueue appends w to q, dropping a token left from its previous wait.
func (s *Scheduler) enqueue(q *queue, w *waiter) {
	select {
	case <-w.ch:
	default:
	}
	s.seq++
	w.seq, w.state, w.acct = s.seq, stateQueued, nil
	q.push(w)
	s.waiting++
}

// settle takes w out of its queue in state st and wakes it.
func (s *Scheduler) settle(w *waiter, st waitState) {
	w.q.remove(w)
	s.waiting--
	w.state = st
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// grant counts a slot of a for w and hands it over.
func (s *Scheduler) grant(a *account, w *waiter) {
	a.inFlight++
	s.inFlight++
	w.acct = a
	s.settle(w, stateGranted)
}

// evict wakes every waiter of a to select again.
func (s *Scheduler) evict(a *account) {
	for a.queue.head != nil {
		s.settle(a.queue.head, stateWoken)
	}
}

// fill hands a's free slots to its own waiters in order, then to the
// oldest waiters queued on other accounts that a can serve as well. An
// account that cannot serve loses its waiters to a new selection.
func (s *Scheduler) fill(a *account, now time.Time) {
	if a.removed || !a.available(now) {
		s.evict(a)
		return
	}
	for a.inFlight < a.limit && a.queue.head != nil {
		s.grant(a, a.queue.head)
	}
	for a.inFlight < a.limit && s.waiting > 0 {
		w := s.stealable(a, now)
		if w == nil {
			return
		}
		s.grant(a, w)
	}
}

// stealScan bounds how deep stealable looks into each other queue.
const stealScan = 8

// stealable returns the oldest non-sticky waiter queued on another account
// whose request a can serve, or nil. a must reach the request as well as
// the account it waits on: a waiter queued on an account of its own
// family is never handed to one that would translate (candidates).
func (s *Scheduler) stealable(a *account, now time.Time) *waiter {
	var best *waiter
	for _, b := range s.pool {
		if b == a || b.queue.n == 0 || b.Group != a.Group {
			continue
		}
		i := 0
		for w := b.queue.head; w != nil && i < stealScan; w, i = w.next, i+1 {
			if best != nil && w.seq > best.seq {
				break
			}
			if w.sticky {
				continue
			}
			if _, how := a.serves(&w.req, now); how != Unreachable && how <= b.reachOf(&w.req) {
				best = w
				break
			}
		}
	}
	return best
}

// fillKey hands k's free slots to its waiters in order.
func (s *Scheduler) fillKey(k *keySlot) {
	for k.inFlight < k.limit && k.queue.head != nil {
		k.inFlight++
		s.settle(k.queue.head, stateGranted)
	}
}

// freeKey returns a key slot.
func (s *Scheduler) freeKey(k *keySlot) {
	k.inFlight--
	s.fillKey(k)
}

// block waits, with s.mu released, until w is settled, ctx is done or d
// passes, and returns with s.mu held and w out of every queue. A waiter
// still queued when ctx or the timer wins leaves its queue here, so it can
// never be granted afterwards; one granted at the same moment reports
// stateGranted and its caller owns (and must release) the slot.
func (s *Scheduler) block(ctx context.Context, w *waiter, d time.Duration) (waitState, error) {
	s.mu.Unlock()
	if w.timer == nil {
		w.timer = time.NewTimer(d)
	} else {
		w.timer.Reset(d) // no stale tick survives Stop since Go 1.23
	}
	select {
	case <-w.ch:
	case <-ctx.Done():
	case <-w.timer.C:
	}
	w.timer.Stop()
	s.mu.Lock()
	if w.state != stateQueued {
		return w.state, ctx.Err()
	}
	w.q.remove(w)
	s.waiting--
	if err := ctx.Err(); err != nil {
		return stateQueued, err
	}
	return stateQueued, ErrWaitTimeout
}

// waitPlan carries one Acquire's waiter and wait clock across its phases.
type waitPlan struct {
	pool  *sync.Pool
	w     *waiter
	start time.Time // first enqueue, real clock; zero if it never waited
}

// waiter returns the plan's waiter, prepared for r.
func (p *waitPlan) waiter(r *Request, sticky bool) *waiter {
	if p.w == nil {
		w, _ := p.pool.Get().(*waiter)
		if w == nil {
			w = &waiter{ch: make(chan struct{}, 1)}
		}
		w.req = *r
		p.w = w
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	p.w.sticky = sticky
	return p.w
}

// done returns the plan's waiter to the pool. By then it is in no queue
// and nothing refers to it; a token left in its channel is dropped by the
// next enqueue.
func (p *waitPlan) done() {
	if p.w != nil {
		p.w.req, p.w.acct = Request{}, nil
		p.pool.Put(p.w)
		p.w = nil
	}
}

// reachOf is how a reaches r, whatever its state: the reach of an account
// a waiter queued on.
func (a *account) reachOf(r *Request) Reach {
	_, how := a.route(r)
	return how
}
