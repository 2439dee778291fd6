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
	"subgate/proxy/protocol/translate"
	"subgate/proxy/upstream"
	"subgate/sched"
)

// reply ends an attempt whose upstream answered: an error as the error
// rules decide, or a success relayed as the client asked — streamed,
// collected from a stream, or buffered. The exchange is released here,
// unless a stream relay takes it.
func (r *run) reply(x exchange) result {
	c := r.call
	st := x.resp.StatusCode()
	success := st >= 200 && st <= 299
	if success {
		c.RequestID = requestID(&x.resp.Header)
	}
	if success && x.stream && c.Stream && upstream.IsEventStream(x.resp) {
		if r.w == nil {
			return result{next: handedOff, relay: x} // attempt hands it to a stream writer
		}
		return r.relayStream(r.w, x) // committed already: relay on this goroutine
	}
	defer upstream.Release(x.req, x.resp)
	switch {
	case !success:
		return r.upstreamError(x)
	case x.stream && upstream.IsEventStream(x.resp):
		return r.collect(x)
	default:
		return r.buffered(x)
	}
}

// upstreamError handles a non-2xx reply as the error rules decide
// (errrules' contract with the gateway): relay it to the client, as it is
// or rewritten, or fail over; either way the lease goes with the
// decision's outcome.
func (r *run) upstreamError(x exchange) result {
	c, resp := r.call, x.resp
	body := upstream.ReadLimited(resp, errrules.MaxInspect)
	d := r.s.rules.Load().Decide(protocol.Classify(r.upcall(), resp.StatusCode(), &resp.Header, body, x.acct))
	if d.Strike && r.s.strikes.Count(x.acct.Name, r.key.Name, time.Now()) {
		d.Outcome.Kind = sched.ServerError // a new key's strike: sched's threshold decides
	}
	if !d.Relay {
		r.keepReply(resp, body, d.Class)
		return r.failover(x.acct, d.Outcome, d.Class)
	}
	res := result{o: d.Outcome, end: ending{status: d.Status, acct: x.acct.Name, err: d.Outcome.Reason}, next: answered}
	switch {
	case r.w != nil: // a stream was promised while waiting: an error event
		msg := d.Message
		if msg == "" && r.tx != nil {
			msg = "upstream rejected the request: " + r.translatedMessage(d.Status, body)
		} else if msg == "" {
			msg = "upstream rejected the request: " + gjson.GetBytes(body, "error.message").String()
		}
		res.event = c.Proto.StreamError(protocol.KindOf(d.Status), msg)
	case d.Message != "": // a rewrite, in the protocol's own shape
		writeError(r.ctx, c.Proto, d.Status, protocol.KindOf(d.Status), d.Message)
	case r.tx != nil: // the upstream's status and message, in the client's shape
		r.ctx.SetStatusCode(d.Status)
		r.ctx.SetContentType("application/json")
		r.ctx.SetBody(r.translatedError(d.Status, body))
	default: // the upstream's status and body, unchanged
		writeUpstream(r.ctx, d.Status, resp.Header.ContentType(), peekRelayed(&resp.Header), body)
	}
	return res
}

// relayedHeaders are the headers of an upstream error reply that reach
// the client with it: the request id, and what the SDKs' retry logic
// reads (x-should-retry wins, then retry-after-ms, then retry-after).
var relayedHeaders = [...]string{"request-id", "x-should-retry", relayRetryMs: "retry-after-ms", relayRetry: "retry-after"}

// Indexes of relayedHeaders.
const (
	relayRetryMs = 2
	relayRetry   = 3
)

// relayed holds the values of relayedHeaders, nil when absent.
type relayed [len(relayedHeaders)][]byte

// peekRelayed returns h's relayedHeaders, pointing into h.
func peekRelayed(h *fasthttp.ResponseHeader) (out relayed) {
	for i, name := range relayedHeaders {
		out[i] = h.Peek(name)
	}
	return out
}

// writeUpstream answers with an upstream error reply as it came: status,
// content type, the relayed headers and body.
func writeUpstream(ctx *fasthttp.RequestCtx, status int, ctype []byte, hdr relayed, body []byte) {
	ctx.SetStatusCode(status)
	if len(ctype) > 0 {
		ctx.Response.Header.SetContentTypeBytes(ctype)
	} else {
		ctx.SetContentType("application/json")
	}
	for i, v := range hdr {
		if len(v) > 0 {
			ctx.Response.Header.SetBytesV(relayedHeaders[i], v)
		}
	}
	ctx.SetBody(body)
}

// lastReply is the last upstream error reply a request failed over from,
// kept (copied: the response goes back to its pool) for the client in
// case every account fails: Claude Code's retry logic reads the status
// and the wording of the upstream's own error (its gateway contract).
// status is 0 when there is none to relay.
type lastReply struct {
	status int
	ctype  []byte
	hdr    relayed
	body   []byte
}

// keepReply keeps a failed-over reply whose class the client should see as
// it came (rate limit, overload, server error); any other class (a dead
// credential, a 403) leaves nothing to relay: its body would speak of the
// account's credential as if it were the client's.
func (r *run) keepReply(resp *fasthttp.Response, body []byte, class sched.Kind) {
	switch class {
	case sched.RateLimited, sched.Overloaded, sched.ServerError:
	default:
		r.lastReply.status = 0
		return
	}
	lr := &r.lastReply
	lr.status = resp.StatusCode()
	lr.ctype = append(lr.ctype[:0], resp.Header.ContentType()...)
	for i, v := range peekRelayed(&resp.Header) {
		lr.hdr[i] = append(lr.hdr[i][:0], v...)
	}
	if r.tx != nil { // kept in the client's shape: the next attempt may not translate
		body = r.translatedError(lr.status, body)
		lr.ctype = append(lr.ctype[:0], "application/json"...)
	}
	lr.body = append(lr.body[:0], body...)
}

