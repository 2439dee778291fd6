package protocol

import (
	"bytes"
	"cmp"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/proxy/identity"
	"subgate/proxy/upstream"
)

// anthropicHeaders are the client headers forwarded upstream; everything
// else, above all the client's own credential, stays behind.
var anthropicHeaders = []string{
	"anthropic-version", "anthropic-beta", "x-app", "user-agent", "content-type", "accept",
	"x-claude-code-session-id", "anthropic-dangerous-direct-browser-access",
	"x-claude-code-agent-id", "x-claude-code-parent-agent-id",
}

// Beta flags the gateway adds to a client's anthropic-beta list: OAuth
// credentials need the first (oauth.md); a "[1m]" model asks for the
// second, the 1M-context window (the flag Claude Code 2.1.332 itself
// sends for a "[1m]" model: docs/clients.md).
const (
	oauthBeta     = "oauth-2025-04-20"
	longBeta      = "context-1m-2025-08-07"
	longSuffix    = "[1m]"
	betaSeparator = ","
)

// Anthropic speaks the Messages API.
type Anthropic struct {
	BaseURL string
	// Identity is the system text prepended for OAuth accounts when the
	// client is not Claude Code.
	Identity string
}

// Platform implements Protocol.
func (p *Anthropic) Platform() string { return "anthropic" }

// Parse implements Protocol: one pass over the top-level keys, with the
// fast scanner when the body lets it (nearly always) and gjson otherwise.
func (p *Anthropic) Parse(h Head, c *Call) error {
	c.Header = copyHeaders(h.Header, c.Header[:0], anthropicHeaders, "x-stainless-")
	var f anthropicFields
	eachTopKey(view(c.Body), f.take, func() { f = anthropicFields{} })
	if err := f.modelErr(); err != nil {
		return err
	}
	// A "[1m]" model is the plain model with the 1M-context beta: it is
	// scheduled, allowed and priced as the plain one (the ledger bills its
	// long-context tier by the prompt's size).
	model, long := strings.CutSuffix(f.model, longSuffix)
	if long && model == "" {
		return errBadModel
	}
	c.Model = strings.Clone(model) // outlives the body in the ledger queue
	c.LongContext = long
	c.Stream = f.stream && c.Endpoint != EndpointCountTokens
	c.MaxTokens = f.maxTokens
	c.Query = upstreamQuery(h.Args, c.Query)
	c.ClaudeCode = hasIdentity(f.system, p.Identity)
	c.Session = sessionOf(f.userID, c.header("x-claude-code-session-id"), f.system, firstContent(f.messages))
	return nil
}

// anthropicFields are the top-level fields of a Messages body that the
// gateway reads; raw values point into the body.
type anthropicFields struct {
	bodyFields
	userID   string
	system   gjson.Result
	messages string // raw
}

// take records one top-level key; it always asks for the next.
func (f *anthropicFields) take(key, raw string) bool {
	if f.takeCommon(key, raw, key == "max_tokens") {
		return true
	}
	switch key {
	case "metadata":
		f.userID = gjson.Get(raw, "user_id").String()
	case "messages":
		f.messages = raw
	case "system":
		f.system = gjson.Parse(raw)
	}
	return true
}

// claudeCodeIdentities open the system prompt of every Claude Code
// request: 2.1.332 sends "You are Claude Code, Anthropic's official CLI
// for Claude." (interactive; ", running within the Claude Agent SDK." in
// the SDK) or, in non-interactive `claude -p` runs, the Agent SDK's own.
// Subscription credentials accept each.
var claudeCodeIdentities = [...]string{
	"You are Claude Code",
	"You are a Claude agent, built on Anthropic's Claude Agent SDK.",
}

