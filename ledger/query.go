package ledger

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// maxSteps bounds a Summary's length: a year of hours.
const maxSteps = 366 * 24

// Point is one step of a Summary.
type Point struct {
	Start time.Time `json:"start"` // in the ledger's Location
	Counts
}

// Group is one row of Top.
type Group struct {
	Name string `json:"name"`
	Counts
}

// Summary returns the totals of every step of length step (time.Hour or
// 24*time.Hour) from the step holding from up to to, from rollups only.
// Days are calendar days in the ledger's Location, so a DST change makes
// a 23 or 25 hour step. Every step is present, empty ones with zero
// counts. Rollups are per UTC hour, so in a zone with a :30 or :45 offset
// an hour's records count towards the day the hour starts in.
func (l *Ledger) Summary(from, to time.Time, step time.Duration) ([]Point, error) {
	starts, err := l.steps(from, to, step)
	if err != nil || len(starts) == 0 {
		return nil, err
	}
	points := make([]Point, len(starts))
	for i, s := range starts {
		points[i].Start = time.Unix(0, s).In(l.loc)
	}
	end := to.UnixNano()
	err = l.store.Rollups(time.Unix(0, starts[0]), to, func(r Rollup) bool {
		h := r.Hour.UnixNano()
		if h >= end {
			return true
		}
		// The last step starting at or before h.
		i := sort.Search(len(starts), func(i int) bool { return starts[i] > h }) - 1
		if i >= 0 {
			points[i].Add(r.Counts)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("ledger summary: %w", err)
	}
	return points, nil
}

// steps returns the start of every step from the one holding from to the
// last one before to, in unix nanos.
func (l *Ledger) steps(from, to time.Time, step time.Duration) ([]int64, error) {
	if !from.Before(to) {
		return nil, nil
	}
	var next func(time.Time) time.Time
	var first time.Time
	switch step {
	case time.Hour:
		first = hourStart(from)
		next = func(t time.Time) time.Time { return t.Add(time.Hour) }
	case 24 * time.Hour:
		first = PeriodStart(WindowDay, from, l.loc)
		next = func(t time.Time) time.Time { return PeriodEnd(WindowDay, t, l.loc) }
	default:
		return nil, fmt.Errorf("ledger summary: step %v is neither an hour nor a day", step)
	}
	var starts []int64
	for t := first; t.Before(to); t = next(t) {
		if len(starts) == maxSteps {
			return nil, errors.New("ledger summary: range has more than a year of steps")
		}
		starts = append(starts, t.UnixNano())
	}
	return starts, nil
}

// Top returns the n groups with the highest cost from from to to, grouped
// by "key", "account" or "model", from rollups only. Keys and models rank
// by CostMicros (what keys were charged); accounts by ListMicros (what
// each subscription was used for). Ties rank by requests, then name.
// Requests refused before an account was chosen form the account "".
// n <= 0 returns every group.
func (l *Ledger) Top(from, to time.Time, by string, n int) ([]Group, error) {
	var name func(*Rollup) string
	switch by {
	case "key":
		name = func(r *Rollup) string { return r.Key }
	case "account":
		name = func(r *Rollup) string { return r.Account }
	case "model":
		name = func(r *Rollup) string { return r.Model }
	default:
		return nil, fmt.Errorf("ledger top: cannot group by %q", by)
	}
	index := make(map[string]int)
	var groups []Group
	err := l.store.Rollups(from, to, func(r Rollup) bool {
		g := name(&r)
		i, ok := index[g]
		if !ok {
			i = len(groups)
			index[g] = i
			groups = append(groups, Group{Name: g})
		}
		groups[i].Add(r.Counts)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("ledger top: %w", err)
	}
	money := func(g *Group) int64 { return g.CostMicros }
	if by == "account" {
		money = func(g *Group) int64 { return g.ListMicros }
	}
	sort.Slice(groups, func(i, j int) bool {
		a, b := &groups[i], &groups[j]
		if ma, mb := money(a), money(b); ma != mb {
			return ma > mb
		}
		if a.Requests != b.Requests {
			return a.Requests > b.Requests
		}
		return a.Name < b.Name
	})
	if n > 0 && len(groups) > n {
		groups = groups[:n]
	}
	return groups, nil
}

// Totals sums the rollups of the hours from from to to that filter
// accepts (nil accepts all). The result's Hour and names are zero.
func (l *Ledger) Totals(from, to time.Time, filter func(Rollup) bool) (Rollup, error) {
	var sum Rollup
	err := l.store.Rollups(from, to, func(r Rollup) bool {
		if filter == nil || filter(r) {
			sum.Add(r.Counts)
		}
		return true
	})
	if err != nil {
		return Rollup{}, fmt.Errorf("ledger totals: %w", err)
	}
	return sum, nil
}

// Export streams the committed records with from <= Time < to to fn, in
// time order, until fn returns false. Records are read in chunks, never
// all at once; fn runs outside any store transaction.
func (l *Ledger) Export(from, to time.Time, fn func(Record) bool) error {
	if err := l.store.Scan(from, to, fn); err != nil {
		return fmt.Errorf("ledger export: %w", err)
	}
	return nil
}
