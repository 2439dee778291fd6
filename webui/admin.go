package webui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy/errrules"
	"subgate/proxy/oauth"
)

// Gateway is what only the running gateway can do for the admin. Package
// main adapts the proxy and its token manager to it (the proxy takes its
// own runtime views of the models, which webui does not import).
type Gateway interface {
	// SetPool replaces the gateway's accounts and keys.
	SetPool(accounts []kv.Account, keys []kv.Key) error
	// Probe sends a tiny request through the account called name;
	// ErrNotFound when the pool has none.
	Probe(ctx context.Context, name string) (TestResult, error)
	// Refresh refreshes an OAuth account's token now.
	Refresh(ctx context.Context, a kv.Account) error
	// Forget drops the token cached for the account called name.
	Forget(name string)
	// SetErrorRules replaces the rules added in the admin UI, tried after
	// the config's; the gateway applies them from its next reply.
	SetErrorRules(ui []errrules.Rule) error
}

// KeyUsage is the ledger's view of a key's spend; *ledger.Ledger
// implements it.
type KeyUsage interface {
	KeyUsage(key string, lim ledger.Limits) []ledger.WindowUsage
}

// AdminConfig configures an Admin.
type AdminConfig struct {
	// Store keeps the accounts and keys added here.
	Store *kv.DB
	// Accounts and Keys are the config file's: read-only here, and they
	// win over a stored one of the same name.
	Accounts []kv.Account
	Keys     []kv.Key
	// ErrorRules are the config file's [[error_rules]], shown read-only
	// before the ones added in the UI (stored in kv).
	ErrorRules []errrules.Rule
	Gateway    Gateway
	Usage      KeyUsage
	// Flow returns the login flow of a platform and kind (oauth or
	// setup_token), with the configured OAuth client values.
	Flow   func(platform, kind string) (*oauth.Flow, error)
	Logger *slog.Logger
	// Now is the clock of key expiries; nil means time.Now.
	Now func() time.Time
}

// Admin manages accounts and keys over kv: it implements Accounts, and
// Keys through Keys(), and keeps the gateway's pool in step after every
// change. The config file's accounts and keys are read-only.
type Admin struct {
	cfg    AdminConfig
	mu     sync.Mutex // serialises changes and reloads
	logins oauth.Pending
}

// NewAdmin returns an Admin over cfg.Store.
func NewAdmin(cfg AdminConfig) *Admin {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Admin{cfg: cfg}
}

var _ Accounts = (*Admin)(nil)

// Pool returns the accounts and keys the gateway serves: the config's
// (FromConfig set) and then the stored ones whose names they do not take.
func (a *Admin) Pool() ([]kv.Account, []kv.Key, error) {
	stored, err := a.cfg.Store.Accounts()
	if err != nil {
		return nil, nil, fmt.Errorf("load accounts: %w", err)
	}
	accounts := merge(a.cfg.Accounts, stored, func(x *kv.Account) (string, *bool) { return x.Name, &x.FromConfig })
	storedKeys, err := a.cfg.Store.Keys()
	if err != nil {
		return nil, nil, fmt.Errorf("load keys: %w", err)
	}
	keys := merge(a.cfg.Keys, storedKeys, func(x *kv.Key) (string, *bool) { return x.Name, &x.FromConfig })
	return accounts, keys, nil
}

// merge returns the config's entries, marked, then the stored ones whose
// names are free.
func merge[T any](config, stored []T, id func(*T) (string, *bool)) []T {
	out := make([]T, 0, len(config)+len(stored))
	seen := make(map[string]bool, len(config))
	for _, c := range config {
		name, fromConfig := id(&c)
		*fromConfig = true
		seen[name] = true
		out = append(out, c)
	}
	for _, s := range stored {
		if name, _ := id(&s); !seen[name] {
			out = append(out, s)
		}
	}
	return out
}

// reload hands the gateway the pool as it now is.
func (a *Admin) reload() error {
	accounts, keys, err := a.Pool()
	if err != nil {
		return err
	}
	return a.cfg.Gateway.SetPool(accounts, keys)
}

func (a *Admin) fromConfig(name string) bool {
	return slices.ContainsFunc(a.cfg.Accounts, func(c kv.Account) bool { return c.Name == name })
}

// List implements Accounts.
func (a *Admin) List() []kv.Account {
	accounts, _, err := a.Pool()
	if err != nil {
		a.cfg.Logger.Error("list accounts", "err", err)
		return nil
	}
	for i := range accounts {
		accounts[i] = accounts[i].Redacted()
	}
	return accounts
}

