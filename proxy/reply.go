package proxy

import (
	"bufio"
	"io"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/proxy/errrules"
	"subgate/proxy/protocol"
	"subgate/proxy/upstream"
	"subgate/sched"
)

// upstreamError handles a non-2xx reply as the error rules decide
// (errrules' contract with the gateway): relay it to the client, as it is
// or rewritten, or fail over; either way the lease is released with the
// decision's outcome.
func (r *run) upstreamError(lease *sched.Lease, acct *Account, req *fasthttp.Request, resp *fasthttp.Response) bool {
	defer upstream.Release(req, resp)
	c := r.call
	body := upstream.ReadLimited(resp, errrules.MaxInspect)
	d := r.s.rules.Decide(c.Proto.Classify(resp.StatusCode(), &resp.Header, body, acct))
	if d.Strike && r.s.strikes.Count(acct.Name, r.key.Name, time.Now()) {
		d.Outcome.Kind = sched.ServerError // a new key's strike: sched's threshold decides
	}
	if !d.Relay {
		return r.failover(lease, acct, d.Outcome, d.Class)
	}
	lease.Release(d.Outcome)
	switch {
	case r.w != nil: // a stream was promised while waiting: an error event
		msg := d.Message
		if msg == "" {
			msg = "upstream rejected the request: " + gjson.GetBytes(body, "error.message").String()
		}
		r.writeEvent(c.Proto.StreamError(protocol.KindOf(d.Status), msg))
	case d.Message != "": // a rewrite, in the protocol's own shape
		writeError(r.ctx, c.Proto, d.Status, protocol.KindOf(d.Status), d.Message)
	default: // the upstream's status and body, unchanged
		ctx := r.ctx
		ctx.SetStatusCode(d.Status)
		if ct := resp.Header.ContentType(); len(ct) > 0 {
			ctx.Response.Header.SetContentTypeBytes(ct)
		} else {
			ctx.SetContentType("application/json")
		}
		if id := resp.Header.Peek("request-id"); len(id) > 0 {
			ctx.Response.Header.SetBytesV("request-id", id)
		}
		ctx.SetBody(body)
	}
	r.record(d.Status, ledger.Usage{}, acct.Name, d.Outcome.Reason, 0)
	return true
}

// fail answers the client with a loop-level error.
func (r *run) fail(ce clientError, cause error) {
	if r.w != nil {
		r.writeEvent(r.call.Proto.StreamError(ce.kind, ce.msg))
	} else {
		if ce.status == fasthttp.StatusTooManyRequests {
			r.ctx.Response.Header.Set("retry-after", "10")
		}
		writeError(r.ctx, r.call.Proto, ce.status, ce.kind, ce.msg)
	}
	reason := ce.msg
	if r.last.Reason != "" {
		reason += ": " + r.last.Reason
	}
	if cause != nil {
		r.s.log.Debug("request failed", "key", r.key.Name, "err", cause)
	}
	r.record(ce.status, ledger.Usage{}, "", reason, 0)
}

// buffered relays a complete upstream body.
func (r *run) buffered(lease *sched.Lease, acct *Account, req *fasthttp.Request, resp *fasthttp.Response) {
	defer upstream.Release(req, resp)
	c := r.call
	body := resp.Body()
	u := &r.usage // a field, not a local the interface call would move to the heap
	out := c.Proto.Response(body, c, u)
	o := sched.Outcome{Kind: sched.Success, Status: resp.StatusCode(), Windows: c.Proto.Windows(&resp.Header), At: r.answered}
	// Record, which settles the spend, before the slot is freed: the
	// key's next waiter rechecks its budget as soon as it gets the slot
	// (stillAdmitted).
	r.record(resp.StatusCode(), *u, acct.Name, "", r.answered.Sub(r.start))
	lease.Release(o)
	if r.w != nil { // a stream was promised while waiting; the upstream sent JSON
		r.writeEvent(out)
		return
	}
	ctx := r.ctx
	ctx.SetStatusCode(resp.StatusCode())
	if ct := resp.Header.ContentType(); len(ct) > 0 {
		ctx.Response.Header.SetContentTypeBytes(ct)
	}
	if c.RequestID != "" {
		ctx.Response.Header.Set("request-id", c.RequestID)
	}
	ctx.SetBody(out)
	r.bindResponse(acct, c.ResponseID)
}

