package protocol

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"subgate/proxy/errrules"
	"subgate/proxy/upstream"
	"subgate/sched"
)

// Limits scoped to a model. A subscription may run out for one model
// family while the rest of it still serves: Anthropic's weekly Opus and
// Sonnet windows, Codex's per-model buckets, Gemini's per-model quotas.
// Classify names such a limit in Reply.Scope, and Windows in Window.Scope,
// with sched.Family's names, so that sched benches only that family on the
// account (docs/clients.md, "Limits scoped to a model").

// scopeRequest is the scope a protocol gives a limit that counts the
// request's own model without naming it (Codex names its buckets with ids
// of its own): Classify and Windows below put the request's family there.
const scopeRequest = "\x00request"

// Classify is c's protocol's Classify for the reply to c, its scope
// resolved: what the error rules decide on.
func Classify(c *Call, status int, h *fasthttp.ResponseHeader, body []byte, a *upstream.Account) errrules.Reply {
	rep := c.Proto.Classify(status, h, body, a)
	if rep.Scope == scopeRequest {
		rep.Scope = c.family()
	}
	return rep
}

// Windows is c's protocol's Windows for a successful reply to c, scopes
// resolved.
func Windows(c *Call, h *fasthttp.ResponseHeader) []sched.Window {
	ws := c.Proto.Windows(h)
	for i := range ws {
		if ws[i].Scope == scopeRequest {
			ws[i].Scope = c.family()
		}
	}
	return ws
}

// family is the model family the call draws on at its account.
func (c *Call) family() string {
	return sched.Family(c.Proto.Platform(), c.UpstreamModel)
}

// Anthropic's subscription windows are the headers
// anthropic-ratelimit-unified-<window>[_<scope>]-{utilization,reset,status}
// with <window> a length (5h, 7d) and <scope> what it counts: "7d_opus",
// "7d_sonnet" count one model family; other scopes ("7d_oi", the weekly
// window with overage included, in Claude Code 2.1.332) the account.
const unifiedPrefix = "anthropic-ratelimit-unified-"

// maxWindows bounds the windows read from one reply: the upstream sends
// a handful, and each is kept in the account's state.
const maxWindows = 8

// unifiedWindow is one window's header values, pointing into the headers.
type unifiedWindow struct {
	key                 []byte // "<window>[_<scope>]" as sent
	util, reset, status []byte
}

// unified reads the subscription windows of a reply in one pass over its
// headers (this runs on every reply), into dst.
func unified(h *fasthttp.ResponseHeader, dst []unifiedWindow) []unifiedWindow {
	for k, v := range h.All() {
		if len(k) <= len(unifiedPrefix) || !bytes.EqualFold(k[:len(unifiedPrefix)], []byte(unifiedPrefix)) {
			continue
		}
		rest := k[len(unifiedPrefix):]
		i := bytes.LastIndexByte(rest, '-')
		if i <= 0 || !windowKey(rest[:i]) {
			continue
		}
		key, field := rest[:i], rest[i+1:]
		j := 0
		for j < len(dst) && !bytes.EqualFold(dst[j].key, key) {
			j++
		}
		if j == len(dst) {
			if len(dst) == cap(dst) {
				continue
			}
			dst = append(dst, unifiedWindow{key: key})
		}
		switch w := &dst[j]; {
		case bytes.EqualFold(field, []byte("utilization")):
			w.util = v
		case bytes.EqualFold(field, []byte("reset")):
			w.reset = v
		case bytes.EqualFold(field, []byte("status")):
			w.status = v
		}
	}
	return dst
}

