package sched

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// available reports whether a's health lets it serve at now. A timed state
// whose Until has passed turns back to ok here, lazily.
func (a *account) available(now time.Time) bool {
	h := &a.health
	if len(h.Families) > 0 {
		pruneFamilies(h, now)
	}
	switch h.State {
	case StateOK, "":
		return true
	case StateRateLimited, StateOverloaded, StateCooldown:
		if now.Before(h.Until) {
			return false
		}
		h.State, h.Until, h.Reason = StateOK, time.Time{}, ""
		return true
	}
	return false // error, disabled
}

// change is a health transition to log once the mutex is released.
type change struct {
	acct   string
	from   State
	h      Health
	logged bool
	family string // a family whose bench began or moved
}

func (c change) log(l *slog.Logger) {
	if c.family != "" {
		for _, f := range c.h.Families {
			if f.Family == c.family {
				l.Info("model family benched", "acct", c.acct, "family", f.Family,
					"until", f.Until, "reason", f.Reason)
			}
		}
	}
	if !c.logged {
		return
	}
	level := slog.LevelInfo
	if c.h.State == StateError {
		level = slog.LevelWarn
	}
	l.Log(context.Background(), level, "account health changed", "acct", c.acct, "from", c.from,
		"state", c.h.State, "until", c.h.Until, "reason", c.h.Reason)
}

// applyOutcome folds the outcome of one lease on a into its health, marks
// the snapshot dirty when health changed, and wakes a's waiters that a can
// no longer serve. fam is the family a Success clears.
func (s *Scheduler) applyOutcome(a *account, o Outcome, fam string, now time.Time) change {
	h := &a.health
	h.LastUsed = now
	if o.Windows != nil {
		h.Windows = mergeWindows(h.Windows, o.Windows)
		s.healthChanged(a.Name)
	} else if s.store != nil {
		s.dirtyHealth[a.Name] = struct{}{} // the last-used time rides with the next save
	}
	// error and disabled are left only by an admin call; a lease that was
	// out when they were set must not undo them.
	if a.removed || h.State == StateError || h.State == StateDisabled ||
		o.Kind == Canceled || o.Kind == RequestError {
		return change{}
	}
	a.available(now)
	before := *h
	if o.Kind != ServerError {
		h.Failures = 0
	}
	if o.Kind != Forbidden {
		h.Forbidden = 0
	}
	switch o.Kind {
	case Success:
		h.State, h.Until, h.Reason = StateOK, time.Time{}, ""
		clearFamily(h, fam)
	case RateLimited:
		until := now.Add(s.cfg.RateLimitCooldown)
		if o.ResetAt.After(now) {
			until = o.ResetAt
		}
		if o.Scope != "" {
			s.benchFamily(a, o.Scope, until, reason(o, "rate limited"), now)
		} else {
			s.rest(a, StateRateLimited, until, reason(o, "rate limited"), now)
		}
	case Overloaded:
		s.rest(a, StateOverloaded, now.Add(s.cfg.OverloadCooldown), reason(o, "overloaded"), now)
	case AuthFailed:
		h.State, h.Until, h.Reason = StateError, time.Time{}, reason(o, "authentication failed")
	case Forbidden:
		h.Forbidden++
		if h.Forbidden >= forbiddenLimit {
			h.State, h.Until, h.Forbidden = StateError, time.Time{}, 0
			h.Reason = fmt.Sprintf("forbidden %d times in a row: %s", forbiddenLimit, reason(o, "forbidden"))
		} else {
			s.rest(a, StateCooldown, now.Add(s.cfg.ForbiddenCooldown), reason(o, "forbidden"), now)
		}
	case ServerError:
		h.Failures++
		if h.Failures >= s.cfg.FailureThreshold {
			h.Failures = 0
			s.rest(a, StateCooldown, now.Add(s.cfg.FailureCooldown),
				fmt.Sprintf("%d failures in a row: %s", s.cfg.FailureThreshold, reason(o, "server error")), now)
		}
	}
	if sameHealth(before, *h) {
		return change{}
	}
	s.healthChanged(a.Name)
	ch := change{acct: a.Name, from: before.State, h: *h, logged: before.State != h.State || !before.Until.Equal(h.Until)}
	switch {
	case !a.available(now):
		s.evict(a)
	case o.Kind == RateLimited && o.Scope != "" && !sameFamilies(before.Families, h.Families):
		s.evictUnserved(a, now)
		ch.family = o.Scope
	}
	return ch
}

// rest puts a in a timed state until until, capped at MaxCooldown. A rest
// already running that ends later is kept: a short cooldown must not cut
// a long rate limit short.
func (s *Scheduler) rest(a *account, st State, until time.Time, why string, now time.Time) {
	if limit := now.Add(s.cfg.MaxCooldown); until.After(limit) {
		until = limit
	}
	h := &a.health
	if h.State != StateOK && h.Until.After(until) {
		return
	}
	h.State, h.Until, h.Reason = st, until, why
}

// reason returns o.Reason, or def with the status when o has none.
func reason(o Outcome, def string) string {
	switch {
	case o.Reason != "":
		return o.Reason
	case o.Status != 0:
		return fmt.Sprintf("%s (status %d)", def, o.Status)
	}
	return def
}

func sameHealth(x, y Health) bool {
	return x.State == y.State && x.Until.Equal(y.Until) && x.Reason == y.Reason &&
		x.Failures == y.Failures && x.Forbidden == y.Forbidden && sameFamilies(x.Families, y.Families)
}

// Clear puts the account back to ok at once, whatever its state (disabled
// included), ends the benches of all its model families, and forgets its
// failure counts.
func (s *Scheduler) Clear(name string) error {
	return s.admin(name, func(h *Health) {
		h.State, h.Until, h.Reason, h.Failures, h.Forbidden = StateOK, time.Time{}, "", 0, 0
		h.Families = nil
	})
}

// Disable takes the account out of selection until Enable or Clear. Its
// waiters select again; its leases finish normally.
func (s *Scheduler) Disable(name string) error {
	return s.admin(name, func(h *Health) {
		h.State, h.Until, h.Reason = StateDisabled, time.Time{}, "disabled by admin"
	})
}

// Enable returns a disabled or errored account to ok. A running rate limit
// or cooldown is left alone; Clear ends those.
func (s *Scheduler) Enable(name string) error {
	return s.admin(name, func(h *Health) {
		if h.State == StateDisabled || h.State == StateError {
			h.State, h.Until, h.Reason, h.Failures, h.Forbidden = StateOK, time.Time{}, "", 0, 0
		}
	})
}

// MarkError puts the account in the error state with reason, for failures
// seen outside a lease such as a failed OAuth refresh. A disabled account
// stays disabled; an unknown name is ignored.
func (s *Scheduler) MarkError(name, reason string) {
	_ = s.admin(name, func(h *Health) {
		if h.State != StateDisabled {
			h.State, h.Until, h.Reason = StateError, time.Time{}, reason
		}
	})
}

// admin applies edit to the health of the pool account called name and
// then settles its waiters and free slots.
func (s *Scheduler) admin(name string, edit func(*Health)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.active(name)
	if a == nil {
		return fmt.Errorf("%w: %q", ErrUnknownAccount, name)
	}
	now := s.now()
	a.available(now)
	before := a.health
	edit(&a.health)
	if !sameHealth(before, a.health) {
		s.healthChanged(a.Name)
	}
	s.fill(a, now) // evicts waiters if it cannot serve, hands out slots if it can
	return nil
}
