package webui

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy/edge"
	"subgate/sched"
)

// Config configures the admin handler. Package main fills it; webui
// reaches the rest of subgate only through these fields.
type Config struct {
	// TokenHash is the SHA-256 of the admin bearer token.
	TokenHash [32]byte
	// PasswordHash is an optional bcrypt hash ([admin] password_hash) that
	// the login page accepts besides the admin token.
	PasswordHash string
	// Sched is the live pool: status, sessions and admin actions.
	Sched *sched.Scheduler
	// Ledger answers the dashboard and usage pages; *ledger.Ledger
	// implements it. Nil serves empty dashboards and no records.
	Ledger Stats
	// Accounts and Keys manage the pool and the client keys. Nil leaves
	// the accounts read-only (from Sched) and the key endpoints at 501.
	Accounts Accounts
	Keys     Keys
	// Rules manages the error rules; nil makes their endpoints 501.
	Rules ErrorRules
	// Backup streams a consistent snapshot of the data file; nil makes
	// GET /admin/api/backup a 404.
	Backup func(w io.Writer) (int64, error)
	Logger *slog.Logger
	// Now is the clock for sessions, rate limits and ranges; nil means
	// time.Now.
	Now func() time.Time
	// SecureCookies always marks the session cookie Secure (TLS here, or
	// [admin] cookie_secure). Without it the cookie is Secure when the
	// request came over TLS or through a trusted proxy that says so.
	SecureCookies bool
	// Trust names the reverse proxies whose X-Forwarded-For, X-Real-IP
	// and X-Forwarded-Proto are believed: the login limiter and log read
	// the client address they give. Nil believes nobody.
	Trust *edge.Trust
	// WriteTimeout is the server's write_timeout: a download (backup,
	// export) is cut when its client takes no bytes this long. 0 = never.
	WriteTimeout time.Duration
}

// Stats is the part of the ledger the admin pages read. Summary and Top
// read hourly rollups only; Export and Recent read raw records.
type Stats interface {
	Summary(from, to time.Time, step time.Duration) ([]ledger.Point, error)
	Top(from, to time.Time, by string, n int) ([]ledger.Group, error)
	Export(from, to time.Time, fn func(ledger.Record) bool) error
	Recent(n int) ([]ledger.Record, error)
}

var _ Stats = (*ledger.Ledger)(nil)

// Errors an Accounts or Keys implementation returns for expected outcomes.
var (
	// ErrNotFound: no account or key of that name.
	ErrNotFound = errors.New("not found")
	// ErrReadOnly: the account or key comes from the config file, which is
	// the truth for it; edit the file instead.
	ErrReadOnly = errors.New("defined in the config file; edit the file instead")
	// ErrExists: an account or key of that name already exists.
	ErrExists = errors.New("already exists")
)

// FieldError is a validation error naming the offending field (by its
// JSON name). The API answers it with 400 {"error":{"message","field"}}.
// It is the models' own error type.
type FieldError = kv.FieldError

// TestResult is the outcome of a tiny request through one account.
type TestResult struct {
	OK      bool
	Status  int
	Latency time.Duration
	Model   string
	Message string
}

// OAuthStart is the authorization URL to open and the state that ties the
// pasted answer to it.
type OAuthStart struct {
	URL, State string
}

// Accounts manages the upstream accounts; Admin implements it over kv.
// Accounts travel as the model: List hands out each one Redacted, and
// the API shows a view of that.
type Accounts interface {
	// List returns the pool's accounts, config ones first, Redacted.
	List() []kv.Account
	// Add adds an api_key or setup_token account from pasted secrets.
	Add(ctx context.Context, a kv.Account) error
	// Update replaces an account's settings; empty APIKey and
	// AccessToken keep the stored secrets. ErrReadOnly for config
	// accounts.
	Update(ctx context.Context, name string, a kv.Account) error
	// Delete removes an account; ErrReadOnly for config accounts.
	Delete(ctx context.Context, name string) error
	RefreshNow(ctx context.Context, name string) error
	Test(ctx context.Context, name string) (TestResult, error)
	// OAuthStart begins a login; platform is anthropic|openai|gemini and
	// kind is oauth|setup_token.
	OAuthStart(platform, kind string) (OAuthStart, error)
	// OAuthFinish completes it. pasted is "code#state", the redirected URL
	// or a bare code; a carries the settings (name, group, ...). It
	// returns the new account's name.
	OAuthFinish(ctx context.Context, state, pasted string, a kv.Account) (string, error)
}

// KeyInfo is a client key as listed: the model (its hash aside, nothing
// secret) and its spend in each limit window.
type KeyInfo struct {
	kv.Key
	Windows []ledger.WindowUsage
}

// Keys manages the client keys; Admin implements it over kv (Admin.Keys).
type Keys interface {
	List() []KeyInfo
	// Create stores a new key and returns its secret, shown once.
	Create(ctx context.Context, k kv.Key) (secret string, err error)
	Update(ctx context.Context, name string, k kv.Key) error
	Delete(ctx context.Context, name string) error
}
