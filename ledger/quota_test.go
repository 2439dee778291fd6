package ledger

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func reservedOf(l *Ledger, key string) int64 { return l.KeyUsage(key, Limits{})[0].Reserved }

func TestReservationArithmetic(t *testing.T) {
	clk := newClock(time.Date(2026, 4, 7, 12, 0, 0, 0, time.UTC))
	l, _, _ := newTestLedger(t, Config{Now: clk.Now})
	lim := Limits{LimitDay: 1000}

	a, err := l.Reserve("k", lim, 400)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Reserve("k", lim, 500)
	if err != nil {
		t.Fatal(err)
	}
	if got := reservedOf(l, "k"); got != 900 {
		t.Fatalf("reserved = %d, want 900", got)
	}
	// 0 used + 900 reserved + 101 > 1000.
	if _, err := l.Reserve("k", lim, 101); err == nil {
		t.Fatal("Reserve over the limit succeeded")
	}
	// Exactly at the limit is allowed.
	c, err := l.Reserve("k", lim, 100)
	if err != nil {
		t.Fatalf("Reserve to exactly the limit: %v", err)
	}

	// Settle a below its estimate: the difference is free again.
	l.Record(Record{Key: "k", CostMicros: 150, Reservation: a})
	assertUsage(t, l, "k", map[Window]int64{WindowDay: 150})
	if got := reservedOf(l, "k"); got != 600 {
		t.Fatalf("reserved after settling a = %d, want 600", got)
	}
	// Settling or releasing again changes nothing.
	l.Release(a)
	l.Record(Record{Key: "k", Reservation: a, Refused: true})
	if got := reservedOf(l, "k"); got != 600 {
		t.Fatalf("reserved after double settle = %d, want 600", got)
	}
	// b fails before any usage.
	l.Release(b)
	if got := reservedOf(l, "k"); got != 100 {
		t.Fatalf("reserved after release = %d, want 100", got)
	}
	// c settles above its estimate.
	l.Record(Record{Key: "k", CostMicros: 300, Reservation: c})
	ws := l.KeyUsage("k", lim)
	if got := ws[1]; got.Used != 450 || got.Reserved != 0 || got.Limit != 1000 {
		t.Fatalf("day usage = %+v, want used 450, reserved 0, limit 1000", got)
	}
	if got, want := Remaining(ws), int64(550); got != want {
		t.Fatalf("Remaining = %d, want %d", got, want)
	}
	if got := Remaining(l.KeyUsage("k", Limits{})); got != -1 {
		t.Fatalf("Remaining without limits = %d, want -1", got)
	}
	// The zero reservation and an empty key are no-ops.
	l.Release(Reservation{})
	if res, err := l.Reserve("", Limits{Quota: 1}, 1e9); err != nil || res != (Reservation{}) {
		t.Fatalf("Reserve(\"\") = %+v, %v; want zero, nil", res, err)
	}
}

func TestBudgetRefusals(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	now := time.Date(2026, 4, 8, 15, 20, 0, 0, la) // Wednesday
	clk := newClock(now)
	l, _, _ := newTestLedger(t, Config{Now: clk.Now, Location: la})
	l.Record(Record{Key: "k", CostMicros: 1_000_000, Time: now.Add(-30 * time.Minute)})

	tests := []struct {
		name   string
		lim    Limits
		window Window
		reset  time.Time
		msg    string
	}{
		{"5h", Limits{Limit5h: 1_100_000}, Window5h, now.Add(4*time.Hour + 31*time.Minute),
			"5-hour budget of $1.10 is used up ($1.00 spent); it resets at 2026-04-08T19:51:00-07:00"},
		{"day", Limits{LimitDay: 1_000_000}, WindowDay, time.Date(2026, 4, 9, 0, 0, 0, 0, la),
			"daily budget of $1.00 is used up ($1.00 spent); it resets at 2026-04-09T00:00:00-07:00"},
		{"week", Limits{LimitWeek: 1_100_000}, WindowWeek, time.Date(2026, 4, 13, 0, 0, 0, 0, la),
			"weekly budget of $1.10 is used up ($1.00 spent); it resets at 2026-04-13T00:00:00-07:00"},
		{"month", Limits{LimitMonth: 1_000_001}, WindowMonth, time.Date(2026, 5, 1, 0, 0, 0, 0, la),
			"monthly budget of $1.00 is used up ($1.00 spent); it resets at 2026-05-01T00:00:00-07:00"},
		{"total", Limits{Quota: 500_000}, WindowTotal, time.Time{},
			"total quota of $0.50 is used up ($1.00 spent); it does not reset"},
		// Several windows closed: the one that stays closed longest wins.
		{"day and month", Limits{LimitDay: 1_000_000, LimitMonth: 1_000_000}, WindowMonth,
			time.Date(2026, 5, 1, 0, 0, 0, 0, la), "monthly"},
		{"all", Limits{Limit5h: 1, LimitDay: 1, LimitWeek: 1, LimitMonth: 1, Quota: 1}, WindowTotal,
			time.Time{}, "does not reset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Reserve("k", tt.lim, 200_000)
			var be *BudgetError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want *BudgetError", err)
			}
			if be.Window != tt.window || !be.ResetAt.Equal(tt.reset) || be.Used != 1_000_000 {
				t.Errorf("BudgetError = %+v, want window %s used 1000000 reset %v", be, tt.window, tt.reset)
			}
			if !strings.Contains(be.Error(), tt.msg) {
				t.Errorf("Error() = %q, want it to contain %q", be.Error(), tt.msg)
			}
		})
	}
	// A refusal reserves nothing.
	if got := reservedOf(l, "k"); got != 0 {
		t.Fatalf("reserved after refusals = %d, want 0", got)
	}
}

