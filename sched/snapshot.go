package sched

import (
	"context"
	"slices"
	"time"
)

// Run is the scheduler's own goroutine: it sweeps expired bindings and
// saves the changes SnapshotDebounce after one. When ctx is done it saves
// once more and returns. Call it once; Close does not stop it.
func (s *Scheduler) Run(ctx context.Context) {
	sweep := time.NewTicker(s.sweepEvery())
	defer sweep.Stop()
	debounce := time.NewTimer(s.cfg.SnapshotDebounce)
	debounce.Stop()
	defer debounce.Stop()
	armed := false
	for {
		select {
		case <-ctx.Done():
			s.save(true)
			return
		case <-s.dirtyC:
			if !armed {
				debounce.Reset(s.cfg.SnapshotDebounce)
				armed = true
			}
		case <-debounce.C:
			armed = false
			s.save(false)
		case <-sweep.C:
			s.sweep(s.now())
		}
	}
}

// sweepEvery is how often Run drops expired bindings.
func (s *Scheduler) sweepEvery() time.Duration {
	return min(max(s.cfg.StickyTTL/4, time.Second), time.Minute)
}

// markDirty records that there is something to save soon and wakes Run.
// Callers hold s.mu; the send never blocks.
func (s *Scheduler) markDirty() {
	s.dirty = true
	select {
	case s.dirtyC <- struct{}{}:
	default:
	}
}

// healthChanged queues the health of the account called name for the next
// save and wakes Run.
func (s *Scheduler) healthChanged(name string) {
	if s.store != nil {
		s.dirtyHealth[name] = struct{}{}
	}
	s.markDirty()
}

// maxQueuedUnbinds bounds the queued changes beyond one per live binding:
// removals, which pile up only while saves fail (or churn outruns them).
const maxQueuedUnbinds = 1 << 16

// bindChanged queues binding k for the next save, whenever that is. After
// the set's first save it has room for every live key, so this allocates
// nothing on the hot path.
func (s *Scheduler) bindChanged(k bindKey) {
	if s.store == nil {
		return
	}
	if len(s.dirtyBinds) >= len(s.bindings)+maxQueuedUnbinds {
		s.dropQueuedUnbinds()
	}
	s.dirtyBinds[k] = struct{}{}
}

// dropQueuedUnbinds forgets the queued removals, so a failing store cannot
// grow the queue without bound. The records stay stored until the next
// start drops them again (expired, or past their key's cap). It runs at
// most once per maxQueuedUnbinds removals.
func (s *Scheduler) dropQueuedUnbinds() {
	for k := range s.dirtyBinds {
		if s.bindings[k] == nil {
			delete(s.dirtyBinds, k)
		}
	}
}

// save hands the store what changed since the last save, when Run was
// woken for it or force is set. The changes are copied under the mutex and
// written without it; a failed save queues them again and is retried after
// the next debounce.
func (s *Scheduler) save(force bool) {
	if s.store == nil {
		return
	}
	s.mu.Lock()
	if !force && !s.dirty {
		s.mu.Unlock()
		return
	}
	c := s.changes(s.now())
	s.dirty = false
	s.mu.Unlock()
	if c.Empty() {
		return
	}
	if err := s.store.SaveChanges(c); err != nil {
		s.log.Error("save scheduler state", "err", err)
		s.mu.Lock()
		s.requeue(&c)
		s.markDirty()
		s.mu.Unlock()
	}
}

// changes takes the queued changes: the current health of each queued
// account (or its removal) and each queued binding (or its end). Windows
// and Families slices are shared; they are replaced, never changed in
// place.
func (s *Scheduler) changes(now time.Time) Changes {
	var c Changes
	if len(s.dirtyHealth) > 0 {
		c.Health = make(map[string]Health, len(s.dirtyHealth))
	}
	for name := range s.dirtyHealth {
		if a := s.active(name); a != nil {
			a.available(now)
			c.Health[name] = a.health
		} else if h, ok := s.pending[name]; ok {
			c.Health[name] = h
		} else {
			c.Forget = append(c.Forget, name)
		}
	}
	for k := range s.dirtyBinds {
		if b := s.bindings[k]; b != nil && now.Before(b.expires) {
			c.Bindings = append(c.Bindings, b.export())
		} else {
			c.Unbound = append(c.Unbound, k.ref())
		}
	}
	c.Unbound = append(c.Unbound, s.legacy...)
	clear(s.dirtyHealth)
	clear(s.dirtyBinds)
	s.legacy = nil
	return c
}

// requeue queues again the changes of a save that failed; the next save
// reads their current values.
func (s *Scheduler) requeue(c *Changes) {
	for name := range c.Health {
		s.dirtyHealth[name] = struct{}{}
	}
	for _, name := range c.Forget {
		s.dirtyHealth[name] = struct{}{}
	}
	for _, b := range c.Bindings {
		if id, ok := parseSessionID(b.Session); ok {
			s.dirtyBinds[bindKey{b.Group, id}] = struct{}{}
		}
	}
	for _, r := range c.Unbound {
		if id, ok := parseSessionID(r.Session); ok {
			s.dirtyBinds[bindKey{r.Group, id}] = struct{}{}
		} else {
			s.legacy = append(s.legacy, r)
		}
	}
}

// restore loads a snapshot into pending health and bindings; setAccounts
// then gives each account its health. Rests are re-capped at MaxCooldown
// and unknown states read as ok. A binding stored under a raw session id
// (written before ids were hashed) is kept under its hash, and the next
// save replaces it; expired bindings are deleted from the store.
func (s *Scheduler) restore(snap Snapshot, now time.Time) {
	for name, h := range snap.Health {
		switch h.State {
		case StateRateLimited, StateOverloaded, StateCooldown:
			if limit := now.Add(s.cfg.MaxCooldown); h.Until.After(limit) {
				h.Until = limit
			}
		case StateOK, StateError, StateDisabled:
		default:
			h.State, h.Until, h.Reason = StateOK, time.Time{}, ""
		}
		h.Families = s.restoreFamilies(h.Families, now)
		s.pending[name] = h
	}
	// Oldest first, so each key's list is in refresh order and its cap
	// keeps the newest.
	bs := slices.Clone(snap.Bindings)
	slices.SortStableFunc(bs, func(x, y Binding) int { return x.Expires.Compare(y.Expires) })
	for _, b := range bs {
		id, ok := parseSessionID(b.Session)
		if !ok {
			s.legacy = append(s.legacy, BindingRef{Group: b.Group, Session: b.Session})
			id = hashSession(b.Session)
		}
		k := bindKey{b.Group, id}
		if b.Session == "" || b.Account == "" || !now.Before(b.Expires) {
			if ok {
				s.bindChanged(k)
			}
			continue
		}
		if old := s.bindings[k]; old != nil {
			s.unbind(old, false)
		}
		nb := &binding{bindKey: k, account: b.Account, key: b.Key, created: b.Created, expires: b.Expires}
		s.bindings[k] = nb
		s.link(nb)
		if !ok {
			s.bindChanged(k)
		}
	}
	if len(s.legacy) > 0 || len(s.dirtyBinds) > 0 {
		s.markDirty()
	}
}
