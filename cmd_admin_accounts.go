package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"

	"subgate/kv"
	"subgate/proxy"
	"subgate/proxy/oauth"
	"subgate/webui"
)

// admin implements the webui's Accounts and Keys on top of kv, keeping the
// running proxy's pool in step after every change.
type admin struct {
	cfg    Config
	db     *kv.DB
	srv    *proxy.Server
	tokens *proxy.Tokens
	led    keyUsage
	log    *slog.Logger

	mu     sync.Mutex // serialises changes and reloads
	logins oauth.Pending
}

// reload rebuilds the proxy's pool from the config and kv.
func (a *admin) reload() error {
	accounts, err := poolAccounts(a.cfg, a.db)
	if err != nil {
		return err
	}
	keys, err := poolKeys(a.cfg, a.db)
	if err != nil {
		return err
	}
	a.srv.SetPool(accounts, keys)
	return nil
}

func (a *admin) fromConfig(name string) bool {
	return slices.ContainsFunc(a.cfg.Accounts, func(c kv.Account) bool { return c.Name == name })
}

// List implements webui.Accounts.
func (a *admin) List() []webui.AccountInfo {
	accounts, err := poolAccounts(a.cfg, a.db)
	if err != nil {
		a.log.Error("list accounts", "err", err)
		return nil
	}
	stored, _ := a.db.Accounts()
	email := map[string]string{}
	for _, s := range stored {
		email[s.Name] = s.Email
	}
	out := make([]webui.AccountInfo, 0, len(accounts))
	for _, p := range accounts {
		src, secret := "ui", p.APIKey
		if p.FromConfig {
			src = "config"
		}
		if p.OAuth() {
			secret = p.AccessToken
		}
		out = append(out, webui.AccountInfo{
			Name: p.Name, Platform: p.Platform, Type: p.Type, Source: src, Group: p.Group,
			Priority: p.Priority, Concurrency: p.Concurrency, BaseURL: p.BaseURL, Proxy: redactURL(p.Proxy),
			Models: p.Models, ModelMap: p.ModelMap, TokenPrefix: tokenPrefix(secret), ExpiresAt: p.ExpiresAt,
			Email: email[p.Name],
		})
	}
	return out
}

// redactURL hides a proxy URL's password.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// checkAccount validates a new or edited account, naming the field.
func checkAccount(n webui.NewAccount, adding bool) error {
	switch {
	case adding && n.Name == "":
		return &webui.FieldError{Field: "name", Msg: "required"}
	case !slices.Contains([]string{"anthropic", "openai", "gemini"}, n.Platform):
		return &webui.FieldError{Field: "platform", Msg: "must be one of anthropic, openai, gemini"}
	case !slices.Contains([]string{"api_key", "setup_token", "oauth"}, n.Type):
		return &webui.FieldError{Field: "type", Msg: "must be one of api_key, oauth, setup_token"}
	case adding && n.Type == "api_key" && n.APIKey == "":
		return &webui.FieldError{Field: "api_key", Msg: "required for an api_key account"}
	case adding && n.Type == "setup_token" && n.AccessToken == "":
		return &webui.FieldError{Field: "access_token", Msg: "paste the setup-token"}
	case n.Type == "setup_token" && n.Platform != "anthropic":
		return &webui.FieldError{Field: "type", Msg: "setup-tokens are Claude's only"}
	case n.BaseURL != "" && !httpURL(n.BaseURL):
		return &webui.FieldError{Field: "base_url", Msg: "must be an http(s) URL"}
	case n.Concurrency < 0:
		return &webui.FieldError{Field: "concurrency", Msg: "must be >= 0"}
	}
	if n.Proxy != "" {
		u, err := url.Parse(n.Proxy)
		if err != nil || !slices.Contains([]string{"http", "https", "socks5", "socks5h"}, u.Scheme) || u.Host == "" {
			return &webui.FieldError{Field: "proxy", Msg: "must be http://, https:// or socks5://host:port"}
		}
	}
	return nil
}

func applyAccount(dst *kv.Account, n webui.NewAccount) {
	dst.Platform, dst.Type = n.Platform, n.Type
	dst.BaseURL, dst.Proxy = n.BaseURL, n.Proxy
	dst.Group = n.Group
	if dst.Group == "" {
		dst.Group = defaultGroup
	}
	dst.Priority, dst.Concurrency = n.Priority, n.Concurrency
	if dst.Concurrency == 0 {
		dst.Concurrency = defaultAccountConcurrency
	}
	dst.Models, dst.ModelMap = n.Models, n.ModelMap
	if n.APIKey != "" {
		dst.APIKey = n.APIKey
	}
	if n.AccessToken != "" {
		dst.AccessToken = n.AccessToken
	}
}

