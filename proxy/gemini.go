package proxy

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/sched"
)

var geminiHeaders = []string{"content-type", "accept", "user-agent", "x-goog-api-client"}

// Gemini speaks the Gemini API to API keys and Code Assist to Google
// logins (Gemini CLI's OAuth), wrapping and unwrapping its envelope.
type Gemini struct {
	BaseURL       string // https://generativelanguage.googleapis.com
	CodeAssistURL string // https://cloudcode-pa.googleapis.com
	projects      *projectCache
}

// Platform implements Protocol.
func (p *Gemini) Platform() string { return "gemini" }

// geminiMethod splits "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
// into model and method.
func geminiMethod(path string) (model, method string) {
	rest, ok := strings.CutPrefix(path, "/v1beta/models/")
	if !ok {
		rest, _ = strings.CutPrefix(path, "/v1/models/")
	}
	model, method, _ = strings.Cut(rest, ":")
	return model, method
}

// Parse implements Protocol: the model and method come from the path.
func (p *Gemini) Parse(ctx *fasthttp.RequestCtx, c *Call) error {
	c.Header = copyHeaders(ctx, c.Header[:0], geminiHeaders, "")
	model, method := geminiMethod(c.Path)
	c.Model = model
	switch method {
	case "generateContent":
	case "streamGenerateContent":
		c.Stream = true
	case "countTokens":
		c.Endpoint = EndpointCountTokens
	default:
		return errUnknownMethod
	}
	if c.Model == "" {
		return errMissingModel
	}
	body := gjson.Parse(view(c.Body))
	c.MaxTokens = body.Get("generationConfig.maxOutputTokens").Int()
	h := uint64(hashSeed)
	if uid := ctx.Request.Header.Peek("x-gemini-api-privileged-user-id"); len(uid) > 0 {
		h = hashAdd(h, view(uid))
	} else {
		first := body.Get("contents.0")
		if !first.Exists() {
			return nil
		}
		h = hashAdd(hashAdd(h, body.Get("systemInstruction").Raw), first.Raw)
	}
	c.Session = hashString("g:", h)
	return nil
}

func (p *Gemini) method(c *Call) string {
	switch {
	case c.Endpoint == EndpointCountTokens:
		return "countTokens"
	case c.Stream:
		return "streamGenerateContent"
	}
	return "generateContent"
}

// Before implements preparer: a Code Assist account needs its project.
func (p *Gemini) Before(ctx context.Context, c *Call, a *Account, token string) error {
	if !a.OAuth() || a.ProjectID != "" {
		return nil
	}
	_, err := p.projects.get(ctx, a, p.codeAssistBase(a), token)
	return err
}

func (p *Gemini) codeAssistBase(a *Account) string {
	if a.BaseURL != "" {
		return a.BaseURL
	}
	return p.CodeAssistURL
}

// Prepare implements Protocol.
func (p *Gemini) Prepare(req *fasthttp.Request, c *Call, a *Account, token string) error {
	for _, kv := range c.Header {
		setHeader(&req.Header, kv[0], kv[1])
	}
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	query := ""
	if c.Stream {
		query = "alt=sse"
	}
	if !a.OAuth() {
		base := p.BaseURL
		if a.BaseURL != "" {
			base = a.BaseURL
		}
		setURL(req, base, "/v1beta/models/"+c.UpstreamModel+":"+p.method(c), query)
		req.Header.Set("x-goog-api-key", token)
		req.SetBodyRaw(c.Body)
		return nil
	}
	setURL(req, p.codeAssistBase(a), "/v1internal:"+p.method(c), query)
	req.Header.Set("Authorization", "Bearer "+token)
	project := a.ProjectID
	if project == "" {
		project = p.projects.cached(a.Name)
	}
	// Code Assist wraps the Gemini request in an envelope.
	b := make([]byte, 0, len(c.Body)+128)
	b = append(b, `{"model":`...)
	b = append(b, jsonString(c.UpstreamModel)...)
	if project != "" {
		b = append(b, `,"project":`...)
		b = append(b, jsonString(project)...)
	}
	b = append(b, `,"user_prompt_id":`...)
	b = append(b, jsonString("subgate-"+strconv.FormatInt(time.Now().UnixNano(), 36))...)
	b = append(b, `,"request":`...)
	b = append(b, c.Body...)
	b = append(b, '}')
	req.SetBodyRaw(b)
	return nil
}

