package sched

import (
	"context"
	"errors"
	"time"
)

// Expected outcomes of Acquire. The proxy maps each to a client error.
var (
	// ErrNoAccount means no account of the group and platform can serve the
	// model (none configured, all excluded, all cooling down or disabled).
	ErrNoAccount = errors.New("sched: no available account")
	// ErrQueueFull means the wait queue the request would join is full.
	ErrQueueFull = errors.New("sched: too many pending requests")
	// ErrWaitTimeout means the request waited its whole wait timeout for a slot.
	ErrWaitTimeout = errors.New("sched: concurrency limit, retry later")
	// ErrClosed means the scheduler is shutting down.
	ErrClosed = errors.New("sched: scheduler closed")
	// ErrUnknownAccount means an admin call named an account that is not in
	// the pool.
	ErrUnknownAccount = errors.New("sched: unknown account")
)

// State is an account's health state.
type State string

// Account health states.
const (
	StateOK          State = "ok"
	StateRateLimited State = "rate_limited"
	StateOverloaded  State = "overloaded"
	StateCooldown    State = "cooldown"
	StateError       State = "error"
	StateDisabled    State = "disabled"
)

// Account is what the scheduler knows of an upstream account: identity,
// grouping and limits. Credentials live elsewhere.
type Account struct {
	Name        string
	Platform    string // anthropic | openai | gemini
	Type        string // api_key | oauth | setup_token (informational)
	Group       string
	Priority    int // lower is preferred
	Concurrency int // max in-flight requests; <= 0 means 1
	// Models is an allow-list of globs (path.Match syntax) over the upstream
	// model name, that is after ModelMap; empty allows every model.
	Models   []string
	ModelMap map[string]string
}

// Request describes what a request needs from the pool.
type Request struct {
	Group string
	// Platform is the client's own platform: its accounts serve the
	// request natively (route.go).
	Platform string
	Model    string // the model the client asked for (before ModelMap)
	// Translate lets accounts of other platforms serve the request, the
	// gateway translating it; they are candidates only when no account
	// of Platform can serve (see Route).
	Translate bool
	// Session is the sticky session identity; empty means not sticky. It
	// is hashed (SessionID) before any table keeps it, so its length costs
	// nothing past the request.
	Session string
	// Family is the model family the request draws on, for benches scoped
	// to one family (see Family). Empty means derived per account from the
	// model after its ModelMap; set it only to override that.
	Family string
	// Key is the client key's name; KeyConcurrency its in-flight limit
	// (0 = unlimited).
	Key            string
	KeyConcurrency int
	// Exclude lists accounts already tried by this request.
	Exclude []string
	// Now, when set, is the current time as the caller just read it: the
	// scheduler uses it instead of reading its clock again until it has
	// to wait. Zero means the scheduler's own clock (Config.Now).
	Now time.Time
}

// Kind classifies how an attempt on an account ended; it drives health.
type Kind int

// Outcome kinds.
const (
	// Success: the upstream answered 2xx.
	Success Kind = iota
	// Canceled: the client went away; never the account's fault.
	Canceled
	// RequestError: the request's own fault (400/404/413/422); no penalty.
	RequestError
	// RateLimited: 429; the account rests until ResetAt (or a default).
	RateLimited
	// Overloaded: 529 or an overloaded error; short cooldown.
	Overloaded
	// AuthFailed: credentials are bad (401/403 on an API key, failed OAuth
	// refresh); the account goes to error with Reason.
	AuthFailed
	// Forbidden: 403 on an OAuth account; cooldown, repeated → error.
	Forbidden
	// ServerError: 5xx, connect error, header timeout, stream cut; a brief
	// cooldown only after repeated failures.
	ServerError
)

// Window is one subscription usage window reported by an upstream
// (Anthropic unified 5h/7d, Codex primary/secondary).
type Window struct {
	Name        string    `json:"name"`        // "5h", "7d", "primary", "secondary"
	Utilization float64   `json:"utilization"` // 0..1
	ResetAt     time.Time `json:"reset_at"`
	Status      string    `json:"status,omitempty"`
	// Scope, when set, is the model family the window counts (a weekly
	// Opus window); empty means the whole account.
	Scope string `json:"scope,omitempty"`
}

