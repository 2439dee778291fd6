package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// Gateway tests of the translated attempt: raw HTTP clients, the mock
// upstream in every format, the real scheduler and ledger. The official
// SDKs judge the same paths in sdk_translate_test.go.

const mockText = "Hello from mock"

func aliased(a Account, m map[string]string) Account {
	a.ModelMap = m
	return a
}

// lastUpstream is the mock's last recorded request.
func (h *harness) lastUpstream() upstreamtest.Recorded {
	h.t.Helper()
	reqs := h.up.Requests()
	if len(reqs) == 0 {
		h.t.Fatal("the mock saw no request")
	}
	return reqs[len(reqs)-1]
}

// TestMessagesTranslated: an Anthropic client on an OpenAI API key, a
// Codex login, a Gemini key and a Code Assist login, buffered and
// streamed: the reply is a Messages reply under the client's model, the
// upstream got its own format under its own model, and the ledger has
// the upstream's tokens under both names.
func TestMessagesTranslated(t *testing.T) {
	usage := upstreamtest.Usage{InputTokens: 700, CacheReadInputTokens: 300, OutputTokens: 40}
	tests := []struct {
		name     string
		acct     Account
		cred     string
		model    string // the client's
		upstream string
		path     string // the upstream route
	}{
		{"openai key", openaiKey("o1", "sk-o1"), "sk-o1", "gpt-5.5", "gpt-5.5", "/v1/responses"},
		{"codex", aliased(codexAccount("cx", "tok-cx", ""), map[string]string{"claude-sonnet-4-5": "gpt-5-codex"}), "tok-cx", "claude-sonnet-4-5", "gpt-5-codex", "/backend-api/codex/responses"},
		{"gemini key", geminiKey("g1", "AIza-g1"), "AIza-g1", "gemini-2.5-pro", "gemini-2.5-pro", "/v1beta/models/gemini-2.5-pro:"},
		{"code assist", aliased(geminiOAuth("ca", "ya29.ca", "1//r"), map[string]string{"claude-opus-5": "gemini-3-pro-preview"}), "ya29.ca", "claude-opus-5", "gemini-3-pro-preview", "/v1internal:"},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, []Account{tt.acct}, translating)
				h.up.Script(tt.cred, upstreamtest.OK().WithUsage(usage))
				body := `{"model":"` + tt.model + `","max_tokens":100,"system":"Be brief.","messages":[{"role":"user","content":"hi"}]}`
				if stream {
					body, _ = sjson.Set(body, "stream", true)
				}
				resp, b := h.post("/v1/messages", body)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, b)
				}
				var text, model, stop string
				var in, out int64
				if stream {
					if ct := resp.Header.Get("content-type"); !strings.HasPrefix(ct, "text/event-stream") {
						t.Fatalf("content-type %q", ct)
					}
					evs := sseEvents(b)
					if len(evs) == 0 || evs[0][0] != "message_start" || evs[len(evs)-1][0] != "message_stop" {
						t.Fatalf("events %v", evs)
					}
					for _, e := range evs {
						d := gjson.Parse(e[1])
						switch e[0] {
						case "message_start":
							model = d.Get("message.model").String()
						case "content_block_delta":
							text += d.Get("delta.text").String()
						case "message_delta":
							stop = d.Get("delta.stop_reason").String()
							in, out = d.Get("usage.input_tokens").Int(), d.Get("usage.output_tokens").Int()
						}
					}
				} else {
					m := gjson.ParseBytes(b)
					text, model, stop = m.Get("content.0.text").String(), m.Get("model").String(), m.Get("stop_reason").String()
					in, out = m.Get("usage.input_tokens").Int(), m.Get("usage.output_tokens").Int()
					if m.Get("type").String() != "message" {
						t.Fatalf("reply %s", b)
					}
				}
				if text != mockText || model != tt.model || stop != "end_turn" || in != 700 || out != 40 {
					t.Fatalf("text %q model %q stop %q usage %d/%d; body %s", text, model, stop, in, out, b)
				}
				up := h.lastUpstream()
				if !strings.HasPrefix(up.Path, tt.path) {
					t.Fatalf("upstream path %q, want %s…", up.Path, tt.path)
				}
				if up.Credential != tt.cred {
					t.Fatalf("upstream credential %q", up.Credential)
				}
				// Of the client's headers only its User-Agent goes on.
				if up.Header["user-agent"] != "Go-http-client/1.1" || up.Header["anthropic-version"] != "" {
					t.Fatalf("upstream headers %v", up.Header)
				}
				ub := gjson.ParseBytes(up.Body)
				switch {
				case strings.Contains(tt.path, "responses"):
					if ub.Get("model").String() != tt.upstream || ub.Get("input.0.role").String() == "" {
						t.Fatalf("upstream body %s", up.Body)
					}
				case tt.path == "/v1internal:":
					if ub.Get("model").String() != tt.upstream || !ub.Get("request.contents").IsArray() || ub.Get("project").String() == "" {
						t.Fatalf("code assist body %s", up.Body)
					}
				default:
					if !ub.Get("contents").IsArray() || ub.Get("systemInstruction.parts.0.text").String() != "Be brief." {
						t.Fatalf("gemini body %s", up.Body)
					}
				}
				rec := h.records(1)[0]
				if rec.Model != tt.model || rec.UpstreamModel != tt.upstream || rec.Account != tt.acct.Name || rec.Status != 200 {
					t.Fatalf("record %+v", rec)
				}
				if rec.InputTokens != 700 || rec.CacheReadTokens != 300 || rec.OutputTokens != 40 || rec.Estimated {
					t.Fatalf("record usage %+v", rec.Usage)
				}
			})
		}
	}
}