// Add implements webui.Accounts.
func (a *admin) Add(ctx context.Context, n webui.NewAccount) error {
	if err := checkAccount(n, true); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.db.GetAccount(n.Name); err == nil || a.fromConfig(n.Name) {
		return fmt.Errorf("account %q: %w", n.Name, webui.ErrExists)
	}
	acct := kv.Account{Name: n.Name}
	applyAccount(&acct, n)
	if err := a.db.PutAccount(acct); err != nil {
		return err
	}
	a.log.Info("account added", "acct", n.Name, "platform", n.Platform, "type", n.Type)
	return a.reload()
}

// Update implements webui.Accounts.
func (a *admin) Update(ctx context.Context, name string, n webui.NewAccount) error {
	if a.fromConfig(name) {
		return webui.ErrReadOnly
	}
	if err := checkAccount(n, false); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	acct, err := a.db.GetAccount(name)
	if errors.Is(err, kv.ErrNotFound) {
		return webui.ErrNotFound
	} else if err != nil {
		return err
	}
	applyAccount(&acct, n)
	if err := a.db.PutAccount(acct); err != nil {
		return err
	}
	if n.AccessToken != "" {
		// The token manager prefers a refreshed token from the token store
		// to the account's own: replace that copy too (SaveToken updates
		// the account with it), or the old token comes back after Forget.
		// No expiry: the pasted token's lifetime is unknown, so it is used
		// until it is refused, not refreshed away at once.
		tok := kv.Token{AccessToken: acct.AccessToken, RefreshToken: acct.RefreshToken, IDToken: acct.IDToken}
		if err := a.db.SaveToken(name, tok); err != nil {
			return err
		}
	}
	a.tokens.Forget(name)
	return a.reload()
}

// Delete implements webui.Accounts.
func (a *admin) Delete(ctx context.Context, name string) error {
	if a.fromConfig(name) {
		return webui.ErrReadOnly
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.db.DeleteAccount(name); errors.Is(err, kv.ErrNotFound) {
		return webui.ErrNotFound
	} else if err != nil {
		return err
	}
	a.tokens.Forget(name)
	a.log.Info("account deleted", "acct", name)
	return a.reload()
}

func (a *admin) account(name string) (*proxy.Account, error) {
	accounts, err := poolAccounts(a.cfg, a.db)
	if err != nil {
		return nil, err
	}
	for i := range accounts {
		if accounts[i].Name == name {
			return &accounts[i], nil
		}
	}
	return nil, webui.ErrNotFound
}

// RefreshNow implements webui.Accounts.
func (a *admin) RefreshNow(ctx context.Context, name string) error {
	acct, err := a.account(name)
	if err != nil {
		return err
	}
	if acct.Type != "oauth" {
		return &webui.FieldError{Field: "type", Msg: acct.Type + " accounts have no token to refresh"}
	}
	if _, err := a.tokens.ForceRefresh(ctx, acct); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	return nil
}

// Test implements webui.Accounts.
func (a *admin) Test(ctx context.Context, name string) (webui.TestResult, error) {
	r, err := a.srv.Probe(ctx, name)
	if errors.Is(err, proxy.ErrUnknownAccount) {
		return webui.TestResult{}, webui.ErrNotFound
	}
	return webui.TestResult{OK: r.OK, Status: r.Status, Latency: r.Latency, Model: r.Model, Message: r.Message}, err
}

// OAuthStart implements webui.Accounts.
func (a *admin) OAuthStart(platform, kind string) (webui.OAuthStart, error) {
	flow, err := newOAuthFlow(a.cfg, platform, kind)
	if err != nil {
		return webui.OAuthStart{}, &webui.FieldError{Field: "platform", Msg: err.Error()}
	}
	u, state, err := a.logins.Start(flow)
	if err != nil {
		return webui.OAuthStart{}, err
	}
	return webui.OAuthStart{URL: u, State: state}, nil
}

// OAuthFinish implements webui.Accounts.
func (a *admin) OAuthFinish(ctx context.Context, state, pasted string, n webui.NewAccount) (string, error) {
	acct, err := a.logins.Finish(ctx, state, pasted)
	if errors.Is(err, oauth.ErrUnknownLogin) {
		return "", &webui.FieldError{Field: "state", Msg: err.Error()}
	}
	if err != nil {
		return "", &webui.FieldError{Field: "pasted", Msg: err.Error()}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	name := n.Name
	if name == "" {
		h := sha256.Sum256([]byte(acct.AccessToken))
		name = acct.Platform + "-" + acct.Type + "-" + hex.EncodeToString(h[:3])
	}
	if _, err := a.db.GetAccount(name); err == nil || a.fromConfig(name) {
		return "", fmt.Errorf("account %q: %w", name, webui.ErrExists)
	}
	acct.Name = name
	n.Platform, n.Type, n.APIKey, n.AccessToken = acct.Platform, acct.Type, "", ""
	applyAccount(&acct, n)
	if err := a.db.PutAccount(acct); err != nil {
		return "", err
	}
	a.log.Info("account added by login", "acct", name, "platform", acct.Platform)
	return name, a.reload()
}