// collect answers a non-stream client from an upstream stream (Codex
// accounts only stream): the events are read, not relayed, and the final
// response object goes back as JSON.
func (r *run) collect(lease *sched.Lease, acct *Account, req *fasthttp.Request, resp *fasthttp.Response) {
	defer upstream.Release(req, resp)
	res := r.s.relay(bufio.NewWriterSize(io.Discard, 64), resp, r)
	c := r.call
	o := sched.Outcome{Kind: sched.Success, Status: 200, Windows: c.Proto.Windows(&resp.Header)}
	switch {
	case res.clientGone:
		r.record(499, r.streamUsage(&res), acct.Name, "client went away", res.ttft) // settle, then free the slot
		lease.Release(sched.Outcome{Kind: sched.Canceled})
		return
	case res.failure != "" || res.st.Final == nil:
		o = sched.Outcome{Kind: sched.ServerError, Status: 200, Reason: "collect stream: " + res.failure}
		lease.Release(o)
		r.fail(clientError{502, protocol.KindUpstream, "upstream stream ended without a response"}, nil)
		return
	}
	r.record(200, r.streamUsage(&res), acct.Name, "", res.ttft) // settle, then free the slot
	lease.Release(o)
	r.bindResponse(acct, res.st.ResponseID)
	if r.w != nil {
		r.writeEvent(res.st.Final)
	} else {
		r.ctx.SetStatusCode(200)
		r.ctx.SetContentType("application/json")
		r.ctx.SetBody(res.st.Final)
	}
}

// bindResponse remembers which account produced a response, so a later
// request naming it as previous_response_id returns to that account.
func (r *run) bindResponse(acct *Account, id string) {
	if id != "" && r.s.sched != nil {
		r.s.sched.BindKey(r.key.Group, "resp:"+id, acct.Name, r.key.Name)
	}
}

// requestID is the upstream's request id, whatever the provider calls it.
func requestID(h *fasthttp.ResponseHeader) string {
	for _, name := range [...]string{"request-id", "x-request-id"} {
		if v := h.Peek(name); len(v) > 0 {
			return string(v)
		}
	}
	return ""
}

// record enqueues the ledger record of this request and counts it in the
// metrics and the log.
//
// A count_tokens call is free and has no usage: it is counted in its own
// series only, never as a ledger record or a generation request.
func (r *run) record(status int, u ledger.Usage, acct, errMsg string, ttft time.Duration) {
	c := r.call
	if r.settled {
		return
	}
	r.settled = true
	r.recorded = time.Now()
	if c.Endpoint == protocol.EndpointCountTokens {
		r.s.metrics.countTokens(c.Proto.Platform(), r.key.Name, status)
		return
	}
	dur := r.recorded.Sub(r.start)
	var cost int64
	if r.s.ledger != nil {
		cost = r.s.ledger.Record(ledger.Record{
			Reservation:   r.reservation,
			Multiplier:    r.key.Limits.RateMultiplier,
			Time:          r.start,
			Key:           r.key.Name,
			Account:       acct,
			Platform:      c.Proto.Platform(),
			Model:         c.Model,
			UpstreamModel: c.UpstreamModel,
			Usage:         u,
			Stream:        c.Stream,
			Status:        status,
			Duration:      dur,
			TTFT:          ttft,
			RequestID:     c.RequestID,
			Error:         errMsg,
			Estimated:     r.estimated,
		})
	}
	r.observe(status, u, cost, acct, errMsg, dur, ttft)
}
