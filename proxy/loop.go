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
	"subgate/proxy/edge"
	"subgate/proxy/protocol"
	"subgate/sched"
)

// run is one client request on its way through the failover loop.
type run struct {
	s     *Server
	ctx   *fasthttp.RequestCtx
	rctx  context.Context // &rc
	rc    runCtx          // canceled when the client hangs up or at shutdown
	wt    edge.Watch
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
	// lastReply is the last upstream error a failover left, for the
	// client should every account fail (poolFailed).
	lastReply lastReply
	// streaming is set once a stream writer owns the rest of the request.
	streaming bool
	// unsupported is set when an account was skipped as unable to serve
	// this kind of request at all.
	unsupported bool
	// tx is the attempt's translation when its account speaks another API
	// family (translate.go); nil for a request passed through.
	tx *translation
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
	// reply; errors then become SSE events.
	w *bufio.Writer
	// waiting is the scheduler's answer a queued stream waits for: the
	// stream writer's first attempt takes it (acquire).
	waiting <-chan acquired
	// watchFree is set by finish when the watcher never collected the
	// run's watch, so that nothing outside the run can reach it.
	watchFree bool
}

// handle authenticates, parses and runs a request through the loop. It
// reports whether the request's run stamped the overhead header (every
// request that reaches the loop); the early refusals do not.
func (s *Server) handle(ctx *fasthttp.RequestCtx, proto protocol.Protocol, ep protocol.Endpoint) bool {
	r := s.newRun(ctx, proto, ep)
	if r == nil {
		return false
	}
	s.watch.Add(&r.wt, ctx.Conn(), &r.rc)
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
	r.serve()
	finished = true
	return true
}

