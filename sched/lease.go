package sched

import (
	"context"
	"sync/atomic"
	"time"
)

// Lease is the right to send one request to one account. It holds one slot
// of the account (and one of the client key, when the key is limited) until
// Release.
type Lease struct {
	s        *Scheduler
	acct     *account
	key      *keySlot
	account  Account
	upstream string
	sticky   bool
	waited   time.Duration
	released atomic.Bool

	// What a successful Release binds: (group, session) → account for
	// the client key.
	group, client string
	session       sessionID
	hasSession    bool
	family        string // Request.Family
}

// Account returns the account as it was configured when the lease was
// taken. Its Models and ModelMap are shared and must not be modified.
func (l *Lease) Account() Account { return l.account }

// UpstreamModel returns the requested model after the account's ModelMap.
func (l *Lease) UpstreamModel() string { return l.upstream }

// Sticky reports whether the account was chosen through the session's
// binding.
func (l *Lease) Sticky() bool { return l.sticky }

// Waited returns how long Acquire waited in queues for this lease.
func (l *Lease) Waited() time.Duration { return l.waited }

// Family returns the model family the request draws on at this account:
// Request.Family, or Family of the account's platform and UpstreamModel.
// It is the Scope a rate limit on that family should name.
func (l *Lease) Family() string {
	if l.family != "" {
		return l.family
	}
	return Family(l.account.Platform, l.upstream)
}

// Release frees the lease's slots, handing each to the next waiter in line,
// and applies o to the account's health. A Success binds the request's
// session to the account (or refreshes its binding); nothing else binds.
// Only the first call counts, so it is safe in a defer after an explicit
// Release.
func (l *Lease) Release(o Outcome) {
	if l == nil || !l.released.CompareAndSwap(false, true) {
		return
	}
	l.s.release(l, o)
}

func (s *Scheduler) release(l *Lease, o Outcome) {
	s.mu.Lock()
	now := o.At
	if now.IsZero() {
		now = s.now()
	}
	a := l.acct
	fam := o.Scope
	if fam == "" && o.Kind == Success && len(a.health.Families) > 0 {
		fam = l.Family()
	}
	ch := s.applyOutcome(a, o, fam, now)
	if o.Kind == Success && l.hasSession && !a.removed {
		s.bind(l.group, l.session, a.Name, l.client, now)
	}
	s.freeSlot(a, now)
	if l.key != nil {
		s.freeKey(l.key)
	}
	s.mu.Unlock()
	ch.log(s.log)
}

// Acquire leases an account able to serve r: the session's bound account
// if it can serve (waiting for it while it is merely busy), else the best
// ranked account with a free slot, else a place in the best account's
// queue. It returns ErrNoAccount, ErrQueueFull, ErrWaitTimeout, ErrClosed or
// ctx.Err(); on error no slot is held.
func (s *Scheduler) Acquire(ctx context.Context, r Request) (*Lease, error) {
	return s.AcquireInto(ctx, r, new(Lease))
}

// AcquireInto is Acquire with the lease in the caller's storage, which
// spares an allocation per request: l must be a zero Lease or one whose
// Release was called, and must not be used again until the lease it
// receives is released. On error l is left unused.
func (s *Scheduler) AcquireInto(ctx context.Context, r Request, l *Lease) (*Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var sid *sessionID
	if r.Session != "" {
		id := hashSession(r.Session) // before the lock: the hash is the slow part
		sid = &id
	}
	p := waitPlan{pool: &s.wpool}
	s.mu.Lock()
	defer p.done() // runs last, after the unlock
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	k, err := s.acquireKey(ctx, &r, &p)
	if err != nil {
		return nil, err
	}
	l, err = s.acquireAccount(ctx, &r, sid, &p, l)
	if err != nil {
		if k != nil {
			s.freeKey(k)
		}
		return nil, err
	}
	l.key = k
	if !p.start.IsZero() {
		l.waited = time.Since(p.start)
	}
	return l, nil
}

