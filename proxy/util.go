package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

var (
	errMissingModel   = errors.New("model: field required")
	errDuplicateModel = errors.New("model: field given more than once")
	errNotJSON        = errors.New("request body must be a JSON object")
	errUnknownMethod  = errors.New("unknown method: want generateContent, streamGenerateContent or countTokens")
)

// copyHeaders appends the allow-listed request headers (exact names, or a
// name prefix) to dst as lowercase (name, value) copies.
func copyHeaders(ctx *fasthttp.RequestCtx, dst [][2]string, names []string, prefix string) [][2]string {
	for k, v := range ctx.Request.Header.All() {
		keep := prefix != "" && len(k) >= len(prefix) && bytes.EqualFold(k[:len(prefix)], []byte(prefix))
		for _, n := range names {
			if keep || (len(k) == len(n) && bytes.EqualFold(k, []byte(n))) {
				keep = true
				break
			}
		}
		if keep { // only kept headers cost an allocation
			dst = append(dst, [2]string{strings.ToLower(string(k)), string(v)})
		}
	}
	return dst
}

// setURL sets base+path(+?query) as the request URI.
func setURL(req *fasthttp.Request, base, path, query string) {
	u := make([]byte, 0, len(base)+len(path)+len(query)+1)
	u = append(u, strings.TrimSuffix(base, "/")...)
	u = append(u, path...)
	if query != "" {
		u = append(u, '?')
		u = append(u, query...)
	}
	req.SetRequestURIBytes(u)
}

// epoch parses a unix-seconds header value; zero when absent or bad.
func epoch(b []byte) time.Time {
	if len(b) == 0 {
		return time.Time{}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n <= 0 {
		if t, err := time.Parse(time.RFC3339, string(b)); err == nil {
			return t
		}
		return time.Time{}
	}
	return time.Unix(n, 0)
}

// retryAfter reads retry-after-ms / retry-after (seconds or HTTP date).
func retryAfter(h *fasthttp.ResponseHeader, now time.Time) time.Time {
	if ms, err := strconv.ParseInt(string(h.Peek("retry-after-ms")), 10, 64); err == nil && ms > 0 {
		return now.Add(time.Duration(ms) * time.Millisecond)
	}
	v := string(h.Peek("retry-after"))
	if v == "" {
		return time.Time{}
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return now.Add(time.Duration(s * float64(time.Second)))
	}
	if t, err := time.Parse(time.RFC1123, v); err == nil {
		return t
	}
	return time.Time{}
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// isJSONObject is the cheap shape check done instead of a full validation:
// a full scan of a 50 KB body would cost more than the rest of the hot path.
// Malformed JSON further in is rejected by the upstream with its own 400.
func isJSONObject(b []byte) bool {
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

// netipAddr is the client's address.
func netipAddr(ctx *fasthttp.RequestCtx) (netip.Addr, bool) {
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		a, ok := netip.AddrFromSlice(ta.IP)
		return a.Unmap(), ok
	}
	return netip.Addr{}, false
}

// FNV-1a, 64 bit, inlined: stable across restarts (session bindings are
// persisted) and free of the allocation hash/fnv's interface costs.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}
