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
	Group    string
	Platform string
	Model    string // the model the client asked for (before ModelMap)
	// Session is the sticky session identity; empty means not sticky.
	Session string
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
}

// Outcome is handed to Lease.Release; it feeds account health.
type Outcome struct {
	Kind    Kind
	Status  int       // upstream HTTP status, 0 when none
	ResetAt time.Time // when a rate limit ends, if the upstream said
	Reason  string    // safe, human-readable cause (no secrets)
	// Windows, when non-nil, replaces the account's recorded windows.
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
	Windows  []Window
}

// Binding is a sticky session bound to an account.
type Binding struct {
	Group   string    `json:"group"`
	Session string    `json:"session"`
	Account string    `json:"account"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
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
}

// Snapshot is what survives a restart: account health and sticky bindings.
// Slots and queues never do.
type Snapshot struct {
	Health   map[string]Health `json:"health"`
	Bindings []Binding         `json:"bindings"`
}

// StateStore persists the scheduler's Snapshot. kv implements it.
type StateStore interface {
	SaveState(Snapshot) error
	LoadState() (Snapshot, error)
}

// Compile-time reminder of the API the proxy relies on; see scheduler.go.
var _ interface {
	Acquire(ctx context.Context, r Request) (*Lease, error)
	AcquireInto(ctx context.Context, r Request, l *Lease) (*Lease, error)
} = (*Scheduler)(nil)
