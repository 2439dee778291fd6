package protocol

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"subgate/proxy/upstream"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// Fuzz targets for everything subgate reads from a client or an upstream
// before any account sees it. Run one with
//
//	go test -run '^$' -fuzz=FuzzPrepare -fuzztime=1m ./proxy/protocol
//
// Without -fuzz the seeds below and proxy/protocol/testdata/fuzz run as
// tests.

// Seed bodies: what Claude Code, the SDKs, Codex CLI and Gemini CLI send,
// shortened.
const (
	seedClaudeCode = `{"model":"claude-sonnet-4-5-20250929","max_tokens":32000,"stream":true,` +
		`"system":[{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{"type":"ephemeral"}},` +
		`{"type":"text","text":"You are an interactive CLI tool that helps users with software engineering tasks.","cache_control":{"type":"ephemeral"}}],` +
		`"messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>\nUse the context below.\n</system-reminder>"},` +
		`{"type":"text","text":"fix the failing test","cache_control":{"type":"ephemeral"}}]}],` +
		`"tools":[{"name":"Bash","description":"Runs a command","input_schema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}}],` +
		`"metadata":{"user_id":"{\"device_id\":\"5c3b0a9e\",\"account_uuid\":\"\",\"session_id\":\"0199a3c4-7d2e-7b61-9f0a-3c2d1e4f5a6b\"}"},` +
		`"thinking":{"type":"enabled","budget_tokens":31999}}`
	seedClaudeLegacy = `{"model":"claude-opus-4-1","max_tokens":1024,"system":"You are a helpful assistant.",` +
		`"messages":[{"role":"user","content":"hi"}],` +
		`"metadata":{"user_id":"user_4f1e2d3c_account__session_0199a3c4-7d2e-7b61-9f0a-3c2d1e4f5a6b"}}`
	seedSDK = `{"model":"claude-haiku-4-5","max_tokens":256,"messages":[{"role":"user","content":"Hello"},` +
		`{"role":"assistant","content":"Hi"},{"role":"user","content":"Tell me a joke"}]}`
	seedCodex = `{"model":"gpt-5-codex","instructions":"You are Codex, based on GPT-5.",` +
		`"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"list the files"}]}],` +
		`"tools":[{"type":"function","name":"shell","parameters":{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"}}}}}],` +
		`"tool_choice":"auto","parallel_tool_calls":false,"reasoning":{"effort":"medium","summary":"auto"},` +
		`"store":false,"stream":true,"include":["reasoning.encrypted_content"],"prompt_cache_key":"0199a3c4-7d2e-7b61-9f0a-3c2d1e4f5a6b"}`
	seedResponses = `{"model":"gpt-5","input":"Say hi","max_output_tokens":64,"previous_response_id":"resp_68a1b2c3d4e5"}`
	seedChat      = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}],` +
		`"stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":100}`
	seedGemini = `{"contents":[{"role":"user","parts":[{"text":"Summarise README.md"}]}],` +
		`"systemInstruction":{"parts":[{"text":"You are Gemini CLI, an interactive CLI agent."}]},` +
		`"tools":[{"functionDeclarations":[{"name":"read_file","parameters":{"type":"object","properties":{"path":{"type":"string"}}}}]}],` +
		`"generationConfig":{"temperature":0,"maxOutputTokens":8192,"thinkingConfig":{"includeThoughts":true}}}`
)

var seedBodies = []string{seedClaudeCode, seedClaudeLegacy, seedSDK, seedCodex, seedResponses, seedChat, seedGemini,
	`{}`, `{"model":""}`, `{"model":"m","system":null}`, `{"model":"m","system":[]}`, `{"model":"m","system":[ ]}`,
	`{"model":"m","system":"s","stream":"yes"}`, `{"model":"m","stream_options":5,"stream":true}`}

const (
	fuzzIdentity  = "You are Claude Code, Anthropic's official CLI for Claude."
	fuzzClientKey = "sk-sg-fuzz-client-secret"
)

// fuzzRequest builds the request a handler would see: the client's own
// credential in both places it may travel, the body and extra headers.
func fuzzRequest(path string, body []byte, hdr ...string) *fasthttp.Request {
	var req fasthttp.Request
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(path)
	req.Header.SetContentType("application/json")
	req.Header.Set("x-api-key", fuzzClientKey)
	req.Header.Set("Authorization", "Bearer "+fuzzClientKey)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] != "" {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	req.SetBody(body)
	return &req
}

// fuzzHead is the head Parse reads of req.
func fuzzHead(req *fasthttp.Request) Head {
	return Head{Header: &req.Header, Args: req.URI().QueryArgs()}
}

// fuzzCall is the Call handle builds: copies of path, query and body.
func fuzzCall(p Protocol, req *fasthttp.Request, ep Endpoint) *Call {
	return &Call{Proto: p, Endpoint: ep,
		Path: string(req.URI().Path()), Query: string(req.URI().QueryArgs().QueryString()),
		Body: append([]byte(nil), req.Body()...)}
}

// fuzzParse parses twice and checks what every protocol promises: the
// same answer both times, a model whenever it succeeds, and Call fields
// that do not point into the body (Calls outlive it in the ledger queue).
func fuzzParse(t *testing.T, p Protocol, req *fasthttp.Request, ep Endpoint) (*Call, error) {
	t.Helper()
	c := fuzzCall(p, req, ep)
	err := p.Parse(fuzzHead(req), c)
	again := fuzzCall(p, req, ep)
	err2 := p.Parse(fuzzHead(req), again)
	if (err == nil) != (err2 == nil) || c.Model != again.Model || c.Session != again.Session ||
		c.Stream != again.Stream || c.MaxTokens != again.MaxTokens || c.ClaudeCode != again.ClaudeCode {
		t.Fatalf("Parse is not deterministic: %+v (%v) then %+v (%v)", c, err, again, err2)
	}
	if err == nil && c.Model == "" {
		t.Fatalf("Parse accepted a request without a model")
	}
	for i := range again.Body {
		again.Body[i] = 'x'
	}
	if again.Model != c.Model || again.Session != c.Session {
		t.Fatalf("Call fields point into the request body: model %q→%q session %q→%q", c.Model, again.Model, c.Session, again.Session)
	}
	return c, err
}

// isHashSession reports whether s is prefix followed by a 64-bit hex hash.
func isHashSession(s, prefix string) bool {
	h, ok := strings.CutPrefix(s, prefix)
	_, err := hex.DecodeString(h)
	return ok && len(h) == 16 && err == nil
}

func FuzzAnthropicParse(f *testing.F) {
	for _, b := range seedBodies {
		f.Add([]byte(b), "", false)
	}
	f.Add([]byte(seedSDK), "0199a3c4-7d2e-7b61-9f0a-3c2d1e4f5a6b", false)
	f.Add([]byte(seedClaudeCode), "", true)
	f.Fuzz(func(t *testing.T, body []byte, sessionHdr string, count bool) {
		p := &Anthropic{Identity: fuzzIdentity}
		path, ep := "/v1/messages", EndpointGenerate
		if count {
			path, ep = "/v1/messages/count_tokens", EndpointCountTokens
		}
		c, err := fuzzParse(t, p, fuzzRequest(path, body, "x-claude-code-session-id", sessionHdr), ep)
		if err != nil {
			return
		}
		if count && c.Stream {
			t.Fatalf("count_tokens parsed as a stream")
		}
		if hdr := c.header("x-claude-code-session-id"); hdr != "" && !strings.HasPrefix(c.Session, "cc:") {
			t.Fatalf("session header %q gave session %q", hdr, c.Session)
		}
		if c.Session != "" && !strings.HasPrefix(c.Session, "cc:") && !isHashSession(c.Session, "h:") {
			t.Fatalf("session %q is neither cc: nor a hash", c.Session)
		}
	})
}

func FuzzOpenAIParse(f *testing.F) {
	for _, b := range seedBodies {
		f.Add([]byte(b), "", false)
		f.Add([]byte(b), "", true)
	}
	f.Add([]byte(seedCodex), "0199a3c4-7d2e-7b61-9f0a-3c2d1e4f5a6b", false)
	f.Fuzz(func(t *testing.T, body []byte, sessionHdr string, chat bool) {
		p := &OpenAI{Chat: chat}
		path := "/v1/responses"
		if chat {
			path = "/v1/chat/completions"
		}
		c, err := fuzzParse(t, p, fuzzRequest(path, body, "session_id", sessionHdr), EndpointGenerate)
		if err != nil {
			return
		}
		if c.header("session_id") != "" && c.Session == "" {
			t.Fatalf("session_id header %q gave no session", c.header("session_id"))
		}
		if c.Session != "" && !strings.HasPrefix(c.Session, "resp:") && !strings.HasPrefix(c.Session, "oa:") {
			t.Fatalf("session %q has no known prefix", c.Session)
		}
	})
}

func FuzzGeminiParse(f *testing.F) {
	for _, b := range []string{seedGemini, `{}`, `{"contents":[]}`, `{"contents":[{"parts":[{"text":"x"}]}]}`} {
		for _, m := range []string{"generateContent", "streamGenerateContent", "countTokens", "bogus", ""} {
			f.Add("gemini-2.5-pro:"+m, []byte(b), "")
		}
	}
	f.Add("gemini-2.5-flash:generateContent", []byte(seedGemini), "user-1234")
	f.Fuzz(func(t *testing.T, rest string, body []byte, uid string) {
		p := &Gemini{}
		req := fuzzRequest("/v1beta/models/"+rest, body, "x-gemini-api-privileged-user-id", uid)
		if !strings.HasPrefix(string(req.URI().Path()), "/v1beta/models/") {
			return // normalised out of the route
		}
		c, err := fuzzParse(t, p, req, EndpointGenerate)
		if err != nil {
			return
		}
		_, method := geminiMethod(c.Path)
		if c.Stream != (method == "streamGenerateContent") || (c.Endpoint == EndpointCountTokens) != (method == "countTokens") {
			t.Fatalf("method %q parsed as stream=%v endpoint=%v", method, c.Stream, c.Endpoint)
		}
		if c.Session != "" && !isHashSession(c.Session, "g:") {
			t.Fatalf("session %q is not a g: hash", c.Session)
		}
	})
}

func FuzzAnthropicSession(f *testing.F) {
	f.Add(`{"device_id":"d","session_id":"s-1"}`, "", []byte(`[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}]`), []byte(seedClaudeCode))
	f.Add("user_abc_account__session_0199a3c4-7d2e", "", []byte(`"sys"`), []byte(seedClaudeLegacy))
	f.Add("", "hdr-session", []byte(``), []byte(seedSDK))
	f.Add("", "", []byte(``), []byte(`{}`))
	f.Fuzz(func(t *testing.T, userID, header string, system, body []byte) {
		sys := gjson.ParseBytes(system)
		s := anthropicSession(userID, header, sys, body)
		if again := anthropicSession(userID, header, gjson.ParseBytes(system), body); again != s {
			t.Fatalf("not deterministic: %q then %q", s, again)
		}
		switch {
		case header != "" && !strings.HasPrefix(s, "cc:"):
			t.Fatalf("header %q gave session %q", header, s)
		case s != "" && !strings.HasPrefix(s, "cc:") && !isHashSession(s, "h:"):
			t.Fatalf("session %q is neither cc: nor a hash", s)
		}
		if sid := gjson.Get(userID, "session_id").String(); strings.HasPrefix(userID, "{") && sid != "" && s != "cc:"+sid {
			t.Fatalf("user_id %q gave session %q, want cc:%s", userID, s, sid)
		}
	})
}

func FuzzPrependIdentity(f *testing.F) {
	for _, b := range seedBodies {
		f.Add([]byte(b), fuzzIdentity)
	}
	f.Add([]byte(`{"system":"a \"quoted\" prompt"}`), "You are Claude Code")
	f.Add([]byte(`{"system":{"type":"text"}}`), "x")
	f.Fuzz(func(t *testing.T, body []byte, identity string) {
		out, err := prependIdentity(body, identity) // must not panic, whatever the body
		if !gjson.ValidBytes(body) || !IsJSONObject(body) {
			return
		}
		if err != nil {
			t.Fatalf("prependIdentity(%s): %v", body, err)
		}
		if !gjson.ValidBytes(out) {
			t.Fatalf("prependIdentity turned valid JSON into invalid JSON:\n in: %s\nout: %s", body, out)
		}
		sys := gjson.GetBytes(body, "system")
		if sys.Exists() && sys.Type != gjson.Null && sys.Type != gjson.String && !sys.IsArray() {
			return // left alone: the upstream rejects it
		}
		if got := gjson.GetBytes(out, "system.0.text").String(); got != identity && utf8.ValidString(identity) {
			t.Fatalf("system.0.text = %q, want the identity %q\nout: %s", got, identity, out)
		}
		if sys.Type == gjson.String && gjson.GetBytes(out, "system.1.text").String() != sys.Str {
			t.Fatalf("the client's system string was not kept second\nout: %s", out)
		}
	})
}

// fuzzProtocols are the generating routes FuzzPrepare and FuzzResponse
// pick from.
func fuzzProtocol(which uint8) (Protocol, string, Endpoint) {
	switch which % 5 {
	case 0:
		return &Anthropic{Identity: fuzzIdentity}, "/v1/messages", EndpointGenerate
	case 1:
		return &Anthropic{Identity: fuzzIdentity}, "/v1/messages/count_tokens", EndpointCountTokens
	case 2:
		return &OpenAI{AccountID: func(*upstream.Account) string { return "acct-1" }}, "/v1/responses", EndpointGenerate
	case 3:
		return &OpenAI{Chat: true, AccountID: func(*upstream.Account) string { return "acct-1" }}, "/v1/chat/completions", EndpointGenerate
	}
	return &Gemini{projects: newProjectCache(nil, nil)}, "/v1beta/models/gemini-2.5-pro:streamGenerateContent", EndpointGenerate
}

// jsonRoundTrip is s as a JSON reader sees it once written: invalid UTF-8
// becomes U+FFFD.
func jsonRoundTrip(s string) string {
	var out string
	b, _ := json.Marshal(s)
	_ = json.Unmarshal(b, &out)
	return out
}

// topLevel returns every value of key among the top-level members of a
// JSON object, duplicates included: parsers differ on which one wins.
func topLevel(body []byte, key string) []string {
	var out []string
	gjson.ParseBytes(body).ForEach(func(k, v gjson.Result) bool {
		if k.Str == key {
			out = append(out, v.String())
		}
		return true
	})
	return out
}

func FuzzPrepare(f *testing.F) {
	for _, b := range seedBodies {
		for which := range uint8(5) {
			f.Add([]byte(b), which, false, "")
			f.Add([]byte(b), which, true, "mapped-model")
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8, oauth bool, upModel string) {
		proto, path, ep := fuzzProtocol(which)
		if !IsJSONObject(body) {
			return // handle answers 400 before any protocol runs
		}
		creq := fuzzRequest(path, body)
		c := fuzzCall(proto, creq, ep)
		if err := proto.Parse(fuzzHead(creq), c); err != nil {
			return
		}
		c.UpstreamModel = c.Model
		if upModel != "" {
			c.UpstreamModel = upModel
		}
		acct := &upstream.Account{Account: sched.Account{Name: "a1", Platform: proto.Platform(), Type: "api_key"}}
		if oauth {
			acct.Type = "oauth"
		}
		c.Acct = acct
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		err := proto.Prepare(req, c, acct, "upstream-token")
		if errors.Is(err, ErrNotSupported) {
			return
		}
		for k, v := range req.Header.All() {
			if bytes.Contains(v, []byte(fuzzClientKey)) {
				t.Fatalf("the client's key went upstream in %s", k)
			}
		}
		valid := gjson.ValidBytes(body)
		if err != nil {
			if valid {
				t.Fatalf("Prepare(%s): %v", body, err)
			}
			return
		}
		if valid {
			checkPrepared(t, proto, c, body, req)
		}
	})
}

// checkPrepared checks the upstream body Prepare built from a valid one.
func checkPrepared(t *testing.T, proto Protocol, c *Call, body []byte, req *fasthttp.Request) {
	t.Helper()
	out := req.Body()
	if !gjson.ValidBytes(out) {
		t.Fatalf("Prepare turned valid JSON into invalid JSON:\n in: %s\nout: %s", body, out)
	}
	mapped, oauth := c.UpstreamModel != c.Model, c.Acct.OAuth()
	if _, gemini := proto.(*Gemini); gemini {
		switch {
		case !oauth && !bytes.Equal(out, body):
			t.Fatalf("Gemini API body changed:\n in: %s\nout: %s", body, out)
		case oauth && gjson.GetBytes(out, "request").Raw != string(bytes.TrimSpace(body)):
			t.Fatalf("Code Assist envelope does not carry the request:\n in: %s\nout: %s", body, out)
		case oauth && gjson.GetBytes(out, "model").String() != jsonRoundTrip(c.UpstreamModel):
			t.Fatalf("Code Assist envelope model = %q, want %q", gjson.GetBytes(out, "model").String(), c.UpstreamModel)
		}
		return
	}
	if mapped {
		for _, m := range topLevel(out, "model") {
			if m != jsonRoundTrip(c.UpstreamModel) {
				t.Fatalf("upstream body still names model %q besides %q:\n in: %s\nout: %s", m, c.UpstreamModel, body, out)
			}
		}
	}
	switch p := proto.(type) {
	case *Anthropic:
		identity := oauth && !c.ClaudeCode && c.Endpoint == EndpointGenerate
		if identity && gjson.GetBytes(out, "system.0.text").String() != p.Identity {
			if s := gjson.GetBytes(body, "system"); !s.Exists() || s.Type == gjson.Null || s.Type == gjson.String || s.IsArray() {
				t.Fatalf("identity not prepended:\nout: %s", out)
			}
		}
		if !mapped && !identity && !bytes.Equal(out, body) {
			t.Fatalf("body not passed byte for byte:\n in: %s\nout: %s", body, out)
		}
		if oauth && !strings.Contains(string(req.Header.Peek("anthropic-beta")), oauthBeta) {
			t.Fatalf("OAuth request without the %s beta", oauthBeta)
		}
	case *OpenAI:
		if oauth && !p.Chat {
			if gjson.GetBytes(out, "store").Type != gjson.False || gjson.GetBytes(out, "stream").Type != gjson.True ||
				!gjson.GetBytes(out, "instructions").Exists() {
				t.Fatalf("Codex body breaks the backend's rules:\nout: %s", out)
			}
		}
		if p.Chat && c.Stream && !gjson.GetBytes(out, "stream_options.include_usage").Bool() {
			t.Fatalf("chat stream without include_usage:\nout: %s", out)
		}
	}
}

func FuzzResponse(f *testing.F) {
	f.Add([]byte(`{"id":"msg_1","type":"message","model":"claude-sonnet-4-5","usage":{"input_tokens":10,"output_tokens":5}}`), uint8(0), true)
	f.Add([]byte(`{"id":"resp_1","object":"response","model":"gpt-5","usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":4},"output_tokens":3}}`), uint8(2), true)
	f.Add([]byte(`{"id":"c1","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2}}`), uint8(3), false)
	f.Add([]byte(`{"response":{"candidates":[],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":2}}}`), uint8(4), true)
	f.Fuzz(func(t *testing.T, body []byte, which uint8, mapped bool) {
		proto, _, ep := fuzzProtocol(which)
		c := &Call{Proto: proto, Endpoint: ep, Model: "client-model", UpstreamModel: "client-model",
			Acct: &upstream.Account{Account: sched.Account{Name: "a1", Type: "oauth"}}}
		if mapped {
			c.UpstreamModel = "upstream-model"
		}
		var st StreamState
		out := proto.Response(body, c, &st.Usage)
		if gjson.ValidBytes(body) && !gjson.ValidBytes(out) {
			t.Fatalf("Response turned valid JSON into invalid JSON:\n in: %s\nout: %s", body, out)
		}
	})
}

