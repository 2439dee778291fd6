package protocol

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/proxy/errrules"
	"subgate/proxy/upstream"
	"subgate/sched"
)

var geminiHeaders = []string{"content-type", "accept", "user-agent", "x-goog-api-client"}

// Gemini speaks the Gemini API to API keys and Code Assist to Google
// logins (Gemini CLI's OAuth), wrapping and unwrapping its envelope
// (codeassist.go).
type Gemini struct {
	BaseURL       string // https://generativelanguage.googleapis.com
	CodeAssistURL string // https://cloudcode-pa.googleapis.com
	projects      *projectCache
}

// GeminiConfig configures a Gemini protocol.
type GeminiConfig struct {
	BaseURL       string // https://generativelanguage.googleapis.com
	CodeAssistURL string // https://cloudcode-pa.googleapis.com
	// Clients make the Code Assist project discovery calls.
	Clients *upstream.Clients
	// ProjectFound is told the Code Assist project discovered for an
	// account, so it can be kept.
	ProjectFound func(account, project string)
}

// NewGemini returns the Gemini protocol.
func NewGemini(cfg GeminiConfig) *Gemini {
	return &Gemini{BaseURL: cfg.BaseURL, CodeAssistURL: cfg.CodeAssistURL, projects: newProjectCache(cfg.Clients, cfg.ProjectFound)}
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
// The model must be a validPathModel (fasthttp has already decoded %3F,
// %23, %2F and %2e in the path, and resolved dot segments), and the body
// one JSON object with unique top-level keys, which Code Assist's
// envelope relies on.
func (p *Gemini) Parse(hd Head, c *Call) error {
	c.Header = copyHeaders(hd.Header, c.Header[:0], geminiHeaders, "")
	c.Query = "" // never forwarded: Gemini clients put their key there
	model, method := geminiMethod(c.Path)
	switch method {
	case "generateContent":
	case "streamGenerateContent":
		c.Stream = true
	case "countTokens":
		c.Endpoint = EndpointCountTokens
	default:
		return errUnknownMethod
	}
	switch {
	case model == "":
		return errMissingModel
	case !validPathModel(model):
		return errBadModel
	}
	c.Model = model // a part of c.Path, already a copy
	var f geminiFields
	if err := f.read(view(c.Body)); err != nil {
		return err
	}
	c.MaxTokens = gjson.Get(f.config, "maxOutputTokens").Int()
	h := uint64(hashSeed)
	if uid := hd.Header.Peek("x-gemini-api-privileged-user-id"); len(uid) > 0 {
		h = hashAdd(h, view(uid))
	} else {
		first := gjson.Get(f.contents, "0")
		if !first.Exists() {
			return nil
		}
		h = hashAdd(hashAdd(h, f.system), first.Raw)
	}
	c.Session = hashString("g:", h)
	return nil
}

// geminiFields are the top-level fields of a Gemini body the gateway
// reads (raw values pointing into the body) and the keys it has seen.
type geminiFields struct {
	config, system, contents string
	keys                     [16]string // the first keys, checked for duplicates without a map
	n                        int
	more                     map[string]bool // keys beyond the first 16
	dup                      bool
}

// read takes every top-level key of body: with the scanner when it reads
// body as one object, else after a full validation with gjson (escaped
// keys, or bytes after the object, which a Code Assist envelope would
// otherwise carry into its own top level).
func (f *geminiFields) read(body string) error {
	if !eachKey(body, f.take) {
		if !gjson.Valid(body) {
			return ErrNotJSON
		}
		*f = geminiFields{}
		gjson.Parse(body).ForEach(func(k, v gjson.Result) bool { return f.take(k.Str, v.Raw) })
	}
	if f.dup {
		return errDuplicateKey
	}
	return nil
}

// take records one top-level key; it stops at the first duplicate.
func (f *geminiFields) take(key, raw string) bool {
	if f.seen(key) {
		f.dup = true
		return false
	}
	switch key {
	case "generationConfig":
		f.config = raw
	case "systemInstruction":
		f.system = raw
	case "contents":
		f.contents = raw
	}
	return true
}

// seen records key and reports whether it was there already.
func (f *geminiFields) seen(key string) bool {
	for _, k := range f.keys[:f.n] {
		if k == key {
			return true
		}
	}
	if f.n < len(f.keys) {
		f.keys[f.n] = key
		f.n++
		return false
	}
	if f.more == nil {
		f.more = make(map[string]bool)
	}
	if f.more[key] {
		return true
	}
	f.more[key] = true
	return false
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

// Prepare implements Protocol.
func (p *Gemini) Prepare(req *fasthttp.Request, c *Call, a *upstream.Account, token string) error {
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
		// The upstream model is the client's validPathModel or the
		// admin's model_map target; escaped either way.
		setURL(req, base, "/v1beta/models/"+url.PathEscape(c.UpstreamModel)+":"+p.method(c), query)
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
	b, err := codeAssistEnvelope(c.UpstreamModel, project, c.Body)
	if err != nil {
		return err
	}
	req.SetBodyRaw(b)
	return nil
}

// Classify implements Protocol: Google's error type is error.status, and a
// 503 is its overload.
func (p *Gemini) Classify(status int, h *fasthttp.ResponseHeader, body []byte, a *upstream.Account) errrules.Reply {
	e := gjson.Get(view(body), "error")
	rep := errrules.Reply{Platform: p.Platform(), AccountType: a.Type, Status: status, Body: body,
		Type: e.Get("status").String(), Overloaded: status == 503, Reset: func() time.Time { return geminiReset(e, time.Now()) }}
	if status == fasthttp.StatusTooManyRequests {
		rep.Scope = geminiScope(e)
	}
	return rep
}

// geminiScope is the model a 429's quota violations are about: Google
// names it in each QuotaFailure violation's quotaDimensions.model (with a
// quotaId like "GenerateRequestsPerDayPerProjectPerModel"). A violation
// of a quota that is not per model, or two models, make it the
// account's: "".
func geminiScope(e gjson.Result) string {
	scope, n := "", 0
	for _, d := range e.Get("details").Array() {
		for _, v := range d.Get("violations").Array() {
			n++
			s := ""
			if m := v.Get("quotaDimensions.model").String(); validModel(m) {
				s = strings.Clone(sched.Family("gemini", m)) // m points into the body, which is reused
			} else if strings.Contains(v.Get("quotaId").String(), "PerModel") {
				s = scopeRequest
			}
			if s == "" || (scope != "" && s != scope) || n > maxWindows {
				return ""
			}
			scope = s
		}
	}
	return scope
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
				return NextPacificMidnight(now)
			}
		}
	}
	return until
}

// NextPacificMidnight is when Google resets daily quotas after now.
func NextPacificMidnight(now time.Time) time.Time {
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		loc = time.FixedZone("PST", -8*3600)
	}
	t := now.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
}

// Windows implements Protocol: Gemini reports no usage windows.
func (p *Gemini) Windows(*fasthttp.ResponseHeader) []sched.Window { return nil }

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

// ErrorBody implements Protocol.
func (p *Gemini) ErrorBody(status int, kind ErrKind, msg string) []byte {
	return geminiError(status, kind, msg)
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