// TestRolling5hResetAt: the 5h refusal resets when enough old spend has
// left the window for the request to fit, not when all of it has.
func TestRolling5hResetAt(t *testing.T) {
	start := time.Date(2026, 4, 8, 8, 0, 0, 0, time.UTC)
	clk := newClock(start)
	l, _, _ := newTestLedger(t, Config{Now: clk.Now})
	for i := range 3 { // 300 at 08:00, 09:00, 10:00
		l.Record(Record{Key: "k", CostMicros: 300, Time: start.Add(time.Duration(i) * time.Hour)})
	}
	clk.Set(start.Add(3 * time.Hour))
	_, err := l.Reserve("k", Limits{Limit5h: 1000}, 500)
	var be *BudgetError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *BudgetError", err)
	}
	// 900 + 500 > 1000; once 08:00 and 09:00 expire, 300 + 500 fits.
	if want := start.Add(6*time.Hour + time.Minute); !be.ResetAt.Equal(want) {
		t.Fatalf("ResetAt = %v, want %v", be.ResetAt, want)
	}
	clk.Set(be.ResetAt)
	if _, err := l.Reserve("k", Limits{Limit5h: 1000}, 500); err != nil {
		t.Fatalf("Reserve at ResetAt: %v", err)
	}
}

func TestRPM(t *testing.T) {
	start := time.Date(2026, 4, 8, 8, 0, 0, 0, time.UTC)
	clk := newClock(start)
	l, _, _ := newTestLedger(t, Config{Now: clk.Now})
	lim := Limits{RPM: 3}
	for i := range 3 {
		res, err := l.Reserve("k", lim, 0)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		l.Release(res) // a released request still counts: it was made
		clk.Add(10 * time.Second)
	}
	_, err := l.Reserve("k", lim, 0)
	var re *RateError
	if !errors.As(err, &re) {
		t.Fatalf("4th request: err = %v, want *RateError", err)
	}
	if want := start.Add(time.Minute); re.Limit != 3 || !re.ResetAt.Equal(want) {
		t.Fatalf("RateError = %+v, want limit 3, reset %v", re, want)
	}
	if !strings.Contains(re.Error(), "3 requests per minute") {
		t.Fatalf("Error() = %q", re.Error())
	}
	// One slot frees when the first request leaves the minute.
	clk.Set(start.Add(time.Minute))
	if _, err := l.Reserve("k", lim, 0); err != nil {
		t.Fatalf("after the first request left the minute: %v", err)
	}
	if _, err := l.Reserve("k", lim, 0); !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RateError", err)
	}
	// A budget refusal does not take an RPM slot.
	if _, err := l.Reserve("other", Limits{RPM: 1, Quota: 1}, 5); err == nil {
		t.Fatal("over-budget request admitted")
	}
	if _, err := l.Reserve("other", Limits{RPM: 1}, 0); err != nil {
		t.Fatalf("a budget refusal used the RPM slot: %v", err)
	}
}