// passProto relays every SSE event untouched.
type passProto struct{ Anthropic }

func (*passProto) Event(_, _ []byte, _ *Call, _ *StreamState) []byte { return nil }

// sseSeeds are recorded upstream streams of every format.
func sseSeeds() [][]byte {
	var out [][]byte
	for _, name := range []string{"plain", "cache_split", "nospace", "responses_codex", "responses_incomplete",
		"chat_usage", "chat_compat", "gemini_thoughts", "codeassist_stream"} {
		out = append(out, upstreamtest.Transcript(name))
	}
	return append(out, []byte("event: ping\n"), []byte("data: x\r\n\r\n"), []byte(": comment\n\ndata"))
}

// chunks cuts b into the pieces an upstream read might return, sized by
// cuts (scaled up for long inputs), all of b at once when cuts is empty.
func chunks(b, cuts []byte) [][]byte {
	if len(cuts) == 0 {
		return [][]byte{b}
	}
	scale := 1 + len(b)>>16
	var out [][]byte
	for i := 0; len(b) > 0; i++ {
		n := min((1+int(cuts[i%len(cuts)]))*scale, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// feedChunks feeds the pieces through one reused read buffer, as relay
// does, scribbling over it after each feed so that anything that kept a
// reference into it shows. check runs after every feed.
func feedChunks(sc *SSEScanner, w *bufio.Writer, pieces [][]byte, check func()) {
	var buf []byte
	for _, p := range pieces {
		buf = append(buf[:0], p...)
		sc.Feed(w, buf)
		for i := range buf {
			buf[i] = '#'
		}
		check()
	}
	sc.Finish(w)
	_ = w.Flush()
}

// FuzzSSEScanner: with a protocol that rewrites nothing, the client gets
// exactly the upstream's bytes however they were chunked, and the scanner
// never holds more than maxLine of them. Some inputs carry one line about
// maxLine long to cross the pass-through path.
func FuzzSSEScanner(f *testing.F) {
	for _, s := range sseSeeds() {
		f.Add(s, []byte{}, uint16(0))
		f.Add(s, []byte{0, 7, 63, 1}, uint16(0))
	}
	f.Add([]byte("event: a\ndata: b\n\n"), []byte{200}, uint16(1))
	f.Add([]byte("data: b\n\n"), []byte{255, 3}, uint16(1+4*9))
	f.Fuzz(func(t *testing.T, stream, cuts []byte, long uint16) {
		if long%4 == 1 { // a line of maxLine-8 .. maxLine+8 bytes at some offset
			at := int(long>>2) % (len(stream) + 1)
			line := append([]byte("data: "), bytes.Repeat([]byte{'x'}, maxLine-14+int(long>>2)%16)...)
			stream = append(append(append(stream[:at:at], line...), '\n'), stream[at:]...)
		}
		var out bytes.Buffer
		w := bufio.NewWriterSize(&out, 4096)
		sc := NewSSEScanner(&Call{Proto: &passProto{}}, &StreamState{})
		feedChunks(sc, w, chunks(stream, cuts), func() {
			if len(sc.pending) > maxLine {
				t.Fatalf("scanner holds %d bytes, more than maxLine", len(sc.pending))
			}
			_ = w.Flush()
			if !sc.MidEvent() && out.Len() > 0 && out.Bytes()[out.Len()-1] != '\n' {
				t.Fatalf("midEvent is false but the client has part of a line")
			}
		})
		if !bytes.Equal(out.Bytes(), stream) {
			t.Fatalf("relayed bytes differ from the upstream's (%d vs %d bytes)", out.Len(), len(stream))
		}
	})
}

// sseTail follows a client's SSE parser over the bytes it was sent, to
// tell whether an event is open (a field line since the last blank line).
type sseTail struct {
	open    bool
	partial bool // inside a line
	field   bool // the current line is a field, not a comment
}

func (s *sseTail) write(b []byte) {
	for _, ch := range b {
		switch {
		case ch == '\n':
			if s.partial && s.field {
				s.open = true
			} else if !s.partial {
				s.open = false // a blank line ends the event
			}
			s.partial, s.field = false, false
		case ch == '\r' && !s.partial:
			// "\r\n": still a blank line
		case !s.partial:
			s.partial, s.field = true, ch != ':'
		}
	}
}

// FuzzSSEKeepalive: whenever the scanner allows a keepalive (midEvent
// false), the client must sit between two events; a keepalive written
// inside one would merge with it (an Anthropic ping renames the event and
// appends its data).
func FuzzSSEKeepalive(f *testing.F) {
	for _, s := range sseSeeds() {
		f.Add(s, []byte{5, 17, 40})
	}
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		var out bytes.Buffer
		w := bufio.NewWriterSize(&out, 4096)
		sc := NewSSEScanner(&Call{Proto: &passProto{}}, &StreamState{})
		var tail sseTail
		seen := 0
		feedChunks(sc, w, chunks(stream, cuts), func() {
			_ = w.Flush()
			tail.write(out.Bytes()[seen:])
			seen = out.Len()
			if !sc.MidEvent() && (tail.open || tail.partial) {
				t.Fatalf("keepalive allowed inside an event after %q", out.Bytes())
			}
		})
	})
}

// FuzzSSEEvents runs the real protocols over a stream whole and chunked:
// the client bytes and what the protocol learnt must not depend on where
// the upstream's reads fell.
func FuzzSSEEvents(f *testing.F) {
	for i, s := range sseSeeds() {
		f.Add(s, []byte{3, 90, 12}, uint8(i), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, stream, cuts []byte, which uint8, mapped bool) {
		proto, _, ep := fuzzProtocol(which)
		run := func(pieces [][]byte) ([]byte, StreamState) {
			c := &Call{Proto: proto, Endpoint: ep, Model: "client-model", UpstreamModel: "client-model", Stream: which%2 == 0,
				Acct: &upstream.Account{Account: sched.Account{Name: "a1", Type: "oauth"}}}
			if mapped {
				c.UpstreamModel = "upstream-model"
			}
			var out bytes.Buffer
			var st StreamState
			feedChunks(NewSSEScanner(c, &st), bufio.NewWriterSize(&out, 4096), pieces, func() {})
			return out.Bytes(), st
		}
		whole, st1 := run([][]byte{stream})
		cut, st2 := run(chunks(stream, cuts))
		if !bytes.Equal(whole, cut) {
			t.Fatalf("chunking changed the client's bytes:\nwhole: %q\n  cut: %q", whole, cut)
		}
		if st1.Usage != st2.Usage || st1.Done != st2.Done || st1.Err != st2.Err || st1.ResponseID != st2.ResponseID {
			t.Fatalf("chunking changed the stream state: %+v vs %+v", st1, st2)
		}
	})
}
