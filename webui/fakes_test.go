package webui

import (
	"context"
	"slices"
	"sync"
	"time"

	"subgate/sched"
)

// fakeAccounts is a function-field Accounts; a nil field answers zero.
type fakeAccounts struct {
	ListFn        func() []AccountInfo
	AddFn         func(ctx context.Context, a NewAccount) error
	UpdateFn      func(ctx context.Context, name string, a NewAccount) error
	DeleteFn      func(ctx context.Context, name string) error
	RefreshNowFn  func(ctx context.Context, name string) error
	TestFn        func(ctx context.Context, name string) (TestResult, error)
	OAuthStartFn  func(platform, kind string) (OAuthStart, error)
	OAuthFinishFn func(ctx context.Context, state, pasted string, a NewAccount) (string, error)
}

func (f *fakeAccounts) List() []AccountInfo { return f.ListFn() }
func (f *fakeAccounts) Add(ctx context.Context, a NewAccount) error {
	return f.AddFn(ctx, a)
}
func (f *fakeAccounts) Update(ctx context.Context, name string, a NewAccount) error {
	return f.UpdateFn(ctx, name, a)
}
func (f *fakeAccounts) Delete(ctx context.Context, name string) error { return f.DeleteFn(ctx, name) }
func (f *fakeAccounts) RefreshNow(ctx context.Context, name string) error {
	return f.RefreshNowFn(ctx, name)
}
func (f *fakeAccounts) Test(ctx context.Context, name string) (TestResult, error) {
	return f.TestFn(ctx, name)
}
func (f *fakeAccounts) OAuthStart(platform, kind string) (OAuthStart, error) {
	return f.OAuthStartFn(platform, kind)
}
func (f *fakeAccounts) OAuthFinish(ctx context.Context, state, pasted string, a NewAccount) (string, error) {
	return f.OAuthFinishFn(ctx, state, pasted, a)
}

// memAccounts keeps accounts in memory and mirrors them into the
// scheduler's pool, as package main does.
func memAccounts(s *sched.Scheduler, initial []AccountInfo) *fakeAccounts {
	var mu sync.Mutex
	list := slices.Clone(initial)
	mirror := func() {
		pool := make([]sched.Account, len(list))
		for i, a := range list {
			pool[i] = sched.Account{Name: a.Name, Platform: a.Platform, Type: a.Type, Group: a.Group,
				Priority: a.Priority, Concurrency: a.Concurrency, Models: a.Models, ModelMap: a.ModelMap}
		}
		s.SetAccounts(pool)
	}
	info := func(a NewAccount, source string) AccountInfo {
		return AccountInfo{Name: a.Name, Platform: a.Platform, Type: a.Type, Source: source, Group: a.Group,
			Priority: a.Priority, Concurrency: a.Concurrency, BaseURL: a.BaseURL, Proxy: a.Proxy,
			Models: a.Models, ModelMap: a.ModelMap}
	}
	find := func(name string) int {
		return slices.IndexFunc(list, func(a AccountInfo) bool { return a.Name == name })
	}
	return &fakeAccounts{
		ListFn: func() []AccountInfo { mu.Lock(); defer mu.Unlock(); return slices.Clone(list) },
		AddFn: func(_ context.Context, a NewAccount) error {
			mu.Lock()
			defer mu.Unlock()
			list = append(list, info(a, "ui"))
			mirror()
			return nil
		},
		UpdateFn: func(_ context.Context, name string, a NewAccount) error {
			mu.Lock()
			defer mu.Unlock()
			i := find(name)
			if i < 0 {
				return ErrNotFound
			}
			if list[i].Source == "config" {
				return ErrReadOnly
			}
			list[i] = info(a, "ui")
			mirror()
			return nil
		},
		DeleteFn: func(_ context.Context, name string) error {
			mu.Lock()
			defer mu.Unlock()
			i := find(name)
			if i < 0 {
				return ErrNotFound
			}
			if list[i].Source == "config" {
				return ErrReadOnly
			}
			list = slices.Delete(list, i, i+1)
			mirror()
			return nil
		},
		RefreshNowFn: func(context.Context, string) error { return nil },
		TestFn: func(_ context.Context, name string) (TestResult, error) {
			return TestResult{OK: true, Status: 200, Latency: 420 * time.Millisecond, Model: "claude-haiku-4-5"}, nil
		},
		OAuthStartFn: func(platform, kind string) (OAuthStart, error) {
			return OAuthStart{URL: "https://login.example/authorize?p=" + platform, State: "st-" + kind}, nil
		},
		OAuthFinishFn: func(_ context.Context, state, pasted string, a NewAccount) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			a.Platform, a.Type = "anthropic", "oauth"
			list = append(list, info(a, "ui"))
			mirror()
			return a.Name, nil
		},
	}
}