// hasIdentity reports whether the system prompt already carries a Claude
// Code identity (or the configured one); genuine Claude Code bodies always
// do and pass untouched.
func hasIdentity(system gjson.Result, identity string) bool {
	is := func(t string) bool {
		if identity != "" && strings.HasPrefix(t, identity) {
			return true
		}
		for _, id := range claudeCodeIdentities {
			if strings.HasPrefix(t, id) {
				return true
			}
		}
		return false
	}
	if system.Type == gjson.String {
		return is(system.Str)
	}
	found := false
	system.ForEach(func(_, b gjson.Result) bool {
		found = is(b.Get("text").String())
		return !found
	})
	return found
}

// Prepare implements Protocol. The client's anthropic-version and
// anthropic-beta go upstream as sent (Claude Code's gateway contract: an
// open list); the beta list only gains the flags the account or the
// request needs. Every body field is kept: the body changes only where the
// account needs it (model map, identity).
func (p *Anthropic) Prepare(req *fasthttp.Request, c *Call, a *upstream.Account, token string) error {
	base := p.BaseURL
	if a.BaseURL != "" {
		base = a.BaseURL
	}
	setURL(req, base, c.Path, c.Query)
	req.Header.SetMethod(fasthttp.MethodPost)
	id := a.Masked()
	beta, betas := "", 0
	for _, kv := range c.Header {
		switch {
		case kv[0] == "anthropic-beta":
			beta = joinBeta(beta, kv[1], betas)
			betas++
		case id != nil && identity.ClaudeOwned(kv[0]): // the account's own, below
		default:
			setHeader(&req.Header, kv[0], kv[1])
		}
	}
	if id != nil {
		get := c.header
		if c.ClaudeCode {
			id.ObserveClaude(get) // learns from genuine Claude Code only
		}
		for _, h := range id.ClaudeHeaders(get) {
			setHeader(&req.Header, h.Name, h.Value)
		}
	}
	if c.header("anthropic-version") == "" {
		setHeader(&req.Header, "anthropic-version", "2023-06-01")
	}
	if c.header("content-type") == "" {
		req.Header.SetContentType("application/json")
	}
	if a.OAuth() {
		beta = addBeta(beta, oauthBeta, true)
	}
	if c.LongContext {
		beta = addBeta(beta, longBeta, false)
	}
	if beta != "" {
		setHeader(&req.Header, "anthropic-beta", beta)
	}
	body := c.Body
	var err error
	if c.UpstreamModel != c.Model || c.LongContext {
		if body, err = sjson.SetBytes(body, "model", c.UpstreamModel); err != nil {
			return err
		}
	}
	if a.OAuth() {
		setHeader(&req.Header, "authorization", "Bearer "+token)
		if !c.ClaudeCode && c.Endpoint == EndpointGenerate {
			if body, err = prependIdentity(body, p.Identity); err != nil {
				return err
			}
		}
	} else {
		setHeader(&req.Header, "x-api-key", token)
	}
	if id != nil {
		// The client's session id: its user_id's, else its session
		// header, else the gateway's sticky key (stable per conversation).
		session := cmp.Or(c.header("x-claude-code-session-id"), c.Session)
		if body, err = id.RewriteMessages(body, session, c.Endpoint == EndpointGenerate); err != nil {
			return err
		}
	}
	req.SetBodyRaw(body)
	return nil
}

// joinBeta appends one anthropic-beta header value of a client that sent
// n before it: repeated headers are one list, in the order sent.
func joinBeta(list, value string, n int) string {
	if n == 0 {
		return value
	}
	return list + betaSeparator + value
}

// addBeta adds flag to a comma-separated anthropic-beta list unless it is
// there already: first or last, never moving or dropping another flag.
func addBeta(list, flag string, first bool) string {
	switch {
	case list == "":
		return flag
	case hasBeta(list, flag):
		return list
	case first:
		return flag + betaSeparator + list
	}
	return list + betaSeparator + flag
}

// hasBeta reports whether a comma-separated list names flag, without
// splitting it (this runs on every OAuth request).
func hasBeta(list, flag string) bool {
	for list != "" {
		item := list
		if i := strings.IndexByte(list, ','); i >= 0 {
			item, list = list[:i], list[i+1:]
		} else {
			list = ""
		}
		if strings.TrimSpace(item) == flag {
			return true
		}
	}
	return false
}

