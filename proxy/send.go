package proxy

import (
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/proxy/oauth"
	"subgate/proxy/protocol"
	"subgate/proxy/upstream"
	"subgate/sched"
)

// exchange is an upstream call that answered: the account it went to,
// its request and response (whoever takes the exchange releases them,
// upstream.Release), and whether the call streams.
type exchange struct {
	acct   *Account
	req    *fasthttp.Request
	resp   *fasthttp.Response
	stream bool
}

// send calls the upstream with the leased account, step by step: its
// credentials, its egress, the protocol's call before the request (Code
// Assist's project), then the exchange itself. It returns the exchange
// that answered, or (ok false) how the attempt ended without one.
func (r *run) send(acct *Account) (x exchange, res result, ok bool) {
	token, err := r.credentials(acct)
	if err != nil {
		return x, r.tokenFailed(acct, err), false
	}
	pair, err := r.s.up.For(acct.Proxy)
	if err != nil {
		return x, r.next(acct, sched.Outcome{Kind: sched.AuthFailed, Reason: "egress proxy: " + err.Error()}), false
	}
	c := r.upcall()
	stream := c.Stream
	if us, ok := c.Proto.(protocol.UpstreamStreamer); ok {
		stream = us.UpstreamStream(c, acct)
	}
	client := pair.Buffered
	if stream {
		client = pair.Streaming
	}
	r.call.Acct, c.Acct = acct, acct
	if token, res, ok = r.before(acct, token); !ok {
		return x, res, false
	}
	return r.exchange(acct, client, stream, token)
}

// credentials is the account's secret for this attempt: its API key, or
// a live OAuth access token from the token manager.
func (r *run) credentials(acct *Account) (string, error) {
	if !acct.OAuth() {
		return acct.APIKey, nil
	}
	return r.s.tokens.Token(r.rctx, acct)
}

// before runs the protocol's call before the request, if it has one
// (protocol.Preparer), refreshing an OAuth token once on a 401. It
// returns the token to go on with.
func (r *run) before(acct *Account, token string) (string, result, bool) {
	c := r.upcall()
	p, ok := c.Proto.(protocol.Preparer)
	if !ok {
		return token, result{}, true
	}
	err := p.Before(r.rctx, c, acct, token)
	if errors.Is(err, protocol.ErrUpstreamUnauthorized) && acct.Type == "oauth" {
		if token, err = r.s.tokens.Refresh(r.rctx, acct, token); err != nil {
			return "", r.tokenFailed(acct, err), false
		}
		err = p.Before(r.rctx, c, acct, token)
	}
	if err != nil {
		return "", r.callFailed(acct, err), false
	}
	return token, result{}, true
}

// exchange prepares the upstream request, sends it and waits for its
// reply; a 401 to an OAuth account refreshes the token once and sends
// again.
func (r *run) exchange(acct *Account, client *fasthttp.Client, stream bool, token string) (exchange, result, bool) {
	s, c := r.s, r.upcall()
	for refreshed := false; ; refreshed = true {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		if err := c.Proto.Prepare(req, c, acct, token); err != nil {
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
			return exchange{}, r.unprepared(acct, err), false
		}
		sent := time.Now()
		err := s.up.DoSent(r.rctx, client, req, resp, sent, s.cfg.HeaderTimeout)
		r.answered = time.Now()
		wait := r.answered.Sub(sent)
		r.upstreamWait += wait
		if err != nil {
			return exchange{}, r.callFailed(acct, err), false
		}
		s.metrics.Upstream.Observe(wait)
		if resp.StatusCode() == fasthttp.StatusUnauthorized && acct.Type == "oauth" && !refreshed {
			upstream.Release(req, resp)
			if token, err = s.tokens.Refresh(r.rctx, acct, token); err != nil {
				return exchange{}, r.tokenFailed(acct, err), false
			}
			continue
		}
		return exchange{acct: acct, req: req, resp: resp, stream: stream}, result{}, true
	}
}

// unprepared ends an attempt whose request the protocol could not build:
// an account that cannot serve this kind of request is skipped without
// a penalty (and without counting as an attempt); any other reason is
// the request's fault.
func (r *run) unprepared(acct *Account, err error) result {
	if errors.Is(err, protocol.ErrNotSupported) {
		r.exclude = append(r.exclude, acct.Name)
		r.unsupported = true
		r.attempts-- // not an upstream attempt
		return result{o: canceled, next: again}
	}
	return r.fail(sched.Outcome{Kind: sched.RequestError},
		clientError{400, protocol.KindInvalidRequest, "cannot rewrite request: " + err.Error()}, err)
}

// callFailed ends an attempt whose upstream call got no reply: the
// client's cancel, or the account's failure.
func (r *run) callFailed(acct *Account, err error) result {
	if r.clientGone() {
		return r.gone(acct.Name, "client went away")
	}
	return r.next(acct, sched.Outcome{Kind: sched.ServerError, Reason: err.Error()})
}

// tokenFailed ends an attempt whose OAuth token could not be had: a
// rejected refresh token or a rotated token that could not be saved sets
// the account to error, anything else counts as a server error.
func (r *run) tokenFailed(acct *Account, err error) result {
	if r.clientGone() {
		return r.gone(acct.Name, "client went away")
	}
	o := sched.Outcome{Kind: sched.ServerError, Reason: "oauth refresh: " + err.Error()}
	switch {
	case errors.Is(err, oauth.ErrTokenNotPersisted):
		// Not the account's fault, but serving it would lose its login
		// at the next restart: error until someone looks.
		o = sched.Outcome{Kind: sched.AuthFailed, Reason: oauth.ErrTokenNotPersisted.Error()}
	case errors.Is(err, oauth.ErrRefreshRejected):
		o.Kind = sched.AuthFailed
	}
	return r.next(acct, o)
}
