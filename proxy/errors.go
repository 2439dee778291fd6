package proxy

import (
	"errors"
	"log/slog"

	"subgate/proxy/errrules"
	"subgate/proxy/protocol"
	"subgate/sched"
)

// clientError is what the loop answers when it cannot relay an upstream
// reply: a status, a kind and a safe message.
type clientError struct {
	status int
	kind   protocol.ErrKind
	msg    string
}

// failureError maps why the pool could not serve a request to the client
// error, following the table in scheduling.md. last is the outcome of the
// last upstream attempt (zero when there was none).
func failureError(err error, last sched.Outcome, attempts int) clientError {
	switch {
	case errors.Is(err, sched.ErrQueueFull):
		return clientError{429, protocol.KindRateLimit, "too many pending requests"}
	case errors.Is(err, sched.ErrWaitTimeout):
		return clientError{429, protocol.KindRateLimit, "concurrency limit, retry later"}
	case errors.Is(err, sched.ErrClosed):
		return clientError{503, protocol.KindOverloaded, "server is shutting down"}
	}
	if attempts == 0 {
		return clientError{503, protocol.KindAPI, "no available account"}
	}
	switch last.Kind {
	case sched.RateLimited:
		return clientError{429, protocol.KindRateLimit, "all accounts are rate limited, retry later"}
	case sched.Overloaded:
		return clientError{503, protocol.KindOverloaded, "upstream overloaded"}
	case sched.AuthFailed, sched.Forbidden:
		return clientError{502, protocol.KindUpstream, "upstream authentication failed"}
	default:
		return clientError{502, protocol.KindUpstream, "upstream request failed"}
	}
}

// failover ends a failed attempt with o, the account's outcome, and
// decides whether another account may be tried. class is how the attempt
// counts for the client's error if every account fails (errrules'
// Decision.Class): an error rule may rest an account differently from
// what the reply means to the client.
func (r *run) failover(acct *Account, o sched.Outcome, class sched.Kind) result {
	r.last = o
	r.last.Kind = class // r.last only chooses the client's error and its reason
	r.exclude = append(r.exclude, acct.Name)
	r.s.metrics.Failover(o.Kind)
	r.s.log.Warn("upstream attempt failed", "acct", acct.Name, "status", o.Status, "reason", o.Reason, "attempt", r.attempts)
	if r.attempts > r.s.cfg.MaxAccountSwitches {
		return r.poolFailed(o, failureError(nil, r.last, r.attempts))
	}
	return result{o: o, next: again}
}

// next is failover for an outcome whose kind is also the client's error
// class, an attempt that got no upstream reply to relay.
func (r *run) next(acct *Account, o sched.Outcome) result {
	r.lastReply.status = 0
	return r.failover(acct, o, o.Kind)
}

// newErrorRules compiles the admin's error rules. The config was checked
// with errrules.Validate, so an error here means a caller skipped that:
// it is logged and the built-in table alone decides, as with no rules.
func newErrorRules(rules []errrules.Rule, log *slog.Logger) *errrules.Engine {
	e, err := errrules.New(errrules.Config{Rules: rules})
	if err == nil {
		return e
	}
	log.Error("error rules ignored", "err", err)
	e, _ = errrules.New(errrules.Config{})
	return e
}
