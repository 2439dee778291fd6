package sched

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"time"
)

// Config configures a Scheduler. A zero count or duration takes the default
// named on its field; a negative one is rejected by New.
type Config struct {
	// Accounts is the initial pool; SetAccounts replaces it later.
	Accounts []Account
	// Store persists health and sticky bindings; nil keeps them in memory.
	Store StateStore
	// Now is the clock for health, bindings and LRU; nil means time.Now.
	// Wait timeouts always use real timers. Now is called with the
	// scheduler's mutex held and must not call back into it.
	Now func() time.Time
	// Logger receives health transitions and snapshot failures; nil discards.
	Logger *slog.Logger

	StickyTTL time.Duration // binding lifetime, refreshed on use: default 1h
	// MaxSessionsPerKey caps the live bindings made by one client key; a
	// new binding past it evicts the key's least recently used one.
	// Default 10,000.
	MaxSessionsPerKey   int
	StickyMaxWaiting    int           // waiters on a bound account before falling through: default 3
	StickyWaitTimeout   time.Duration // wait for a bound account: default 45s
	FallbackMaxWaiting  int           // waiters per account or key queue: default 100
	FallbackWaitTimeout time.Duration // wait for any account or key slot: default 30s
	// PreferSoonestReset ranks, after priority and load, the account whose
	// usage window resets soonest first (use the quota before it resets).
	PreferSoonestReset bool

	MaxCooldown       time.Duration // caps every rate limit and cooldown: default 6h
	RateLimitCooldown time.Duration // 429 without a usable reset time: default 60s
	OverloadCooldown  time.Duration // 529: default 60s
	ForbiddenCooldown time.Duration // 403 on OAuth: default 10m; the third in a row is an error
	FailureCooldown   time.Duration // after FailureThreshold server errors in a row: default 30s
	FailureThreshold  int           // default 3
	SnapshotDebounce  time.Duration // delay between a change and its save: default 2s
}

// forbiddenLimit is how many Forbidden outcomes in a row put an account in
// the error state.
const forbiddenLimit = 3

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.StickyTTL, time.Hour)
	def(&c.StickyWaitTimeout, 45*time.Second)
	def(&c.FallbackWaitTimeout, 30*time.Second)
	def(&c.MaxCooldown, 6*time.Hour)
	def(&c.RateLimitCooldown, 60*time.Second)
	def(&c.OverloadCooldown, 60*time.Second)
	def(&c.ForbiddenCooldown, 10*time.Minute)
	def(&c.FailureCooldown, 30*time.Second)
	def(&c.SnapshotDebounce, 2*time.Second)
	if c.MaxSessionsPerKey == 0 {
		c.MaxSessionsPerKey = 10_000
	}
	if c.StickyMaxWaiting == 0 {
		c.StickyMaxWaiting = 3
	}
	if c.FallbackMaxWaiting == 0 {
		c.FallbackMaxWaiting = 100
	}
	if c.FailureThreshold == 0 {
		c.FailureThreshold = 3
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate reports every bad field at once.
func (c Config) validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{
		"StickyTTL": c.StickyTTL, "StickyWaitTimeout": c.StickyWaitTimeout,
		"FallbackWaitTimeout": c.FallbackWaitTimeout, "MaxCooldown": c.MaxCooldown,
		"RateLimitCooldown": c.RateLimitCooldown, "OverloadCooldown": c.OverloadCooldown,
		"ForbiddenCooldown": c.ForbiddenCooldown, "FailureCooldown": c.FailureCooldown,
		"SnapshotDebounce": c.SnapshotDebounce,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("sched: %s must not be negative", name))
		}
	}
	for name, n := range map[string]int{
		"StickyMaxWaiting": c.StickyMaxWaiting, "FallbackMaxWaiting": c.FallbackMaxWaiting,
		"FailureThreshold": c.FailureThreshold, "MaxSessionsPerKey": c.MaxSessionsPerKey,
	} {
		if n < 0 {
			errs = append(errs, fmt.Errorf("sched: %s must not be negative", name))
		}
	}
	seen := make(map[string]bool, len(c.Accounts))
	for _, a := range c.Accounts {
		if err := checkAccount(a); err != nil {
			errs = append(errs, err)
		}
		if seen[a.Name] {
			errs = append(errs, fmt.Errorf("sched: account %q listed twice", a.Name))
		}
		seen[a.Name] = true
	}
	return errors.Join(errs...)
}

// checkAccount reports an account the scheduler cannot route correctly.
func checkAccount(a Account) error {
	if a.Name == "" {
		return errors.New("sched: account without a name")
	}
	for _, g := range a.Models {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("sched: account %q: model glob %q: %w", a.Name, g, err)
		}
	}
	return nil
}
