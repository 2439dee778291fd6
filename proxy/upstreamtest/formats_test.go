package upstreamtest

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

// send issues one request through a buffered fasthttp client.
func send(t *testing.T, s *Server, method, path, body string, headers ...string) reply {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(s.URL() + path)
	req.Header.SetMethod(method)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if body != "" {
		req.SetBodyString(body)
	}
	c := &fasthttp.Client{}
	if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	r := reply{status: resp.StatusCode(), header: map[string]string{}, body: append([]byte(nil), resp.Body()...)}
	for k, v := range resp.Header.All() {
		r.header[strings.ToLower(string(k))] = string(v)
	}
	return r
}

// streamAt posts body to path through a StreamResponseBody client and
// reads the reply to its end.
func streamAt(t *testing.T, s *Server, path, body string, headers ...string) (int, []byte, error) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(s.URL() + path)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	req.SetBodyString(body)
	c := &fasthttp.Client{StreamResponseBody: true}
	if err := c.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.BodyStream())
	return resp.StatusCode(), b, err
}

// route is one generating route, with a valid streaming request.
type route struct {
	name, path, body string
	cred             string
	headers          []string
	format           Format
}

const (
	contents     = `"contents":[{"role":"user","parts":[{"text":"hi"}]}]`
	openaiKey    = "sk-proj-test"
	codexToken   = "oai-at-test"
	geminiKey    = "AIzaSy-test"
	googleBearer = "ya29.test"
)

