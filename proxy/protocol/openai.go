package protocol

import (
	"bytes"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/proxy/errrules"
	"subgate/proxy/identity"
	"subgate/proxy/upstream"
)

var openaiHeaders = []string{
	"content-type", "accept", "user-agent", "openai-beta", "originator", "session_id", "session-id",
	"conversation_id", "x-client-request-id", "thread-id", "version",
}

// OpenAI speaks the Responses API (Responses) or Chat Completions (Chat)
// to OpenAI API keys and, for Responses, to the ChatGPT Codex backend.
type OpenAI struct {
	Chat         bool
	BaseURL      string // e.g. https://api.openai.com/v1
	CodexBaseURL string // e.g. https://chatgpt.com/backend-api/codex
	// AccountID finds the chatgpt-account-id of a Codex account.
	AccountID func(a *upstream.Account) string
}

// Platform implements Protocol.
func (p *OpenAI) Platform() string { return "openai" }

// Parse implements Protocol: one pass over the top-level keys (see
// eachTopKey).
func (p *OpenAI) Parse(h Head, c *Call) error {
	c.Header = copyHeaders(h.Header, c.Header[:0], openaiHeaders, "x-codex-")
	var f openaiFields
	eachTopKey(view(c.Body), f.take, func() { f = openaiFields{} })
	if err := f.modelErr(); err != nil {
		return err
	}
	c.Model = strings.Clone(f.model) // outlives the body in the ledger queue
	c.Query = ""                     // never forwarded (a ?key= is a client credential)
	c.Stream, c.MaxTokens, c.ClientUsage = f.stream, f.maxTokens, f.clientUsage
	switch {
	case f.prev != "":
		c.Session = "resp:" + f.prev
	case c.header("session_id") != "":
		c.Session = "oa:" + c.header("session_id")
	case c.header("session-id") != "":
		c.Session = "oa:" + c.header("session-id")
	case c.header("conversation_id") != "":
		c.Session = "oa:" + c.header("conversation_id")
	case f.cacheKey != "":
		c.Session = "oa:" + f.cacheKey
	}
	return nil
}

// openaiFields are the top-level fields of a Responses or Chat body that
// the gateway reads; strings point into the body.
type openaiFields struct {
	bodyFields
	prev        string
	cacheKey    string
	clientUsage bool
}

// take records one top-level key; it always asks for the next.
func (f *openaiFields) take(key, raw string) bool {
	maxKey := key == "max_output_tokens" || key == "max_tokens" || key == "max_completion_tokens"
	if f.takeCommon(key, raw, maxKey) {
		return true
	}
	switch key {
	case "previous_response_id":
		f.prev = gjson.Parse(raw).String()
	case "prompt_cache_key":
		f.cacheKey = gjson.Parse(raw).String()
	case "stream_options":
		f.clientUsage = gjson.Get(raw, "include_usage").Bool()
	}
	return true
}

// Prepare implements Protocol.
func (p *OpenAI) Prepare(req *fasthttp.Request, c *Call, a *upstream.Account, token string) error {
	if p.Chat && a.OAuth() {
		return ErrNotSupported
	}
	id := codexIdentity(p, a)
	for _, kv := range c.Header {
		if id != nil && identity.CodexOwned(kv[0]) {
			continue // the account's own, in prepareCodex
		}
		setHeader(&req.Header, kv[0], kv[1])
	}
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	body := c.Body
	var err error
	if c.UpstreamModel != c.Model {
		if body, err = sjson.SetBytes(body, "model", c.UpstreamModel); err != nil {
			return err
		}
	}
	base := p.BaseURL
	if a.BaseURL != "" {
		base = a.BaseURL
	}
	switch {
	case p.Chat:
		setURL(req, base, "/chat/completions", "")
		if c.Stream && !c.ClientUsage {
			if body, err = sjson.SetBytes(body, "stream_options.include_usage", true); err != nil {
				return err
			}
		}
	case a.OAuth():
		if body, err = p.prepareCodex(req, c, a, id, body); err != nil {
			return err
		}
	default:
		setURL(req, base, "/responses", "")
	}
	req.SetBodyRaw(body)
	return nil
}

// Classify implements Protocol: a 503 is OpenAI's overload. A 429 may
// cover one model only: a Codex per-model bucket (codexScope), or an API
// rate limit the message names a model for ("Rate limit reached for
// gpt-4o in organization …": OpenAI's limits are per model).
func (p *OpenAI) Classify(status int, h *fasthttp.ResponseHeader, body []byte, a *upstream.Account) errrules.Reply {
	e := gjson.Get(view(body), "error")
	typ := e.Get("type").String()
	rep := errrules.Reply{Platform: p.Platform(), AccountType: a.Type, Status: status, Body: body, Type: typ,
		Overloaded: status == 503, Reset: func() time.Time { return openaiReset(h, body, time.Now()) }}
	switch {
	case status != fasthttp.StatusTooManyRequests:
	case a.OAuth():
		rep.Scope = codexScope(h)
	case perModelLimit(e.Get("message").String()):
		rep.Scope = scopeRequest
	}
	return rep
}

// perModelLimit reports whether an OpenAI 429 message names the model its
// limit counts: "Rate limit reached for <model> in organization …" (not
// "… for organization …", an organization-wide one).
func perModelLimit(msg string) bool {
	rest, ok := strings.CutPrefix(msg, "Rate limit reached for ")
	if !ok {
		return false
	}
	model, rest, ok := strings.Cut(rest, " ")
	return ok && model != "organization" && strings.HasPrefix(rest, "in organization")
}

