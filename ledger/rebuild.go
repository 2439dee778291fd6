package ledger

import (
	"fmt"
	"time"
)

// endOfTime bounds open-ended store reads.
var endOfTime = time.Unix(1<<40, 0)

// Rebuild recomputes every key's spend counters from the store as of now
// and replaces the in-memory ones; reservations in flight are kept. Call
// it at startup, before the proxy serves: a Record settled while Rebuild
// reads the store could be counted twice or not at all.
//
// Sources, so the counters match what the running ledger had:
//   - total: every rollup (one pass over the rollups bucket);
//   - day, week, month: rollups of the whole UTC hours inside the current
//     period. Where the period starts inside a UTC hour (zones with a
//     :30 or :45 offset, such as Asia/Kolkata), the rollup of that hour
//     also holds spend from before the period, so it is skipped and the
//     raw records from the period start to the end of that hour are
//     scanned instead. Those records are at most a month old; with
//     RetentionDays shorter than that, spend in that partial hour may be
//     missing from the month window;
//   - 5h rolling and RPM: the raw records of the last 5 hours (Scan).
func (l *Ledger) Rebuild(now time.Time) error {
	b := rebuilder{cal: calendar{loc: l.loc}, keys: make(map[string]*keyState)}
	for c := range numCal {
		b.periods[c] = b.cal.span(c, now)
	}
	if err := l.store.Rollups(time.Time{}, endOfTime, b.addRollup); err != nil {
		return fmt.Errorf("ledger rebuild: rollups: %w", err)
	}
	for c := range numCal {
		if err := b.scanPartialHour(l.store, c); err != nil {
			return fmt.Errorf("ledger rebuild: %s start: %w", calWindows[c], err)
		}
	}
	nowMin := minuteOf(now)
	rpmFrom := now.Add(-time.Minute).UnixNano()
	err := l.store.Scan(minuteStart(nowMin-rollingBucket), endOfTime, func(r Record) bool {
		if r.Key == "" {
			return true
		}
		if r.CostMicros > 0 {
			b.key(r.Key).roll.add(minuteOf(r.Time), r.CostMicros, nowMin)
		}
		if ns := r.Time.UnixNano(); !r.Refused && ns > rpmFrom && ns <= now.UnixNano() {
			k := b.key(r.Key)
			k.requests = append(k.requests, ns)
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("ledger rebuild: last 5h: %w", err)
	}
	for _, k := range b.keys {
		for c := range numCal {
			k.cal[c].start = b.periods[c].start
		}
	}

	q := &l.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	for name, old := range q.keys {
		if len(old.pending) > 0 {
			k := b.key(name)
			k.pending, k.reserved = old.pending, old.reserved
		}
	}
	q.keys, q.cal = b.keys, b.cal
	l.log.Info("ledger spend rebuilt", "keys", len(b.keys))
	return nil
}

// rebuilder collects counters for Rebuild.
type rebuilder struct {
	cal     calendar
	periods [numCal]span // current period of each calendar window
	keys    map[string]*keyState
}

func (b *rebuilder) key(name string) *keyState {
	k := b.keys[name]
	if k == nil {
		k = &keyState{}
		b.keys[name] = k
	}
	return k
}

func (b *rebuilder) addRollup(r Rollup) bool {
	if r.Key == "" || r.CostMicros == 0 {
		return true
	}
	k := b.key(r.Key)
	k.total += r.CostMicros
	h := r.Hour.UnixNano()
	for c, p := range b.periods {
		if h >= ceilHour(p.start) && h < p.end {
			k.cal[c].used += r.CostMicros
		}
	}
	return true
}

// scanPartialHour adds the raw records between the start of calendar
// window c's period and the next whole UTC hour, when the period does not
// start on one. Windows starting at the same instant share one scan.
func (b *rebuilder) scanPartialHour(s Store, c int) error {
	start := b.periods[c].start
	end := ceilHour(start)
	if end == start {
		return nil
	}
	for prev := range c {
		if b.periods[prev].start == start {
			return nil // scanned with prev
		}
	}
	return s.Scan(time.Unix(0, start), time.Unix(0, end), func(r Record) bool {
		if r.Key == "" || r.CostMicros <= 0 {
			return true
		}
		k := b.key(r.Key)
		for cc, p := range b.periods {
			if p.start == start {
				k.cal[cc].used += r.CostMicros
			}
		}
		return true
	})
}

// ceilHour rounds unix nanos up to a whole UTC hour.
func ceilHour(ns int64) int64 {
	h := int64(time.Hour)
	if r := ns % h; r != 0 {
		if ns < 0 {
			return ns - r
		}
		return ns - r + h
	}
	return ns
}