// windowKey reports whether k is "<digits><h|d>", optionally followed by
// "_<scope>" of at most 32 letters and digits.
func windowKey(k []byte) bool {
	n := 0
	for n < len(k) && k[n] >= '0' && k[n] <= '9' {
		n++
	}
	if n == 0 || n == len(k) || (k[n]|0x20 != 'h' && k[n]|0x20 != 'd') {
		return false
	}
	scope := k[n+1:]
	if len(scope) == 0 {
		return true
	}
	if scope[0] != '_' || len(scope) < 2 || len(scope) > 33 {
		return false
	}
	for _, c := range scope[1:] {
		if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// names returns a window's name and scope: ("7d", "opus") for a window
// counting a model family, ("7d_oi", "") for another scope. The usual
// ones cost no allocation.
func (w *unifiedWindow) names() (name, scope string) {
	win, sc, _ := bytes.Cut(w.key, []byte("_"))
	name = internWindow(win)
	if len(sc) == 0 {
		return name, ""
	}
	if fam := modelFamily(sc); fam != "" {
		return name, fam
	}
	return string(bytes.ToLower(w.key)), ""
}

func internWindow(b []byte) string {
	switch {
	case bytes.EqualFold(b, []byte("5h")):
		return "5h"
	case bytes.EqualFold(b, []byte("7d")):
		return "7d"
	}
	return string(bytes.ToLower(b))
}

// modelFamily is the Anthropic model family a window scope names (see
// sched.Family), "" when it names none.
func modelFamily(scope []byte) string {
	for _, f := range [...]string{"opus", "sonnet", "haiku"} {
		if bytes.EqualFold(scope, []byte(f)) {
			return f
		}
	}
	return ""
}

// Windows implements Protocol: the subscription windows of OAuth
// accounts, a model family's with its Scope.
func (p *Anthropic) Windows(h *fasthttp.ResponseHeader) []sched.Window {
	var buf [maxWindows]unifiedWindow
	ws := unified(h, buf[:0])
	if len(ws) == 0 {
		return nil
	}
	out := make([]sched.Window, 0, len(ws))
	for i := range ws {
		w := &ws[i]
		name, scope := w.names()
		u, _ := strconv.ParseFloat(string(w.util), 64)
		out = append(out, sched.Window{Name: name, Scope: scope, Utilization: u, ResetAt: epoch(w.reset), Status: string(w.status)})
	}
	// In a stable order (account-wide first, then by name), whatever
	// order the upstream wrote its headers in: the accounts API and UI
	// show them as given.
	slices.SortFunc(out, func(a, b sched.Window) int {
		return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// Classify implements Protocol: Anthropic names overload with its own
// error type; a 429's end and scope come from the unified headers.
func (p *Anthropic) Classify(status int, h *fasthttp.ResponseHeader, body []byte, a *upstream.Account) errrules.Reply {
	typ := gjson.Get(view(body), "error.type").String()
	rep := errrules.Reply{Platform: p.Platform(), AccountType: a.Type, Status: status, Body: body, Type: typ,
		Overloaded: typ == "overloaded_error", Reset: func() time.Time { return anthropicReset(h, time.Now()) }}
	if status == fasthttp.StatusTooManyRequests {
		rep.Scope = anthropicScope(h)
	}
	return rep
}

// anthropicScope is the model family a 429 is about: the one family whose
// windows alone are rejected. Any rejected account-wide window, or two
// families at once, make it the account's ("").
func anthropicScope(h *fasthttp.ResponseHeader) string {
	var buf [maxWindows]unifiedWindow
	scope := ""
	for _, w := range unified(h, buf[:0]) {
		if !bytes.EqualFold(w.status, []byte("rejected")) {
			continue
		}
		_, s := w.names()
		if s == "" || (scope != "" && s != scope) {
			return ""
		}
		scope = s
	}
	return scope
}

// anthropicReset finds when a 429 ends: the latest reset among rejected
// unified windows, the overall unified reset, then retry-after.
func anthropicReset(h *fasthttp.ResponseHeader, now time.Time) time.Time {
	var buf [maxWindows]unifiedWindow
	var until time.Time
	for _, w := range unified(h, buf[:0]) {
		if bytes.EqualFold(w.status, []byte("rejected")) {
			if t := epoch(w.reset); t.After(until) {
				until = t
			}
		}
	}
	if until.IsZero() {
		until = epoch(h.Peek(unifiedPrefix + "reset"))
	}
	if until.IsZero() {
		until = retryAfter(h, now)
	}
	return until
}