// openaiReset finds when a 429 ends: Codex's resets_at/resets_in_seconds,
// retry-after, or the x-ratelimit reset durations ("6m0s").
func openaiReset(h *fasthttp.ResponseHeader, body []byte, now time.Time) time.Time {
	e := gjson.Get(view(body), "error")
	if t := e.Get("resets_at").Int(); t > 0 {
		return time.Unix(t, 0)
	}
	if s := e.Get("resets_in_seconds").Int(); s > 0 {
		return now.Add(time.Duration(s) * time.Second)
	}
	if t := retryAfter(h, now); !t.IsZero() {
		return t
	}
	var until time.Time
	for _, name := range [...]string{"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"} {
		if d, err := time.ParseDuration(string(h.Peek(name))); err == nil && now.Add(d).After(until) {
			until = now.Add(d)
		}
	}
	return until
}

// Response implements Protocol.
func (p *OpenAI) Response(body []byte, c *Call, u *ledger.Usage) []byte {
	openaiUsage(gjson.Get(view(body), "usage"), u)
	if !p.Chat {
		c.ResponseID = strings.Clone(gjson.Get(view(body), "id").String())
	}
	if c.UpstreamModel != c.Model && c.Endpoint == EndpointGenerate {
		if b, err := sjson.SetBytes(body, "model", c.Model); err == nil {
			return b
		}
	}
	return body
}

// Event implements Protocol.
func (p *OpenAI) Event(event, data []byte, c *Call, st *StreamState) []byte {
	if p.Chat {
		return p.chatEvent(data, c, st)
	}
	if len(event) == 0 {
		event = []byte(gjson.Get(view(data), "type").Str)
	}
	mapped := c.UpstreamModel != c.Model
	switch string(event) {
	case "response.output_text.delta", "response.reasoning_text.delta",
		"response.reasoning_summary_text.delta", "response.function_call_arguments.delta":
		st.TextBytes += stringBytes(gjson.Get(view(data), "delta"))
	case "response.created":
		st.ResponseID = strings.Clone(gjson.Get(view(data), "response.id").String())
	case "response.completed", "response.incomplete", "response.failed":
		st.Done = true
		openaiUsage(gjson.Get(view(data), "response.usage"), &st.Usage)
		if string(event) == "response.failed" {
			st.Err = strings.Clone(gjson.Get(view(data), "response.error.code").String())
		}
		if mapped {
			data, _ = sjson.SetBytes(data, "response.model", c.Model)
			return data
		}
		return nil
	case "error":
		st.Err = strings.Clone(gjson.Get(view(data), "code").String())
		if st.Err == "" {
			st.Err = "error"
		}
	}
	if mapped && bytes.Contains(data, []byte(`"response":{`)) {
		if b, err := sjson.SetBytes(data, "response.model", c.Model); err == nil {
			return b
		}
	}
	return nil
}

func (p *OpenAI) chatEvent(data []byte, c *Call, st *StreamState) []byte {
	if string(data) == "[DONE]" {
		st.Done = true
		return nil
	}
	d := gjson.Parse(view(data))
	if e := d.Get("error"); e.Exists() {
		st.Err = strings.Clone(e.Get("type").String())
		return nil
	}
	st.TextBytes += chatDeltaBytes(d)
	if u := d.Get("usage"); u.Exists() && u.Type != gjson.Null {
		openaiUsage(u, &st.Usage)
		if !c.ClientUsage && len(d.Get("choices").Array()) == 0 {
			return dropEvent // the usage chunk subgate asked for, not the client
		}
	}
	if c.UpstreamModel != c.Model {
		if b, err := sjson.SetBytes(data, "model", c.Model); err == nil {
			return b
		}
	}
	return nil
}

var openaiTypes = [...]string{
	KindInvalidRequest: "invalid_request_error",
	KindAuthentication: "authentication_error",
	KindPermission:     "permission_error",
	KindNotFound:       "not_found_error",
	KindTooLarge:       "invalid_request_error",
	KindRateLimit:      "rate_limit_error",
	KindAPI:            "server_error",
	KindOverloaded:     "server_error",
	KindUpstream:       "upstream_error",
}

func openaiError(kind ErrKind, msg string) []byte {
	b := []byte(`{"error":{"message":`)
	b = append(b, jsonString(msg)...)
	b = append(b, `,"type":"`...)
	b = append(b, openaiTypes[kind]...)
	b = append(b, `","param":null,"code":"`...)
	b = append(b, openaiTypes[kind]...)
	return append(b, `"}}`...)
}

// ErrorBody implements Protocol.
func (p *OpenAI) ErrorBody(_ int, kind ErrKind, msg string) []byte {
	return openaiError(kind, msg)
}

// StreamError implements Protocol.
func (p *OpenAI) StreamError(kind ErrKind, msg string) []byte {
	if p.Chat {
		return append(append([]byte("data: "), openaiError(kind, msg)...), "\n\n"...)
	}
	b := []byte(`event: error` + "\n" + `data: {"type":"error","code":"`)
	b = append(b, openaiTypes[kind]...)
	b = append(b, `","message":`...)
	b = append(b, jsonString(msg)...)
	return append(b, `,"param":null,"sequence_number":0}`+"\n\n"...)
}

var sseComment = []byte(": keepalive\n\n")

// Keepalive implements Protocol: an SSE comment, which openai-go, the
// openai SDKs and Codex CLI's SSE reader skip (docs/clients.md).
func (p *OpenAI) Keepalive() []byte { return sseComment }
