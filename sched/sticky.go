package sched

import (
	"cmp"
	"slices"
	"time"
)

// bindKey scopes a sticky session by group.
type bindKey struct {
	group, session string
}

// boundCandidate returns the candidate r's session is bound to, or nil when
// the session has no live binding or its account cannot serve r now (the
// caller then selects normally and rebinds).
func (s *Scheduler) boundCandidate(r *Request, cands []candidate, now time.Time) *candidate {
	if r.Session == "" {
		return nil
	}
	k := bindKey{r.Group, r.Session}
	b := s.bindings[k]
	if b == nil {
		return nil
	}
	if !now.Before(b.Expires) {
		delete(s.bindings, k)
		return nil
	}
	for i := range cands {
		if cands[i].Name == b.Account {
			return &cands[i]
		}
	}
	return nil
}

// bind binds (group, session) to acct for StickyTTL from now. Refreshing a
// live binding to the same account does not mark the snapshot dirty.
func (s *Scheduler) bind(group, session, acct string, now time.Time) {
	k := bindKey{group, session}
	if b := s.bindings[k]; b != nil && b.Account == acct && now.Before(b.Expires) {
		b.Expires = now.Add(s.cfg.StickyTTL)
		return
	}
	s.bindings[k] = &Binding{
		Group:   group,
		Session: session,
		Account: acct,
		Created: now,
		Expires: now.Add(s.cfg.StickyTTL),
	}
	s.markDirty()
}

// Bind binds session in group to account for StickyTTL, for affinities the
// proxy learns itself (an OpenAI response id and the account that made it).
func (s *Scheduler) Bind(group, session, account string) {
	if session == "" || account == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bind(group, session, account, s.now())
}

// Unbind removes session from every group and returns how many bindings
// it removed.
func (s *Scheduler) Unbind(session string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range s.bindings {
		if k.session == session {
			delete(s.bindings, k)
			n++
		}
	}
	if n > 0 {
		s.markDirty()
	}
	return n
}

// Sessions returns the live bindings sorted by group and session.
func (s *Scheduler) Sessions() []Binding {
	s.mu.Lock()
	now := s.now()
	out := s.liveBindings(now)
	s.mu.Unlock()
	slices.SortFunc(out, func(x, y Binding) int {
		return cmp.Or(cmp.Compare(x.Group, y.Group), cmp.Compare(x.Session, y.Session))
	})
	return out
}

// liveBindings copies the bindings that have not expired at now.
func (s *Scheduler) liveBindings(now time.Time) []Binding {
	out := make([]Binding, 0, len(s.bindings))
	for _, b := range s.bindings {
		if now.Before(b.Expires) {
			out = append(out, *b)
		}
	}
	return out
}

// sweep drops the bindings that expired at now and returns how many.
func (s *Scheduler) sweep(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, b := range s.bindings {
		if !now.Before(b.Expires) {
			delete(s.bindings, k)
			n++
		}
	}
	return n
}
