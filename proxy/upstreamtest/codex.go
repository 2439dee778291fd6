package upstreamtest

import (
	"strconv"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

// usageLimitType is the error type of a ChatGPT plan's exhausted window.
const usageLimitType = "usage_limit_reached"

// CodexLimits are the x-codex-* usage headers the ChatGPT Codex backend
// adds to successful replies: a primary (five-hour) and a secondary
// (weekly) window.
type CodexLimits struct {
	PrimaryUsedPercent     float64
	PrimaryWindowMinutes   int
	PrimaryResetAfter      time.Duration
	SecondaryUsedPercent   float64
	SecondaryWindowMinutes int
	SecondaryResetAfter    time.Duration
	// ResetAt sends x-codex-*-reset-at (epoch seconds) instead of
	// x-codex-*-reset-after-seconds; both spellings exist in the wild.
	ResetAt bool
}

// DefaultCodexLimits are the headers sent when Config.Codex is nil.
func DefaultCodexLimits() CodexLimits {
	return CodexLimits{
		PrimaryUsedPercent: 12, PrimaryWindowMinutes: 300, PrimaryResetAfter: 3 * time.Hour,
		SecondaryUsedPercent: 5, SecondaryWindowMinutes: 10080, SecondaryResetAfter: 5 * 24 * time.Hour,
	}
}

// Headers renders l as x-codex-* headers, resets counted from now.
func (l CodexLimits) Headers(now time.Time) map[string]string {
	h := map[string]string{}
	window := func(name string, used float64, minutes int, reset time.Duration) {
		p := "x-codex-" + name + "-"
		h[p+"used-percent"] = strconv.FormatFloat(used, 'f', -1, 64)
		h[p+"window-minutes"] = strconv.Itoa(minutes)
		if l.ResetAt {
			h[p+"reset-at"] = strconv.FormatInt(now.Add(reset).Unix(), 10)
		} else {
			h[p+"reset-after-seconds"] = strconv.FormatInt(int64(reset/time.Second), 10)
		}
	}
	window("primary", l.PrimaryUsedPercent, l.PrimaryWindowMinutes, l.PrimaryResetAfter)
	window("secondary", l.SecondaryUsedPercent, l.SecondaryWindowMinutes, l.SecondaryResetAfter)
	return h
}

// UsageLimit is the Codex backend's 429 for a ChatGPT plan whose window is
// used up: usage_limit_reached with resets_at and resets_in_seconds, and
// the primary window at 100 %.
func UsageLimit(resetsIn time.Duration) Step {
	st := Error(429, usageLimitType, "The usage limit has been reached")
	st.RetryAfter = resetsIn
	return st.WithHeader("x-codex-primary-used-percent", "100").
		WithHeader("x-codex-primary-reset-after-seconds", strconv.FormatInt(int64(resetsIn/time.Second), 10))
}

// writeUsageLimit writes the usage_limit_reached body of st.
func writeUsageLimit(ctx *fasthttp.RequestCtx, st Step) {
	secs := int64(st.RetryAfter / time.Second)
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(st.Status)
	ctx.SetBody(obj("error", obj("type", usageLimitType, "message", st.Message, "plan_type", "plus",
		"resets_at", time.Now().Unix()+secs, "resets_in_seconds", secs)))
}

// writeDetail writes the backend's {"detail": message} error.
func writeDetail(ctx *fasthttp.RequestCtx, status int, message string) {
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	ctx.SetBody(obj("detail", message))
}

// codex serves POST /backend-api/codex/responses: the Responses API as the
// ChatGPT backend serves it to Codex, always streamed.
func (s *Server) codex(ctx *fasthttp.RequestCtx, cred string) {
	body := ctx.PostBody()
	if !s.codexAuth(ctx, cred) || !codexBody(ctx, body) {
		return
	}
	st, ok := s.pop(ctx, cred, writeOpenAIStepError)
	if !ok {
		return
	}
	r := s.newResponsesReply(body, st)
	s.own(st, r.id, cred)
	if st.Kind != KindError {
		l := DefaultCodexLimits()
		if s.cfg.Codex != nil {
			l = *s.cfg.Codex
		}
		for k, v := range l.Headers(time.Now()) {
			ctx.Response.Header.Set(k, v)
		}
	}
	s.play(ctx, st, r, true, writeOpenAIStepError)
}

// codexAuth wants a live Bearer token and a chatgpt-account-id header.
func (s *Server) codexAuth(ctx *fasthttp.RequestCtx, cred string) bool {
	switch {
	case cred == "":
		writeDetail(ctx, 401, "Unauthorized")
	case s.isRevoked(cred):
		ctx.SetContentType("application/json")
		ctx.SetStatusCode(401)
		ctx.SetBody(obj("error", openaiErrorObject("invalid_request_error", "token_expired", "",
			"Provided authentication token is expired. Please try signing in again.")))
	case len(ctx.Request.Header.Peek("chatgpt-account-id")) == 0:
		writeDetail(ctx, 401, "Missing chatgpt-account-id header")
	default:
		return true
	}
	return false
}

// codexBody applies the backend's body rules: store false, stream true,
// instructions present.
func codexBody(ctx *fasthttp.RequestCtx, body []byte) bool {
	switch {
	case !gjson.ValidBytes(body):
		writeDetail(ctx, 400, "Invalid JSON body")
	case gjson.GetBytes(body, "store").Type != gjson.False:
		writeDetail(ctx, 400, "Store must be set to false")
	case gjson.GetBytes(body, "stream").Type != gjson.True:
		writeDetail(ctx, 400, "Stream must be set to true")
	case !gjson.GetBytes(body, "instructions").Exists():
		writeDetail(ctx, 400, "Instructions are required")
	default:
		return true
	}
	return false
}