// TestChatTranslated: an OpenAI Chat client on a Claude API key and a
// Claude subscription (which gets its identity block and oauth beta), and
// on a Codex login, buffered and streamed.
func TestChatTranslated(t *testing.T) {
	claudeOAuth := oauthAccount("max", "sk-ant-oat01-max", "sk-ant-ort01-max", time.Now().Add(time.Hour))
	tests := []struct {
		name string
		acct Account
		cred string
	}{
		{"claude key", apiAccount("a1", "k1"), "k1"},
		{"claude subscription", claudeOAuth, "sk-ant-oat01-max"},
		{"codex", codexAccount("cx", "tok-cx", ""), "tok-cx"},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, []Account{tt.acct}, translating)
				model := "claude-sonnet-4-5"
				if tt.acct.Platform == "openai" {
					model = "gpt-5-codex"
				}
				body := `{"model":"` + model + `","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]`
				if stream {
					body += `,"stream":true,"stream_options":{"include_usage":true}`
				}
				resp, b := h.post("/v1/chat/completions", body+"}", "authorization", "Bearer "+testKey, "x-api-key", "")
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, b)
				}
				var text string
				var prompt int64
				if stream {
					evs := sseEvents(b)
					if evs[len(evs)-1][1] != "[DONE]" {
						t.Fatalf("stream does not end in [DONE]: %s", b)
					}
					for _, e := range evs {
						d := gjson.Parse(e[1])
						text += d.Get("choices.0.delta.content").String()
						if u := d.Get("usage.prompt_tokens"); u.Exists() {
							prompt = u.Int()
						}
					}
				} else {
					c := gjson.ParseBytes(b)
					text, prompt = c.Get("choices.0.message.content").String(), c.Get("usage.prompt_tokens").Int()
					if c.Get("object").String() != "chat.completion" || c.Get("model").String() != model {
						t.Fatalf("reply %s", b)
					}
				}
				if text != mockText || prompt != 25 {
					t.Fatalf("text %q prompt %d; body %s", text, prompt, b)
				}
				up := h.lastUpstream()
				if tt.acct.Platform == "anthropic" {
					sys := gjson.GetBytes(up.Body, "system").String()
					if tt.acct.OAuth() != strings.HasPrefix(gjson.GetBytes(up.Body, "system.0.text").String(), "You are Claude Code") {
						t.Fatalf("identity block (oauth %v): system %s", tt.acct.OAuth(), sys)
					}
					if !strings.Contains(sys, "Be brief.") || up.Path != "/v1/messages" {
						t.Fatalf("upstream %s %s", up.Path, up.Body)
					}
				}
				rec := h.records(1)[0]
				if rec.Model != model || rec.Status != 200 || rec.InputTokens != 25 || rec.OutputTokens != 10 {
					t.Fatalf("record %+v", rec)
				}
			})
		}
	}
}

