package upstreamtest

import (
	"cmp"
	"encoding/json"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

// OpenAI messages for the checks the real API makes.
const (
	msgOpenAINoKey   = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
	msgOpenAIBadKey  = "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
	msgOpenAIBadJSON = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)"
)

var defaultOpenAIModels = []string{"gpt-5.5", "gpt-5.5-codex", "gpt-4.1-mini"}

// InsufficientQuota is OpenAI's 429 for an account out of credit: unlike
// a rate limit, waiting does not help.
func InsufficientQuota() Step {
	st := Error(429, "insufficient_quota", "You exceeded your current quota, please check your plan and billing details.")
	st.Code = "insufficient_quota"
	return st
}

// openaiAuth applies the API's Bearer rules and writes the 401.
func (s *Server) openaiAuth(ctx *fasthttp.RequestCtx, cred string) bool {
	switch {
	case cred == "":
		writeOpenAIError(ctx, 401, "invalid_request_error", "", msgOpenAINoKey)
	case s.isRevoked(cred):
		writeOpenAIError(ctx, 401, "invalid_request_error", "invalid_api_key", msgOpenAIBadKey)
	default:
		return true
	}
	return false
}

// openaiJSON writes a 400 unless body is valid JSON.
func openaiJSON(ctx *fasthttp.RequestCtx, body []byte) bool {
	if gjson.ValidBytes(body) {
		return true
	}
	writeOpenAIError(ctx, 400, "invalid_request_error", "", msgOpenAIBadJSON)
	return false
}

// anthropicErrTypes are the Step.ErrType values the shared constructors
// (RateLimited, AuthError…) use; OpenAI routes replace them with the
// type and code OpenAI sends for the same status.
var anthropicErrTypes = map[string]bool{
	"": true, "invalid_request_error": true, "authentication_error": true,
	"permission_error": true, "not_found_error": true, "request_too_large": true,
	"rate_limit_error": true, "api_error": true, "overloaded_error": true,
}

// writeOpenAIStepError writes a KindError step in OpenAI's shape. 429s
// carry x-ratelimit-* headers and retry-after; a Codex usage limit gets
// its own body.
func writeOpenAIStepError(ctx *fasthttp.RequestCtx, st Step) {
	if st.Status == 429 && st.ErrType != usageLimitType {
		setOpenAILimited(ctx, st.RetryAfter)
	}
	switch {
	case st.Body != "":
		ctx.SetContentType("application/json")
		ctx.SetStatusCode(st.Status)
		ctx.SetBodyString(st.Body)
		return
	case st.ErrType == usageLimitType:
		writeUsageLimit(ctx, st)
		return
	}
	typ, code := st.ErrType, st.Code
	if anthropicErrTypes[typ] {
		typ, code = openaiTypeFor(st.Status, code)
	}
	writeOpenAIError(ctx, st.Status, typ, code, st.Message)
}

// openaiTypeFor is the error type and code OpenAI sends with status.
func openaiTypeFor(status int, code string) (string, string) {
	switch {
	case status == 401:
		return "invalid_request_error", cmp.Or(code, "invalid_api_key")
	case status == 429:
		return "requests", cmp.Or(code, "rate_limit_exceeded")
	case status >= 500:
		return "server_error", code
	}
	return "invalid_request_error", code
}

// writeOpenAIError writes {"error":{"message","type","param","code"}}; an
// empty code is null.
func writeOpenAIError(ctx *fasthttp.RequestCtx, status int, typ, code, message string) {
	writeOpenAIErrorParam(ctx, status, typ, code, "", message)
}

func writeOpenAIErrorParam(ctx *fasthttp.RequestCtx, status int, typ, code, param, message string) {
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	ctx.SetBody(obj("error", openaiErrorObject(typ, code, param, message)))
}

func openaiErrorObject(typ, code, param, message string) json.RawMessage {
	return obj("message", message, "type", typ, "param", nullable(param), "code", nullable(code))
}

// nullable is s as a JSON string, or null when empty.
func nullable(s string) json.RawMessage {
	if s == "" {
		return null
	}
	return appendJSONString(nil, s)
}

