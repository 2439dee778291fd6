package sched

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStress runs random acquire / cancel / timeout / release interleavings
// with random health changes and pool edits, then checks that nothing is
// left: no slot held, nobody waiting, every goroutine returned.
func TestStress(t *testing.T) {
	pool := func(withD bool) []Account {
		a, b, c, d := acct("a"), acct("b"), acct("c"), acct("d")
		a.Concurrency, c.Concurrency = 2, 3
		c.Models = []string{"claude-*"}
		d.Priority = 1
		o := acct("o")
		o.Group = "other"
		if withD {
			return []Account{a, b, c, d, o}
		}
		return []Account{a, b, c, o}
	}
	s, clk := mustNew(t, Config{
		Accounts:            pool(true),
		StickyMaxWaiting:    2,
		StickyWaitTimeout:   3 * time.Millisecond,
		FallbackMaxWaiting:  12,
		FallbackWaitTimeout: 5 * time.Millisecond,
		RateLimitCooldown:   5 * time.Second,
		OverloadCooldown:    5 * time.Second,
		ForbiddenCooldown:   5 * time.Second,
		FailureCooldown:     5 * time.Second,
	})

	const workers, rounds = 64, 300
	var errMu sync.Mutex
	errCount := map[string]int{}
	var (
		wg      sync.WaitGroup
		leases  atomic.Int64
		failed  atomic.Int64
		stop    = make(chan struct{})
		chaosWG sync.WaitGroup
	)
	chaosWG.Go(func() { chaos(s, clk, pool, stop) })
	for i := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			for range rounds {
				if err := stressOnce(s, clk, rng); err != nil {
					failed.Add(1)
					errMu.Lock()
					errCount[err.Error()]++
					errMu.Unlock()
					if !expected(err) {
						t.Errorf("unexpected error: %v", err)
						return
					}
					time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond) // back off
					continue
				}
				leases.Add(1)
			}
		})
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(2 * time.Minute):
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		t.Fatal("workers did not finish")
	}
	close(stop)
	chaosWG.Wait()
	t.Logf("%d leases, %d failed acquires", leases.Load(), failed.Load())
	t.Logf("errors: %v", errCount)
	if leases.Load() == 0 {
		t.Fatal("no lease was ever granted")
	}
	if in, w := s.Stats(); in != 0 || w != 0 {
		t.Fatalf("Stats = %d in flight, %d waiting, want 0, 0", in, w)
	}
	for _, st := range s.Status() {
		if st.InFlight != 0 || st.Waiting != 0 {
			t.Fatalf("%s: %d in flight, %d waiting", st.Name, st.InFlight, st.Waiting)
		}
	}
	s.mu.Lock()
	for name, k := range s.keys {
		if k.inFlight != 0 || k.queue.n != 0 {
			t.Errorf("key %s: %d in flight, %d waiting", name, k.inFlight, k.queue.n)
		}
	}
	s.mu.Unlock()
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
}

func expected(err error) bool {
	for _, e := range []error{ErrNoAccount, ErrQueueFull, ErrWaitTimeout, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// kinds are the outcomes stressOnce picks from; mostly harmless, so the
// pool keeps serving.
var kinds = []Kind{
	Success, Success, Success, Success, Success, Success, Success, Success, Success, Success,
	Success, Success, Success, Success, Success, Success, Success, Success, Success, Success,
	Success, Success, Canceled, RequestError, ServerError, ServerError, RateLimited, Overloaded, Forbidden, AuthFailed,
}

// stressOnce makes one random request and, if it gets a lease, holds it a
// moment and releases it with a random outcome.
func stressOnce(s *Scheduler, clk *clock, rng *rand.Rand) error {
	if rng.IntN(20) == 0 {
		clk.Advance(15 * time.Second) // cooldowns run out
	}
	r := req()
	if rng.IntN(10) == 0 {
		r.Group = "other"
	}
	if rng.IntN(4) == 0 {
		r.Model = "gpt-5" // c does not serve it
	}
	if rng.IntN(2) == 0 {
		r.Session = fmt.Sprint("s", rng.IntN(6))
	}
	if rng.IntN(2) == 0 {
		r.Key, r.KeyConcurrency = fmt.Sprint("k", rng.IntN(3)), 1+rng.IntN(2)
	}
	if rng.IntN(5) == 0 {
		r.Exclude = []string{string(rune('a' + rng.IntN(4)))}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	switch rng.IntN(4) {
	case 0:
		ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(2000))*time.Microsecond)
		defer cancel()
	case 1:
		time.AfterFunc(time.Duration(rng.IntN(2000))*time.Microsecond, cancel)
	}
	l, err := s.Acquire(ctx, r)
	if err != nil {
		return err
	}
	if rng.IntN(2) == 0 {
		time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
	}
	o := Outcome{Kind: kinds[rng.IntN(len(kinds))]}
	if rng.IntN(10) == 0 { // released twice, concurrently
		var wg sync.WaitGroup
		wg.Go(func() { l.Release(o) })
		l.Release(Outcome{Kind: Success})
		wg.Wait()
		return nil
	}
	l.Release(o)
	return nil
}

// chaos moves the clock and edits health, bindings and the pool until stop.
func chaos(s *Scheduler, clk *clock, pool func(bool) []Account, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(7, 7))
	names := []string{"a", "b", "c", "d", "o"}
	for {
		select {
		case <-stop:
			return
		default:
		}
		name := names[rng.IntN(len(names))]
		switch rng.IntN(9) {
		case 0:
			clk.Advance(time.Duration(rng.IntN(120)) * time.Second)
		case 1, 8:
			for _, n := range names {
				_ = s.Clear(n)
			}
		case 2:
			_ = s.Disable(name)
		case 3:
			_ = s.Enable(name)
		case 4:
			s.MarkError(name, "chaos")
		case 5:
			s.SetAccounts(pool(rng.IntN(2) == 0))
		case 6:
			s.Bind("g", fmt.Sprint("s", rng.IntN(6)), name)
		case 7:
			s.Unbind(fmt.Sprint("s", rng.IntN(6)))
			s.Status()
			s.Sessions()
		}
		time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
	}
}