func TestEstimateAndMultiplier(t *testing.T) {
	l, store, _ := newTestLedger(t, Config{})
	// Sonnet 4.5: $3 in, $15 out per Mtok.
	if got, want := l.Estimate("claude-sonnet-4-5", 10_000, 1_000, 0), int64(45_000); got != want {
		t.Errorf("Estimate = %d, want %d", got, want)
	}
	if got, want := l.Estimate("claude-sonnet-4-5", 10_000, 1_000, 1.5), int64(67_500); got != want {
		t.Errorf("Estimate ×1.5 = %d, want %d", got, want)
	}
	if got := l.Estimate("no-such-model", 10_000, 1_000, 1); got != 0 {
		t.Errorf("Estimate of an unpriced model = %d, want 0", got)
	}
	u := Usage{InputTokens: 1000, OutputTokens: 500} // list 10_500
	l.Record(Record{Key: "k", Model: "claude-sonnet-4-5", Usage: u, Multiplier: 0.5})
	l.Record(Record{Key: "k", Model: "claude-sonnet-4-5", Usage: u, Multiplier: 2})
	l.Record(Record{Key: "k", Model: "claude-sonnet-4-5", Usage: Usage{InputTokens: 1}, Multiplier: 0.5}) // 3 → 1.5 → 2
	l.Record(Record{Key: "k", Model: "claude-sonnet-4-5", Usage: u, Refused: true, CostMicros: 99})
	l.Close()
	recs, _ := store.snapshot()
	want := []struct{ cost, list int64 }{{5_250, 10_500}, {21_000, 10_500}, {2, 3}, {0, 0}}
	for i, w := range want {
		if recs[i].CostMicros != w.cost || recs[i].ListMicros != w.list {
			t.Errorf("record %d: cost, list = %d, %d; want %d, %d", i, recs[i].CostMicros, recs[i].ListMicros, w.cost, w.list)
		}
	}
	assertUsage(t, l, "k", map[Window]int64{WindowTotal: 5_250 + 21_000 + 2})
}

func TestChargeRounding(t *testing.T) {
	tests := []struct {
		list int64
		m    float64
		want int64
	}{
		{100, 0, 100}, {100, 1, 100}, {100, -2, 100}, {3, 0.5, 2}, {5, 0.1, 1}, {4, 0.1, 0},
		{1_000_000, 1.25, 1_250_000}, {999_999, 0.333, 333_000},
	}
	for _, tt := range tests {
		if got := charge(tt.list, tt.m); got != tt.want {
			t.Errorf("charge(%d, %v) = %d, want %d", tt.list, tt.m, got, tt.want)
		}
	}
}

// TestConcurrentReserveOvershoot fires 50 goroutines of Reserve, then
// Record (or Release) at a key with a small daily budget. Spend must never
// end more than one estimate past the limit.
func TestConcurrentReserveOvershoot(t *testing.T) {
	l, store, _ := newTestLedger(t, Config{})
	done := startRun(context.Background(), l)
	const limit = 2_000_000 // $2
	lim := Limits{LimitDay: limit, Limit5h: limit, Quota: limit}
	var maxEst, admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 40 {
				in, out := int64(1000+rng.IntN(20_000)), int64(100+rng.IntN(4000))
				est := l.Estimate("claude-sonnet-4-5", in, out, 1)
				for m := maxEst.Load(); est > m && !maxEst.CompareAndSwap(m, est); m = maxEst.Load() {
				}
				res, err := l.Reserve("k", lim, est)
				if err != nil {
					var be *BudgetError
					if !errors.As(err, &be) {
						t.Errorf("err = %v, want *BudgetError", err)
					}
					refused.Add(1)
					continue
				}
				admitted.Add(1)
				if rng.IntN(10) == 0 {
					l.Release(res) // failed upstream
					continue
				}
				// Real usage: some prompt from cache, output up to max.
				used := Usage{InputTokens: in / 2, CacheReadTokens: in / 2, OutputTokens: int64(rng.IntN(int(out) + 1))}
				l.Record(Record{Key: "k", Model: "claude-sonnet-4-5", Usage: used, Reservation: res})
			}
		})
	}
	wg.Wait()
	l.Close()
	<-done

	spent := l.KeyUsage("k", lim)[1].Used
	var stored int64
	recs, _ := store.snapshot()
	for _, r := range recs {
		stored += r.CostMicros
	}
	t.Logf("admitted %d, refused %d, spent %d of %d, max estimate %d",
		admitted.Load(), refused.Load(), spent, limit, maxEst.Load())
	if spent != stored {
		t.Fatalf("in-memory spend %d != recorded cost %d", spent, stored)
	}
	if spent > limit+maxEst.Load() {
		t.Fatalf("spent %d, more than one estimate (%d) past the limit %d", spent, maxEst.Load(), limit)
	}
	if refused.Load() == 0 {
		t.Fatal("no request was refused: the budget was not small enough to test anything")
	}
	if got := reservedOf(l, "k"); got != 0 {
		t.Fatalf("reserved after all settled = %d, want 0", got)
	}
}

// TestRecordAfterCloseReleases: a record dropped after Close still frees
// its reservation.
func TestRecordAfterCloseReleases(t *testing.T) {
	l, _, _ := newTestLedger(t, Config{})
	res, err := l.Reserve("k", Limits{Quota: 100}, 100)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	l.Record(Record{Key: "k", CostMicros: 50, Reservation: res})
	if got := reservedOf(l, "k"); got != 0 {
		t.Fatalf("reserved = %d, want 0", got)
	}
}