// poolFailed answers a request that no account could serve after at least
// one upstream attempt: with the last upstream error reply when one was
// kept (keepReply), else with ce, the safe message of the loop's table.
func (r *run) poolFailed(o sched.Outcome, ce clientError) result {
	lr := &r.lastReply
	if lr.status == 0 {
		return r.fail(o, ce, nil)
	}
	res := result{o: o, next: answered, end: ending{status: lr.status, err: r.last.Reason}}
	if r.w != nil { // a stream was promised while waiting: an error event
		msg := gjson.GetBytes(lr.body, "error.message").String()
		if msg == "" {
			msg = ce.msg
		}
		res.event = r.call.Proto.StreamError(protocol.KindOf(lr.status), msg)
		return res
	}
	hdr := lr.hdr
	if lr.status == fasthttp.StatusTooManyRequests && len(hdr[relayRetry]) == 0 && len(hdr[relayRetryMs]) == 0 {
		hdr[relayRetry] = []byte("10") // as the loop's own 429s say (fail)
	}
	writeUpstream(r.ctx, lr.status, lr.ctype, hdr, lr.body)
	return res
}

// fail answers the client with a loop-level error and ends the request;
// o is what the attempt's lease, if any, is released with.
func (r *run) fail(o sched.Outcome, ce clientError, cause error) result {
	res := result{o: o, next: answered}
	if r.w != nil {
		res.event = r.call.Proto.StreamError(ce.kind, ce.msg)
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
	res.end = ending{status: ce.status, err: reason}
	return res
}

// gone ends a request whose client left before any reply reached it: 499,
// and nothing written.
func (r *run) gone(acct, why string) result {
	return result{o: canceled, end: ending{status: 499, acct: acct, err: why}, next: answered}
}

// buffered relays a complete upstream body, translated for the client
// when the attempt translates.
func (r *run) buffered(x exchange) result {
	c, resp := r.call, x.resp
	u := &r.usage // a field, not a local the interface call would move to the heap
	up := r.upcall()
	out := up.Proto.Response(resp.Body(), up, u)
	if r.tx != nil {
		var err error
		if out, err = r.tx.t.Response(out); err != nil {
			o := sched.Outcome{Kind: sched.ServerError, Status: resp.StatusCode(), Reason: "translate reply: " + err.Error()}
			return r.fail(o, clientError{502, protocol.KindUpstream, "upstream reply could not be translated"}, err)
		}
	}
	res := result{
		o:    sched.Outcome{Kind: sched.Success, Status: resp.StatusCode(), Windows: protocol.Windows(up, &resp.Header), At: r.answered},
		end:  ending{status: resp.StatusCode(), usage: *u, acct: x.acct.Name, ttft: r.answered.Sub(r.start)},
		next: answered,
	}
	if r.w != nil { // a stream was promised while waiting; the upstream sent JSON
		// A copy: out may be resp's buffer, released before settle writes.
		res.event = append([]byte(nil), out...)
		return res
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
	r.bindResponse(x.acct, c.ResponseID)
	return res
}

// collect answers a non-stream client from an upstream stream (Codex
// accounts only stream): the events are read, not relayed, and the
// response a translate.Collector rebuilds from them goes back as JSON,
// translated when the attempt translates. The collector also fills the
// output that the Codex backend's response.completed may leave empty.
func (r *run) collect(x exchange) result {
	col := collector{translate.NewCollector(0)}
	rr := r.s.relay(bufio.NewWriterSize(io.Discard, 64), x.resp, r, col)
	body, ok := col.Response()
	switch {
	case rr.clientGone:
		return result{o: canceled, end: ending{status: 499, usage: r.streamUsage(&rr), acct: x.acct.Name, err: "client went away", ttft: rr.ttft}, next: answered}
	case rr.failure != "" || !ok:
		o := sched.Outcome{Kind: sched.ServerError, Status: 200, Reason: "collect stream: " + rr.failure}
		return r.fail(o, clientError{502, protocol.KindUpstream, "upstream stream ended without a response"}, nil)
	}
	if r.tx != nil {
		out, err := r.tx.t.Response(body)
		if msg := col.Err(); msg != "" || err != nil {
			o := sched.Outcome{Kind: sched.ServerError, Status: 200, Reason: "collect stream: " + msg}
			if err != nil {
				o.Reason = "translate reply: " + err.Error()
			}
			return r.fail(o, clientError{502, protocol.KindUpstream, "upstream error: " + msg}, err)
		}
		body = out
	}
	res := result{
		o:    sched.Outcome{Kind: sched.Success, Status: 200, Windows: protocol.Windows(r.upcall(), &x.resp.Header)},
		end:  ending{status: 200, usage: r.streamUsage(&rr), acct: x.acct.Name, ttft: rr.ttft},
		next: answered,
	}
	if r.tx == nil {
		r.bindResponse(x.acct, rr.st.ResponseID)
	}
	r.ctx.SetStatusCode(200)
	r.ctx.SetContentType("application/json")
	r.ctx.SetBody(body)
	return res
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

// record enqueues the ledger record of a request that reached the loop
// and counts it in the metrics and the log. settle is its one caller.
//
// A count_tokens call is free and has no usage: it is counted in its own
// series only, never as a ledger record or a generation request.
func (r *run) record(e *ending) {
	c := r.call
	status, u, acct, errMsg, ttft := e.status, e.usage, e.acct, e.err, e.ttft
	if r.settled {
		return
	}
	r.settled = true
	r.recorded = time.Now()
	if c.Endpoint == protocol.EndpointCountTokens {
		r.s.metrics.CountTokens(c.Proto.Platform(), r.key.Name, status)
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
