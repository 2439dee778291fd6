package proxy

import (
	"context"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/proxy/metrics"
	"subgate/proxy/reqlog"
)

// observe counts a finished request (cost at list price, micro-USD) in the
// metrics and writes its one log line, through the request log when the
// server has one. No secret and no body ever reaches the log.
func (r *run) observe(status int, u ledger.Usage, cost int64, acct, errMsg string, dur, ttft time.Duration) {
	s, c := r.s, r.call
	s.metrics.Request(metrics.Labels{Proto: c.Proto.Platform(), Key: r.key.Name, Account: acct, Model: c.Model, Status: status}, u, cost)
	if ttft > 0 {
		s.metrics.TTFT.Observe(ttft)
	}
	rl := s.cfg.RequestLog
	if rl != nil && !rl.Enabled() || rl == nil && !s.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	e := reqlog.Entry{
		Time: r.recorded, Route: c.Path, Key: r.key.Name, IP: r.ip, Acct: acct, Model: c.Model,
		Status: status, Stream: c.Stream, In: u.InputTokens, Out: u.OutputTokens,
		CacheRead: u.CacheReadTokens, CacheWrite: u.CacheCreationTokens,
		Ms: dur.Milliseconds(), TTFTMs: ttft.Milliseconds(), Failovers: max(r.attempts-1, 0), Err: errMsg,
	}
	if rl != nil {
		rl.Log(&e) // hand-encoded, batched: no I/O here
		return
	}
	_ = s.log.Handler().Handle(context.Background(), e.Record())
}

// setOverhead stamps the time subgate itself spent on the request so far,
// upstream waits excluded, on the response headers.
func (r *run) setOverhead() {
	end := r.recorded // the reply is complete once recorded
	if end.IsZero() {
		end = time.Now()
	}
	setOverheadHeader(r.ctx, end.Sub(r.start)-r.upstreamWait)
}

// Canonical names of the headers every reply carries, set without
// normalizing them each time.
var (
	hdrRequestID = []byte("X-Subgate-Request-Id")
	hdrOverhead  = []byte("X-Subgate-Overhead-Ms")
)

func setOverheadHeader(ctx *fasthttp.RequestCtx, d time.Duration) {
	var buf [24]byte
	ctx.Response.Header.SetCanonical(hdrOverhead, appendMillis(buf[:0], d))
}

// appendMillis appends d in milliseconds with three decimals, as
// strconv.AppendFloat(float64(d.Microseconds())/1000, 'f', 3) would, with
// integer arithmetic.
func appendMillis(b []byte, d time.Duration) []byte {
	us := d.Microseconds()
	if us < 0 {
		return strconv.AppendFloat(b, float64(us)/1000, 'f', 3, 64)
	}
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// recoverStream keeps a panic in a stream writer (its own goroutine, which
// fasthttp does not guard) from ending the process; the deferred finish
// and lease release still run.
func (s *Server) recoverStream(where string) {
	if v := recover(); v != nil {
		s.log.Error("stream panic", "where", where, "panic", v, "stack", string(debug.Stack()))
	}
}
