package proxy

import (
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/proxy/protocol"
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
func (s *Server) admitKey(ctx *fasthttp.RequestCtx, proto protocol.Protocol, k *Key, now time.Time) bool {
	if why := keyUsable(k, now); why != "" {
		writeError(ctx, proto, fasthttp.StatusUnauthorized, protocol.KindAuthentication, why)
		s.refuse(k, "", proto, fasthttp.StatusUnauthorized, why)
		return false
	}
	if ip, ok := netipAddr(ctx); ok && !k.allowsIP(ip) {
		msg := "this API key may not be used from " + ip.String()
		writeError(ctx, proto, fasthttp.StatusForbidden, protocol.KindPermission, msg)
		s.refuse(k, "", proto, fasthttp.StatusForbidden, msg)
		return false
	}
	return true
}

// admitCall checks the model and, before any scheduling, the key's
// limits: a count_tokens call counts against RPM only; a generation
// request is refused when the key has spend limits and the model has no
// price (unless [ledger] unpriced = "allow") or the ledger cannot write,
// and reserves its estimated cost against every limit of the key.
func (r *run) admitCall() bool {
	s, c := r.s, r.call
	if !r.key.allowsModel(c.Model) {
		r.refuse(fasthttp.StatusForbidden, protocol.KindPermission, "model "+strconv.Quote(c.Model)+" is not allowed for this API key")
		return false
	}
	if s.ledger == nil {
		return true
	}
	lim := r.key.Limits
	if c.Endpoint != protocol.EndpointGenerate {
		if err := s.ledger.CountRequest(r.key.Name, lim); err != nil {
			r.refuseLimit(err)
			return false
		}
		return true
	}
	var est int64 // what the budgets hold; an RPM-only key holds nothing
	switch {
	case lim.HasSpendLimit():
		priced := r.pricedModel()
		if priced == "" && s.ledger.RefusesUnpriced(lim) {
			r.refuse(fasthttp.StatusForbidden, protocol.KindPermission,
				"no price for model "+c.Model+"; the admin can add [[prices]]")
			return false
		}
		if s.ledger.StoreFailing() {
			r.refuseLedgerDown()
			return false
		}
		if priced != "" {
			maxOut := c.MaxTokens
			if maxOut <= 0 {
				maxOut = defaultMaxTokens
			}
			est = s.ledger.Estimate(priced, int64(len(c.Body)/4), maxOut, lim.RateMultiplier)
		}
	case lim.Unlimited():
		return true // nothing to reserve against
	}
	res, err := s.ledger.Reserve(r.key.Name, lim, est)
	if err != nil {
		r.refuseLimit(err)
		return false
	}
	r.reservation = res
	return true
}

// pricedModel returns the name the request is priced by: the requested
// model, or else the model an account of the key's group maps it to (an
// alias in model_map; of any platform when the key may translate), the
// dearest when accounts differ. "" means no price. The loop over
// accounts runs only for unpriced names.
func (r *run) pricedModel() string {
	s, c := r.s, r.call
	if _, ok := s.ledger.Price(c.Model); ok {
		return c.Model
	}
	best, bestOut := "", int64(-1)
	for _, a := range r.pool.accounts {
		up, ok := a.ModelMap[c.Model]
		if !ok || a.Group != r.key.Group || a.Platform != c.Proto.Platform() && !r.mayTranslate() {
			continue
		}
		if p, ok := s.ledger.Price(up); ok && p.Output > bestOut {
			best, bestOut = up, p.Output
		}
	}
	return best
}

// refuseLimit answers a *ledger.BudgetError or *ledger.RateError with 429
// and a retry-after at the window's reset.
func (r *run) refuseLimit(err error) {
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
	r.refuse(fasthttp.StatusTooManyRequests, protocol.KindRateLimit, err.Error())
}

// msgLedgerDown is the refusal of a key with spend limits while the
// ledger cannot write: its spend could not be kept across a restart.
const msgLedgerDown = "usage ledger unavailable"

// refuseLedgerDown answers 503 without a ledger record (the ledger is
// what fails) and without a log line per request (the ledger logs the
// failure once); the refusal is counted in the metrics.
func (r *run) refuseLedgerDown() {
	c := r.call
	r.ctx.Response.Header.Set("retry-after", "5")
	writeError(r.ctx, c.Proto, fasthttp.StatusServiceUnavailable, protocol.KindAPI, msgLedgerDown)
	r.s.metrics.Refusal(true)
	r.settled = true
}

// recheck is what a request that waited for its slot checks again before
// it uses the slot: its key, which the admin may have disabled
// meanwhile, and its reservation, which may no longer fit the key's
// limits because requests that ran meanwhile settled above their
// estimates. Without the second, a key whose concurrency is capped could
// overshoot by every queued request. It returns the error to end the
// request with, nil when it may go on.
func (r *run) recheck() *clientError {
	if cur := r.s.pool.load().keys[r.key.Hash]; cur == nil || keyUsable(cur, time.Now()) != "" {
		return &clientError{fasthttp.StatusUnauthorized, protocol.KindAuthentication, "this API key was disabled while the request waited"}
	}
	if r.s.ledger == nil {
		return nil
	}
	if err := r.s.ledger.Recheck(r.reservation, r.key.Limits); err != nil {
		return &clientError{fasthttp.StatusTooManyRequests, protocol.KindRateLimit, err.Error()}
	}
	return nil
}

// refuse answers a request that never reached an upstream and counts it
// as a refusal (not billed).
func (r *run) refuse(status int, kind protocol.ErrKind, msg string) {
	writeError(r.ctx, r.call.Proto, status, kind, msg)
	r.s.refuse(r.key, r.call.Model, r.call.Proto, status, msg)
	r.settled = true
	if r.call.Endpoint == protocol.EndpointCountTokens {
		r.s.metrics.CountTokens(r.call.Proto.Platform(), r.key.Name, status)
	}
}

func (s *Server) refuse(k *Key, model string, p protocol.Protocol, status int, msg string) {
	s.metrics.Refusal(false)
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
		writeError(ctx, s.anthropic, fasthttp.StatusUnauthorized, protocol.KindAuthentication, "invalid x-api-key")
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
