package proxy

import (
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/ledger"
)

// defaultMaxTokens is the output assumed when a request names no limit:
// the estimate a budget reserves until the real cost is known.
const defaultMaxTokens = 4096

// keyUsable reports why a key may not be used now ("" when it may).
func keyUsable(k *Key, now time.Time) string {
	switch {
	case k.Disabled:
		return "this API key is disabled"
	case !k.ExpiresAt.IsZero() && now.After(k.ExpiresAt):
		return "this API key expired at " + k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return ""
}

// admitKey checks the key's state at now (the request's start) and the
// client address before the body is read.
func (s *Server) admitKey(ctx *fasthttp.RequestCtx, proto Protocol, k *Key, now time.Time) bool {
	if why := keyUsable(k, now); why != "" {
		proto.WriteError(ctx, fasthttp.StatusUnauthorized, KindAuthentication, why)
		s.refuse(k, "", proto, fasthttp.StatusUnauthorized, why)
		return false
	}
	if ip, ok := netipAddr(ctx); ok && !k.allowsIP(ip) {
		msg := "this API key may not be used from " + ip.String()
		proto.WriteError(ctx, fasthttp.StatusForbidden, KindPermission, msg)
		s.refuse(k, "", proto, fasthttp.StatusForbidden, msg)
		return false
	}
	return true
}

// admitCall checks the model and reserves the request's estimated cost
// against every limit of the key.
func (r *run) admitCall() bool {
	s, c := r.s, r.call
	if !c.Key.allowsModel(c.Model) {
		r.refuse(fasthttp.StatusForbidden, KindPermission, "model "+strconv.Quote(c.Model)+" is not allowed for this API key")
		return false
	}
	if s.ledger == nil || c.Endpoint != EndpointGenerate || c.Key.Limits.Unlimited() {
		return true // nothing to reserve against
	}
	maxOut := c.MaxTokens
	if maxOut <= 0 {
		maxOut = defaultMaxTokens
	}
	est := s.ledger.Estimate(c.Model, int64(len(c.Body)/4), maxOut, c.Key.Limits.RateMultiplier)
	res, err := s.ledger.Reserve(c.Key.Name, c.Key.Limits, est)
	if err == nil {
		r.reservation = res
		return true
	}
	var be *ledger.BudgetError
	var re *ledger.RateError
	var reset time.Time
	switch {
	case errors.As(err, &be):
		reset = be.ResetAt
	case errors.As(err, &re):
		reset = re.ResetAt
	}
	if !reset.IsZero() {
		r.ctx.Response.Header.Set("retry-after", strconv.Itoa(max(1, int(time.Until(reset).Seconds()+0.999))))
	}
	r.refuse(fasthttp.StatusTooManyRequests, KindRateLimit, err.Error())
	return false
}

// refuse answers a request that never reached an upstream and counts it
// as a refusal (not billed).
func (r *run) refuse(status int, kind ErrKind, msg string) {
	r.call.Proto.WriteError(r.ctx, status, kind, msg)
	r.s.refuse(r.call.Key, r.call.Model, r.call.Proto, status, msg)
	r.settled = true
}

func (s *Server) refuse(k *Key, model string, p Protocol, status int, msg string) {
	s.metrics.refusals.Add(1)
	s.log.Info("request refused", "key", k.Name, "model", model, "status", status, "err", msg)
	if s.ledger == nil {
		return
	}
	s.ledger.Record(ledger.Record{
		Time: time.Now(), Key: k.Name, Platform: p.Platform(), Model: model,
		Status: status, Error: msg, Refused: true,
	})
}

// usage answers GET /v1/usage for the calling key, in the shape that
// cc-switch and similar tools read.
func (s *Server) usage(ctx *fasthttp.RequestCtx) {
	k := s.authenticate(ctx, s.pool.load())
	if k == nil {
		s.anthropic.WriteError(ctx, fasthttp.StatusUnauthorized, KindAuthentication, "invalid x-api-key")
		return
	}
	var ws []ledger.WindowUsage
	if s.ledger != nil {
		ws = s.ledger.KeyUsage(k.Name, k.Limits)
	}
	rem := ledger.Remaining(ws)
	b := []byte(`{"isValid":`)
	b = strconv.AppendBool(b, keyUsable(k, time.Now()) == "")
	b = append(b, `,"planName":`...)
	b = strconv.AppendQuote(b, k.Name)
	b = append(b, `,"remaining":`...)
	if rem < 0 {
		b = append(b, "-1"...)
	} else {
		b = strconv.AppendFloat(b, float64(rem)/1e6, 'f', 6, 64)
	}
	b = append(b, `,"unit":"USD","detail":{"group":`...)
	b = strconv.AppendQuote(b, k.Group)
	b = append(b, `,"windows":[`...)
	for i, w := range ws {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"window":`...)
		b = strconv.AppendQuote(b, string(w.Window))
		b = append(b, `,"used":`...)
		b = strconv.AppendFloat(b, float64(w.Used)/1e6, 'f', 6, 64)
		b = append(b, `,"limit":`...)
		if w.Limit <= 0 {
			b = append(b, "-1"...)
		} else {
			b = strconv.AppendFloat(b, float64(w.Limit)/1e6, 'f', 6, 64)
		}
		b = append(b, `,"reset_at":`...)
		if w.ResetAt.IsZero() {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendQuote(b, w.ResetAt.UTC().Format(time.RFC3339))
		}
		b = append(b, '}')
	}
	b = append(b, "]}}"...)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}
