package ledger

import (
	"fmt"
	"time"
)

// BudgetError refuses a request because a spend limit would be exceeded.
type BudgetError struct {
	Window   Window
	Limit    int64     // micro-USD
	Used     int64     // settled spend in the window, micro-USD
	Reserved int64     // estimates of the key's requests in flight
	ResetAt  time.Time // zero for the lifetime quota, which never resets
}

func (e *BudgetError) Error() string {
	if e.ResetAt.IsZero() {
		return fmt.Sprintf("%s quota of %s is used up (%s spent); it does not reset",
			windowLabel(e.Window), usd(e.Limit), usd(e.Used))
	}
	return fmt.Sprintf("%s budget of %s is used up (%s spent); it resets at %s",
		windowLabel(e.Window), usd(e.Limit), usd(e.Used), e.ResetAt.Format(time.RFC3339))
}

// RateError refuses a request because the key made RPM requests in the
// last minute.
type RateError struct {
	Limit   int       // requests per minute
	ResetAt time.Time // when the next request is allowed
}

func (e *RateError) Error() string {
	return fmt.Sprintf("rate limit of %d requests per minute reached; retry at %s",
		e.Limit, e.ResetAt.Format(time.RFC3339))
}

func windowLabel(w Window) string {
	switch w {
	case Window5h:
		return "5-hour"
	case WindowDay:
		return "daily"
	case WindowWeek:
		return "weekly"
	case WindowMonth:
		return "monthly"
	default:
		return "total"
	}
}

// usd formats micro-USD as dollars and cents.
func usd(micros int64) string {
	return fmt.Sprintf("$%.2f", MicrosToUSD(micros))
}
