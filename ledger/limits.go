package ledger

import (
	"math"
	"time"
)

// Limits are one key's limits. Money is micro-USD; zero means unlimited.
type Limits struct {
	RPM            int // requests per minute, sliding
	Limit5h        int64
	LimitDay       int64
	LimitWeek      int64
	LimitMonth     int64
	Quota          int64   // lifetime
	RateMultiplier float64 // what the key pays per list-price dollar; 0 means 1
}

// Unlimited reports whether lim sets no RPM and no budget: Reserve then
// holds nothing, and callers may skip estimating.
func (lim Limits) Unlimited() bool {
	return lim.RPM <= 0 && lim.Limit5h <= 0 && lim.LimitDay <= 0 && lim.LimitWeek <= 0 &&
		lim.LimitMonth <= 0 && lim.Quota <= 0
}

// HasSpendLimit reports whether lim limits spend in some window; RPM and
// the rate multiplier are not spend limits.
func (lim Limits) HasSpendLimit() bool {
	return lim.Limit5h > 0 || lim.LimitDay > 0 || lim.LimitWeek > 0 || lim.LimitMonth > 0 || lim.Quota > 0
}

// limit returns the limit of window w.
func (lim Limits) limit(w Window) int64 {
	switch w {
	case Window5h:
		return lim.Limit5h
	case WindowDay:
		return lim.LimitDay
	case WindowWeek:
		return lim.LimitWeek
	case WindowMonth:
		return lim.LimitMonth
	default:
		return lim.Quota
	}
}

// Reservation is an estimate held against a key's limits between Reserve
// and the request's Record (or Release). It is a small value; the zero
// value is a valid no-op reservation. Settling it twice is harmless: the
// second time finds nothing to remove.
type Reservation struct {
	key      string
	id       uint64
	estimate int64
}

// Estimate returns the micro-USD the reservation holds.
func (r Reservation) Estimate() int64 { return r.estimate }

// WindowUsage is a key's spend in one window.
type WindowUsage struct {
	Window   Window    `json:"window"`
	Used     int64     `json:"used_micros"`     // settled spend
	Reserved int64     `json:"reserved_micros"` // held by requests in flight
	Limit    int64     `json:"limit_micros"`    // 0 means unlimited
	ResetAt  time.Time `json:"reset_at,omitzero"`
}

// Remaining returns the smallest Limit-Used over the limited windows,
// never below zero, or -1 when no window is limited: the "remaining"
// figure of /v1/usage.
func Remaining(ws []WindowUsage) int64 {
	rem := int64(-1)
	for _, w := range ws {
		if w.Limit <= 0 {
			continue
		}
		left := max(w.Limit-w.Used, 0)
		if rem < 0 || left < rem {
			rem = left
		}
	}
	return rem
}

// charge applies a rate multiplier to a list price, rounding half up.
// A multiplier of 0 (or below) means 1.
func charge(list int64, multiplier float64) int64 {
	if multiplier <= 0 || multiplier == 1 {
		return list
	}
	return int64(math.Floor(float64(list)*multiplier + 0.5))
}

// USDToMicros converts dollars, as written in config files, price tables
// and the admin API, to micro-USD, rounding half away from zero to the
// nearest micro-dollar. It is the one conversion into the ledger's money.
func USDToMicros(usd float64) int64 {
	return int64(math.Round(usd * 1e6))
}

// MicrosToUSD converts micro-USD back to dollars, for display.
func MicrosToUSD(micros int64) float64 {
	return float64(micros) / 1e6
}