// fakeKeys is a function-field Keys.
type fakeKeys struct {
	ListFn   func() []KeyInfo
	CreateFn func(ctx context.Context, k NewKey) (string, error)
	UpdateFn func(ctx context.Context, name string, k NewKey) error
	DeleteFn func(ctx context.Context, name string) error
}

func (f *fakeKeys) List() []KeyInfo { return f.ListFn() }
func (f *fakeKeys) Create(ctx context.Context, k NewKey) (string, error) {
	return f.CreateFn(ctx, k)
}
func (f *fakeKeys) Update(ctx context.Context, name string, k NewKey) error {
	return f.UpdateFn(ctx, name, k)
}
func (f *fakeKeys) Delete(ctx context.Context, name string) error { return f.DeleteFn(ctx, name) }

// memKeys keeps keys in memory, with one read-only config key.
func memKeys() *fakeKeys {
	var mu sync.Mutex
	list := []KeyInfo{{Name: "team", Source: "config", Enabled: true, RateMultiplier: 1, LimitDayUSD: 20,
		Windows: []KeyWindow{{Window: "5h", UsedUSD: 1.5}, {Window: "day", UsedUSD: 12.25, LimitUSD: 20,
			ResetAt: time.Now().Add(7 * time.Hour)}, {Window: "total", UsedUSD: 99}}}}
	info := func(k NewKey) KeyInfo {
		return KeyInfo{Name: k.Name, Group: k.Group, Source: "ui", Concurrency: k.Concurrency, RPM: k.RPM,
			Limit5hUSD: k.Limit5hUSD, LimitDayUSD: k.LimitDayUSD, LimitWeekUSD: k.LimitWeekUSD,
			LimitMonthUSD: k.LimitMonthUSD, QuotaUSD: k.QuotaUSD, RateMultiplier: k.RateMultiplier,
			ExpiresAt: k.ExpiresAt, Models: k.Models, AllowIPs: k.AllowIPs, Enabled: k.Enabled,
			InterceptWarmup: k.InterceptWarmup, Created: time.Now(),
			Windows: []KeyWindow{{Window: "5h", LimitUSD: k.Limit5hUSD}, {Window: "total", LimitUSD: k.QuotaUSD}}}
	}
	find := func(name string) int {
		return slices.IndexFunc(list, func(k KeyInfo) bool { return k.Name == name })
	}
	return &fakeKeys{
		ListFn: func() []KeyInfo { mu.Lock(); defer mu.Unlock(); return slices.Clone(list) },
		CreateFn: func(_ context.Context, k NewKey) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			list = append(list, info(k))
			return "sk-sg-" + k.Name + "-0123456789abcdef", nil
		},
		UpdateFn: func(_ context.Context, name string, k NewKey) error {
			mu.Lock()
			defer mu.Unlock()
			i := find(name)
			if i < 0 {
				return ErrNotFound
			}
			created := list[i].Created
			list[i] = info(k)
			list[i].Created = created
			return nil
		},
		DeleteFn: func(_ context.Context, name string) error {
			mu.Lock()
			defer mu.Unlock()
			i := find(name)
			if i < 0 {
				return ErrNotFound
			}
			if list[i].Source == "config" {
				return ErrReadOnly
			}
			list = slices.Delete(list, i, i+1)
			return nil
		},
	}
}
