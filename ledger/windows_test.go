package ledger

import (
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s not available: %v", name, err)
	}
	return loc
}

func TestPeriodsLosAngeles(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, la) }
	tests := []struct {
		name       string
		w          Window
		t          time.Time
		start, end time.Time
		length     time.Duration
	}{
		{"plain day", WindowDay, at(2026, 1, 15, 13, 0), at(2026, 1, 15, 0, 0), at(2026, 1, 16, 0, 0), 24 * time.Hour},
		{"day just before midnight", WindowDay, at(2026, 1, 15, 23, 59), at(2026, 1, 15, 0, 0), at(2026, 1, 16, 0, 0), 24 * time.Hour},
		{"day at midnight", WindowDay, at(2026, 1, 16, 0, 0), at(2026, 1, 16, 0, 0), at(2026, 1, 17, 0, 0), 24 * time.Hour},
		{"spring forward is 23h", WindowDay, at(2026, 3, 8, 12, 0), at(2026, 3, 8, 0, 0), at(2026, 3, 9, 0, 0), 23 * time.Hour},
		{"fall back is 25h", WindowDay, at(2026, 11, 1, 12, 0), at(2026, 11, 1, 0, 0), at(2026, 11, 2, 0, 0), 25 * time.Hour},
		// 01:30 on the fall-back day happens twice; both are that day.
		{"repeated hour, second pass", WindowDay, at(2026, 11, 1, 1, 30).Add(time.Hour), at(2026, 11, 1, 0, 0), at(2026, 11, 2, 0, 0), 25 * time.Hour},
		{"week from Wednesday", WindowWeek, at(2026, 1, 14, 9, 0), at(2026, 1, 12, 0, 0), at(2026, 1, 19, 0, 0), 7 * 24 * time.Hour},
		{"week on Monday", WindowWeek, at(2026, 1, 12, 0, 0), at(2026, 1, 12, 0, 0), at(2026, 1, 19, 0, 0), 7 * 24 * time.Hour},
		{"week on Sunday night", WindowWeek, at(2026, 1, 18, 23, 59), at(2026, 1, 12, 0, 0), at(2026, 1, 19, 0, 0), 7 * 24 * time.Hour},
		{"week over spring forward", WindowWeek, at(2026, 3, 8, 12, 0), at(2026, 3, 2, 0, 0), at(2026, 3, 9, 0, 0), 7*24*time.Hour - time.Hour},
		{"week across a month", WindowWeek, at(2026, 3, 1, 12, 0), at(2026, 2, 23, 0, 0), at(2026, 3, 2, 0, 0), 7 * 24 * time.Hour},
		{"month", WindowMonth, at(2026, 1, 31, 23, 59), at(2026, 1, 1, 0, 0), at(2026, 2, 1, 0, 0), 31 * 24 * time.Hour},
		{"month rollover", WindowMonth, at(2026, 2, 1, 0, 0), at(2026, 2, 1, 0, 0), at(2026, 3, 1, 0, 0), 28 * 24 * time.Hour},
		{"month with spring forward", WindowMonth, at(2026, 3, 20, 0, 0), at(2026, 3, 1, 0, 0), at(2026, 4, 1, 0, 0), 31*24*time.Hour - time.Hour},
		{"year rollover", WindowMonth, at(2026, 12, 31, 23, 0), at(2026, 12, 1, 0, 0), at(2027, 1, 1, 0, 0), 31 * 24 * time.Hour},
		// 2026-01-01 08:00 UTC is midnight in Los Angeles: a UTC instant
		// still in the previous local month.
		{"UTC input, local month", WindowMonth, time.Date(2026, 1, 1, 7, 59, 0, 0, time.UTC), at(2025, 12, 1, 0, 0), at(2026, 1, 1, 0, 0), 31 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := PeriodStart(tt.w, tt.t, la), PeriodEnd(tt.w, tt.t, la)
			if !start.Equal(tt.start) {
				t.Errorf("PeriodStart = %v, want %v", start, tt.start)
			}
			if !end.Equal(tt.end) {
				t.Errorf("PeriodEnd = %v, want %v", end, tt.end)
			}
			if got := end.Sub(start); got != tt.length {
				t.Errorf("period length = %v, want %v", got, tt.length)
			}
			if tt.t.Before(start) || !tt.t.Before(end) {
				t.Errorf("%v not in [%v, %v)", tt.t, start, end)
			}
		})
	}
}

