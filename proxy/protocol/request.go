package protocol

import (
	"bytes"
	"slices"
	"strings"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// MaxModelLen bounds a client's model name. It is kept in every ledger
// record (twice), the request log, metrics labels, pricing and scheduler
// caches: unbounded, one key holder could grow all of them by megabytes
// per request. Real ids are under 64 bytes.
const MaxModelLen = 256

// modelByte marks the bytes a model name may hold: ASCII letters and
// digits and . - _ : / @ [ ] (dated ids, Bedrock's "…-v1:0", Vertex's
// "…@20240620", "[1m]" suffixes, "models/…").
var modelByte = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte(".-_:/@[]", byte(c)) >= 0
	}
	return t
}()

// validModel reports whether s may be kept as a model name.
func validModel(s string) bool {
	if len(s) == 0 || len(s) > MaxModelLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !modelByte[s[i]] {
			return false
		}
	}
	return true
}

// validPathModel reports whether s may be a model in a URL path: a
// validModel that is one path segment ("/" excluded) and never a dot
// segment, so it cannot move the upstream path however it is escaped.
func validPathModel(s string) bool {
	return validModel(s) && strings.IndexByte(s, '/') < 0 && !strings.Contains(s, "..")
}

// upstreamQuery is the query to forward from a client's parsed query
// args: re-encoded pair by pair, never pasted, and without "key" (a
// Gemini-style client credential, which never goes upstream). It returns
// raw, the client's query as received, when that is already the answer,
// which spares an allocation for the usual "?beta=true".
func upstreamQuery(args *fasthttp.Args, raw string) string {
	if args.Len() == 0 {
		return ""
	}
	var buf [128]byte
	b := buf[:0]
	for k, v := range args.All() {
		if string(k) == "key" {
			continue
		}
		if len(b) > 0 {
			b = append(b, '&')
		}
		b = fasthttp.AppendQuotedArg(b, k)
		if len(v) > 0 {
			b = append(b, '=')
			b = fasthttp.AppendQuotedArg(b, v)
		}
	}
	if string(b) == raw {
		return raw
	}
	return string(b)
}

// copyHeaders appends the allow-listed request headers (exact names, or a
// name prefix) to dst as lowercase (name, value) copies. All the kept
// bytes share one allocation: this runs on every request.
func copyHeaders(h *fasthttp.RequestHeader, dst [][2]string, names []string, prefix string) [][2]string {
	keeps := func(k []byte) bool {
		if prefix != "" && len(k) >= len(prefix) && bytes.EqualFold(k[:len(prefix)], []byte(prefix)) {
			return true
		}
		for _, name := range names {
			if len(k) == len(name) && bytes.EqualFold(k, []byte(name)) {
				return true
			}
		}
		return false
	}
	var kept [24][2][]byte
	n, size := 0, 0
	for k, v := range h.All() {
		if !keeps(k) {
			continue
		}
		if n == len(kept) { // more than real clients send: copy them one by one
			return copyHeadersSlow(h, dst, keeps)
		}
		kept[n] = [2][]byte{k, v}
		n++
		size += len(k) + len(v)
	}
	if n == 0 {
		return dst
	}
	// The arena is filled once and never grows, so the strings that
	// point into it stay valid and immutable.
	arena := make([]byte, 0, size)
	dst = slices.Grow(dst, n)
	for _, kv := range kept[:n] {
		at := len(arena)
		for _, b := range kv[0] {
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			arena = append(arena, b)
		}
		name := unsafe.String(unsafe.SliceData(arena[at:]), len(kv[0]))
		at = len(arena)
		arena = append(arena, kv[1]...)
		dst = append(dst, [2]string{name, unsafe.String(unsafe.SliceData(arena[at:]), len(kv[1]))})
	}
	return dst
}

// copyHeadersSlow is copyHeaders for a request with very many allow-listed
// headers: two allocations per header, none dropped.
func copyHeadersSlow(h *fasthttp.RequestHeader, dst [][2]string, keeps func([]byte) bool) [][2]string {
	for k, v := range h.All() {
		if keeps(k) {
			dst = append(dst, [2]string{strings.ToLower(string(k)), string(v)})
		}
	}
	return dst
}

// setURL sets base+path(+?query) as the request URI. path and query must
// be built by the gateway (fixed routes, validPathModel models escaped
// with url.PathEscape, upstreamQuery), never pasted from a client.
func setURL(req *fasthttp.Request, base, path, query string) {
	var buf [256]byte // SetRequestURIBytes copies: most URLs need no allocation
	u := buf[:0]
	u = append(u, strings.TrimSuffix(base, "/")...)
	u = append(u, path...)
	if query != "" {
		u = append(u, '?')
		u = append(u, query...)
	}
	req.SetRequestURIBytes(u)
}

// IsJSONObject is the cheap shape check done instead of a full validation:
// a full scan of a 50 KB body would cost more than the rest of the hot path.
// Malformed JSON further in is rejected by the upstream with its own 400.
func IsJSONObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// view returns b as a string without copying, for gjson reads on the hot
// path. Results point into b: clone any string kept after b may change.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// setHeader sets a header by its lowercase name. The names forwarded on
// most requests go in as fasthttp's canonical form directly, which
// spares normalizing them on every request; others go through Set. The
// value is copied either way, and cleared of line breaks.
func setHeader(h *fasthttp.RequestHeader, name, value string) {
	if k := canonicalName(name); k != "" {
		h.SetCanonical(unsafe.Slice(unsafe.StringData(k), len(k)), unsafe.Slice(unsafe.StringData(value), len(value)))
		return
	}
	h.Set(name, value)
}

// canonicalName is fasthttp's canonical form of the common lowercase
// header names, "" for the rest.
func canonicalName(name string) string {
	switch name {
	case "content-type":
		return "Content-Type"
	case "user-agent":
		return "User-Agent"
	case "accept":
		return "Accept"
	case "authorization":
		return "Authorization"
	case "x-api-key":
		return "X-Api-Key"
	case "anthropic-version":
		return "Anthropic-Version"
	case "anthropic-beta":
		return "Anthropic-Beta"
	case "x-app":
		return "X-App"
	case "x-claude-code-session-id":
		return "X-Claude-Code-Session-Id"
	case "anthropic-dangerous-direct-browser-access":
		return "Anthropic-Dangerous-Direct-Browser-Access"
	}
	return ""
}
