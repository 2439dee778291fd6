package upstreamtest

import (
	"cmp"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

// Gemini messages for the checks the real API makes.
const (
	msgGeminiNoKey    = "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."
	msgGeminiBadKey   = "API key not valid. Please pass a valid API key."
	msgGeminiBadJSON  = "Invalid JSON payload received."
	msgGeminiNoParts  = "* GenerateContentRequest.contents: contents is not specified\n"
	msgGeminiQuota    = "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
	msgGeminiOverload = "The model is overloaded. Please try again later."
)

// Quota ids of the Gemini free tier, as QuotaFailure reports them.
const (
	QuotaPerMinute = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
	QuotaPerDay    = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
)

var defaultGeminiModels = []string{"gemini-2.5-pro", "gemini-2.5-flash"}

// GeminiRateLimited is Google's 429 RESOURCE_EXHAUSTED with a RetryInfo
// of retryDelay and a QuotaFailure naming the per-minute quota, or with
// perDay the per-day quota (exhausted until the next day).
func GeminiRateLimited(retryDelay time.Duration, perDay bool) Step {
	st := Error(429, "RESOURCE_EXHAUSTED", msgGeminiQuota)
	st.RetryAfter, st.QuotaID = retryDelay, QuotaPerMinute
	if perDay {
		st.QuotaID = QuotaPerDay
	}
	return st
}

// googleStatus maps HTTP statuses to google.rpc.Code names.
var googleStatus = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
	404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
	500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

// isGoogleStatus reports whether t is already a google.rpc.Code name
// (upper case), so that Error(400, "FAILED_PRECONDITION", …) is kept.
func isGoogleStatus(t string) bool {
	return t != "" && strings.ToUpper(t) == t
}

// writeGoogleStepError writes a KindError step in Google's shape:
// RetryInfo from RetryAfter, QuotaFailure from QuotaID.
func writeGoogleStepError(ctx *fasthttp.RequestCtx, st Step) {
	if st.Body != "" {
		ctx.SetContentType("application/json")
		ctx.SetStatusCode(st.Status)
		ctx.SetBodyString(st.Body)
		return
	}
	status := st.ErrType
	if !isGoogleStatus(status) {
		status = cmp.Or(googleStatus[st.Status], "UNKNOWN")
	}
	var details []any
	if st.RetryAfter > 0 {
		secs := strconv.FormatFloat(st.RetryAfter.Seconds(), 'f', -1, 64)
		details = append(details, obj("@type", "type.googleapis.com/google.rpc.RetryInfo", "retryDelay", secs+"s"))
	}
	if st.QuotaID != "" {
		v := obj("quotaMetric", "generativelanguage.googleapis.com/generate_content_free_tier_requests",
			"quotaId", st.QuotaID, "quotaDimensions", obj("location", "global", "model", quotaModel(ctx)), "quotaValue", "50")
		details = append(details, obj("@type", "type.googleapis.com/google.rpc.QuotaFailure", "violations", arr(v)))
	}
	writeGoogleError(ctx, st.Status, status, st.Message, details...)
}

// quotaModel is the model a per-model quota of the request counts, as
// Google names it in quotaDimensions: the path's model (Gemini API), else
// the body's (Code Assist).
func quotaModel(ctx *fasthttp.RequestCtx) string {
	if m, ok := strings.CutPrefix(string(ctx.Path()), geminiPrefix); ok {
		m, _, _ = strings.Cut(m, ":")
		return m
	}
	return cmp.Or(gjson.GetBytes(ctx.PostBody(), "model").String(), "gemini-2.5-pro")
}

// writeGoogleError writes {"error":{"code","message","status"[,"details"]}}.
func writeGoogleError(ctx *fasthttp.RequestCtx, code int, status, message string, details ...any) {
	e := googleErrorObject(code, status, message)
	if len(details) > 0 {
		e = obj("code", code, "message", message, "status", status, "details", arr(details...))
	}
	ctx.SetContentType("application/json; charset=UTF-8")
	ctx.SetStatusCode(code)
	ctx.SetBody(obj("error", e))
}

func googleErrorObject(code int, status, message string) json.RawMessage {
	return obj("code", code, "message", message, "status", status)
}

// geminiAuth applies the Gemini API's key rules. Beware: an invalid key
// is a 400 INVALID_ARGUMENT with reason API_KEY_INVALID, not a 401.
func (s *Server) geminiAuth(ctx *fasthttp.RequestCtx, cred string) bool {
	switch {
	case cred == "":
		writeGoogleError(ctx, 403, "PERMISSION_DENIED", msgGeminiNoKey)
	case s.isRevoked(cred):
		writeGoogleError(ctx, 400, "INVALID_ARGUMENT", msgGeminiBadKey,
			obj("@type", "type.googleapis.com/google.rpc.ErrorInfo", "reason", "API_KEY_INVALID",
				"domain", "googleapis.com", "metadata", obj("service", "generativelanguage.googleapis.com")))
	default:
		return true
	}
	return false
}

// gemini serves POST /v1beta/models/{model}:{method}; rest is the part
// after "/v1beta/models/".
func (s *Server) gemini(ctx *fasthttp.RequestCtx, cred, rest string) {
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		writeGoogleError(ctx, 404, "NOT_FOUND", "Method not found.")
		return
	}
	model, method := rest[:i], rest[i+1:]
	if !s.geminiAuth(ctx, cred) {
		return
	}
	body := ctx.PostBody()
	switch method {
	case "countTokens":
		if validGoogleJSON(ctx, body) {
			s.countGeminiTokens(ctx, body)
		}
	case "generateContent", "streamGenerateContent":
		if validGoogleJSON(ctx, body) && hasContents(ctx, gjson.GetBytes(body, "contents")) {
			s.generate(ctx, cred, &geminiReply{model: model}, method)
		}
	default:
		writeGoogleError(ctx, 404, "NOT_FOUND", "Method not found.")
	}
}