// Add implements Accounts.
func (a *Admin) Add(ctx context.Context, n kv.Account) error {
	if err := checkAccount(n, true); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.cfg.Store.GetAccount(n.Name); err == nil || a.fromConfig(n.Name) {
		return fmt.Errorf("account %q: %w", n.Name, ErrExists)
	}
	acct := kv.Account{Name: n.Name}
	applyAccount(&acct, n)
	if err := a.cfg.Store.PutAccount(acct); err != nil {
		return err
	}
	a.cfg.Logger.Info("account added", "acct", n.Name, "platform", n.Platform, "type", n.Type)
	return a.reload()
}

// Update implements Accounts.
func (a *Admin) Update(ctx context.Context, name string, n kv.Account) error {
	if a.fromConfig(name) {
		return ErrReadOnly
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	acct, err := a.cfg.Store.GetAccount(name)
	if errors.Is(err, kv.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	applyAccount(&acct, n)
	if err := checkAccount(acct, false); err != nil {
		return err
	}
	if err := a.cfg.Store.PutAccount(acct); err != nil {
		return err
	}
	if n.AccessToken != "" {
		// The token manager prefers a refreshed token from the token store
		// to the account's own: replace that copy too (SaveToken updates
		// the account with it), or the old token comes back after Forget.
		// No expiry: the pasted token's lifetime is unknown, so it is used
		// until it is refused, not refreshed away at once.
		tok := kv.Token{AccessToken: acct.AccessToken, RefreshToken: acct.RefreshToken, IDToken: acct.IDToken}
		if err := a.cfg.Store.SaveToken(name, tok); err != nil {
			return err
		}
	}
	a.cfg.Gateway.Forget(name)
	return a.reload()
}

// Delete implements Accounts.
func (a *Admin) Delete(ctx context.Context, name string) error {
	if a.fromConfig(name) {
		return ErrReadOnly
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.cfg.Store.DeleteAccount(name); errors.Is(err, kv.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	a.cfg.Gateway.Forget(name)
	a.cfg.Logger.Info("account deleted", "acct", name)
	return a.reload()
}

// RefreshNow implements Accounts.
func (a *Admin) RefreshNow(ctx context.Context, name string) error {
	accounts, _, err := a.Pool()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(accounts, func(x kv.Account) bool { return x.Name == name })
	if i < 0 {
		return ErrNotFound
	}
	if t := accounts[i].Type; t != "oauth" {
		return &FieldError{Field: "type", Msg: t + " accounts have no token to refresh"}
	}
	if err := a.cfg.Gateway.Refresh(ctx, accounts[i]); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	return nil
}

// Test implements Accounts.
func (a *Admin) Test(ctx context.Context, name string) (TestResult, error) {
	return a.cfg.Gateway.Probe(ctx, name)
}

// OAuthStart implements Accounts.
func (a *Admin) OAuthStart(platform, kind string) (OAuthStart, error) {
	flow, err := a.cfg.Flow(platform, kind)
	if err != nil {
		return OAuthStart{}, &FieldError{Field: "platform", Msg: err.Error()}
	}
	u, state, err := a.logins.Start(flow)
	if err != nil {
		return OAuthStart{}, err
	}
	return OAuthStart{URL: u, State: state}, nil
}

// OAuthFinish implements Accounts. Without a name, the account gets one
// made from its platform, type and token.
func (a *Admin) OAuthFinish(ctx context.Context, state, pasted string, n kv.Account) (string, error) {
	acct, err := a.logins.Finish(ctx, state, pasted)
	if errors.Is(err, oauth.ErrUnknownLogin) {
		return "", &FieldError{Field: "state", Msg: err.Error()}
	} else if err != nil {
		return "", &FieldError{Field: "pasted", Msg: err.Error()}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	name := n.Name
	if name == "" {
		h := sha256.Sum256([]byte(acct.AccessToken))
		name = acct.Platform + "-" + acct.Type + "-" + hex.EncodeToString(h[:3])
	}
	if _, err := a.cfg.Store.GetAccount(name); err == nil || a.fromConfig(name) {
		return "", fmt.Errorf("account %q: %w", name, ErrExists)
	}
	acct.Name = name
	n.Platform, n.Type, n.APIKey, n.AccessToken = acct.Platform, acct.Type, "", ""
	applyAccount(&acct, n)
	if err := checkAccount(acct, false); err != nil {
		return "", err
	}
	if err := a.cfg.Store.PutAccount(acct); err != nil {
		return "", err
	}
	a.cfg.Logger.Info("account added by login", "acct", name, "platform", acct.Platform)
	return name, a.reload()
}
