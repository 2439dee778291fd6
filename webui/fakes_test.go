package webui

import (
	"context"
	"slices"
	"sync"
	"time"

	"subgate/kv"
	"subgate/ledger"
	"subgate/sched"
)

// fakeAccounts is a function-field Accounts; a nil field answers zero.
type fakeAccounts struct {
	ListFn        func() []kv.Account
	AddFn         func(ctx context.Context, a kv.Account) error
	UpdateFn      func(ctx context.Context, name string, a kv.Account) error
	DeleteFn      func(ctx context.Context, name string) error
	RefreshNowFn  func(ctx context.Context, name string) error
	TestFn        func(ctx context.Context, name string) (TestResult, error)
	OAuthStartFn  func(platform, kind string) (OAuthStart, error)
	OAuthFinishFn func(ctx context.Context, state, pasted string, a kv.Account) (string, error)
}

func (f *fakeAccounts) List() []kv.Account { return f.ListFn() }
func (f *fakeAccounts) Add(ctx context.Context, a kv.Account) error {
	return f.AddFn(ctx, a)
}
func (f *fakeAccounts) Update(ctx context.Context, name string, a kv.Account) error {
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
func (f *fakeAccounts) OAuthFinish(ctx context.Context, state, pasted string, a kv.Account) (string, error) {
	return f.OAuthFinishFn(ctx, state, pasted, a)
}

// memAccounts keeps accounts in memory and mirrors them into the
// scheduler's pool, as Admin does.
func memAccounts(s *sched.Scheduler, initial []kv.Account) *fakeAccounts {
	var mu sync.Mutex
	list := slices.Clone(initial)
	mirror := func() {
		pool := make([]sched.Account, len(list))
		for i, a := range list {
			pool[i] = a.Sched()
		}
		s.SetAccounts(pool)
	}
	find := func(name string) int {
		return slices.IndexFunc(list, func(a kv.Account) bool { return a.Name == name })
	}
	return &fakeAccounts{
		ListFn: func() []kv.Account { mu.Lock(); defer mu.Unlock(); return slices.Clone(list) },
		AddFn: func(_ context.Context, a kv.Account) error {
			mu.Lock()
			defer mu.Unlock()
			list = append(list, a)
			mirror()
			return nil
		},
		UpdateFn: func(_ context.Context, name string, a kv.Account) error {
			mu.Lock()
			defer mu.Unlock()
			i := find(name)
			if i < 0 {
				return ErrNotFound
			}
			if list[i].FromConfig {
				return ErrReadOnly
			}
			applyAccount(&list[i], a)
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
			if list[i].FromConfig {
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
		OAuthFinishFn: func(_ context.Context, state, pasted string, a kv.Account) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			a.Platform, a.Type = "anthropic", "oauth"
			list = append(list, a)
			mirror()
			return a.Name, nil
		},
	}
}

// fakeKeys is a function-field Keys.
type fakeKeys struct {
	ListFn   func() []KeyInfo
	CreateFn func(ctx context.Context, k kv.Key) (string, error)
	UpdateFn func(ctx context.Context, name string, k kv.Key) error
	DeleteFn func(ctx context.Context, name string) error
}

func (f *fakeKeys) List() []KeyInfo { return f.ListFn() }
func (f *fakeKeys) Create(ctx context.Context, k kv.Key) (string, error) {
	return f.CreateFn(ctx, k)
}
func (f *fakeKeys) Update(ctx context.Context, name string, k kv.Key) error {
	return f.UpdateFn(ctx, name, k)
}
func (f *fakeKeys) Delete(ctx context.Context, name string) error { return f.DeleteFn(ctx, name) }

// memKeys keeps keys in memory, with one read-only config key.
func memKeys() *fakeKeys {
	var mu sync.Mutex
	list := []KeyInfo{{Key: kv.Key{Name: "team", FromConfig: true, Enabled: true, RateMultiplier: 1, LimitDayUSD: 20},
		Windows: []ledger.WindowUsage{{Window: "5h", Used: 1_500_000}, {Window: "day", Used: 12_250_000, Limit: 20_000_000,
			ResetAt: time.Now().Add(7 * time.Hour)}, {Window: "total", Used: 99_000_000}}}}
	info := func(k kv.Key) KeyInfo {
		k.Created = time.Now()
		return KeyInfo{Key: k, Windows: []ledger.WindowUsage{{Window: "5h", Limit: ledger.USDToMicros(k.Limit5hUSD)},
			{Window: "total", Limit: ledger.USDToMicros(k.QuotaUSD)}}}
	}
	find := func(name string) int {
		return slices.IndexFunc(list, func(k KeyInfo) bool { return k.Name == name })
	}
	return &fakeKeys{
		ListFn: func() []KeyInfo { mu.Lock(); defer mu.Unlock(); return slices.Clone(list) },
		CreateFn: func(_ context.Context, k kv.Key) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			list = append(list, info(k))
			return "sk-sg-" + k.Name + "-0123456789abcdef", nil
		},
		UpdateFn: func(_ context.Context, name string, k kv.Key) error {
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
			if list[i].FromConfig {
				return ErrReadOnly
			}
			list = slices.Delete(list, i, i+1)
			return nil
		},
	}
}