func validGoogleJSON(ctx *fasthttp.RequestCtx, body []byte) bool {
	if gjson.ValidBytes(body) {
		return true
	}
	writeGoogleError(ctx, 400, "INVALID_ARGUMENT", msgGeminiBadJSON)
	return false
}

func hasContents(ctx *fasthttp.RequestCtx, contents gjson.Result) bool {
	if contents.IsArray() && len(contents.Array()) > 0 {
		return true
	}
	writeGoogleError(ctx, 400, "INVALID_ARGUMENT", msgGeminiNoParts)
	return false
}

// generate answers one generateContent or streamGenerateContent call
// with cred's next step; r has its model (and trace, for Code Assist) set.
// A stream without ?alt=sse is a JSON array, as the real API sends it.
func (s *Server) generate(ctx *fasthttp.RequestCtx, cred string, r *geminiReply, method string) {
	st, ok := s.pop(ctx, cred, writeGoogleStepError)
	if !ok {
		return
	}
	r.id = "mock-" + strconv.FormatInt(s.seq.Add(1), 10)
	r.u = s.usageFor(st)
	stream := method == "streamGenerateContent"
	if stream && string(ctx.QueryArgs().Peek("alt")) != "sse" && st.Kind == KindOK {
		ctx.SetContentType("application/json; charset=UTF-8")
		n := st.Events
		if n <= 0 {
			n = 3
		}
		ctx.SetBody(r.array(n))
		for k, v := range st.Headers {
			ctx.Response.Header.Set(k, v)
		}
		return
	}
	s.play(ctx, st, r, stream, writeGoogleStepError)
}

func (s *Server) countGeminiTokens(ctx *fasthttp.RequestCtx, body []byte) {
	n := s.cfg.CountTokens
	if n == 0 {
		n = len(body) / 4
	}
	ctx.SetContentType("application/json; charset=UTF-8")
	ctx.SetBody(obj("totalTokens", n, "promptTokensDetails", arr(obj("modality", "TEXT", "tokenCount", n))))
}

// geminiModels serves GET /v1beta/models.
func (s *Server) geminiModels(ctx *fasthttp.RequestCtx, cred string) {
	if !s.geminiAuth(ctx, cred) {
		return
	}
	ids := s.cfg.GeminiModels
	if len(ids) == 0 {
		ids = defaultGeminiModels
	}
	models := make([]any, len(ids))
	for i, id := range ids {
		models[i] = obj("name", "models/"+id, "version", "001", "displayName", "Mock "+id,
			"inputTokenLimit", 1048576, "outputTokenLimit", 65536,
			"supportedGenerationMethods", arr("generateContent", "countTokens", "streamGenerateContent"),
			"thinking", true)
	}
	ctx.SetContentType("application/json; charset=UTF-8")
	ctx.SetBody(obj("models", arr(models...)))
}
