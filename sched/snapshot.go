package sched

import (
	"context"
	"time"
)

// Run is the scheduler's own goroutine: it sweeps expired bindings and
// saves the snapshot SnapshotDebounce after a change. When ctx is done it
// saves once more and returns. Call it once; Close does not stop it.
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

// markDirty records that the snapshot changed and wakes Run. Callers hold
// s.mu; the send never blocks.
func (s *Scheduler) markDirty() {
	s.dirty = true
	select {
	case s.dirtyC <- struct{}{}:
	default:
	}
}

// save writes the snapshot if it changed, or always when force is set.
// The store is called without the mutex; a failed save stays dirty and is
// retried after the next debounce.
func (s *Scheduler) save(force bool) {
	if s.store == nil {
		return
	}
	s.mu.Lock()
	if !force && !s.dirty {
		s.mu.Unlock()
		return
	}
	snap := s.snapshot(s.now())
	s.dirty = false
	s.mu.Unlock()
	if err := s.store.SaveState(snap); err != nil {
		s.log.Error("save scheduler state", "err", err)
		s.mu.Lock()
		s.markDirty()
		s.mu.Unlock()
	}
}

// snapshot copies the persisted state: the health of every pool account
// (and of accounts loaded but not configured yet) and the live bindings.
// Windows slices are shared; they are replaced, never changed in place.
func (s *Scheduler) snapshot(now time.Time) Snapshot {
	snap := Snapshot{
		Health:   make(map[string]Health, len(s.pool)+len(s.pending)),
		Bindings: s.liveBindings(now),
	}
	for name, h := range s.pending {
		snap.Health[name] = h
	}
	for _, a := range s.pool {
		a.available(now)
		snap.Health[a.Name] = a.health
	}
	return snap
}

// restore loads a snapshot into pending health and bindings; setAccounts
// then gives each account its health. Rests are re-capped at MaxCooldown
// and unknown states read as ok.
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
		s.pending[name] = h
	}
	for _, b := range snap.Bindings {
		if b.Session != "" && now.Before(b.Expires) {
			s.bindings[bindKey{b.Group, b.Session}] = &b
		}
	}
}
