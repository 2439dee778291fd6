package proxy

import (
	"errors"
	"strconv"
	"time"

	"subgate/sched"
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

// clientError is what the loop answers when it cannot relay an upstream
// reply: a status, a kind and a safe message.
type clientError struct {
	status int
	kind   ErrKind
	msg    string
}

// failureError maps why the pool could not serve a request to the client
// error, following the table in scheduling.md. last is the outcome of the
// last upstream attempt (zero when there was none).
func failureError(err error, last sched.Outcome, attempts int) clientError {
	switch {
	case errors.Is(err, sched.ErrQueueFull):
		return clientError{429, KindRateLimit, "too many pending requests"}
	case errors.Is(err, sched.ErrWaitTimeout):
		return clientError{429, KindRateLimit, "concurrency limit, retry later"}
	case errors.Is(err, sched.ErrClosed):
		return clientError{503, KindOverloaded, "server is shutting down"}
	}
	if attempts == 0 {
		return clientError{503, KindAPI, "no available account"}
	}
	switch last.Kind {
	case sched.RateLimited:
		return clientError{429, KindRateLimit, "all accounts are rate limited, retry later"}
	case sched.Overloaded:
		return clientError{503, KindOverloaded, "upstream overloaded"}
	case sched.AuthFailed, sched.Forbidden:
		return clientError{502, KindUpstream, "upstream authentication failed"}
	default:
		return clientError{502, KindUpstream, "upstream request failed"}
	}
}

// classify is the health table of scheduling.md, shared by every protocol:
// a protocol only says whether the reply means "overloaded" in its own
// words and when a 429 ends. typ is the upstream's error type or status
// name, kept (without any message text) as the reason.
func classify(status int, oauth, overloaded bool, typ string, reset func() time.Time) sched.Outcome {
	o := sched.Outcome{Status: status, Reason: "upstream " + strconv.Itoa(status) + " " + typ}
	switch {
	case status == 400 || status == 404 || status == 413 || status == 422:
		o.Kind = sched.RequestError
	case status == 401 || (status == 403 && !oauth):
		o.Kind = sched.AuthFailed
	case status == 403:
		o.Kind = sched.Forbidden
	case status == 429:
		o.Kind = sched.RateLimited
		o.ResetAt = reset()
	case status == 529 || overloaded:
		o.Kind = sched.Overloaded
	default:
		o.Kind = sched.ServerError
	}
	return o
}