// TestResponsesAndGeminiOnClaude: a Responses client and a Gemini client
// on a Claude API key.
func TestResponsesAndGeminiOnClaude(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, translating)
	resp, b := h.post("/v1/responses", `{"model":"claude-opus-5","instructions":"Be brief.","input":"hi"}`, "authorization", "Bearer "+testKey, "x-api-key", "")
	if resp.StatusCode != 200 || gjson.GetBytes(b, "output.0.content.0.text").String() != mockText ||
		gjson.GetBytes(b, "status").String() != "completed" || gjson.GetBytes(b, "model").String() != "claude-opus-5" {
		t.Fatalf("responses: %d %s", resp.StatusCode, b)
	}
	resp, b = h.post("/v1beta/models/claude-opus-5:streamGenerateContent?alt=sse",
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, "x-goog-api-key", testKey, "x-api-key", "")
	if resp.StatusCode != 200 {
		t.Fatalf("gemini: %d %s", resp.StatusCode, b)
	}
	var text, finish string
	for _, e := range sseEvents([]byte(strings.ReplaceAll(string(b), "\r\n", "\n"))) { // Google ends events with CRLF
		d := gjson.Parse(e[1])
		text += d.Get("candidates.0.content.parts.0.text").String()
		if f := d.Get("candidates.0.finishReason"); f.Exists() {
			finish = f.String()
		}
	}
	if text != mockText || finish != "STOP" {
		t.Fatalf("gemini stream text %q finish %q: %s", text, finish, b)
	}
	for _, r := range h.up.Requests() {
		if r.Path != "/v1/messages" {
			t.Fatalf("upstream route %s", r.Path)
		}
	}
	recs := h.records(2)
	if recs[0].Model != "claude-opus-5" || recs[1].Model != "claude-opus-5" || !recs[1].Stream {
		t.Fatalf("records %+v", recs)
	}
}