// TestCalendarWindowsReset follows one key's daily, weekly and monthly
// spend across local midnights in Los Angeles.
func TestCalendarWindowsReset(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	clk := newClock(time.Date(2026, 2, 28, 23, 0, 0, 0, la)) // Saturday
	l, _, _ := newTestLedger(t, Config{Now: clk.Now, Location: la})
	l.Record(Record{Key: "k", CostMicros: 100})
	assertUsage(t, l, "k", map[Window]int64{WindowDay: 100, WindowWeek: 100, WindowMonth: 100, WindowTotal: 100})

	clk.Set(time.Date(2026, 3, 1, 0, 30, 0, 0, la)) // Sunday: new day and month, same week
	assertUsage(t, l, "k", map[Window]int64{WindowDay: 0, WindowWeek: 100, WindowMonth: 0, WindowTotal: 100})
	l.Record(Record{Key: "k", CostMicros: 10})
	assertUsage(t, l, "k", map[Window]int64{WindowDay: 10, WindowWeek: 110, WindowMonth: 10, WindowTotal: 110})

	clk.Set(time.Date(2026, 3, 2, 0, 0, 0, 0, la)) // Monday: new week
	assertUsage(t, l, "k", map[Window]int64{WindowDay: 0, WindowWeek: 0, WindowMonth: 10, WindowTotal: 110})

	// A late record from the previous week counts in no current window.
	l.Record(Record{Key: "k", CostMicros: 5, Time: time.Date(2026, 3, 1, 23, 0, 0, 0, la)})
	assertUsage(t, l, "k", map[Window]int64{WindowDay: 0, WindowWeek: 0, WindowMonth: 15, WindowTotal: 115})

	ws := l.KeyUsage("k", Limits{})
	if got, want := ws[1].ResetAt, time.Date(2026, 3, 3, 0, 0, 0, 0, la); !got.Equal(want) {
		t.Errorf("day ResetAt = %v, want %v", got, want)
	}
	if got, want := ws[2].ResetAt, time.Date(2026, 3, 9, 0, 0, 0, 0, la); !got.Equal(want) {
		t.Errorf("week ResetAt = %v, want %v", got, want)
	}
	if got, want := ws[3].ResetAt, time.Date(2026, 4, 1, 0, 0, 0, 0, la); !got.Equal(want) {
		t.Errorf("month ResetAt = %v, want %v", got, want)
	}
	if !ws[4].ResetAt.IsZero() {
		t.Errorf("total ResetAt = %v, want zero", ws[4].ResetAt)
	}
}

// TestDSTDayWindow: on the 23-hour spring-forward day, spend at 00:30
// and 23:30 local is one day; 00:00 the next day is another.
func TestDSTDayWindow(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	clk := newClock(time.Date(2026, 3, 8, 0, 30, 0, 0, la))
	l, _, _ := newTestLedger(t, Config{Now: clk.Now, Location: la})
	l.Record(Record{Key: "k", CostMicros: 1})
	clk.Set(time.Date(2026, 3, 8, 23, 30, 0, 0, la))
	l.Record(Record{Key: "k", CostMicros: 2})
	assertUsage(t, l, "k", map[Window]int64{WindowDay: 3})
	if got, want := l.KeyUsage("k", Limits{})[1].ResetAt.Sub(clk.Now()), 30*time.Minute; got != want {
		t.Errorf("day resets in %v, want %v", got, want)
	}
	clk.Set(time.Date(2026, 3, 9, 0, 0, 0, 0, la))
	assertUsage(t, l, "k", map[Window]int64{WindowDay: 0, WindowWeek: 0, WindowMonth: 3})
}

func TestRolling5hExpiry(t *testing.T) {
	start := time.Date(2026, 5, 1, 10, 0, 20, 0, time.UTC)
	clk := newClock(start)
	l, _, _ := newTestLedger(t, Config{Now: clk.Now})
	l.Record(Record{Key: "k", CostMicros: 100}) // bucket 10:00
	clk.Set(start.Add(2 * time.Hour))
	l.Record(Record{Key: "k", CostMicros: 10}) // bucket 12:00

	tests := []struct {
		at    time.Duration // after start
		want  int64
		reset time.Time
	}{
		{2 * time.Hour, 110, time.Date(2026, 5, 1, 15, 1, 0, 0, time.UTC)},
		{4*time.Hour + 59*time.Minute, 110, time.Date(2026, 5, 1, 15, 1, 0, 0, time.UTC)},
		// Never early: still counted at 15:00:59, five hours and 39s after.
		{5*time.Hour + 39*time.Second, 110, time.Date(2026, 5, 1, 15, 1, 0, 0, time.UTC)},
		{5*time.Hour + 40*time.Second, 10, time.Date(2026, 5, 1, 17, 1, 0, 0, time.UTC)},
		{7*time.Hour + 40*time.Second, 0, time.Time{}},
	}
	for _, tt := range tests {
		clk.Set(start.Add(tt.at))
		u := l.KeyUsage("k", Limits{})[0]
		if u.Window != Window5h || u.Used != tt.want || !u.ResetAt.Equal(tt.reset) {
			t.Errorf("at +%v: %s used %d reset %v; want 5h used %d reset %v",
				tt.at, u.Window, u.Used, u.ResetAt, tt.want, tt.reset)
		}
	}
	// A record older than five hours counts in the total only.
	l.Record(Record{Key: "k", CostMicros: 7, Time: clk.Now().Add(-6 * time.Hour)})
	assertUsage(t, l, "k", map[Window]int64{Window5h: 0, WindowTotal: 117})
}
