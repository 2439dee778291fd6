package main

import (
	"fmt"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy"
	"subgate/sched"
)

// poolAccounts merges config accounts (read-only, they win on a name
// clash) with the accounts imported into kv.
func poolAccounts(cfg Config, db *kv.DB) ([]proxy.Account, error) {
	out := make([]proxy.Account, 0, len(cfg.Accounts))
	seen := make(map[string]bool)
	for _, a := range cfg.Accounts {
		a.FromConfig = true
		out = append(out, proxyAccount(a))
		seen[a.Name] = true
	}
	stored, err := db.Accounts()
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	for _, a := range stored {
		if seen[a.Name] {
			continue
		}
		out = append(out, proxyAccount(a))
	}
	return out, nil
}

// proxyAccount is the proxy's runtime view of an account.
func proxyAccount(a kv.Account) proxy.Account {
	return proxy.Account{
		Account: a.Sched(),
		APIKey:  a.APIKey, AccessToken: a.AccessToken, RefreshToken: a.RefreshToken, IDToken: a.IDToken,
		ExpiresAt: a.ExpiresAt.Time, AccountID: a.AccountID, ProjectID: a.ProjectID,
		BaseURL: a.BaseURL, Proxy: a.Proxy, FromConfig: a.FromConfig, InterceptWarmup: a.InterceptWarmup,
	}
}

func schedAccounts(accounts []proxy.Account) []sched.Account {
	out := make([]sched.Account, len(accounts))
	for i := range accounts {
		out[i] = accounts[i].Account
	}
	return out
}

// poolKeys merges config keys (read-only) with keys created through the
// admin API and kept in kv.
func poolKeys(cfg Config, db *kv.DB) ([]proxy.Key, error) {
	out := make([]proxy.Key, 0, len(cfg.Keys))
	seen := make(map[string]bool)
	for i, k := range cfg.Keys {
		pk, err := proxyKey(k.Model())
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		out = append(out, pk)
		seen[k.Name] = true
	}
	stored, err := db.Keys()
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	for _, k := range stored {
		if seen[k.Name] {
			continue
		}
		pk, err := proxyKey(k)
		if err != nil {
			return nil, fmt.Errorf("stored key %s: %w", k.Name, err)
		}
		out = append(out, pk)
	}
	return out, nil
}

// proxyKey is the proxy's runtime view of a key.
func proxyKey(k kv.Key) (proxy.Key, error) {
	h, err := proxy.ParseKeyHash(k.Hash)
	if err != nil {
		return proxy.Key{}, err
	}
	ips, err := k.Prefixes()
	if err != nil {
		return proxy.Key{}, fmt.Errorf("allow_ips: %w", err)
	}
	return proxy.Key{
		Name: k.Name, Hash: h, Group: k.Group, Concurrency: k.Concurrency, Limits: k.Limits(),
		ExpiresAt: k.ExpiresAt.Time, Disabled: !k.Enabled, Models: k.Models, AllowIPs: ips,
		InterceptWarmup: k.InterceptWarmup,
	}, nil
}

func priceOverrides(ps []PriceConfig) []ledger.PriceOverride {
	out := make([]ledger.PriceOverride, len(ps))
	for i, p := range ps {
		out[i] = ledger.PriceOverride{Model: p.Model, Input: p.Input, Output: p.Output,
			CacheWrite5m: p.CacheWrite5m, CacheWrite1h: p.CacheWrite1h, CacheRead: p.CacheRead,
			InputAbove200k: p.InputAbove200k, OutputAbove200k: p.OutputAbove200k,
			CacheWrite5mAbove200k: p.CacheWrite5mAbove200k, CacheWrite1hAbove200k: p.CacheWrite1hAbove200k,
			CacheReadAbove200k: p.CacheReadAbove200k}
	}
	return out
}
