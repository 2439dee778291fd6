package webui

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

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
type FieldError struct {
	Field, Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// AccountInfo describes one upstream account, without its secrets.
type AccountInfo struct {
	Name, Platform, Type string
	Source               string // "config" or "ui"
	Group                string
	Priority             int
	Concurrency          int
	BaseURL, Proxy       string
	Models               []string
	ModelMap             map[string]string
	TokenPrefix          string // first 12 characters + "…" only
	ExpiresAt            time.Time
	Email                string
}

// NewAccount is an account to add, or the new settings of one. In Update,
// empty APIKey and AccessToken keep the stored secrets.
type NewAccount struct {
	Name, Platform, Type  string
	APIKey, AccessToken   string
	BaseURL, Proxy, Group string
	Priority, Concurrency int
	Models                []string
	ModelMap              map[string]string
}

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

// Accounts manages the upstream accounts. Implemented by package main.
type Accounts interface {
	List() []AccountInfo
	// Add adds an api_key or setup_token account from pasted secrets.
	Add(ctx context.Context, a NewAccount) error
	// Update replaces an account's settings; ErrReadOnly for config accounts.
	Update(ctx context.Context, name string, a NewAccount) error
	// Delete removes an account; ErrReadOnly for config accounts.
	Delete(ctx context.Context, name string) error
	RefreshNow(ctx context.Context, name string) error
	Test(ctx context.Context, name string) (TestResult, error)
	// OAuthStart begins a login; platform is anthropic|openai|gemini and
	// kind is oauth|setup_token.
	OAuthStart(platform, kind string) (OAuthStart, error)
	// OAuthFinish completes it. pasted is "code#state", the redirected URL
	// or a bare code. It returns the new account's name.
	OAuthFinish(ctx context.Context, state, pasted string, a NewAccount) (string, error)
}

// KeyInfo describes one client key, without its secret.
type KeyInfo struct {
	Name, Group, Source string
	Concurrency, RPM    int
	Limit5hUSD          float64
	LimitDayUSD         float64
	LimitWeekUSD        float64
	LimitMonthUSD       float64
	QuotaUSD            float64
	RateMultiplier      float64
	ExpiresAt           time.Time
	Models, AllowIPs    []string
	Enabled             bool
	InterceptWarmup     bool
	Created             time.Time
	Windows             []KeyWindow
}

// KeyWindow is a key's spend in one limit window ("5h", "day", "week",
// "month", "total").
type KeyWindow struct {
	Window   string
	UsedUSD  float64
	LimitUSD float64 // 0 means unlimited
	ResetAt  time.Time
}

// NewKey is a key to create, or the new settings of one.
type NewKey struct {
	Name, Group      string
	Concurrency, RPM int
	Limit5hUSD       float64
	LimitDayUSD      float64
	LimitWeekUSD     float64
	LimitMonthUSD    float64
	QuotaUSD         float64
	RateMultiplier   float64
	ExpiresAt        time.Time
	Models, AllowIPs []string
	Enabled          bool
	InterceptWarmup  bool
}

// Keys manages the client keys. Implemented by package main.
type Keys interface {
	List() []KeyInfo
	// Create stores a new key and returns its secret, shown once.
	Create(ctx context.Context, k NewKey) (secret string, err error)
	Update(ctx context.Context, name string, k NewKey) error
	Delete(ctx context.Context, name string) error
}