// Classify implements Protocol.
func (p *Gemini) Classify(status int, h *fasthttp.ResponseHeader, body []byte, a *Account) sched.Outcome {
	e := gjson.Get(view(body), "error")
	return classify(status, a.OAuth(), status == 503, e.Get("status").String(), func() time.Time { return geminiReset(e, time.Now()) })
}

// geminiReset reads RetryInfo, and a per-day quota means the next midnight
// in Pacific time, when Google resets daily quotas.
func geminiReset(e gjson.Result, now time.Time) time.Time {
	var until time.Time
	for _, d := range e.Get("details").Array() {
		if strings.HasSuffix(d.Get("@type").String(), "RetryInfo") {
			if dur, err := time.ParseDuration(d.Get("retryDelay").String()); err == nil {
				until = now.Add(dur)
			}
		}
		for _, v := range d.Get("violations").Array() {
			if strings.Contains(v.Get("quotaId").String(), "PerDay") {
				return nextPacificMidnight(now)
			}
		}
	}
	return until
}

func nextPacificMidnight(now time.Time) time.Time {
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		loc = time.FixedZone("PST", -8*3600)
	}
	t := now.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
}

// Windows implements Protocol: Gemini reports no usage windows.
func (p *Gemini) Windows(*fasthttp.ResponseHeader) []sched.Window { return nil }

// geminiUsage reads usageMetadata: cached is a subset of the prompt and
// thinking is billed as output.
func geminiUsage(v gjson.Result, u *ledger.Usage) {
	if !v.Exists() {
		return
	}
	cached := v.Get("cachedContentTokenCount").Int()
	u.InputTokens = v.Get("promptTokenCount").Int() - cached
	u.CacheReadTokens = cached
	u.OutputTokens = v.Get("candidatesTokenCount").Int() + v.Get("thoughtsTokenCount").Int()
}

// Response implements Protocol.
func (p *Gemini) Response(body []byte, c *Call, u *ledger.Usage) []byte {
	if c.Acct != nil && c.Acct.OAuth() {
		if inner := gjson.Get(view(body), "response"); inner.Exists() {
			body = []byte(inner.Raw)
		}
	}
	geminiUsage(gjson.Get(view(body), "usageMetadata"), u)
	return body
}

// Event implements Protocol.
func (p *Gemini) Event(_, data []byte, c *Call, st *StreamState) []byte {
	var out []byte
	if c.Acct != nil && c.Acct.OAuth() {
		if inner := gjson.Get(view(data), "response"); inner.Exists() {
			out = []byte(inner.Raw)
			data = out
		}
	}
	d := gjson.Parse(view(data))
	if e := d.Get("error"); e.Exists() {
		st.Err = strings.Clone(e.Get("status").String())
		return out
	}
	geminiUsage(d.Get("usageMetadata"), &st.Usage)
	st.TextBytes += geminiPartsBytes(d)
	if d.Get("candidates.0.finishReason").Exists() {
		st.Done = true
	}
	return out
}

var geminiStatus = [...]string{
	KindInvalidRequest: "INVALID_ARGUMENT",
	KindAuthentication: "UNAUTHENTICATED",
	KindPermission:     "PERMISSION_DENIED",
	KindNotFound:       "NOT_FOUND",
	KindTooLarge:       "INVALID_ARGUMENT",
	KindRateLimit:      "RESOURCE_EXHAUSTED",
	KindAPI:            "INTERNAL",
	KindOverloaded:     "UNAVAILABLE",
	KindUpstream:       "UNAVAILABLE",
}

func geminiError(status int, kind ErrKind, msg string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"error":{"code":`)
	b.WriteString(strconv.Itoa(status))
	b.WriteString(`,"message":`)
	b.Write(jsonString(msg))
	b.WriteString(`,"status":"`)
	b.WriteString(geminiStatus[kind])
	b.WriteString(`"}}`)
	return b.Bytes()
}

// WriteError implements Protocol.
func (p *Gemini) WriteError(ctx *fasthttp.RequestCtx, status int, kind ErrKind, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(geminiError(status, kind, msg))
}

// StreamError implements Protocol.
func (p *Gemini) StreamError(kind ErrKind, msg string) []byte {
	return append(append([]byte("data: "), geminiError(500, kind, msg)...), "\n\n"...)
}

// Keepalive implements Protocol: Gemini has none. Its official clients
// read nothing but data lines: google.golang.org/genai fails the stream on
// an SSE comment, and @google/genai before 1.32 (the one Gemini CLI pins)
// stalls on one for good. A data line would be a chunk they act on. So a
// Gemini stream is kept alive by TCP keepalives alone (docs/clients.md).
func (p *Gemini) Keepalive() []byte { return nil }
