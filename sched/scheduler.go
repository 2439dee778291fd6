package sched

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Scheduler hands out leases on upstream accounts. All its state lives
// under one mutex that is never held across I/O or a blocking call; waiters
// block on their own channels.
type Scheduler struct {
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	store  StateStore
	dirtyC chan struct{} // wakes Run when the snapshot changed
	wpool  sync.Pool     // idle *waiter, each with its channel and timer

	mu       sync.Mutex
	closed   bool
	pool     []*account          // active accounts sorted by name
	byName   map[string]*account // pool plus removed accounts still holding slots
	pending  map[string]Health   // loaded health of accounts not in the pool
	keys     map[string]*keySlot
	bindings map[bindKey]*binding // pointers: a renewal is a field write
	byKey    map[string]*bindList // each client key's bindings, for its cap
	inFlight int                  // account slots held, all accounts
	waiting  int                  // queued waiters, account and key queues
	seq      uint64               // enqueue order across queues, for stealing

	// What the next save writes (see snapshot.go). dirty wakes Run; the
	// sets may hold quieter changes (a refreshed TTL, a last-used time)
	// that ride along with the next save.
	dirty       bool
	dirtyHealth map[string]struct{}
	dirtyBinds  map[bindKey]struct{}
	legacy      []BindingRef // stored bindings under a raw session id, to delete
}

// account is the scheduler's live view of one Account.
type account struct {
	Account
	limit    int // Concurrency, at least 1
	inFlight int
	queue    queue
	health   Health
	removed  bool                    // no longer in the pool; leases may still be out
	models   map[string]modelVerdict // cache of model → upstream model and verdict
}

// keySlot counts one client key's in-flight requests.
type keySlot struct {
	limit    int
	inFlight int
	queue    queue
}

// New builds a Scheduler over cfg.Accounts and restores the health and
// unexpired bindings of cfg.Store's last snapshot. A Store should return a
// zero Snapshot and no error when nothing was saved yet.
func New(cfg Config) (*Scheduler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	accts := cfg.Accounts
	cfg.Accounts = nil
	s := &Scheduler{
		cfg:      cfg,
		now:      cfg.Now,
		log:      cfg.Logger,
		store:    cfg.Store,
		dirtyC:   make(chan struct{}, 1),
		byName:   make(map[string]*account, len(accts)),
		pending:  make(map[string]Health),
		keys:     make(map[string]*keySlot),
		bindings: make(map[bindKey]*binding),
		byKey:    make(map[string]*bindList),

		dirtyHealth: make(map[string]struct{}),
		dirtyBinds:  make(map[bindKey]struct{}),
	}
	if s.store != nil {
		snap, err := s.store.LoadState()
		if err != nil {
			return nil, fmt.Errorf("sched: load state: %w", err)
		}
		s.restore(snap, s.now())
	}
	s.setAccounts(accts, s.now())
	return s, nil
}

// Close fails every waiter with ErrClosed and makes later Acquire calls
// return ErrClosed. Leases already out stay valid and release normally.
func (s *Scheduler) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, a := range s.byName {
		for a.queue.head != nil {
			s.settle(a.queue.head, stateClosed)
		}
	}
	for _, k := range s.keys {
		for k.queue.head != nil {
			s.settle(k.queue.head, stateClosed)
		}
	}
}

// SetAccounts replaces the pool. Accounts that remain keep their slots,
// queues and health; removed accounts take no new leases, their waiters
// re-select, and their outstanding leases still release cleanly. An account
// without a name or with a bad model glob is logged and skipped, and a
// repeated name keeps its first entry.
func (s *Scheduler) SetAccounts(accts []Account) {
	s.mu.Lock()
	bad := s.setAccounts(accts, s.now())
	s.mu.Unlock()
	for _, err := range bad {
		s.log.Error("account skipped", "err", err)
	}
}

func (s *Scheduler) setAccounts(accts []Account, now time.Time) (bad []error) {
	pool := make([]*account, 0, len(accts))
	seen := make(map[string]bool, len(accts))
	for _, acc := range accts {
		if err := checkAccount(acc); err != nil {
			bad = append(bad, err)
			continue
		}
		if seen[acc.Name] {
			bad = append(bad, fmt.Errorf("sched: account %q listed twice", acc.Name))
			continue
		}
		seen[acc.Name] = true
		acc.Models = slices.Clone(acc.Models)
		acc.ModelMap = maps.Clone(acc.ModelMap)
		a := s.byName[acc.Name]
		if a == nil {
			a = &account{health: Health{State: StateOK}}
			if h, ok := s.pending[acc.Name]; ok {
				a.health = h
				delete(s.pending, acc.Name)
			}
			s.byName[acc.Name] = a
		}
		reroute := a.removed || !sameRoute(a.Account, acc)
		a.Account, a.limit, a.removed = acc, max(acc.Concurrency, 1), false
		if reroute {
			a.models = nil
			s.evict(a) // its waiters may no longer match it
		}
		pool = append(pool, a)
	}
	slices.SortFunc(pool, func(x, y *account) int { return strings.Compare(x.Name, y.Name) })
	for _, a := range s.pool {
		if !seen[a.Name] {
			a.removed = true
			s.evict(a)
			s.healthChanged(a.Name) // forgotten by the next save
			if a.inFlight == 0 {
				delete(s.byName, a.Name)
			}
		}
	}
	s.pool = pool
	for _, a := range pool {
		s.fill(a, now)
	}
	return bad
}

// sameRoute reports whether two configurations of an account accept the
// same requests.
func sameRoute(x, y Account) bool {
	return x.Name == y.Name && x.Platform == y.Platform && x.Group == y.Group &&
		slices.Equal(x.Models, y.Models) && maps.Equal(x.ModelMap, y.ModelMap)
}

// active returns the pool account called name, or nil.
func (s *Scheduler) active(name string) *account {
	if a := s.byName[name]; a != nil && !a.removed {
		return a
	}
	return nil
}

// Stats returns the leases held and requests waiting, over all accounts
// and keys.
func (s *Scheduler) Stats() (inFlight, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight, s.waiting
}

// Status describes every account of the pool, sorted by name. Timed states
// that have run out are reported as ok.
func (s *Scheduler) Status() []AccountStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]AccountStatus, 0, len(s.pool))
	for _, a := range s.pool {
		a.available(now) // settles an expired state
		acc := a.Account
		acc.Models = slices.Clone(acc.Models)
		acc.ModelMap = maps.Clone(acc.ModelMap)
		out = append(out, AccountStatus{
			Account:  acc,
			State:    a.health.State,
			Until:    a.health.Until,
			Reason:   a.health.Reason,
			InFlight: a.inFlight,
			Waiting:  a.queue.n,
			LastUsed: a.health.LastUsed,
			Windows:  scoped(a.health.Windows, ""),
			Families: a.families(now),
		})
	}
	return out
}
