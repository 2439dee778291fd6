package sched

import (
	"slices"
	"strings"
	"time"
)

// Family returns the model family that model draws on at platform's
// upstreams: the unit a limit scoped to part of an account applies to.
//
//   - anthropic: "opus", "sonnet" or "haiku" when the name says so (the
//     subscription's weekly Opus and Sonnet limits cover every version),
//     else the model id without its date suffix.
//   - openai: the model id without its date suffix ("gpt-4o-2024-08-06"
//     and "gpt-4o" are one family; "gpt-5" and "gpt-5-codex" are two), as
//     Codex and the API count limits per model.
//   - gemini and anything else: the model id (quotas are per model; a
//     preview id is its own model).
//
// Ids are lowercased, and a "models/" prefix and a "[1m]"-style suffix are
// dropped. An empty model has no family. Family allocates nothing for a
// lowercase id.
func Family(platform, model string) string {
	m := strings.ToLower(model)
	m = strings.TrimPrefix(m, "models/")
	if i := strings.IndexByte(m, '['); i >= 0 {
		m = m[:i]
	}
	switch platform {
	case "anthropic":
		for _, f := range [...]string{"opus", "sonnet", "haiku"} {
			if strings.Contains(m, f) {
				return f
			}
		}
		return trimDate(m)
	case "openai":
		return trimDate(m)
	}
	return m
}

// trimDate drops a trailing date: -YYYY-MM-DD, -YYYYMMDD or -MMDD.
func trimDate(m string) string {
	digits := func(s string) bool {
		for i := range len(s) {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	if n := len(m); n > 11 && m[n-11] == '-' && m[n-6] == '-' && m[n-3] == '-' &&
		digits(m[n-10:n-6]) && digits(m[n-5:n-3]) && digits(m[n-2:]) {
		return m[:n-11]
	}
	if i := strings.LastIndexByte(m, '-'); i > 0 && (len(m)-i == 9 || len(m)-i == 5) && digits(m[i+1:]) {
		return m[:i]
	}
	return m
}

// familyOf returns the family r draws on at a, whose ModelMap made up of
// r's model.
func (a *account) familyOf(r *Request, upstream string) string {
	if r.Family != "" {
		return r.Family
	}
	return Family(a.Platform, upstream)
}

// familyBenched reports whether fam is benched on a at now.
func (a *account) familyBenched(fam string, now time.Time) bool {
	for i := range a.health.Families {
		if f := &a.health.Families[i]; f.Family == fam {
			return now.Before(f.Until)
		}
	}
	return false
}

// benchFamily benches fam on a until until, capped at MaxCooldown. A bench
// of fam already running that ends later is kept. The slice is replaced,
// never changed in place: snapshots share it.
func (s *Scheduler) benchFamily(a *account, fam string, until time.Time, why string, now time.Time) {
	if limit := now.Add(s.cfg.MaxCooldown); until.After(limit) {
		until = limit
	}
	h := &a.health
	out := make([]FamilyHealth, 0, len(h.Families)+1)
	for _, f := range h.Families {
		if f.Family != fam {
			out = append(out, f)
		} else if f.Until.After(until) {
			return
		}
	}
	h.Families = append(out, FamilyHealth{Family: fam, State: StateRateLimited, Until: until, Reason: why})
}

// clearFamily ends the bench of fam, if any.
func clearFamily(h *Health, fam string) {
	if i := slices.IndexFunc(h.Families, func(f FamilyHealth) bool { return f.Family == fam }); i >= 0 {
		h.Families = slices.Delete(slices.Clone(h.Families), i, i+1)
		if len(h.Families) == 0 {
			h.Families = nil
		}
	}
}

// pruneFamilies drops the benches that ended by now.
func pruneFamilies(h *Health, now time.Time) {
	live := func(f FamilyHealth) bool { return now.Before(f.Until) }
	if !slices.ContainsFunc(h.Families, func(f FamilyHealth) bool { return !live(f) }) {
		return
	}
	var out []FamilyHealth
	for _, f := range h.Families {
		if live(f) {
			out = append(out, f)
		}
	}
	h.Families = out
}

// restoreFamilies keeps the loaded benches that are well formed and still
// running, re-capped at MaxCooldown.
func (s *Scheduler) restoreFamilies(fs []FamilyHealth, now time.Time) []FamilyHealth {
	var out []FamilyHealth
	for _, f := range fs {
		if f.Family == "" || f.State != StateRateLimited || !now.Before(f.Until) {
			continue
		}
		if limit := now.Add(s.cfg.MaxCooldown); f.Until.After(limit) {
			f.Until = limit
		}
		out = append(out, f)
	}
	return out
}

func sameFamilies(x, y []FamilyHealth) bool {
	return slices.EqualFunc(x, y, func(a, b FamilyHealth) bool {
		return a.Family == b.Family && a.State == b.State && a.Until.Equal(b.Until) && a.Reason == b.Reason
	})
}

// evictUnserved wakes the waiters of a whose request a can no longer
// serve (their family was just benched), to select again.
func (s *Scheduler) evictUnserved(a *account, now time.Time) {
	for w := a.queue.head; w != nil; {
		next := w.next
		if _, how := a.serves(&w.req, now); how == Unreachable {
			s.settle(w, stateWoken)
		}
		w = next
	}
}

// mergeWindows replaces the windows of every scope that in names; an
// empty in clears them all.
func mergeWindows(old, in []Window) []Window {
	if len(in) == 0 {
		return nil
	}
	out := make([]Window, 0, len(old)+len(in))
	for _, w := range old {
		if !slices.ContainsFunc(in, func(n Window) bool { return n.Scope == w.Scope }) {
			out = append(out, w)
		}
	}
	return append(out, in...)
}

// scoped returns a copy of the windows of one scope, or nil.
func scoped(ws []Window, scope string) []Window {
	var out []Window
	for _, w := range ws {
		if w.Scope == scope {
			out = append(out, w)
		}
	}
	return out
}

// families describes the families benched on a or with windows of their
// own, by name. a.available(now) has pruned ended benches.
func (a *account) families(now time.Time) []FamilyStatus {
	var names []string
	for _, f := range a.health.Families {
		names = append(names, f.Family)
	}
	for _, w := range a.health.Windows {
		if w.Scope != "" {
			names = append(names, w.Scope)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]FamilyStatus, 0, len(names))
	for _, n := range names {
		fs := FamilyStatus{Family: n, State: StateOK, Windows: scoped(a.health.Windows, n)}
		for _, f := range a.health.Families {
			if f.Family == n && now.Before(f.Until) {
				fs.State, fs.Until, fs.Reason = f.State, f.Until, f.Reason
			}
		}
		if fs.Windows == nil {
			fs.Windows = []Window{}
		}
		out = append(out, fs)
	}
	return out
}
