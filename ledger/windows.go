package ledger

import "time"

// Window names a spend limit's window.
type Window string

// The windows a key's spend is limited by. 5h is rolling; day, week (ISO,
// starting Monday) and month are calendar periods in the ledger's
// Location; total is the key's lifetime.
const (
	Window5h    Window = "5h"
	WindowDay   Window = "day"
	WindowWeek  Window = "week"
	WindowMonth Window = "month"
	WindowTotal Window = "total"
)

// Windows lists every window in the order KeyUsage reports them.
var windows = [...]Window{Window5h, WindowDay, WindowWeek, WindowMonth, WindowTotal}

// calendar windows, indexes into keyState.cal.
const (
	calDay = iota
	calWeek
	calMonth
	numCal
)

var calWindows = [numCal]Window{WindowDay, WindowWeek, WindowMonth}

// rolling5h is the length of the rolling window; spend is kept in
// one-minute buckets, so spend leaves the window between 5h and 5h+1m
// after it was made (never early).
const (
	rolling5h     = 5 * time.Hour
	bucketWidth   = time.Minute
	rollingBucket = int64(rolling5h / bucketWidth) // buckets before the current one
)

// PeriodStart returns the start of the calendar period of window w
// (day, week or month) holding t, in loc. Weeks start on Monday. It is
// midnight local time, found with time.Date, so days around a DST change
// are 23 or 25 hours long. Where a DST change skips midnight itself,
// time.Date picks one of the two nearby instants.
func PeriodStart(w Window, t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	switch w {
	case WindowWeek:
		wd := (int(t.In(loc).Weekday()) + 6) % 7 // Monday = 0
		return time.Date(y, m, d-wd, 0, 0, 0, 0, loc)
	case WindowMonth:
		return time.Date(y, m, 1, 0, 0, 0, 0, loc)
	default:
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
}

// PeriodEnd returns the start of the period after the one of window w
// holding t: when a calendar limit resets.
func PeriodEnd(w Window, t time.Time, loc *time.Location) time.Time {
	s := PeriodStart(w, t, loc)
	y, m, d := s.Date()
	switch w {
	case WindowWeek:
		return time.Date(y, m, d+7, 0, 0, 0, 0, loc)
	case WindowMonth:
		return time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	default:
		return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
}

// span is a period [start, end) in unix nanoseconds.
type span struct{ start, end int64 }

func (s span) contains(ns int64) bool { return s.start <= ns && ns < s.end }

// calendar maps instants to calendar periods, caching the latest period
// of each window so the hot path is two integer comparisons. It is not
// safe for concurrent use; the quota mutex guards it.
type calendar struct {
	loc   *time.Location
	cache [numCal]span
}

// span returns the period of calendar window c holding t.
func (cal *calendar) span(c int, t time.Time) span {
	ns := t.UnixNano()
	if s := cal.cache[c]; s.contains(ns) {
		return s
	}
	w := calWindows[c]
	s := span{PeriodStart(w, t, cal.loc).UnixNano(), PeriodEnd(w, t, cal.loc).UnixNano()}
	if s.start >= cal.cache[c].start {
		cal.cache[c] = s // keep the newest period: most lookups are for now
	}
	return s
}

// minuteOf returns the index of the one-minute bucket holding t.
func minuteOf(t time.Time) int64 {
	return t.Unix() / int64(bucketWidth/time.Second)
}

// minuteStart returns the start of bucket m.
func minuteStart(m int64) time.Time {
	return time.Unix(m*int64(bucketWidth/time.Second), 0)
}

// bucket is one minute of a key's spend.
type bucket struct {
	minute int64
	cost   int64
}

// rolling is a key's spend in the last 5 hours, as one-minute buckets in
// ascending order. Bucket m counts while now's bucket is at most m+300,
// so it expires at the start of bucket m+301.
type rolling []bucket

// add adds cost to the bucket of minute m, unless m already expired at
// nowMin. Records arrive nearly in time order, so the search starts at
// the end.
func (r *rolling) add(m, cost, nowMin int64) {
	r.expire(nowMin)
	if m < nowMin-rollingBucket {
		return
	}
	b := *r
	i := len(b)
	for i > 0 && b[i-1].minute > m {
		i--
	}
	if i > 0 && b[i-1].minute == m {
		b[i-1].cost += cost
		return
	}
	b = append(b, bucket{})
	copy(b[i+1:], b[i:])
	b[i] = bucket{m, cost}
	*r = b
}

// expire drops the buckets that left the window at nowMin.
func (r *rolling) expire(nowMin int64) {
	b := *r
	i := 0
	for i < len(b) && b[i].minute < nowMin-rollingBucket {
		i++
	}
	if i == 0 {
		return
	}
	if i == len(b) {
		*r = b[:0]
		return
	}
	*r = append(b[:0], b[i:]...)
}

// sum returns the spend in the window; call expire first.
func (r rolling) sum() int64 {
	var s int64
	for _, b := range r {
		s += b.cost
	}
	return s
}

// freeAt returns when enough spend has left the window that at most
// keep remains: the expiry of the last bucket that must go. Call expire
// first. It returns the zero time when no spend has to leave.
func (r rolling) freeAt(keep int64) time.Time {
	over := r.sum() - keep
	if over <= 0 {
		return time.Time{}
	}
	for _, b := range r {
		over -= b.cost
		if over <= 0 {
			return minuteStart(b.minute + rollingBucket + 1)
		}
	}
	return minuteStart(r[len(r)-1].minute + rollingBucket + 1)
}
