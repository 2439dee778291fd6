package errrules

import (
	"hash/maphash"
	"sync"
	"time"
)

// DefaultStrikeWindow is how long a client key's strike on an account
// stays counted.
const DefaultStrikeWindow = 10 * time.Minute

// maxStrikes bounds what is kept per account: once this many different
// keys struck within the window, the account is failing for everyone and
// more entries would say nothing new.
const maxStrikes = 16

// Strikes implements the other half of the api_key 403 contract: a 403
// that is not about the credential goes back to the client without a
// penalty (Decision.Strike), and Count says whether it should count as a
// server error against the account anyway. The first strike of each
// client key within the window counts; repeats from the same key do not.
// The scheduler's own rule for server errors (FailureThreshold in a row,
// reset by any success) then turns strikes from that many different keys
// into its short cooldown, so no single key — however many requests it
// sends — can bench an account, and a 403 that every key gets still does.
//
// Memory is bounded: at most maxStrikes entries per account, and accounts
// come from the config. Keys are kept as 64-bit hashes.
type Strikes struct {
	window time.Duration
	seed   maphash.Seed
	mu     sync.Mutex
	byAcct map[string][]strike
}

type strike struct {
	key uint64
	at  time.Time
}

// NewStrikes returns a counter with the given window (DefaultStrikeWindow
// when zero or negative).
func NewStrikes(window time.Duration) *Strikes {
	if window <= 0 {
		window = DefaultStrikeWindow
	}
	return &Strikes{window: window, seed: maphash.MakeSeed(), byAcct: make(map[string][]strike)}
}

// Count records a strike of key on account at now and reports whether it
// counts: true for the first strike of that key within the window.
func (s *Strikes) Count(account, key string, now time.Time) bool {
	h := maphash.String(s.seed, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.byAcct[account]
	live := list[:0]
	seen := false
	for _, st := range list {
		if now.Sub(st.at) >= s.window {
			continue
		}
		if st.key == h {
			seen = true
		}
		live = append(live, st)
	}
	if !seen {
		if len(live) == maxStrikes {
			live = append(live[:0], live[1:]...) // forget the oldest
		}
		live = append(live, strike{key: h, at: now})
	}
	if len(live) == 0 {
		delete(s.byAcct, account)
	} else {
		s.byAcct[account] = live
	}
	return !seen
}

// Forget drops an account's strikes, for a success or an admin clear.
func (s *Strikes) Forget(account string) {
	s.mu.Lock()
	delete(s.byAcct, account)
	s.mu.Unlock()
}