// TestTranslationNeedsPermission: without translation a key's requests
// stay in their family: an Anthropic client gets no OpenAI account.
func TestTranslationNeedsPermission(t *testing.T) {
	h := newHarness(t, []Account{openaiKey("o1", "sk-o1")})
	resp, b := h.post("/v1/messages", `{"model":"gpt-5.5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 503 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if n := len(h.up.Requests()); n != 0 {
		t.Fatalf("%d upstream requests", n)
	}
}

// TestGroupForbidsTranslation: a group's translate = false wins over its
// keys'.
func TestGroupForbidsTranslation(t *testing.T) {
	h := newHarness(t, []Account{openaiKey("o1", "sk-o1")}, translating, func(c *Config, _ *sched.Config) {
		c.Groups = map[string]Group{"default": {Translate: false}}
	})
	resp, b := h.post("/v1/messages", `{"model":"gpt-5.5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 503 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}

// TestFamilyFirstThenFailoverAcross: with a Claude and a Codex account,
// Claude clients go to Claude; when Claude fails they fail over to the
// Codex account, translated.
func TestFamilyFirstThenFailoverAcross(t *testing.T) {
	codex := aliased(codexAccount("cx", "tok-cx", ""), map[string]string{"claude-sonnet-4-5": "gpt-5-codex"})
	codex.Priority = 1 // better priority: still second to the family
	h := newHarness(t, []Account{apiAccount("a1", "k1"), codex}, translating)
	if resp, b := h.post("/v1/messages", simpleBody); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if h.up.Count("k1") != 1 || h.up.Count("tok-cx") != 0 {
		t.Fatalf("served by k1 %d, codex %d", h.up.Count("k1"), h.up.Count("tok-cx"))
	}
	h.up.Script("k1", upstreamtest.Overloaded())
	resp, b := h.post("/v1/messages", simpleBody)
	if resp.StatusCode != 200 || gjson.GetBytes(b, "content.0.text").String() != mockText {
		t.Fatalf("after failover: %d %s", resp.StatusCode, b)
	}
	if h.up.Count("tok-cx") != 1 {
		t.Fatalf("codex served %d", h.up.Count("tok-cx"))
	}
	recs := h.records(2)
	if recs[1].Account != "cx" || recs[1].UpstreamModel != "gpt-5-codex" || recs[1].Model != "claude-sonnet-4-5" {
		t.Fatalf("record %+v", recs[1])
	}
}

// TestUntranslatableIsClear: what a family cannot carry is a 400 naming
// the client's field, in the client's shape, and nothing goes upstream.
func TestUntranslatableIsClear(t *testing.T) {
	h := newHarness(t, []Account{geminiKey("g1", "AIza-1"), openaiKey("o1", "sk-o1")}, translating)
	tests := []struct {
		path, body, hdr, field string
	}{
		{"/v1/messages", `{"model":"gemini-2.5-pro","max_tokens":10,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"hi"}]}`, "x-api-key", "tools[0]"},
		{"/v1/messages", `{"model":"gpt-5.5","max_tokens":10,"stop_sequences":["END"],"messages":[{"role":"user","content":"hi"}]}`, "x-api-key", "stop_sequences"},
	}
	for _, tt := range tests {
		resp, b := h.post(tt.path, tt.body)
		msg := gjson.GetBytes(b, "error.message").String()
		if resp.StatusCode != 400 || gjson.GetBytes(b, "error.type").String() != "invalid_request_error" || !strings.Contains(msg, tt.field) {
			t.Errorf("%s: %d %s", tt.field, resp.StatusCode, b)
		}
	}
	if n := len(h.up.Requests()); n != 0 {
		t.Fatalf("%d upstream requests", n)
	}
	for _, rec := range h.records(len(tests)) {
		if rec.Status != 400 {
			t.Errorf("record %+v", rec)
		}
	}
}

// TestPreviousResponseOnClaudeIsClear: previous_response_id needs a turn
// this gateway does not keep: a clear 400 when the account is Claude's.
func TestPreviousResponseOnClaudeIsClear(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, translating)
	resp, b := h.post("/v1/responses", `{"model":"claude-opus-5","previous_response_id":"resp_1","input":"more"}`, "authorization", "Bearer "+testKey, "x-api-key", "")
	if resp.StatusCode != 400 || !strings.Contains(gjson.GetBytes(b, "error.message").String(), "previous_response_id") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if h.up.Count("k1") != 0 {
		t.Fatal("the request went upstream")
	}
}

// TestTranslatedUpstreamError: an upstream's request error reaches the
// client in the client's shape with the upstream's status and message.
func TestTranslatedUpstreamError(t *testing.T) {
	h := newHarness(t, []Account{openaiKey("o1", "sk-o1")}, translating)
	h.up.Script("sk-o1", upstreamtest.InvalidRequest("Invalid schema for function 'Read'"))
	resp, b := h.post("/v1/messages", `{"model":"gpt-5.5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 400 || gjson.GetBytes(b, "type").String() != "error" ||
		gjson.GetBytes(b, "error.type").String() != "invalid_request_error" ||
		gjson.GetBytes(b, "error.message").String() != "Invalid schema for function 'Read'" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	// A Chat client on Claude gets OpenAI's shape.
	h2 := newHarness(t, []Account{apiAccount("a1", "k1")}, translating)
	h2.up.Script("k1", upstreamtest.InvalidRequest("messages.0: bad"))
	resp, b = h2.post("/v1/chat/completions", `{"model":"claude-opus-5","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 400 || gjson.GetBytes(b, "error.message").String() != "messages.0: bad" ||
		gjson.GetBytes(b, "error.type").String() != "invalid_request_error" {
		t.Fatalf("chat: %d %s", resp.StatusCode, b)
	}
}

// TestTranslatedStreamCut: an upstream stream that breaks ends the
// client's stream with an error event in the client's shape, billed as
// an estimate.
func TestTranslatedStreamCut(t *testing.T) {
	h := newHarness(t, []Account{openaiKey("o1", "sk-o1")}, translating)
	h.up.Script("sk-o1", upstreamtest.CutStream(2))
	resp, b := h.post("/v1/messages", `{"model":"gpt-5.5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	evs := sseEvents(b)
	last := evs[len(evs)-1]
	if last[0] != "error" || gjson.Get(last[1], "type").String() != "error" {
		t.Fatalf("last event %v of %s", last, b)
	}
	for _, e := range evs {
		if e[0] == "message_stop" {
			t.Fatalf("a cut stream ended cleanly: %s", b)
		}
	}
	rec := h.records(1)[0]
	if rec.Error == "" || !rec.Estimated {
		t.Fatalf("record %+v", rec)
	}
	// A Responses client's stream ends as its protocol ends a failed
	// response: the error event, then response.failed.
	h2 := newHarness(t, []Account{apiAccount("a1", "k1")}, translating)
	h2.up.Script("k1", upstreamtest.CutStream(2))
	_, b = h2.post("/v1/responses", `{"model":"claude-opus-5","stream":true,"input":"hi"}`, "authorization", "Bearer "+testKey, "x-api-key", "")
	evs = sseEvents(b)
	if n := len(evs); n < 2 || evs[n-2][0] != "error" || evs[n-1][0] != "response.failed" {
		t.Fatalf("responses stream ends with %v", evs[max(0, len(evs)-2):])
	}
}

// TestChatOnCodexTranslated: Chat Completions on a Codex-only group is
// served through the Responses backend when the key may translate.
func TestChatOnCodexTranslated(t *testing.T) {
	h := newHarness(t, []Account{codexAccount("cx", "tok", "")}, translating)
	resp, b := h.post("/v1/chat/completions", `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`, "authorization", "Bearer "+testKey, "x-api-key", "")
	if resp.StatusCode != 200 || gjson.GetBytes(b, "choices.0.message.content").String() != mockText {
		t.Fatalf("status %d body %s", resp.StatusCode, b)
	}
	up := h.lastUpstream()
	if up.Path != "/backend-api/codex/responses" || gjson.GetBytes(up.Body, "store").Type != gjson.False {
		t.Fatalf("upstream %s %s", up.Path, up.Body)
	}
}

// TestCodexCollectRebuildsOutput: the Codex backend's response.completed
// may carry "output": [] though the items streamed; a non-stream
// Responses client (passed through) still gets them.
func TestCodexCollectRebuildsOutput(t *testing.T) {
	h := newHarness(t, []Account{codexAccount("cx", "tok", "")})
	h.up.Script("tok", upstreamtest.Replay(emptyOutput(t, upstreamtest.Transcript(upstreamtest.TranscriptResponsesCodex))))
	resp, b := h.post("/v1/responses", `{"model":"gpt-5.5-codex","input":"hi"}`, "authorization", "Bearer "+testKey, "x-api-key", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	out := gjson.GetBytes(b, "output")
	if n := len(out.Array()); n != 2 || out.Get("1.content.0.text").String() != "The repository has three packages: `kv`, `sched` and `proxy`." {
		t.Fatalf("output %s", out.Raw)
	}
	if rec := h.records(1)[0]; rec.OutputTokens != 220 {
		t.Fatalf("record %+v", rec)
	}
}

// emptyOutput empties the output of a Responses transcript's
// response.completed, as the Codex backend sends it.
func emptyOutput(t *testing.T, sse []byte) []byte {
	t.Helper()
	lines := strings.Split(string(sse), "\n")
	done := false
	for i, l := range lines {
		data, ok := strings.CutPrefix(l, "data: ")
		if !ok || gjson.Get(data, "type").String() != "response.completed" {
			continue
		}
		d, err := sjson.SetRaw(data, "response.output", "[]")
		if err != nil {
			t.Fatal(err)
		}
		lines[i], done = "data: "+d, true
	}
	if !done {
		t.Fatal("no response.completed in the transcript")
	}
	return []byte(strings.Join(lines, "\n"))
}

// TestCountTokensTranslatedIsLocal: count_tokens for an account of
// another family is estimated locally, in the client's shape.
func TestCountTokensTranslatedIsLocal(t *testing.T) {
	h := newHarness(t, []Account{aliased(codexAccount("cx", "tok", ""), map[string]string{"claude-sonnet-4-5": "gpt-5-codex"})}, translating)
	body := `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"` + strings.Repeat("x", 400) + `"}]}`
	resp, b := h.post("/v1/messages/count_tokens", body)
	if resp.StatusCode != 200 || gjson.GetBytes(b, "input_tokens").Int() != int64((len(body)+3)/4) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if n := len(h.up.Requests()); n != 0 {
		t.Fatalf("%d upstream requests", n)
	}
}

// TestUntranslatableMessageIsBounded: a refusal naming a client's huge
// key is cut before it is answered, logged and recorded.
func TestUntranslatableMessageIsBounded(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, translating)
	huge := strings.Repeat("k", 100_000)
	resp, b := h.post("/v1beta/models/claude-opus-5:generateContent",
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"`+huge+`":{}}]}`, "x-goog-api-key", testKey, "x-api-key", "")
	if resp.StatusCode != 400 || len(b) > 1000 || !strings.Contains(string(b), "tools[0]") {
		t.Fatalf("%d, %d bytes: %.300s", resp.StatusCode, len(b), b)
	}
	if rec := h.records(1)[0]; len(rec.Error) > 1000 || rec.Status != 400 {
		t.Fatalf("record error of %d bytes", len(rec.Error))
	}
}

// TestTranslatedKeepalive: a translated stream's silences are filled with
// the client's own keepalive (an SSE comment for a Chat client on Claude,
// never Anthropic's ping), and with nothing for a Gemini client.
func TestTranslatedKeepalive(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, translating, keepaliveEvery)
	h.up.Script("k1", upstreamtest.Silence(400*time.Millisecond), upstreamtest.Silence(400*time.Millisecond))
	resp, b := h.post("/v1/chat/completions", `{"model":"claude-opus-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "authorization", "Bearer "+testKey, "x-api-key", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(afterFirstEvent(b)), ": keepalive") || strings.Contains(string(b), "ping") {
		t.Fatalf("chat stream: %q", b)
	}
	resp, b = h.post("/v1beta/models/claude-opus-5:streamGenerateContent?alt=sse", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, "x-goog-api-key", testKey, "x-api-key", "")
	if resp.StatusCode != 200 {
		t.Fatalf("gemini stream: %d %q", resp.StatusCode, b)
	}
	checkDataOnly(t, b)
}