// prependIdentity puts the Claude Code identity block first in system,
// which OAuth credentials require.
func prependIdentity(body []byte, identity string) ([]byte, error) {
	block := `{"type":"text","text":` + string(jsonString(identity)) + `}`
	sys := gjson.GetBytes(body, "system")
	var raw string
	switch {
	case !sys.Exists() || sys.Type == gjson.Null:
		raw = "[" + block + "]"
	case sys.Type == gjson.String:
		raw = "[" + block + `,{"type":"text","text":` + sys.Raw + "}]"
	case sys.IsArray():
		if len(sys.Raw) < 2 || sys.Raw[len(sys.Raw)-1] != ']' {
			return body, nil // malformed: the upstream will say so
		}
		inner := strings.TrimSpace(sys.Raw[1 : len(sys.Raw)-1])
		if inner == "" {
			raw = "[" + block + "]"
		} else {
			raw = "[" + block + "," + inner + "]"
		}
	default:
		return body, nil
	}
	return sjson.SetRawBytes(body, "system", []byte(raw))
}

// Response implements Protocol.
func (p *Anthropic) Response(body []byte, c *Call, u *ledger.Usage) []byte {
	anthropicUsage(topValue(view(body), "usage"), u, false)
	if c.UpstreamModel != c.Model && c.Endpoint == EndpointGenerate {
		if b, err := sjson.SetBytes(body, "model", c.Model); err == nil {
			return b
		}
	}
	return body
}

// Event implements Protocol.
func (p *Anthropic) Event(event, data []byte, c *Call, st *StreamState) []byte {
	if len(event) == 0 {
		event = []byte(gjson.Get(view(data), "type").Str)
	}
	switch string(event) {
	case "message_start":
		anthropicUsage(gjson.Get(view(data), "message.usage").Raw, &st.Usage, false)
		if c.UpstreamModel != c.Model {
			if b, err := sjson.SetBytes(data, "message.model", c.Model); err == nil {
				return b
			}
		}
	case "content_block_delta":
		st.TextBytes += anthropicDeltaBytes(data)
	case "message_delta":
		anthropicUsage(gjson.Get(view(data), "usage").Raw, &st.Usage, true)
	case "message_stop":
		st.Done = true
	case "error":
		st.Err = gjson.GetBytes(data, "error.type").String()
	}
	return nil
}

var anthropicKinds = [...]string{
	KindInvalidRequest: "invalid_request_error",
	KindAuthentication: "authentication_error",
	KindPermission:     "permission_error",
	KindNotFound:       "not_found_error",
	KindTooLarge:       "request_too_large",
	KindRateLimit:      "rate_limit_error",
	KindAPI:            "api_error",
	KindOverloaded:     "overloaded_error",
	KindUpstream:       "upstream_error",
}

// ErrorBody implements Protocol.
func (p *Anthropic) ErrorBody(_ int, kind ErrKind, msg string) []byte {
	return anthropicError(kind, msg)
}

func anthropicError(kind ErrKind, msg string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":"error","error":{"type":"`)
	b.WriteString(anthropicKinds[kind])
	b.WriteString(`","message":`)
	b.Write(jsonString(msg))
	b.WriteString(`}}`)
	return b.Bytes()
}

// StreamError implements Protocol.
func (p *Anthropic) StreamError(kind ErrKind, msg string) []byte {
	return append(append([]byte("event: error\ndata: "), anthropicError(kind, msg)...), "\n\n"...)
}

var anthropicPing = []byte("event: ping\ndata: {\"type\": \"ping\"}\n\n")

// Keepalive implements Protocol: the ping event Anthropic itself sends,
// which every Anthropic SDK skips by name (docs/clients.md).
func (p *Anthropic) Keepalive() []byte { return anthropicPing }