var routes = []route{
	{"responses", "/v1/responses", `{"model":"gpt-5.5","stream":true,"input":"hi"}`,
		openaiKey, []string{"Authorization", "Bearer " + openaiKey}, FormatResponses},
	{"chat", "/v1/chat/completions", `{"model":"gpt-4.1-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
		openaiKey, []string{"Authorization", "Bearer " + openaiKey}, FormatChat},
	{"codex", "/backend-api/codex/responses", `{"model":"gpt-5.5-codex","stream":true,"store":false,"instructions":"","input":[]}`,
		codexToken, []string{"Authorization", "Bearer " + codexToken, "chatgpt-account-id", MockChatGPTAccountID}, FormatResponses},
	{"gemini", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", `{` + contents + `}`,
		geminiKey, []string{"x-goog-api-key", geminiKey}, FormatGemini},
	{"codeassist", "/v1internal:streamGenerateContent?alt=sse", `{"model":"gemini-2.5-pro","project":"p1","user_prompt_id":"u1","request":{` + contents + `}}`,
		googleBearer, []string{"Authorization", "Bearer " + googleBearer}, FormatCodeAssist},
}

func (r route) post(t *testing.T, s *Server) reply {
	t.Helper()
	return mustPost(t, s, r.path, r.body, r.headers...)
}

// complete reports whether a stream in format f reached its normal end.
func complete(f Format, body []byte) bool {
	ev := ParseSSE(body)
	if len(ev) == 0 {
		return false
	}
	last := ev[len(ev)-1]
	switch f {
	case FormatResponses:
		return last.Name == "response.completed"
	case FormatChat:
		return string(last.Data) == "[DONE]"
	case FormatCodeAssist:
		return gjson.GetBytes(last.Data, "response.candidates.0.finishReason").Str == "STOP"
	}
	return gjson.GetBytes(last.Data, "candidates.0.finishReason").Str == "STOP"
}

// wantUsage is what the scanner of f can see of u.
func wantUsage(f Format, u Usage) Usage {
	u.CacheCreationInputTokens, u.Ephemeral5m, u.Ephemeral1h = 0, 0, 0
	if f == FormatGemini || f == FormatCodeAssist {
		u.ReasoningTokens = 0
	} else {
		u.ThoughtsTokens = 0
	}
	return u
}

func TestRoutesStreamUsage(t *testing.T) {
	u := Usage{InputTokens: 40, OutputTokens: 12, CacheReadInputTokens: 60, ReasoningTokens: 5, ThoughtsTokens: 7}
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			s := mustStart(t, Config{})
			s.Script(r.cred, OK().WithUsage(u), OK())
			got := r.post(t, s)
			if got.status != 200 || !strings.HasPrefix(got.header["content-type"], "text/event-stream") {
				t.Fatalf("status %d, content-type %q: %s", got.status, got.header["content-type"], got.body)
			}
			if !complete(r.format, got.body) {
				t.Errorf("stream did not complete:\n%s", got.body)
			}
			if got, want := ScanUsageAs(r.format, got.body), wantUsage(r.format, u); got != want {
				t.Errorf("usage = %+v, want %+v", got, want)
			}
			// The next request falls back to the configured usage.
			d := DefaultUsage()
			if got, want := ScanUsageAs(r.format, r.post(t, s).body), (Usage{InputTokens: d.InputTokens, OutputTokens: d.OutputTokens}); got != want {
				t.Errorf("default usage = %+v, want %+v", got, want)
			}
			if got, want := s.Count(r.cred), 2; got != want {
				t.Errorf("count = %d, want %d", got, want)
			}
		})
	}
}

func TestRoutesCut(t *testing.T) {
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			s := mustStart(t, Config{})
			s.Script(r.cred, CutStream(1), CutMidChunk(2))
			for i, wantErr := range []bool{false, true} {
				status, body, err := streamAt(t, s, r.path, r.body, r.headers...)
				if status != 200 {
					t.Fatalf("cut %d: status %d", i, status)
				}
				if got := err != nil; got != wantErr {
					t.Errorf("cut %d: read error %v, want error %v", i, err, wantErr)
				}
				if complete(r.format, body) {
					t.Errorf("cut %d: stream looks complete:\n%s", i, body)
				}
				if got, want := strings.Count(string(body), `"`+piece(i)+`"`), 1; got < want {
					t.Errorf("cut %d: delta %q missing:\n%s", i, piece(i), body)
				}
			}
			if status, body, err := streamAt(t, s, r.path, r.body, r.headers...); status != 200 || err != nil || !complete(r.format, body) {
				t.Errorf("after cuts: status %d, err %v", status, err)
			}
		})
	}
}

func TestRoutesStreamError(t *testing.T) {
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			s := mustStart(t, Config{})
			s.Script(r.cred, StreamError())
			got := r.post(t, s)
			if got.status != 200 {
				t.Fatalf("status %d", got.status)
			}
			ev := ParseSSE(got.body)
			last := ev[len(ev)-1]
			switch r.format {
			case FormatResponses:
				if ev[len(ev)-2].Name != "error" || last.Name != "response.failed" ||
					gjson.GetBytes(last.Data, "response.status").Str != "failed" {
					t.Errorf("events:\n%s", got.body)
				}
			case FormatChat:
				if gjson.GetBytes(last.Data, "error.type").Str != "server_error" || bytes.Contains(got.body, []byte("[DONE]")) {
					t.Errorf("chunks:\n%s", got.body)
				}
			default:
				if gjson.GetBytes(last.Data, "error.status").Str != "UNAVAILABLE" || len(ev) != 2 {
					t.Errorf("chunks:\n%s", got.body)
				}
			}
		})
	}
}

func TestRoutesErrorShapes(t *testing.T) {
	steps := []struct {
		step   Step
		status int
		openai [2]string // error.type, error.code
		google string    // error.status
	}{
		{RateLimited(2*time.Second, time.Time{}), 429, [2]string{"requests", "rate_limit_exceeded"}, "RESOURCE_EXHAUSTED"},
		{AuthError(), 401, [2]string{"invalid_request_error", "invalid_api_key"}, "UNAUTHENTICATED"},
		{PermissionError(), 403, [2]string{"invalid_request_error", ""}, "PERMISSION_DENIED"},
		{ServerError(), 500, [2]string{"server_error", ""}, "INTERNAL"},
		{Overloaded(), 529, [2]string{"server_error", ""}, "UNKNOWN"},
		{Error(503, "UNAVAILABLE", "busy"), 503, [2]string{"UNAVAILABLE", ""}, "UNAVAILABLE"},
		{InsufficientQuota(), 429, [2]string{"insufficient_quota", "insufficient_quota"}, "RESOURCE_EXHAUSTED"},
	}
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			s := mustStart(t, Config{})
			for _, tt := range steps {
				s.Script(r.cred, tt.step)
				got := r.post(t, s)
				if got.status != tt.status {
					t.Fatalf("%s: status = %d, want %d", tt.step.ErrType, got.status, tt.status)
				}
				if r.format == FormatGemini || r.format == FormatCodeAssist {
					e := gjson.GetBytes(got.body, "error")
					if e.Get("status").Str != tt.google || e.Get("code").Int() != int64(tt.status) || e.Get("message").Str == "" {
						t.Errorf("%s: body %s, want status %s", tt.step.ErrType, got.body, tt.google)
					}
					continue
				}
				e := gjson.GetBytes(got.body, "error")
				if e.Get("type").Str != tt.openai[0] || e.Get("code").Str != tt.openai[1] ||
					!e.Get("param").Exists() || e.Get("message").Str == "" {
					t.Errorf("%s: body %s, want type %q code %q", tt.step.ErrType, got.body, tt.openai[0], tt.openai[1])
				}
				if tt.status == 429 && (got.header["x-ratelimit-remaining-requests"] != "0" || got.header["retry-after"] == "") {
					t.Errorf("%s: 429 headers %v", tt.step.ErrType, got.header)
				}
			}
		})
	}
}

func TestRoutesTimingAndReplay(t *testing.T) {
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			s := mustStart(t, Config{})
			tr := TranscriptsOf(r.format)[0]
			s.Script(r.cred, Hang(80*time.Millisecond), Silence(80*time.Millisecond), Replay(Transcript(tr)))
			for i, name := range []string{"hang", "silence"} {
				start := time.Now()
				got := r.post(t, s)
				if d := time.Since(start); d < 80*time.Millisecond || got.status != 200 || !complete(r.format, got.body) {
					t.Errorf("%s (%d): took %v, status %d", name, i, d, got.status)
				}
			}
			got := r.post(t, s)
			if !bytes.Equal(got.body, Transcript(tr)) {
				t.Errorf("replay differs:\n%s", got.body)
			}
			if got, want := ScanUsageAs(r.format, got.body), Golden(tr); got != want {
				t.Errorf("replayed usage = %+v, want %+v", got, want)
			}
		})
	}
}

func TestTranscriptsOfGolden(t *testing.T) {
	n := 0
	for _, f := range []Format{FormatAnthropic, FormatResponses, FormatChat, FormatGemini, FormatCodeAssist} {
		names := TranscriptsOf(f)
		if len(names) == 0 {
			t.Errorf("%s: no transcripts", f)
		}
		for _, name := range names {
			n++
			if got := TranscriptFormat(name + ".sse"); got != f {
				t.Errorf("%s: format %q, want %q", name, got, f)
			}
			if got, want := ScanUsageAs(f, Transcript(name)), Golden(name); got != want {
				t.Errorf("%s: usage = %+v, want %+v", name, got, want)
			}
		}
	}
	if got, want := n, len(transcriptFormats); got != want {
		t.Errorf("%d transcripts listed, want %d", got, want)
	}
	if got, want := strings.Join(Transcripts(), ","), strings.Join(TranscriptsOf(FormatAnthropic), ","); got != want {
		t.Errorf("Transcripts() = %s, want the Anthropic ones %s", got, want)
	}
	if got, want := Golden(TranscriptGeminiThoughts).BilledOutput(), 96+310; got != want {
		t.Errorf("billed output = %d, want %d", got, want)
	}
}