// Outcome is handed to Lease.Release; it feeds account health.
type Outcome struct {
	Kind    Kind
	Status  int       // upstream HTTP status, 0 when none
	ResetAt time.Time // when a rate limit ends, if the upstream said
	Reason  string    // safe, human-readable cause (no secrets)
	// Scope, on a RateLimited outcome, names the model family the limit
	// covers: only that family is benched on the account, until ResetAt.
	// On a Success it names the family whose bench ends (default: the
	// lease's family). Other kinds ignore it.
	Scope string
	// Windows, when non-nil, replaces the account's recorded windows of
	// every scope it names; an empty non-nil list clears them all.
	Windows []Window
	// At, when set, is when the attempt ended as the caller read the
	// clock; zero means the scheduler's own clock.
	At time.Time
}

// AccountStatus is a snapshot of one account for the admin API and UI.
type AccountStatus struct {
	Account
	State    State
	Until    time.Time // end of a rate limit / cooldown; zero when none
	Reason   string
	InFlight int
	Waiting  int
	LastUsed time.Time
	Windows  []Window // the account-wide (unscoped) windows
	// Families lists, by name, the model families that are benched on the
	// account or have windows of their own.
	Families []FamilyStatus
}

// FamilyStatus is the state of one model family on one account.
type FamilyStatus struct {
	Family  string    `json:"family"`
	State   State     `json:"state"` // ok or rate_limited
	Until   time.Time `json:"until"`
	Reason  string    `json:"reason,omitempty"`
	Windows []Window  `json:"windows"`
}

// Binding is a sticky session bound to an account. Session is the hex
// SessionID of the client's session id, never the id itself.
type Binding struct {
	Group   string    `json:"group"`
	Session string    `json:"session"`
	Account string    `json:"account"`
	Key     string    `json:"key,omitempty"` // the client key whose request made it
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// BindingRef names one stored binding: its group and hex session.
type BindingRef struct {
	Group   string
	Session string
}

// Health is the persisted part of an account's state.
type Health struct {
	State    State     `json:"state"`
	Until    time.Time `json:"until"`
	Reason   string    `json:"reason,omitempty"`
	Failures int       `json:"failures,omitempty"`
	// Forbidden counts consecutive Forbidden outcomes; the third one turns
	// a cooldown into an error.
	Forbidden int       `json:"forbidden,omitempty"`
	LastUsed  time.Time `json:"last_used"`
	Windows   []Window  `json:"windows,omitempty"`
	// Families are the benches of single model families, one per family.
	Families []FamilyHealth `json:"families,omitempty"`
}

// FamilyHealth benches one model family of an account until Until.
type FamilyHealth struct {
	Family string    `json:"family"`
	State  State     `json:"state"` // rate_limited
	Until  time.Time `json:"until"`
	Reason string    `json:"reason,omitempty"`
}

// Snapshot is what survives a restart: account health and sticky bindings.
// Slots and queues never do.
type Snapshot struct {
	Health   map[string]Health `json:"health"`
	Bindings []Binding         `json:"bindings"`
}

// Changes is what changed since the last save: the store applies it on
// top of what it holds, so a save costs the changes, not the table.
type Changes struct {
	// Health holds the new health of every account whose health changed.
	Health map[string]Health
	// Forget names accounts whose health is no longer kept.
	Forget []string
	// Bindings holds the bindings made, moved or refreshed.
	Bindings []Binding
	// Unbound names the bindings that ended: expired, evicted, unbound.
	Unbound []BindingRef
}

// Empty reports whether c changes nothing.
func (c *Changes) Empty() bool {
	return len(c.Health) == 0 && len(c.Forget) == 0 && len(c.Bindings) == 0 && len(c.Unbound) == 0
}

// StateStore persists the scheduler's state. kv implements it.
type StateStore interface {
	// SaveChanges applies c atomically: upserts and deletes only.
	SaveChanges(c Changes) error
	// LoadState returns everything stored, or a zero Snapshot and no error
	// when nothing was saved yet.
	LoadState() (Snapshot, error)
}

// Compile-time reminder of the API the proxy relies on; see scheduler.go.
var _ interface {
	Acquire(ctx context.Context, r Request) (*Lease, error)
	AcquireInto(ctx context.Context, r Request, l *Lease) (*Lease, error)
} = (*Scheduler)(nil)
