package protocol

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"github.com/valyala/fasthttp"

	"subgate/proxy/identity"
	"subgate/proxy/upstream"
	"subgate/sched"
)

// The ChatGPT Codex backend: what OpenAI does differently for a ChatGPT
// subscription (an OAuth account) behind the Responses API. It only
// streams, wants store false and instructions present, routes by the
// chatgpt-account-id, and reports the subscription's usage windows.

// UpstreamStream implements UpstreamStreamer: the Codex backend only
// streams.
func (p *OpenAI) UpstreamStream(c *Call, a *upstream.Account) bool {
	return c.Stream || (a.OAuth() && !p.Chat)
}

// codexIdentity is the identity handle of a masked Codex account (an
// OpenAI OAuth account on the Responses route), else nil.
func codexIdentity(p *OpenAI, a *upstream.Account) *identity.Account {
	if p.Chat || !a.OAuth() {
		return nil
	}
	return a.Masked()
}

// prepareCodex addresses req to the Codex backend and applies its rules
// to body, which it returns. A masked account (id) sends its own
// originator, User-Agent, version and installation id.
func (p *OpenAI) prepareCodex(req *fasthttp.Request, c *Call, a *upstream.Account, id *identity.Account, body []byte) ([]byte, error) {
	base := p.CodexBaseURL
	if a.BaseURL != "" {
		base = a.BaseURL
	}
	setURL(req, base, "/responses", "")
	body, err := codexBody(body)
	if err != nil {
		return nil, err
	}
	if acct := p.AccountID(a); acct != "" {
		req.Header.Set("chatgpt-account-id", acct)
	}
	switch {
	case id != nil:
		get := c.header
		id.ObserveCodex(get) // learns from genuine Codex CLIs only
		for _, h := range id.CodexHeaders(get) {
			setHeader(&req.Header, h.Name, h.Value)
		}
		if body, err = id.RewriteCodex(body); err != nil {
			return nil, err
		}
	case c.header("originator") == "":
		req.Header.Set("originator", "codex_cli_rs")
	}
	if c.header("session_id") == "" && c.Session != "" {
		req.Header.Set("session_id", strings.TrimPrefix(strings.TrimPrefix(c.Session, "oa:"), "resp:"))
	}
	req.Header.Set("Accept", "text/event-stream")
	return body, nil
}

// codexBody applies the Codex backend's rules: store false, stream true,
// instructions present.
func codexBody(body []byte) ([]byte, error) {
	var err error
	if body, err = sjson.SetBytes(body, "store", false); err != nil {
		return nil, err
	}
	if body, err = sjson.SetBytes(body, "stream", true); err != nil {
		return nil, err
	}
	if !gjson.Get(view(body), "instructions").Exists() {
		body, err = sjson.SetBytes(body, "instructions", "")
	}
	return body, err
}

// codexWindows names the Codex usage headers, built once.
var codexWindows = [...]struct{ name, used, resetAt, resetAfter string }{
	{"primary", "x-codex-primary-used-percent", "x-codex-primary-reset-at", "x-codex-primary-reset-after-seconds"},
	{"secondary", "x-codex-secondary-used-percent", "x-codex-secondary-reset-at", "x-codex-secondary-reset-after-seconds"},
}

// Windows implements Protocol: Codex subscription usage. The x-codex-*
// family reports the limit active for this request: the account's, or a
// model's own bucket (codexScope), whose windows then carry the scope.
func (p *OpenAI) Windows(h *fasthttp.ResponseHeader) []sched.Window {
	var out []sched.Window
	scope := ""
	for _, w := range codexWindows {
		used := h.Peek(w.used)
		if len(used) == 0 {
			continue
		}
		if out == nil {
			scope = codexScope(h)
		}
		u, _ := strconv.ParseFloat(string(used), 64)
		reset := epoch(h.Peek(w.resetAt))
		if reset.IsZero() {
			if s, err := strconv.ParseFloat(string(h.Peek(w.resetAfter)), 64); err == nil {
				reset = time.Now().Add(time.Duration(s * float64(time.Second)))
			}
		}
		out = append(out, sched.Window{Name: w.name, Utilization: u / 100, ResetAt: reset, Scope: scope})
	}
	return out
}

// codexScope tells whether the limit active for a Codex reply is one
// model's bucket: x-codex-active-limit names the limit id, and a header
// family of that id (x-<id, "_" as "-">-primary-used-percent; e.g.
// x-codex-bengalfox-… for codex_bengalfox, the gpt-5.3-codex-spark bucket)
// is present. Then it returns scopeRequest, the request's own model. The
// "codex" limit, or an id with no family of its own ("premium"), is the
// account's: "". (codex-rs codex-api/src/rate_limits.rs reads the
// families; docs/clients.md has the sources.)
func codexScope(h *fasthttp.ResponseHeader) string {
	id := h.Peek("x-codex-active-limit")
	if len(id) == 0 || len(id) > 64 || bytes.EqualFold(id, []byte("codex")) {
		return ""
	}
	var buf [96]byte
	name := append(buf[:0], "x-"...)
	for _, c := range id {
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '-' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
		default:
			return "" // not a limit id
		}
		name = append(name, c)
	}
	for _, field := range [...]string{"-primary-used-percent", "-secondary-used-percent"} {
		if len(h.PeekBytes(append(name, field...))) > 0 {
			return scopeRequest
		}
	}
	return ""
}
