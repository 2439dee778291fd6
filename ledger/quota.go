package ledger

import (
	"sync"
	"time"
)

// Estimate returns the charge of a request to model with inputTokens of
// prompt and at most maxTokens of output, at list price × multiplier, in
// micro-USD: the amount to Reserve. Prompt tokens are priced as plain
// input; cache reads make most real requests cheaper, cache writes can
// make one dearer. An unpriced model estimates 0, as it is billed 0.
func (l *Ledger) Estimate(model string, inputTokens, maxTokens int64, multiplier float64) int64 {
	p, ok := l.pricing.Lookup(model)
	if !ok {
		return 0
	}
	u := Usage{InputTokens: max(inputTokens, 0), OutputTokens: max(maxTokens, 0)}
	return charge(Cost(p, u), multiplier)
}

// quota is the in-memory spend state of every key. One mutex guards it;
// every critical section is a few map and slice operations.
type quota struct {
	mu   sync.Mutex
	cal  calendar
	keys map[string]*keyState
	seq  uint64 // last reservation id
}

// keyState is one key's spend.
type keyState struct {
	roll     rolling
	cal      [numCal]periodSpend
	total    int64
	reserved int64            // sum of pending
	pending  map[uint64]int64 // reservation id → estimate
	requests []int64          // unix nanos of admitted requests, last minute (RPM)
}

// periodSpend is the spend in the calendar period starting at start
// (unix nanos). Spend of an older period is no longer tracked.
type periodSpend struct {
	start int64
	used  int64
}

func (q *quota) state(key string) *keyState {
	k := q.keys[key]
	if k == nil {
		k = &keyState{}
		q.keys[key] = k
	}
	return k
}

// add counts cost made at t into every window.
func (k *keyState) add(cal *calendar, t time.Time, cost int64, nowMin int64) {
	k.total += cost
	k.roll.add(minuteOf(t), cost, nowMin)
	for c := range numCal {
		s := cal.span(c, t)
		p := &k.cal[c]
		switch {
		case s.start == p.start:
			p.used += cost
		case s.start > p.start:
			*p = periodSpend{s.start, cost}
		}
	}
}

// used returns the settled spend in window w at now.
func (k *keyState) used(cal *calendar, w Window, now time.Time) int64 {
	switch w {
	case Window5h:
		k.roll.expire(minuteOf(now))
		return k.roll.sum()
	case WindowTotal:
		return k.total
	}
	c := calIndex(w)
	if p := k.cal[c]; p.start == cal.span(c, now).start {
		return p.used
	}
	return 0
}

func calIndex(w Window) int {
	for c, cw := range calWindows {
		if cw == w {
			return c
		}
	}
	panic("ledger: not a calendar window: " + string(w))
}

// release drops a pending reservation; unknown ids are ignored.
func (q *quota) release(res Reservation) {
	if res.id == 0 {
		return
	}
	k := q.keys[res.key]
	if k == nil {
		return
	}
	if est, ok := k.pending[res.id]; ok {
		delete(k.pending, res.id)
		k.reserved -= est
	}
}

// Reserve checks and holds estimate against every limit of key in one
// step: it fails with *RateError when the key made lim.RPM requests in the
// last minute, and with *BudgetError when settled spend + in-flight
// reservations + estimate would exceed a window's limit (naming the
// window that stays closed longest). Otherwise it counts the request
// against RPM and holds the estimate until the request's Record or
// Release. An empty key, or a key with no RPM and no budget, is not
// limited and gets a no-op reservation without taking the quota lock: the
// hot path of unlimited keys stays lock-free here (their spend is still
// counted when Record settles).
// lim.RateMultiplier is not used here: estimate already includes it.
func (l *Ledger) Reserve(key string, lim Limits, estimate int64) (Reservation, error) {
	if key == "" || lim.Unlimited() {
		return Reservation{}, nil
	}
	estimate = max(estimate, 0)
	now := l.now()
	q := &l.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	k := q.state(key)
	if lim.RPM > 0 {
		if err := k.checkRPM(now, lim.RPM); err != nil {
			return Reservation{}, err
		}
	}
	if err := q.checkBudgets(k, lim, estimate, now); err != nil {
		return Reservation{}, err
	}
	if lim.RPM > 0 {
		k.requests = append(k.requests, now.UnixNano())
	}
	q.seq++
	if k.pending == nil {
		k.pending = make(map[uint64]int64)
	}
	k.pending[q.seq] = estimate
	k.reserved += estimate
	return Reservation{key: key, id: q.seq, estimate: estimate}, nil
}

// CountRequest counts a request that costs nothing (count_tokens)
// against key's RPM, or refuses it with *RateError when the key made
// lim.RPM requests in the last minute. It holds no reservation: there is
// nothing to settle.
func (l *Ledger) CountRequest(key string, lim Limits) error {
	if key == "" || lim.RPM <= 0 {
		return nil
	}
	now := l.now()
	q := &l.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	k := q.state(key)
	if err := k.checkRPM(now, lim.RPM); err != nil {
		return err
	}
	k.requests = append(k.requests, now.UnixNano())
	return nil
}

