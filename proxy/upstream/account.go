package upstream

import (
	"time"

	"subgate/proxy/identity"
	"subgate/sched"
)

// Account is an upstream account as the gateway calls it: the scheduler's
// view (name, platform, type, group, model map…) plus where its upstream
// is and how it authenticates. It is a runtime view, built from the
// stored account model in one place; the rooms above read it and never
// change it. Tokens here are the initial ones; the OAuth token manager
// (proxy/oauth) owns the live ones.
type Account struct {
	sched.Account
	APIKey       string
	AccessToken  string
	RefreshToken string
	IDToken      string
	ExpiresAt    time.Time
	AccountID    string // chatgpt-account-id (OpenAI OAuth)
	ProjectID    string // Code Assist project (Gemini OAuth)
	BaseURL      string // per-account upstream override
	Proxy        string // egress proxy URL
	FromConfig   bool
	// InterceptWarmup answers Claude Code's probes locally instead of
	// spending this account's quota on them.
	InterceptWarmup bool
	// Identity is the account's client identity handle when it is masked
	// (proxy/identity): the protocols give its requests the account's own
	// device. Nil passes every client's identity through.
	Identity *identity.Account
}

// Masked returns the account's identity handle when its requests carry
// the account's own identity, else nil.
func (a *Account) Masked() *identity.Account {
	if a.Identity == nil || !a.Identity.Masked() {
		return nil
	}
	return a.Identity
}

// OAuth reports whether the account authenticates with a bearer token
// obtained through a login (OAuth or setup-token) rather than an API key.
func (a *Account) OAuth() bool { return a.Type == "oauth" || a.Type == "setup_token" }