// newRun authenticates a request, parses it and admits it to the loop:
// nil when it was refused (its answer written) or answered locally.
func (s *Server) newRun(ctx *fasthttp.RequestCtx, proto protocol.Protocol, ep protocol.Endpoint) *run {
	start := ctx.Time() // stamped by fasthttp just before the handler
	if start.IsZero() {
		start = time.Now()
	}
	p := s.pool.load()
	key := s.authenticate(ctx, p)
	if key == nil {
		writeError(ctx, proto, fasthttp.StatusUnauthorized, protocol.KindAuthentication, "invalid API key")
		return nil
	}
	if !s.admitKey(ctx, proto, key, start) {
		return nil
	}
	body := ctx.PostBody()
	if !protocol.IsJSONObject(body) {
		writeError(ctx, proto, fasthttp.StatusBadRequest, protocol.KindInvalidRequest, protocol.ErrNotJSON.Error())
		return nil
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
		return nil
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
	if !r.admitCall() || key.InterceptWarmup && r.intercept() {
		return nil
	}
	return r
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
// (see edge.Watcher.Remove).
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
	r.watchFree = r.s.watch.Remove(&r.wt)
	r.rc.cancel()
	if !r.settled && r.s.ledger != nil {
		r.s.ledger.Release(r.reservation)
	}
}

// next is what the loop does after an attempt.
type next int

const (
	again     next = iota // try another account
	answered              // the request has its answer (or its client left)
	queued                // a stream waits for a slot: go on in a stream writer
	handedOff             // a stream writer relays the reply and settles the attempt
)

// result is how an attempt went: the outcome its lease is released with,
// the request's ending when the attempt ends it, and what the loop does
// next.
type result struct {
	o    sched.Outcome
	end  ending
	next next
	// event is owed to a committed client stream (an error event, a
	// buffered reply): written once the slot is free, since the client
	// may be slow to take it.
	event []byte
	// relay is the upstream stream a stream writer takes over (handedOff).
	relay exchange
}

// ending is what the ledger record of a request says; the attempt that
// ends the request (or the loop, when no attempt got a slot) sets it.
// A zero status means the request goes on.
type ending struct {
	status int
	usage  ledger.Usage
	acct   string
	err    string
	ttft   time.Duration
}

// canceled is the outcome of an attempt that says nothing of its
// account: the client left, the key changed, a panic.
var canceled = sched.Outcome{Kind: sched.Canceled}

// serve is the failover loop: attempts, each on another account, until
// one ends the request. It runs on the handler's goroutine, and once the
// request committed to a 200 SSE reply while it waited for a slot, on
// the stream writer's (see commitQueued), where it carries on with the
// next attempt: the writer runs the loop, it never calls back into an
// attempt. On a stream writer's goroutine an attempt never returns queued
// or handedOff (the reply is committed already), so serve runs to the end.
func (r *run) serve() {
	for {
		switch r.attempt() {
		case again:
		case queued:
			r.commitQueued()
			return
		default: // answered, or handed to a stream writer
			return
		}
	}
}

// attempt is one try on one account: acquire a lease, use it, and end
// the request or leave the account for the next attempt. The lease is
// settled (its record, then its release) in exactly one place, the
// deferred call below, unless the attempt hands an upstream stream over
// to a stream writer (commitStream), which then settles it in its place.
func (r *run) attempt() next {
	lease, err, wait := r.acquire()
	switch {
	case wait:
		return queued
	case err != nil:
		res := r.noLease(err)
		r.settle(nil, &res)
		return answered
	}
	res := result{o: canceled} // what a panic leaves
	defer func() {
		if res.next != handedOff {
			r.settle(lease, &res)
		}
	}()
	res = r.use(lease)
	if res.next == handedOff {
		r.commitStream(lease, res.relay)
	}
	return res.next
}

// settle ends an attempt: first the request's record, if the attempt
// ends the request, which settles its spend; then the lease, so that a
// waiter's budget recheck (recheck) sees that spend; last an event a
// committed stream is still owed, never written while the slot is held.
func (r *run) settle(lease *sched.Lease, res *result) {
	if res.end.status != 0 {
		r.record(&res.end)
	}
	if lease != nil {
		lease.Release(res.o)
	}
	if res.event != nil {
		r.writeEvent(res.event)
	}
}

// noLease ends a request the scheduler gave no slot: the client left, or
// no account can serve it (now, or after the attempts so far).
func (r *run) noLease(err error) result {
	if r.clientGone() {
		return r.gone("", "client went away while waiting")
	}
	if errors.Is(err, sched.ErrNoAccount) && r.attempts > 0 {
		err = nil
	}
	ce := failureError(err, r.last, r.attempts)
	if r.unsupported && r.attempts == 0 {
		ce = clientError{400, protocol.KindInvalidRequest, "no account of this group can serve " + r.call.Path +
			" (ChatGPT subscription accounts serve it only through translation, which this key does not allow)"}
	}
	if err == nil { // the pool ran out after upstream attempts
		return r.poolFailed(canceled, ce)
	}
	return r.fail(canceled, ce, err)
}

// schedRequest is what this request asks of the scheduler.
func (r *run) schedRequest() sched.Request {
	c := r.call
	return sched.Request{
		Group:          r.key.Group,
		Platform:       c.Proto.Platform(),
		Model:          c.Model,
		Translate:      r.mayTranslate(),
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

// use runs an attempt that has its lease: the checks a wait makes
// necessary, the account, then the upstream call and its reply.
func (r *run) use(lease *sched.Lease) result {
	if lease.Waited() > 0 {
		if ce := r.recheck(); ce != nil {
			return r.fail(canceled, *ce, nil)
		}
	}
	acct := r.pool.accounts[lease.Account().Name]
	if acct == nil { // removed by the admin since the pool was read
		r.exclude = append(r.exclude, lease.Account().Name)
		return result{o: canceled, next: again}
	}
	r.call.UpstreamModel = lease.UpstreamModel()
	if acct.InterceptWarmup && !r.key.InterceptWarmup && r.w == nil && r.intercept() {
		return result{o: canceled, next: answered}
	}
	r.tx = nil
	if res, ok := r.translateFor(acct); !ok {
		return res
	}
	r.attempts++
	x, res, ok := r.send(acct)
	if !ok {
		return res
	}
	return r.reply(x)
}

// clientGone reports whether the request was canceled by the client (not
// by a server shutdown).
func (r *run) clientGone() bool {
	return r.rctx.Err() != nil && r.s.ctx.Err() == nil
}
