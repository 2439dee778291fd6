package main

import (
	"fmt"
	"time"

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
		var exp time.Time
		if a.ExpiresAt != "" {
			exp, _ = time.Parse(time.RFC3339, a.ExpiresAt) // validated at load
		}
		out = append(out, proxy.Account{
			Account: sched.Account{
				Name: a.Name, Platform: a.Platform, Type: a.Type, Group: a.Group,
				Priority: a.Priority, Concurrency: a.Concurrency, Models: a.Models, ModelMap: a.ModelMap,
			},
			APIKey: a.APIKey, AccessToken: a.AccessToken, RefreshToken: a.RefreshToken, ExpiresAt: exp,
			IDToken: a.IDToken, AccountID: a.AccountID, ProjectID: a.ProjectID,
			BaseURL: a.BaseURL, Proxy: a.Proxy, FromConfig: true, InterceptWarmup: a.InterceptWarmup,
		})
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
		out = append(out, fromKV(a))
	}
	return out, nil
}

func fromKV(a kv.Account) proxy.Account {
	return proxy.Account{
		Account: sched.Account{
			Name: a.Name, Platform: a.Platform, Type: a.Type, Group: a.Group,
			Priority: a.Priority, Concurrency: a.Concurrency, Models: a.Models, ModelMap: a.ModelMap,
		},
		APIKey: a.APIKey, AccessToken: a.AccessToken, RefreshToken: a.RefreshToken, IDToken: a.IDToken,
		ExpiresAt: a.ExpiresAt, AccountID: a.AccountID, ProjectID: a.ProjectID,
		BaseURL: a.BaseURL, Proxy: a.Proxy,
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
		h, err := proxy.ParseKeyHash(k.Hash())
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		ips, _ := parseAllowIPs(k.AllowIPs) // validated at load
		var exp time.Time
		if k.ExpiresAt != "" {
			exp, _ = time.Parse(time.RFC3339, k.ExpiresAt)
		}
		out = append(out, proxy.Key{
			Name: k.Name, Hash: h, Group: k.Group, Concurrency: k.Concurrency,
			Limits: k.limits(), ExpiresAt: exp, Disabled: k.Enabled != nil && !*k.Enabled,
			Models: k.Models, AllowIPs: ips, InterceptWarmup: k.InterceptWarmup,
		})
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
		pk, err := keyFromKV(k)
		if err != nil {
			return nil, err
		}
		out = append(out, pk)
	}
	return out, nil
}

func keyFromKV(k kv.Key) (proxy.Key, error) {
	h, err := proxy.ParseKeyHash(k.Hash)
	if err != nil {
		return proxy.Key{}, fmt.Errorf("stored key %s: %w", k.Name, err)
	}
	ips, err := parseAllowIPs(k.AllowIPs)
	if err != nil {
		return proxy.Key{}, fmt.Errorf("stored key %s: allow_ips: %w", k.Name, err)
	}
	return proxy.Key{
		Name: k.Name, Hash: h, Group: k.Group, Concurrency: k.Concurrency, Limits: k.Limits(),
		ExpiresAt: k.ExpiresAt, Disabled: !k.Enabled, Models: k.Models, AllowIPs: ips,
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