// setOpenAIBudget sets the x-ratelimit-* headers of a healthy budget.
func setOpenAIBudget(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("x-ratelimit-limit-requests", "500")
	h.Set("x-ratelimit-limit-tokens", "30000")
	h.Set("x-ratelimit-remaining-requests", "499")
	h.Set("x-ratelimit-remaining-tokens", "29000")
	h.Set("x-ratelimit-reset-requests", "120ms")
	h.Set("x-ratelimit-reset-tokens", "2ms")
}

// setOpenAILimited sets the x-ratelimit-* headers of an exhausted budget
// that resets in retryAfter (default one second), and retry-after.
func setOpenAILimited(ctx *fasthttp.RequestCtx, retryAfter time.Duration) {
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	h := &ctx.Response.Header
	h.Set("x-ratelimit-limit-requests", "500")
	h.Set("x-ratelimit-limit-tokens", "30000")
	h.Set("x-ratelimit-remaining-requests", "0")
	h.Set("x-ratelimit-remaining-tokens", "0")
	h.Set("x-ratelimit-reset-requests", retryAfter.String())
	h.Set("x-ratelimit-reset-tokens", retryAfter.String())
	h.Set("retry-after", strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10))
}

// usageFor is the usage a reply to st reports.
func (s *Server) usageFor(st Step) Usage {
	if st.Usage != nil {
		return *st.Usage
	}
	return s.cfg.Usage
}

// responses serves POST /v1/responses.
func (s *Server) responses(ctx *fasthttp.RequestCtx, cred string) {
	body := ctx.PostBody()
	if !s.openaiAuth(ctx, cred) || !openaiJSON(ctx, body) {
		return
	}
	if prev := gjson.GetBytes(body, "previous_response_id").Str; prev != "" {
		if owner := s.ResponseOwner(prev); owner != "" && owner != cred {
			writeOpenAIErrorParam(ctx, 400, "invalid_request_error", "previous_response_not_found",
				"previous_response_id", "Previous response with id '"+prev+"' not found.")
			return
		}
	}
	st, ok := s.pop(ctx, cred, writeOpenAIStepError)
	if !ok {
		return
	}
	r := s.newResponsesReply(body, st)
	s.own(st, r.id, cred)
	if st.Kind != KindError {
		setOpenAIBudget(ctx)
	}
	s.play(ctx, st, r, gjson.GetBytes(body, "stream").Bool(), writeOpenAIStepError)
}

// chatCompletions serves POST /v1/chat/completions.
func (s *Server) chatCompletions(ctx *fasthttp.RequestCtx, cred string) {
	body := ctx.PostBody()
	if !s.openaiAuth(ctx, cred) || !openaiJSON(ctx, body) {
		return
	}
	st, ok := s.pop(ctx, cred, writeOpenAIStepError)
	if !ok {
		return
	}
	r := &chatReply{
		id:           "chatcmpl-mock-" + strconv.FormatInt(s.seq.Add(1), 10),
		model:        gjson.GetBytes(body, "model").Str,
		created:      time.Now().Unix(),
		u:            s.usageFor(st),
		includeUsage: gjson.GetBytes(body, "stream_options.include_usage").Bool(),
	}
	if st.Kind != KindError {
		setOpenAIBudget(ctx)
	}
	s.play(ctx, st, r, gjson.GetBytes(body, "stream").Bool(), writeOpenAIStepError)
}

// isAnthropic reports whether a request that both APIs serve (GET
// /v1/models) comes from an Anthropic client.
func isAnthropic(ctx *fasthttp.RequestCtx) bool {
	h := &ctx.Request.Header
	return len(h.Peek("x-api-key")) > 0 || len(h.Peek("anthropic-version")) > 0 || len(h.Peek("anthropic-beta")) > 0
}

// openaiModels serves GET /v1/models in OpenAI's list shape.
func (s *Server) openaiModels(ctx *fasthttp.RequestCtx, cred string) {
	if !s.openaiAuth(ctx, cred) {
		return
	}
	ids := s.cfg.OpenAIModels
	if len(ids) == 0 {
		ids = defaultOpenAIModels
	}
	data := make([]any, len(ids))
	for i, id := range ids {
		data[i] = obj("id", id, "object", "model", "created", 1754352000, "owned_by", "system")
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(obj("object", "list", "data", arr(data...)))
}
