package main

import (
	"context"
	"errors"
	"fmt"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy"
	"subgate/webui"
)

// proxyPool builds the proxy's runtime views of the pool's models.
func proxyPool(accounts []kv.Account, keys []kv.Key) ([]proxy.Account, []proxy.Key, error) {
	pa := make([]proxy.Account, len(accounts))
	for i, a := range accounts {
		pa[i] = proxyAccount(a)
	}
	pk := make([]proxy.Key, len(keys))
	for i, k := range keys {
		var err error
		if pk[i], err = proxyKey(k); err != nil {
			return nil, nil, fmt.Errorf("key %q: %w", k.Name, err)
		}
	}
	return pa, pk, nil
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

// gateway adapts the proxy and its token manager to webui.Gateway,
// handing the proxy its runtime views of the models.
type gateway struct {
	srv    *proxy.Server
	tokens *proxy.Tokens
}

var _ webui.Gateway = (*gateway)(nil)

func (g *gateway) SetPool(accounts []kv.Account, keys []kv.Key) error {
	pa, pk, err := proxyPool(accounts, keys)
	if err != nil {
		return err
	}
	g.srv.SetPool(pa, pk)
	return nil
}

func (g *gateway) Probe(ctx context.Context, name string) (webui.TestResult, error) {
	r, err := g.srv.Probe(ctx, name)
	if errors.Is(err, proxy.ErrUnknownAccount) {
		return webui.TestResult{}, webui.ErrNotFound
	}
	return webui.TestResult{OK: r.OK, Status: r.Status, Latency: r.Latency, Model: r.Model, Message: r.Message}, err
}

func (g *gateway) Refresh(ctx context.Context, a kv.Account) error {
	pa := proxyAccount(a)
	_, err := g.tokens.ForceRefresh(ctx, &pa)
	return err
}

func (g *gateway) Forget(name string) { g.tokens.Forget(name) }

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
