package sched

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// benchPool is 8 accounts × concurrency 4: 32 slots, so 64 and more
// goroutines contend and queue.
func benchPool() []Account {
	var pool []Account
	for i := range 8 {
		a := acct(fmt.Sprintf("acct-%d", i))
		a.Concurrency = 4
		a.Models = []string{"claude-*"}
		a.ModelMap = map[string]string{"sonnet": "claude-sonnet-4-5"}
		pool = append(pool, a)
	}
	return pool
}

// BenchmarkAcquireRelease measures one Acquire plus Release; b.N pairs are
// shared by the goroutines.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, g := range []int{1, 8, 64, 1024} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			benchAcquireRelease(b, g, func(int) Request { return req() })
		})
	}
	sticky := func(i int) Request {
		r := req()
		r.Session = fmt.Sprint("session-", i%256)
		r.Key, r.KeyConcurrency = fmt.Sprint("key-", i%4), 16
		return r
	}
	b.Run("goroutines=64/sticky+key", func(b *testing.B) {
		benchAcquireRelease(b, 64, sticky)
	})
	// With a store, each release also queues its binding and account for
	// the next save.
	b.Run("goroutines=64/sticky+key+store", func(b *testing.B) {
		benchAcquireRelease(b, 64, sticky, func(c *Config) { c.Store = &store{} })
	})
}

func benchAcquireRelease(b *testing.B, goroutines int, mkReq func(int) Request, opts ...func(*Config)) {
	cfg := Config{Accounts: benchPool(), FallbackMaxWaiting: 1 << 20}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range goroutines {
		r := mkReq(i)
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				l, err := s.Acquire(ctx, r)
				if err != nil {
					b.Error(err)
					return
				}
				l.Release(Outcome{})
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if in, w := s.Stats(); in != 0 || w != 0 {
		b.Fatalf("Stats = %d, %d after the run", in, w)
	}
}
