package proxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/proxy/oauth"
	"subgate/proxy/protocol"
	"subgate/proxy/upstream"
	"subgate/sched"
)

// run is one client request on its way through the failover loop.
type run struct {
	s     *Server
	ctx   *fasthttp.RequestCtx
	rctx  context.Context // &rc
	rc    runCtx          // canceled when the client hangs up or at shutdown
	wt    watch
	key   *Key
	call  *protocol.Call
	callv protocol.Call // what call points to
	hdr   [8][2]string  // backs callv.Header for the usual few headers
	pool  *pool
	start time.Time
	ip    netip.Addr // the client's address, for the request log
	// leasev holds the lease of a buffered client's attempt.
	leasev sched.Lease

	exclude  []string
	attempts int
	last     sched.Outcome
	// streaming is set once a stream writer owns the rest of the request.
	streaming bool
	// unsupported is set when an account was skipped as unable to serve
	// this kind of request at all.
	unsupported bool
	// reservation holds the request's estimated cost against the key's
	// limits until a record settles it (settled) or finish releases it.
	reservation ledger.Reservation
	settled     bool
	// estimated marks the usage recorded as the gateway's estimate.
	estimated bool
	// upstreamWait is the time spent waiting for upstreams, which the
	// x-subgate-overhead-ms header leaves out.
	upstreamWait time.Duration
	// usage is a buffered reply's usage, kept here to spare an allocation.
	usage ledger.Usage
	// recorded is when record ran, which the overhead header reuses.
	recorded time.Time
	// answered is when the last upstream call returned: a buffered
	// reply's time to first token.
	answered time.Time
	// conn is the client connection of a stream, for write deadlines.
	conn net.Conn
	// w is the client stream once the request committed to a 200 SSE
	// reply (while waiting for a slot); errors then become SSE events.
	w *bufio.Writer
	// watchFree is set by finish when the watcher never collected the
	// run's watch, so that nothing outside the run can reach it.
	watchFree bool
}

// handle authenticates, parses and runs a request through the loop. It
// reports whether the request's run stamped the overhead header (every
// request that reaches the loop); the early refusals do not.
func (s *Server) handle(ctx *fasthttp.RequestCtx, proto protocol.Protocol, ep protocol.Endpoint) bool {
	start := ctx.Time() // stamped by fasthttp just before the handler
	if start.IsZero() {
		start = time.Now()
	}
	p := s.pool.load()
	key := s.authenticate(ctx, p)
	if key == nil {
		writeError(ctx, proto, fasthttp.StatusUnauthorized, protocol.KindAuthentication, "invalid API key")
		return false
	}
	if !s.admitKey(ctx, proto, key, start) {
		return false
	}
	body := ctx.PostBody()
	if !protocol.IsJSONObject(body) {
		writeError(ctx, proto, fasthttp.StatusBadRequest, protocol.KindInvalidRequest, protocol.ErrNotJSON.Error())
		return false
	}
	// The run and its call are one object, reused (see recycle).
	r := runs.Get().(*run)
	r.s, r.ctx, r.pool, r.start, r.key = s, ctx, p, start, key
	r.ip, _ = netipAddr(ctx)
	r.callv = protocol.Call{
		Proto:    proto,
		Endpoint: ep,
		Path:     internPath(ctx.Path()),
		Body:     body, // fasthttp's buffer: see the copy after Parse
	}
	c := &r.callv
	r.call = c
	c.Header = r.hdr[:0]
	if q := ctx.QueryArgs().QueryString(); len(q) > 0 {
		c.Query = string(q)
	}
	if err := proto.Parse(protocol.Head{Header: &ctx.Request.Header, Args: ctx.QueryArgs()}, c); err != nil {
		writeError(ctx, proto, fasthttp.StatusBadRequest, protocol.KindInvalidRequest, err.Error())
		s.refuse(key, c.Model, proto, fasthttp.StatusBadRequest, err.Error())
		return false
	}
	// fasthttp reuses the request's buffer once the handler returns, even
	// for another client. A buffered exchange runs entirely on this
	// goroutine (the interruptible transport), so it may send the buffer
	// as it is; a streaming call runs on a goroutine that can outlive the
	// handler, so it sends a copy. Protocols that may stream upstream for
	// a buffered client (Codex) always copy.
	if _, streamsUp := proto.(protocol.UpstreamStreamer); c.Stream || streamsUp {
		c.Body = append([]byte(nil), body...)
	}
	// Not a child of s.ctx: registering thousands of children under the
	// server context's one lock costs every request a contended lock. The
	// watcher list, which every run joins, carries shutdown instead.
	r.rctx = &r.rc
	if !r.admitCall() {
		return false
	}
	if key.InterceptWarmup && r.intercept() {
		return false
	}
	s.watch.add(&r.wt, ctx.Conn(), &r.rc)
	if s.ctx.Err() != nil { // shut down before the watch was listed
		r.rc.cancel()
	}
	finished := false
	defer func() {
		if !r.streaming {
			r.setOverhead()
			r.finish()
			if finished { // not while a panic unwinds through the run
				r.recycle()
			}
		}
	}()
	for !r.try() {
	}
	finished = true
	return true
}

