package sched

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
	"unsafe"
)

// sessionID is the fixed-size form in which a client's session id is kept:
// the first 16 bytes of its SHA-256. Clients choose session ids (and
// prompt_cache_key, previous_response_id, header ids), so no table holds
// one: a megabyte id costs 16 bytes, and 128 bits of SHA-256 make a
// collision with another client's session out of reach.
type sessionID [16]byte

// hashSession returns the sessionID of s without copying s.
func hashSession(s string) sessionID {
	// Sum256 only reads its argument, so viewing the string's bytes in
	// place is safe and spares a copy per request.
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
	return sessionID(sum[:16])
}

func (id sessionID) String() string { return hex.EncodeToString(id[:]) }

// parseSessionID reads the hex form of a sessionID.
func parseSessionID(s string) (sessionID, bool) {
	var id sessionID
	if len(s) != 2*len(id) {
		return id, false
	}
	_, err := hex.Decode(id[:], []byte(s))
	return id, err == nil
}

// SessionID returns the form in which the scheduler keeps, shows and
// persists a client session id: hex of the first 16 bytes of its SHA-256.
func SessionID(session string) string { return hashSession(session).String() }

// bindKey scopes a sticky session by group.
type bindKey struct {
	group string
	id    sessionID
}

func (k bindKey) ref() BindingRef { return BindingRef{Group: k.group, Session: k.id.String()} }

// binding is a live sticky binding, linked into its key's list.
type binding struct {
	bindKey
	account, key     string
	created, expires time.Time
	prev, next       *binding // the key's list, least recently used first
}

func (b *binding) export() Binding {
	return Binding{Group: b.group, Session: b.id.String(), Account: b.account, Key: b.key,
		Created: b.created, Expires: b.expires}
}

// bindList is one client key's bindings, least recently used first.
type bindList struct {
	head, tail *binding
	n          int
}

func (l *bindList) push(b *binding) {
	b.prev, b.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = b
	} else {
		l.head = b
	}
	l.tail = b
	l.n++
}

func (l *bindList) remove(b *binding) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		l.head = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		l.tail = b.prev
	}
	b.prev, b.next = nil, nil
	l.n--
}

// boundCandidate returns the candidate the session id is bound to, or nil
// when it has no live binding or its account cannot serve r now (the
// caller then selects normally, and a success there rebinds).
func (s *Scheduler) boundCandidate(group string, id *sessionID, cands []candidate, now time.Time) *candidate {
	if id == nil {
		return nil
	}
	b := s.bindings[bindKey{group, *id}]
	if b == nil {
		return nil
	}
	if !now.Before(b.expires) {
		s.unbind(b, true)
		return nil
	}
	for i := range cands {
		if cands[i].Name == b.account {
			return &cands[i]
		}
	}
	return nil
}

// bind binds (group, id) to acct for StickyTTL from now, on behalf of
// key. A new binding, or one moved to another account, marks the snapshot
// dirty; a refresh is saved with the next save. A key's binding past
// MaxSessionsPerKey evicts its least recently used one.
func (s *Scheduler) bind(group string, id sessionID, acct, key string, now time.Time) {
	k := bindKey{group, id}
	b := s.bindings[k]
	if b != nil && !now.Before(b.expires) {
		s.unbind(b, false)
		b = nil
	}
	switch {
	case b == nil:
		b = &binding{bindKey: k, account: acct, key: key, created: now}
		s.bindings[k] = b
		s.link(b)
		s.markDirty()
	case b.key != key:
		s.keyList(b.key).remove(b)
		s.dropList(b.key)
		b.key = key
		s.link(b)
		s.markDirty()
	default:
		l := s.byKey[key]
		l.remove(b)
		l.push(b)
	}
	if b.account != acct {
		b.account, b.created = acct, now
		s.markDirty()
	}
	b.expires = now.Add(s.cfg.StickyTTL)
	s.bindChanged(k)
}

// link appends b to its key's list and evicts that key's least recently
// used bindings past the cap.
func (s *Scheduler) link(b *binding) {
	l := s.keyList(b.key)
	l.push(b)
	for l.n > s.cfg.MaxSessionsPerKey {
		s.unbind(l.head, true)
	}
}

// keyList returns key's binding list, creating it.
func (s *Scheduler) keyList(key string) *bindList {
	l := s.byKey[key]
	if l == nil {
		l = &bindList{}
		s.byKey[key] = l
	}
	return l
}

// dropList forgets key's list once it is empty.
func (s *Scheduler) dropList(key string) {
	if l := s.byKey[key]; l != nil && l.n == 0 {
		delete(s.byKey, key)
	}
}

// unbind removes b. loud wakes Run to save the removal soon; otherwise it
// goes with the next save.
func (s *Scheduler) unbind(b *binding, loud bool) {
	delete(s.bindings, b.bindKey)
	s.byKey[b.key].remove(b)
	s.dropList(b.key)
	s.bindChanged(b.bindKey)
	if loud {
		s.markDirty()
	}
}

// Bind binds session in group to account for StickyTTL, for affinities the
// proxy learns itself (an OpenAI response id and the account that made
// it). The binding counts against no client key's cap but the keyless one;
// BindKey names the key.
func (s *Scheduler) Bind(group, session, account string) {
	s.BindKey(group, session, account, "")
}

// BindKey is Bind on behalf of the client key called key, whose
// MaxSessionsPerKey cap the binding counts against.
func (s *Scheduler) BindKey(group, session, account, key string) {
	if session == "" || account == "" {
		return
	}
	id := hashSession(session)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bind(group, id, account, key, s.now())
}

// Unbind removes a session from every group and returns how many bindings
// it removed. session is the hex SessionID that Sessions shows, or the
// client's session id itself.
func (s *Scheduler) Unbind(session string) int {
	raw := hashSession(session)
	shown, isHex := parseSessionID(session)
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []*binding
	for k, b := range s.bindings {
		if k.id == raw || (isHex && k.id == shown) {
			gone = append(gone, b)
		}
	}
	for _, b := range gone {
		s.unbind(b, true)
	}
	return len(gone)
}

// Sessions returns the live bindings sorted by group and session.
func (s *Scheduler) Sessions() []Binding {
	s.mu.Lock()
	now := s.now()
	out := make([]Binding, 0, len(s.bindings))
	for _, b := range s.bindings {
		if now.Before(b.expires) {
			out = append(out, b.export())
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(x, y Binding) int {
		return cmp.Or(cmp.Compare(x.Group, y.Group), cmp.Compare(x.Session, y.Session))
	})
	return out
}

// sweep drops the bindings that expired at now and returns how many. Each
// key's list is in refresh order, so it stops at the first live binding.
func (s *Scheduler) sweep(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.byKey {
		for l.n > 0 && !now.Before(l.head.expires) {
			s.unbind(l.head, true) // may drop l from byKey; l itself stays readable
			n++
		}
	}
	return n
}
