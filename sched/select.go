package sched

import (
	"path"
	"slices"
	"time"
)

// candidate is what selection knows of one account that can serve a
// request.
type candidate struct {
	Name     string
	Priority int
	InFlight int
	Waiting  int
	Limit    int  // at least 1
	Free     bool // a slot is free and nobody waits for it
	LastUsed time.Time
	Windows  []Window

	acct     *account // nil in tests
	upstream string   // the request's model after the account's ModelMap
}

// choose returns the index of the best candidate with a free slot (-1 if
// none) and of the best candidate overall (-1 if cands is empty), best as
// ordered by better. It is pure: it reads nothing but its arguments.
func choose(cands []candidate, now time.Time, preferSoonestReset bool) (free, best int) {
	free, best = -1, -1
	for i := range cands {
		c := &cands[i]
		if best < 0 || better(c, &cands[best], now, preferSoonestReset) {
			best = i
		}
		if c.Free && (free < 0 || better(c, &cands[free], now, preferSoonestReset)) {
			free = i
		}
	}
	return free, best
}

// better reports whether x ranks before y: lowest Priority, then lowest
// load ((InFlight+Waiting)/Limit), then, if preferSoonestReset, the soonest
// future window reset (accounts without one last), then least recently
// used (never used first), then name.
func better(x, y *candidate, now time.Time, preferSoonestReset bool) bool {
	if x.Priority != y.Priority {
		return x.Priority < y.Priority
	}
	// Compare (in+wait)/limit without division.
	lx := (x.InFlight + x.Waiting) * max(y.Limit, 1)
	ly := (y.InFlight + y.Waiting) * max(x.Limit, 1)
	if lx != ly {
		return lx < ly
	}
	if preferSoonestReset {
		rx, ry := soonestReset(x.Windows, now), soonestReset(y.Windows, now)
		if !rx.Equal(ry) {
			switch {
			case rx.IsZero():
				return false
			case ry.IsZero():
				return true
			}
			return rx.Before(ry)
		}
	}
	if !x.LastUsed.Equal(y.LastUsed) {
		return x.LastUsed.Before(y.LastUsed)
	}
	return x.Name < y.Name
}

// soonestReset returns the earliest window reset after now, or zero. A reset
// already past says nothing about the next one.
func soonestReset(ws []Window, now time.Time) time.Time {
	var t time.Time
	for _, w := range ws {
		if w.ResetAt.After(now) && (t.IsZero() || w.ResetAt.Before(t)) {
			t = w.ResetAt
		}
	}
	return t
}

// candidates appends to dst[:0] the pool accounts that can serve r now,
// of the best reach only: when an account of the client's own platform
// can serve, no account that would translate is a candidate (see
// route.go). Callers pass a stack array so the hot path allocates
// nothing.
func (s *Scheduler) candidates(dst []candidate, r *Request, now time.Time) []candidate {
	c := dst[:0]
	native := false
	for _, a := range s.pool {
		up, how := a.serves(r, now)
		switch {
		case how == Unreachable, how == Translated && native:
			continue
		case how == Native && !native:
			native = true
			c = c[:0] // the translated ones found so far give way
		}
		c = append(c, candidate{
			Name:     a.Name,
			Priority: a.Priority,
			InFlight: a.inFlight,
			Waiting:  a.queue.n,
			Limit:    a.limit,
			Free:     a.free(),
			LastUsed: a.health.LastUsed,
			Windows:  a.health.Windows,
			acct:     a,
			upstream: up,
		})
	}
	return c
}

// anyCandidate reports whether some pool account can serve r now.
func (s *Scheduler) anyCandidate(r *Request, now time.Time) bool {
	for _, a := range s.pool {
		if _, how := a.serves(r, now); how != Unreachable {
			return true
		}
	}
	return false
}

// serves reports whether and how a can take r now, ignoring its free
// slots, and returns the upstream model. A family benched on a bars the
// requests that draw on it.
func (a *account) serves(r *Request, now time.Time) (string, Reach) {
	if a.removed || a.Group != r.Group || !a.available(now) {
		return "", Unreachable
	}
	if slices.Contains(r.Exclude, a.Name) {
		return "", Unreachable
	}
	up, how := a.route(r)
	if how != Unreachable && len(a.health.Families) > 0 && a.familyBenched(a.familyOf(r, up), now) {
		return "", Unreachable
	}
	return up, how
}

// route is Account.Route with the account's cached allow-list verdicts.
func (a *account) route(r *Request) (string, Reach) {
	up, mapped, ok := a.model(r.Model)
	return up, a.reach(up, mapped, ok, r.Platform, r.Translate)
}

// free reports whether a has a slot no one waits for.
func (a *account) free() bool {
	return a.inFlight < a.limit && a.queue.n == 0
}

// modelVerdict caches the outcome of matching one requested model.
type modelVerdict struct {
	upstream string
	mapped   bool
	ok       bool
}

// maxModelCache bounds an account's model cache; clients choose the keys.
const maxModelCache = 256

// model maps m through ModelMap (mapped: it had an entry) and matches the
// result against the Models globs.
func (a *account) model(m string) (up string, mapped, ok bool) {
	up = m
	if len(a.Models) == 0 {
		if u, hit := a.ModelMap[m]; hit {
			up, mapped = u, true
		}
		return up, mapped, true
	}
	if v, hit := a.models[m]; hit {
		return v.upstream, v.mapped, v.ok
	}
	if u, hit := a.ModelMap[m]; hit {
		up, mapped = u, true
	}
	for _, g := range a.Models {
		if hit, _ := path.Match(g, up); hit {
			ok = true
			break
		}
	}
	if a.models == nil || len(a.models) >= maxModelCache {
		a.models = make(map[string]modelVerdict)
	}
	a.models[m] = modelVerdict{upstream: up, mapped: mapped, ok: ok}
	return up, mapped, ok
}