// Recheck reports, with the *BudgetError Reserve would return, whether
// settled spend and every reservation in flight (res included) still fit
// lim. A request that waited for a slot calls it before it starts: while
// it waited, requests that ran may have settled above their estimates,
// and without this check every request admitted before them would still
// run. It holds nothing new; the caller releases res when refused.
func (l *Ledger) Recheck(res Reservation, lim Limits) error {
	if res.id == 0 || !lim.HasSpendLimit() {
		return nil
	}
	now := l.now()
	q := &l.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	k := q.keys[res.key]
	if k == nil {
		return nil
	}
	if _, held := k.pending[res.id]; !held {
		return nil
	}
	return q.checkBudgets(k, lim, 0, now)
}

// Release drops a reservation whose request ended before any usage (an
// upstream error, a client gone while queued). The request still counts
// against RPM: it was made. Releasing a settled or zero reservation does
// nothing.
func (l *Ledger) Release(res Reservation) {
	if res.id == 0 {
		return
	}
	l.quota.mu.Lock()
	defer l.quota.mu.Unlock()
	l.quota.release(res)
}

// checkRPM refuses when the key already made rpm requests in the minute
// before now.
func (k *keyState) checkRPM(now time.Time, rpm int) error {
	k.expireRequests(now)
	if n := len(k.requests); n >= rpm {
		// After the oldest n-rpm+1 requests leave the minute, fewer than
		// rpm remain.
		reset := time.Unix(0, k.requests[n-rpm]).Add(time.Minute)
		return &RateError{Limit: rpm, ResetAt: reset.In(now.Location())}
	}
	return nil
}

func (k *keyState) expireRequests(now time.Time) {
	cutoff := now.Add(-time.Minute).UnixNano()
	i := 0
	for i < len(k.requests) && k.requests[i] <= cutoff {
		i++
	}
	if i > 0 {
		k.requests = append(k.requests[:0], k.requests[i:]...)
	}
}

// checkBudgets returns a *BudgetError when estimate does not fit in some
// limited window, for the window whose reset is furthest away (the
// lifetime quota, which never resets, first).
func (q *quota) checkBudgets(k *keyState, lim Limits, estimate int64, now time.Time) error {
	var worst *BudgetError
	for _, w := range windows {
		limit := lim.limit(w)
		if limit <= 0 {
			continue
		}
		used := k.used(&q.cal, w, now)
		if used+k.reserved+estimate <= limit {
			continue
		}
		e := &BudgetError{Window: w, Limit: limit, Used: used, Reserved: k.reserved,
			ResetAt: q.resetAt(k, w, now, limit-k.reserved-estimate)}
		if worst == nil || e.ResetAt.IsZero() ||
			(!worst.ResetAt.IsZero() && e.ResetAt.After(worst.ResetAt)) {
			worst = e
		}
	}
	if worst == nil {
		return nil
	}
	return worst
}

// resetAt returns when window w lets spend of at most keep remain: for
// the rolling window when enough old spend expired (a minute from now if
// only in-flight reservations are in the way), for calendar windows the
// next period, for the total never (zero).
func (q *quota) resetAt(k *keyState, w Window, now time.Time, keep int64) time.Time {
	switch w {
	case Window5h:
		t := k.roll.freeAt(max(keep, 0))
		if t.IsZero() || !t.After(now) {
			t = now.Add(bucketWidth)
		}
		return t.In(q.cal.loc)
	case WindowTotal:
		return time.Time{}
	}
	return time.Unix(0, q.cal.span(calIndex(w), now).end).In(q.cal.loc)
}

// settle removes r's reservation and counts its charged cost against its
// key at once, before the record is committed: later Reserves see it.
func (l *Ledger) settle(r *Record) {
	res := r.Reservation
	count := r.Key != "" && r.CostMicros > 0
	if res.id == 0 && !count {
		return
	}
	nowMin := minuteOf(l.now())
	q := &l.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	q.release(res)
	if count {
		q.state(r.Key).add(&q.cal, r.Time, r.CostMicros, nowMin)
	}
}

// KeyUsage returns key's spend, in-flight reservations, limit and reset
// time in each window (5h, day, week, month, total), from memory. The 5h
// ResetAt is when the oldest spend in the window leaves it (zero when
// there is none); the total never resets (zero).
func (l *Ledger) KeyUsage(key string, lim Limits) []WindowUsage {
	now := l.now()
	q := &l.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	k := q.keys[key]
	if k == nil {
		k = &keyState{} // not stored: an unknown name must not grow the map
	}
	out := make([]WindowUsage, len(windows))
	for i, w := range windows {
		u := WindowUsage{Window: w, Used: k.used(&q.cal, w, now), Reserved: k.reserved, Limit: lim.limit(w)}
		switch w {
		case Window5h:
			if len(k.roll) > 0 {
				u.ResetAt = minuteStart(k.roll[0].minute + rollingBucket + 1).In(q.cal.loc)
			}
		case WindowTotal:
		default:
			u.ResetAt = time.Unix(0, q.cal.span(calIndex(w), now).end).In(q.cal.loc)
		}
		out[i] = u
	}
	return out
}
