package proxy

import (
	"time"

	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/proxy/protocol"
)

// intercept answers a Claude Code probe locally (protocol.ProbeReply), in
// the shape the client asked for, and records it as intercepted: the one
// record of a request that ends this way. It reports whether it answered.
func (r *run) intercept() bool {
	c := r.call
	text := protocol.ProbeReply(c)
	if text == "" {
		return false
	}
	ct, body := protocol.ProbeAnswer(c.Model, text, c.Stream)
	ctx := r.ctx
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(ct)
	ctx.SetBodyString(body)
	if r.s.ledger != nil && !r.settled {
		r.settled = true
		r.s.ledger.Record(ledger.Record{
			Time: r.start, Key: r.key.Name, Platform: c.Proto.Platform(), Model: c.Model,
			Stream: c.Stream, Status: 200, Duration: time.Since(r.start), Intercepted: true,
			Reservation: r.reservation,
		})
	}
	return true
}
