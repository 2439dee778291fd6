package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Store persists identities as opaque JSON documents; kv.DB implements
// it (kv/identity.go). The store does not know the Identity type, so kv
// needs no import of this package.
type Store interface {
	// LoadIdentity returns the stored identity document of account; ok
	// is false when none was ever saved.
	LoadIdentity(account string) (doc []byte, ok bool, err error)
	// SaveIdentity replaces the stored identity document of account.
	SaveIdentity(account string, doc []byte) error
}

// DefaultDebounce is how long a learned profile waits before it is saved,
// so a burst of requests from a newly upgraded client costs one write.
const DefaultDebounce = 2 * time.Second

// Config configures New.
type Config struct {
	// Store persists identities; nil keeps them in memory only (they then
	// change at every start, which defeats their purpose outside tests).
	Store Store
	// Logger receives save failures; nil discards.
	Logger *slog.Logger
	// Debounce delays saves of learned profiles; zero means
	// DefaultDebounce.
	Debounce time.Duration
	// Rand is the entropy for new identities; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock for Created stamps; nil means time.Now.
	Now func() time.Time
}

// Spec is what the gateway knows of an account when it registers it.
type Spec struct {
	Name     string
	Platform string // anthropic | openai | gemini
	Type     string // api_key | oauth | setup_token
	// Mode is the account's `identity` setting; "" means DefaultMode(Type).
	Mode    Mode
	Profile ProfileConfig
	// AccountUUID is the OAuth account's uuid when the login told it.
	AccountUUID string
}

// Manager keeps one Account per upstream account: it creates identities,
// hands out the per-account handles the hot path uses, and saves learned
// profiles in the background. Register and Close do I/O; nothing else
// does.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex // guards accts and dirty, never held across I/O
	accts map[string]*Account
	dirty map[string]bool

	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Manager and starts its saver goroutine, which Close stops.
func New(cfg Config) *Manager {
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Rand == nil {
		cfg.Rand = defaultRand
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: log, accts: make(map[string]*Account), dirty: make(map[string]bool),
		kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go m.saver(ctx)
	return m
}

// Register loads the identity of s.Name, or generates and saves one, and
// returns the account's handle. Registering again (a config reload, an
// account edited in the UI) keeps the identity and applies the new mode,
// profile pin and account uuid. It does I/O: call it at start and when
// accounts change, never per request.
func (m *Manager) Register(s Spec) (*Account, error) {
	mode, err := ParseMode(string(s.Mode), s.Type)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", s.Name, err)
	}
	if s.Profile != (ProfileConfig{}) {
		if err := s.Profile.Validate(s.Platform); err != nil {
			return nil, fmt.Errorf("account %q: %w", s.Name, err)
		}
	}
	if a := m.Get(s.Name); a != nil {
		// Known already: the identity in memory holds profiles learned
		// since the last save, so it wins over the stored one.
		id := a.st.Load().identity()
		if s.AccountUUID != "" && s.AccountUUID != id.AccountUUID {
			if !IsUUID(s.AccountUUID) {
				return nil, fmt.Errorf("identity of %q: account uuid %q is not a UUID", s.Name, s.AccountUUID)
			}
			id.AccountUUID = s.AccountUUID
			if err := m.save(s.Name, id); err != nil {
				return nil, err
			}
		}
		a.mode.Store(&mode)
		a.st.Store(newState(id, s))
		return a, nil
	}
	id, err := m.load(s)
	if err != nil {
		return nil, err
	}
	a := &Account{name: s.Name, m: m}
	a.mode.Store(&mode)
	a.st.Store(newState(id, s))
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.accts[s.Name]; old != nil {
		return old, nil // a concurrent Register won
	}
	m.accts[s.Name] = a
	return a, nil
}

// save writes id through the store, when there is one.
func (m *Manager) save(name string, id Identity) error {
	if m.cfg.Store == nil {
		return nil
	}
	if err := m.store(name, id); err != nil {
		return fmt.Errorf("identity of %q: %w", name, err)
	}
	return nil
}

// store encodes id and writes it through the store.
func (m *Manager) store(name string, id Identity) error {
	doc, err := json.Marshal(id)
	if err != nil {
		return err
	}
	return m.cfg.Store.SaveIdentity(name, doc)
}

// load reads or creates the stored identity of s.
func (m *Manager) load(s Spec) (Identity, error) {
	var id Identity
	found := false
	if m.cfg.Store != nil {
		doc, ok, err := m.cfg.Store.LoadIdentity(s.Name)
		if err != nil {
			return Identity{}, fmt.Errorf("identity of %q: %w", s.Name, err)
		}
		if found = ok; found {
			if err := json.Unmarshal(doc, &id); err != nil {
				return Identity{}, fmt.Errorf("identity of %q: decode: %w", s.Name, err)
			}
		}
	}
	if found {
		if err := id.Validate(); err != nil {
			return Identity{}, fmt.Errorf("identity of %q: stored value: %w", s.Name, err)
		}
		if s.AccountUUID == "" || s.AccountUUID == id.AccountUUID {
			return id, nil
		}
		id.AccountUUID = s.AccountUUID
	} else {
		if s.AccountUUID != "" && !IsUUID(s.AccountUUID) {
			return Identity{}, fmt.Errorf("identity of %q: account uuid %q is not a UUID", s.Name, s.AccountUUID)
		}
		var err error
		if id, err = generate(m.cfg.Rand, s.AccountUUID, m.cfg.Now()); err != nil {
			return Identity{}, err
		}
	}
	return id, m.save(s.Name, id)
}

// Get returns the handle of a registered account, or nil. The gateway
// should keep the handle Register returned instead of calling Get per
// request; Get takes the manager's lock.
func (m *Manager) Get(name string) *Account {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.accts[name]
}

// Retain drops the handles of every account not in names (deleted, or no
// longer masked), so a pool that changes for months does not keep them.
// Their stored identities stay: an account added back under the same name
// is the same device again.
func (m *Manager) Retain(names map[string]bool) {
	m.mu.Lock()
	for name := range m.accts {
		if !names[name] {
			delete(m.accts, name)
			delete(m.dirty, name)
		}
	}
	m.mu.Unlock()
}

// markDirty schedules a save of name's identity; it never blocks.
func (m *Manager) markDirty(name string) {
	m.mu.Lock()
	m.dirty[name] = true
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// saver saves dirty identities a Debounce after the first change of a
// burst, and once more when the manager closes.
func (m *Manager) saver(ctx context.Context) {
	defer close(m.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			m.flush()
			return
		case <-m.kick:
			timer.Reset(m.cfg.Debounce)
			select {
			case <-ctx.Done():
				timer.Stop()
				m.flush()
				return
			case <-timer.C:
				m.flush()
			}
		}
	}
}

// flush saves every dirty identity, outside the lock.
func (m *Manager) flush() {
	m.mu.Lock()
	var todo []*Account
	for name := range m.dirty {
		if a := m.accts[name]; a != nil {
			todo = append(todo, a)
		}
	}
	clear(m.dirty)
	m.mu.Unlock()
	if m.cfg.Store == nil {
		return
	}
	for _, a := range todo {
		if err := m.store(a.name, a.st.Load().identity()); err != nil {
			// The next learned change retries; meanwhile the profile in
			// memory is the one sent, so nothing is inconsistent.
			m.log.Warn("identity save failed", "acct", a.name, "err", err)
		}
	}
}

// Close saves what is pending and stops the saver goroutine.
func (m *Manager) Close() error {
	m.cancel()
	<-m.done
	return nil
}