// internPath returns the path as a string, without an allocation for the
// routes every client calls.
func internPath(p []byte) string {
	switch string(p) {
	case "/v1/messages":
		return "/v1/messages"
	case "/v1/responses":
		return "/v1/responses"
	case "/v1/chat/completions":
		return "/v1/chat/completions"
	case "/v1/messages/count_tokens":
		return "/v1/messages/count_tokens"
	}
	return string(p)
}

// runs holds finished runs for reuse: at about a kilobyte each, a run
// per request was half of the gateway's garbage, and on a small live
// heap garbage is what sets the rate of GC cycles.
var runs = sync.Pool{New: func() any { return new(run) }}

// recycle returns a finished run to runs, unless something may still
// hold a part of it: a stream writer (which finishes the run itself and
// never recycles it), whoever took its context's Done channel or
// registered on it (a queue wait, a token refresh), or the watcher, once
// it collected the run's watch into a batch it may still be peeking at
// (see watcher.remove).
func (r *run) recycle() {
	if r.streaming || !r.watchFree || !r.rc.private() {
		return
	}
	*r = run{}
	runs.Put(r)
}

// finish releases what the request held besides its lease: the watch,
// the context, a reservation no record settled, and a write deadline.
func (r *run) finish() {
	if r.conn != nil {
		_ = r.conn.SetWriteDeadline(time.Time{})
	}
	r.watchFree = r.s.watch.remove(&r.wt)
	r.rc.cancel()
	if !r.settled && r.s.ledger != nil {
		r.s.ledger.Release(r.reservation)
	}
}

// try is one attempt: acquire an account, send, classify. It reports
// whether the request is answered (or abandoned, or handed to a stream
// writer that carries on).
func (r *run) try() bool {
	lease, err, handedOff := r.acquire()
	if handedOff {
		return true
	}
	return r.use(lease, err)
}

// schedRequest is what this request asks of the scheduler.
func (r *run) schedRequest() sched.Request {
	c := r.call
	return sched.Request{
		Group:          r.key.Group,
		Platform:       c.Proto.Platform(),
		Model:          c.Model,
		Session:        c.Session,
		Key:            r.key.Name,
		KeyConcurrency: r.key.Concurrency,
		Exclude:        r.exclude,
		Now:            r.schedNow(),
	}
}

// schedNow spares the scheduler a clock read on the first attempt, which
// follows the request's start by microseconds; later attempts may follow
// it by minutes.
func (r *run) schedNow() time.Time {
	if r.attempts == 0 && len(r.exclude) == 0 {
		return r.start
	}
	return time.Time{}
}

// use continues an attempt once Acquire has answered.
func (r *run) use(lease *sched.Lease, err error) bool {
	c := r.call
	if err != nil {
		if r.clientGone() {
			r.record(499, ledger.Usage{}, "", "client went away while waiting", 0)
			return true
		}
		if errors.Is(err, sched.ErrNoAccount) && r.attempts > 0 {
			err = nil
		}
		ce := failureError(err, r.last, r.attempts)
		if r.unsupported && r.attempts == 0 {
			ce = clientError{400, protocol.KindInvalidRequest, "no account of this group can serve " + c.Path + " (ChatGPT subscription accounts only serve /v1/responses)"}
		}
		r.fail(ce, err)
		return true
	}
	if lease.Waited() > 0 { // the key may have changed while it waited
		if cur := r.s.pool.load().keys[r.key.Hash]; cur == nil || keyUsable(cur, time.Now()) != "" {
			lease.Release(sched.Outcome{Kind: sched.Canceled})
			r.fail(clientError{401, protocol.KindAuthentication, "this API key was disabled while the request waited"}, nil)
			return true
		}
		if !r.stillAdmitted(lease) { // others may have overspent meanwhile
			return true
		}
	}
	acct := r.pool.accounts[lease.Account().Name]
	if acct == nil { // removed by the admin since the pool was read
		lease.Release(sched.Outcome{Kind: sched.Canceled})
		r.exclude = append(r.exclude, lease.Account().Name)
		return false
	}
	defer func() {
		if v := recover(); v != nil {
			lease.Release(sched.Outcome{Kind: sched.Canceled}) // a no-op if already released
			panic(v)
		}
	}()
	c.UpstreamModel = lease.UpstreamModel()
	if acct.InterceptWarmup && !r.key.InterceptWarmup && r.w == nil && r.intercept() {
		lease.Release(sched.Outcome{Kind: sched.Canceled})
		return true
	}
	r.attempts++
	return r.send(lease, acct)
}

