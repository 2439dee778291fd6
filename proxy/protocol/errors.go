package protocol

import (
	"errors"
	"strconv"
	"subgate/proxy/internal/jsonstr"
	"time"

	"github.com/valyala/fasthttp"
)

// ErrKind is a protocol-neutral error class; each protocol names it in its
// own vocabulary (Anthropic "rate_limit_error", Gemini "RESOURCE_EXHAUSTED").
type ErrKind int

// Error kinds a client can see.
const (
	KindInvalidRequest ErrKind = iota
	KindAuthentication
	KindPermission
	KindNotFound
	KindTooLarge
	KindRateLimit
	KindAPI
	KindOverloaded
	KindUpstream
)

// The errors of a request the gateway refuses: their messages go to
// the client as they are.
var (
	errMissingModel   = errors.New("model: field required")
	errDuplicateModel = errors.New("model: field given more than once")
	ErrNotJSON        = errors.New("request body must be a JSON object")
	errUnknownMethod  = errors.New("unknown method: want generateContent, streamGenerateContent or countTokens")
	// errBadModel names the rule, never the model: a client's string is
	// not echoed into errors, logs or the ledger.
	errBadModel = errors.New("model: must be 1 to " + strconv.Itoa(MaxModelLen) +
		" letters, digits or . - _ : / @ [ ]")
	errDuplicateKey = errors.New("request body has a top-level field more than once")
)

// ErrNotSupported marks an account that cannot serve a request at all
// (Chat Completions on a Codex subscription): skipped without a penalty.
var ErrNotSupported = errors.New("not supported by this account")

// ErrUpstreamUnauthorized is a 401 from a call made before the request
// itself (Preparer.Before): the token is refreshed once, as for the
// request.
var ErrUpstreamUnauthorized = errors.New("upstream: 401 unauthorized")

// KindOf is the client error kind of an upstream status, for errors the
// gateway writes in the protocol's shape on the upstream's behalf (an
// error rule's rewrite, a relayed error on a promised stream).
func KindOf(status int) ErrKind {
	switch {
	case status == 401:
		return KindAuthentication
	case status == 403:
		return KindPermission
	case status == 404:
		return KindNotFound
	case status == 413:
		return KindTooLarge
	case status == 429:
		return KindRateLimit
	case status == 503 || status == 529:
		return KindOverloaded
	case status >= 500:
		return KindAPI
	}
	return KindInvalidRequest
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) []byte { return jsonstr.Quote(s) }

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