// acquireKey takes a slot of r's key when the key is limited, waiting in
// the key's queue if needed. It returns nil when the key is unlimited.
func (s *Scheduler) acquireKey(ctx context.Context, r *Request, p *waitPlan) (*keySlot, error) {
	if r.KeyConcurrency <= 0 {
		return nil, nil
	}
	k := s.keys[r.Key]
	if k == nil {
		k = &keySlot{}
		s.keys[r.Key] = k
	}
	k.limit = r.KeyConcurrency
	s.fillKey(k) // the limit may have grown
	var start time.Time
	for {
		if k.inFlight < k.limit && k.queue.n == 0 {
			k.inFlight++
			return k, nil
		}
		if !s.anyCandidate(r, s.now()) {
			return nil, ErrNoAccount // do not wait for a key slot that cannot be used
		}
		if k.queue.n >= s.cfg.FallbackMaxWaiting {
			return nil, ErrQueueFull
		}
		if start.IsZero() {
			start = time.Now()
		}
		left := s.cfg.FallbackWaitTimeout - time.Since(start)
		if left <= 0 {
			return nil, ErrWaitTimeout
		}
		w := p.waiter(r, false)
		s.enqueue(&k.queue, w)
		st, err := s.block(ctx, w, left)
		switch {
		case st == stateGranted && err != nil:
			s.freeKey(k)
			return nil, err
		case st == stateGranted:
			return k, nil
		case st == stateClosed:
			return nil, ErrClosed
		case st == stateWoken && err == nil:
			continue // key waiters are not woken today; select again if they are
		}
		return nil, err
	}
}

// acquireAccount takes an account slot for r, waiting when every candidate
// is busy. It selects again whenever the account it waits on stops serving.
func (s *Scheduler) acquireAccount(ctx context.Context, r *Request, sid *sessionID, p *waitPlan, l *Lease) (*Lease, error) {
	var (
		start time.Time // first wait for an account, real clock
		buf   [16]candidate
	)
	for {
		if s.closed {
			return nil, ErrClosed
		}
		now := r.Now
		r.Now = time.Time{} // stale after a wait: later passes read the clock
		if now.IsZero() || !p.start.IsZero() {
			now = s.now()
		}
		cands := s.candidates(buf[:0], r, now)
		if len(cands) == 0 {
			return nil, ErrNoAccount
		}
		var (
			q       *account
			sticky  bool
			timeout time.Duration
		)
		if c := s.boundCandidate(r.Group, sid, cands, now); c != nil {
			if c.Free {
				s.take(c.acct)
				return s.newLease(l, r, sid, c.acct, c.upstream, true, now), nil
			}
			if c.acct.queue.n < s.cfg.StickyMaxWaiting {
				q, sticky, timeout = c.acct, true, s.cfg.StickyWaitTimeout
			}
		}
		if q == nil {
			free, best := choose(cands, now, s.cfg.PreferSoonestReset)
			if free >= 0 {
				c := &cands[free]
				s.take(c.acct)
				return s.newLease(l, r, sid, c.acct, c.upstream, false, now), nil
			}
			q, timeout = cands[best].acct, s.cfg.FallbackWaitTimeout
			if q.queue.n >= s.cfg.FallbackMaxWaiting {
				return nil, ErrQueueFull
			}
		}
		if start.IsZero() {
			start = time.Now()
		}
		left := timeout - time.Since(start)
		if left <= 0 {
			return nil, ErrWaitTimeout
		}
		w := p.waiter(r, sticky)
		s.enqueue(&q.queue, w)
		st, err := s.block(ctx, w, left)
		switch {
		case st == stateGranted:
			a := w.acct // may differ from q when another account took it over
			if err != nil {
				s.freeSlot(a, s.now())
				return nil, err
			}
			up, _, _ := a.model(r.Model)
			return s.newLease(l, r, sid, a, up, sticky && a == q, s.now()), nil
		case st == stateClosed:
			return nil, ErrClosed
		case st == stateWoken && err == nil:
			continue
		}
		return nil, err
	}
}

// take counts a free slot of a.
func (s *Scheduler) take(a *account) {
	a.inFlight++
	s.inFlight++
}

// freeSlot returns a slot of a and hands it on.
func (s *Scheduler) freeSlot(a *account, now time.Time) {
	a.inFlight--
	s.inFlight--
	if !a.removed {
		s.fill(a, now)
	} else if a.inFlight == 0 && s.byName[a.Name] == a {
		delete(s.byName, a.Name)
	}
}

// newLease fills l, a fresh or released Lease, for a slot of a already
// counted. It binds nothing: only the lease's successful Release does.
func (s *Scheduler) newLease(l *Lease, r *Request, sid *sessionID, a *account, upstream string, sticky bool, now time.Time) *Lease {
	a.health.LastUsed = now
	l.s, l.acct, l.key, l.account, l.upstream, l.sticky, l.waited = s, a, nil, a.Account, upstream, sticky, 0
	l.group, l.client, l.family, l.hasSession = r.Group, r.Key, r.Family, sid != nil
	if sid != nil {
		l.session = *sid
	}
	l.released.Store(false)
	return l
}