// clientGone reports whether the request was canceled by the client (not
// by a server shutdown).
func (r *run) clientGone() bool {
	return r.rctx.Err() != nil && r.s.ctx.Err() == nil
}

// send calls the upstream with the leased account; on a 401 from an OAuth
// account it refreshes the token once and retries the same account.
func (r *run) send(lease *sched.Lease, acct *Account) bool {
	s, c := r.s, r.call
	token := acct.APIKey
	if acct.OAuth() {
		var err error
		if token, err = s.tokens.Token(r.rctx, acct); err != nil {
			return r.tokenFailed(lease, acct, err)
		}
	}
	cp, err := s.up.For(acct.Proxy)
	if err != nil {
		return r.next(lease, acct, sched.Outcome{Kind: sched.AuthFailed, Reason: "egress proxy: " + err.Error()})
	}
	stream := c.Stream
	if us, ok := c.Proto.(protocol.UpstreamStreamer); ok {
		stream = us.UpstreamStream(c, acct)
	}
	client := cp.Buffered
	if stream {
		client = cp.Streaming
	}
	c.Acct = acct
	if p, ok := c.Proto.(protocol.Preparer); ok {
		err := p.Before(r.rctx, c, acct, token)
		if errors.Is(err, protocol.ErrUpstreamUnauthorized) && acct.Type == "oauth" {
			if token, err = s.tokens.Refresh(r.rctx, acct, token); err != nil {
				return r.tokenFailed(lease, acct, err)
			}
			err = p.Before(r.rctx, c, acct, token)
		}
		if err != nil {
			if r.clientGone() {
				lease.Release(sched.Outcome{Kind: sched.Canceled})
				r.record(499, ledger.Usage{}, acct.Name, "client went away", 0)
				return true
			}
			return r.next(lease, acct, sched.Outcome{Kind: sched.ServerError, Reason: err.Error()})
		}
	}
	for refreshed := false; ; refreshed = true {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		if err := c.Proto.Prepare(req, c, acct, token); err != nil {
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
			if errors.Is(err, protocol.ErrNotSupported) {
				lease.Release(sched.Outcome{Kind: sched.Canceled})
				r.exclude = append(r.exclude, acct.Name)
				r.unsupported = true
				r.attempts-- // not an upstream attempt
				return false
			}
			lease.Release(sched.Outcome{Kind: sched.RequestError})
			r.fail(clientError{400, protocol.KindInvalidRequest, "cannot rewrite request: " + err.Error()}, err)
			return true
		}
		sent := time.Now()
		err := s.up.DoSent(r.rctx, client, req, resp, sent, s.cfg.HeaderTimeout)
		r.answered = time.Now()
		wait := r.answered.Sub(sent)
		r.upstreamWait += wait
		if err != nil {
			if r.clientGone() {
				lease.Release(sched.Outcome{Kind: sched.Canceled})
				r.record(499, ledger.Usage{}, acct.Name, "client went away", 0)
				return true
			}
			return r.next(lease, acct, sched.Outcome{Kind: sched.ServerError, Reason: err.Error()})
		}
		s.metrics.upstream.observe(wait)
		status := resp.StatusCode()
		if status == fasthttp.StatusUnauthorized && acct.Type == "oauth" && !refreshed {
			upstream.Release(req, resp)
			if token, err = s.tokens.Refresh(r.rctx, acct, token); err != nil {
				return r.tokenFailed(lease, acct, err)
			}
			continue
		}
		if status < 200 || status > 299 {
			return r.upstreamError(lease, acct, req, resp)
		}
		c.RequestID = requestID(&resp.Header)
		switch {
		case stream && upstream.IsEventStream(resp) && c.Stream:
			r.stream(lease, acct, req, resp)
		case stream && upstream.IsEventStream(resp):
			r.collect(lease, acct, req, resp)
		default:
			r.buffered(lease, acct, req, resp)
		}
		return true
	}
}

// tokenFailed ends an attempt whose OAuth token could not be had: a
// rejected refresh token or a rotated token that could not be saved sets
// the account to error, anything else counts as a server error.
func (r *run) tokenFailed(lease *sched.Lease, acct *Account, err error) bool {
	if r.clientGone() {
		lease.Release(sched.Outcome{Kind: sched.Canceled})
		r.record(499, ledger.Usage{}, acct.Name, "client went away", 0)
		return true
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
	return r.next(lease, acct, o)
}

// next releases a failed attempt and decides whether another account may
// be tried; the outcome's kind is also the client's error class.
func (r *run) next(lease *sched.Lease, acct *Account, o sched.Outcome) bool {
	return r.failover(lease, acct, o, o.Kind)
}