// TestUnlimitedKeyReservesNothing: a key without RPM or budgets gets a
// no-op reservation (no lock, nothing held), and its spend is still
// counted when its record settles.
func TestUnlimitedKeyReservesNothing(t *testing.T) {
	clk := newClock(time.Date(2026, 4, 7, 12, 0, 0, 0, time.UTC))
	l, _, _ := newTestLedger(t, Config{Now: clk.Now})
	res, err := l.Reserve("free", Limits{RateMultiplier: 2}, 500)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Reservation{}) {
		t.Errorf("reservation = %+v, want none", res)
	}
	if got := reservedOf(l, "free"); got != 0 {
		t.Errorf("reserved = %d, want 0", got)
	}
	l.Record(Record{Key: "free", Model: "claude-sonnet-4-5", CostMicros: 700, Reservation: res})
	if got := l.KeyUsage("free", Limits{})[0].Used; got != 700 {
		t.Errorf("used = %d, want 700", got)
	}
	// A limit of any kind reserves.
	for _, lim := range []Limits{{RPM: 1}, {Limit5h: 1000}, {LimitDay: 1000}, {LimitWeek: 1000}, {LimitMonth: 1000}, {Quota: 1000}} {
		res, err := l.Reserve("limited", lim, 1)
		if err != nil || res == (Reservation{}) {
			t.Errorf("limits %+v: reservation %+v, err %v", lim, res, err)
		}
		l.Release(res)
	}
}

func TestCountRequest(t *testing.T) {
	clk := newClock(time.Date(2026, 4, 7, 12, 0, 0, 0, time.UTC))
	l, _, _ := newTestLedger(t, Config{Now: clk.Now})
	lim := Limits{RPM: 3, LimitDay: 1} // a spent budget does not stop a free call
	l.Record(Record{Key: "k", CostMicros: 5})
	for i := range 3 {
		if err := l.CountRequest("k", lim); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	var re *RateError
	if err := l.CountRequest("k", lim); !errors.As(err, &re) || re.Limit != 3 {
		t.Fatalf("4th call in a minute = %v, want a RateError", err)
	}
	// The calls count against the RPM that generation requests share.
	if _, err := l.Reserve("k", Limits{RPM: 3}, 0); !errors.As(err, &re) {
		t.Fatalf("Reserve after 3 counted calls = %v, want a RateError", err)
	}
	clk.Add(time.Minute)
	if err := l.CountRequest("k", lim); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
	if got := reservedOf(l, "k"); got != 0 {
		t.Fatalf("CountRequest reserved %d", got)
	}
	if err := l.CountRequest("k", Limits{LimitDay: 1}); err != nil {
		t.Fatalf("no RPM: %v", err)
	}
}

// TestRecheck: a reservation admitted before others settled above their
// estimates no longer fits once they have.
func TestRecheck(t *testing.T) {
	l, _, _ := newTestLedger(t, Config{})
	lim := Limits{LimitDay: 1000}
	a, _ := l.Reserve("k", lim, 400)
	b, _ := l.Reserve("k", lim, 400) // waits for a slot while a runs
	if err := l.Recheck(b, lim); err != nil {
		t.Fatalf("Recheck before a settled: %v", err)
	}
	l.Record(Record{Key: "k", CostMicros: 700, Reservation: a}) // 300 above its estimate
	var be *BudgetError
	if err := l.Recheck(b, lim); !errors.As(err, &be) || be.Window != WindowDay {
		t.Fatalf("Recheck after a overshot = %v, want a daily BudgetError", err)
	}
	l.Release(b)
	if err := l.Recheck(b, lim); err != nil {
		t.Fatalf("Recheck of a released reservation = %v, want nil", err)
	}
	if err := l.Recheck(Reservation{}, lim); err != nil {
		t.Fatalf("Recheck of the zero reservation = %v", err)
	}
}

func TestRefusesUnpriced(t *testing.T) {
	tests := []struct {
		name  string
		allow bool
		lim   Limits
		want  bool
	}{
		{"no limits", false, Limits{}, false},
		{"rpm only", false, Limits{RPM: 10, RateMultiplier: 2}, false},
		{"5h", false, Limits{Limit5h: 1}, true},
		{"day", false, Limits{LimitDay: 1}, true},
		{"week", false, Limits{LimitWeek: 1}, true},
		{"month", false, Limits{LimitMonth: 1}, true},
		{"quota", false, Limits{Quota: 1}, true},
		{"allowed", true, Limits{Quota: 1}, false},
	}
	for _, tt := range tests {
		l, _, _ := newTestLedger(t, Config{AllowUnpriced: tt.allow})
		if got := l.RefusesUnpriced(tt.lim); got != tt.want {
			t.Errorf("%s: RefusesUnpriced = %v, want %v", tt.name, got, tt.want)
		}
	}
}
