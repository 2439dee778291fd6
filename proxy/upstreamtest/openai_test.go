package upstreamtest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

var bearer = []string{"Authorization", "Bearer " + openaiKey}

func TestResponsesStreamFraming(t *testing.T) {
	s := mustStart(t, Config{Usage: Usage{InputTokens: 30, CacheReadInputTokens: 70, OutputTokens: 9, ReasoningTokens: 4}})
	r := mustPost(t, s, "/v1/responses", `{"model":"gpt-5.5","stream":true,"instructions":"be brief","input":"hi"}`, bearer...)
	if got, want := r.status, 200; got != want {
		t.Fatalf("status = %d, want %d: %s", got, want, r.body)
	}
	if r.header["x-request-id"] == "" || r.header["x-ratelimit-remaining-requests"] != "499" {
		t.Errorf("headers = %v", r.header)
	}
	frames := bytes.SplitAfter(r.body, []byte("\n\n"))
	frames = frames[:len(frames)-1]
	want := []string{"response.created", "response.in_progress", "response.output_item.added",
		"response.content_part.added", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.delta", "response.output_text.done", "response.content_part.done",
		"response.output_item.done", "response.completed"}
	if got := len(frames); got != len(want) {
		t.Fatalf("%d frames, want %d:\n%s", got, len(want), r.body)
	}
	var text string
	for i, f := range frames {
		prefix := "event: " + want[i] + "\ndata: {"
		if !bytes.HasPrefix(f, []byte(prefix)) {
			t.Fatalf("frame %d = %q, want prefix %q", i, f, prefix)
		}
		data := f[len(prefix)-1:]
		if got := gjson.GetBytes(data, "type").Str; got != want[i] {
			t.Errorf("frame %d type = %q, want %q", i, got, want[i])
		}
		if got := gjson.GetBytes(data, "sequence_number").Int(); got != int64(i) {
			t.Errorf("frame %d sequence_number = %d", i, got)
		}
		text += gjson.GetBytes(data, "delta").Str
	}
	if got, want := text, replyText; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	ev := ParseSSE(r.body)
	done := gjson.ParseBytes(ev[len(ev)-1].Data).Get("response")
	id := done.Get("id").Str
	if !strings.HasPrefix(id, "resp_mock_") || gjson.GetBytes(ev[0].Data, "response.id").Str != id {
		t.Errorf("ids: created %s, completed %s", gjson.GetBytes(ev[0].Data, "response.id").Str, id)
	}
	for path, want := range map[string]string{
		"model": "gpt-5.5", "status": "completed", "instructions": "be brief",
		"output.0.content.0.text": replyText,
	} {
		if got := done.Get(path).Str; got != want {
			t.Errorf("response.%s = %q, want %q", path, got, want)
		}
	}
	for path, want := range map[string]int64{
		"usage.input_tokens": 100, "usage.input_tokens_details.cached_tokens": 70,
		"usage.output_tokens": 9, "usage.output_tokens_details.reasoning_tokens": 4, "usage.total_tokens": 109,
	} {
		if got := done.Get(path).Int(); got != want {
			t.Errorf("response.%s = %d, want %d", path, got, want)
		}
	}
	if got, want := s.ResponseOwner(id), openaiKey; got != want {
		t.Errorf("owner = %q, want %q", got, want)
	}
}

func TestResponsesNonStreamAndPrevious(t *testing.T) {
	s := mustStart(t, Config{})
	r := mustPost(t, s, "/v1/responses", `{"model":"gpt-5.5","input":"hi"}`, bearer...)
	if r.status != 200 || gjson.GetBytes(r.body, "object").Str != "response" ||
		gjson.GetBytes(r.body, "output.0.content.0.text").Str != replyText ||
		gjson.GetBytes(r.body, "usage.total_tokens").Int() != 35 {
		t.Fatalf("reply = %d %s", r.status, r.body)
	}
	id := gjson.GetBytes(r.body, "id").Str
	if got, want := s.ResponseOwner(id), openaiKey; got != want {
		t.Errorf("owner = %q, want %q", got, want)
	}
	body := `{"model":"gpt-5.5","input":"more","previous_response_id":"` + id + `"}`
	r = mustPost(t, s, "/v1/responses", body, "Authorization", "Bearer sk-other")
	if r.status != 400 || gjson.GetBytes(r.body, "error.code").Str != "previous_response_not_found" ||
		gjson.GetBytes(r.body, "error.param").Str != "previous_response_id" {
		t.Errorf("foreign previous response = %d %s", r.status, r.body)
	}
	r = mustPost(t, s, "/v1/responses", body, bearer...)
	if r.status != 200 || gjson.GetBytes(r.body, "previous_response_id").Str != id {
		t.Errorf("own previous response = %d %s", r.status, r.body)
	}
	// An error step produces no response to remember.
	s.Script(openaiKey, ServerError())
	mustPost(t, s, "/v1/responses", `{"model":"m"}`, bearer...)
	s.mu.Lock()
	owners := len(s.owners)
	s.mu.Unlock()
	if got := owners; got != 2 {
		t.Errorf("%d owners, want 2", got)
	}
	if s.ResponseOwner("resp_unknown") != "" {
		t.Error("unknown response has an owner")
	}
	s.Reset()
	if s.ResponseOwner(id) != "" {
		t.Error("owner survived Reset")
	}
}

func TestChatCompletions(t *testing.T) {
	s := mustStart(t, Config{Usage: Usage{InputTokens: 10, CacheReadInputTokens: 20, OutputTokens: 5, ReasoningTokens: 2}})
	// Without include_usage: no usage chunk.
	r := mustPost(t, s, "/v1/chat/completions", `{"model":"gpt-4.1-mini","stream":true}`, bearer...)
	ev := ParseSSE(r.body)
	if got, want := len(ev), 1+3+1+1; got != want {
		t.Fatalf("%d chunks, want %d:\n%s", got, want, r.body)
	}
	var text string
	for i, e := range ev[:len(ev)-1] {
		c := gjson.ParseBytes(e.Data)
		if e.Name != "message" || c.Get("object").Str != "chat.completion.chunk" || c.Get("model").Str != "gpt-4.1-mini" {
			t.Errorf("chunk %d = %s", i, e.Data)
		}
		if u := c.Get("usage"); u.Type != gjson.Null {
			t.Errorf("chunk %d usage = %s, want null", i, u.Raw)
		}
		text += c.Get("choices.0.delta.content").Str
	}
	if got, want := text, replyText; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	if got := gjson.GetBytes(ev[len(ev)-2].Data, "choices.0.finish_reason").Str; got != "stop" {
		t.Errorf("finish_reason = %q", got)
	}
	if string(ev[len(ev)-1].Data) != "[DONE]" || !bytes.HasSuffix(r.body, []byte("data: [DONE]\n\n")) {
		t.Errorf("stream end:\n%s", r.body)
	}
	if got := ScanUsageAs(FormatChat, r.body); got != (Usage{}) {
		t.Errorf("usage without include_usage = %+v", got)
	}

	// With include_usage: one more chunk, empty choices, the usage.
	r = mustPost(t, s, "/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, bearer...)
	ev = ParseSSE(r.body)
	u := gjson.ParseBytes(ev[len(ev)-2].Data)
	if len(u.Get("choices").Array()) != 0 || !u.Get("choices").IsArray() {
		t.Errorf("usage chunk choices = %s", u.Get("choices").Raw)
	}
	for path, want := range map[string]int64{
		"usage.prompt_tokens": 30, "usage.completion_tokens": 5, "usage.total_tokens": 35,
		"usage.prompt_tokens_details.cached_tokens": 20, "usage.completion_tokens_details.reasoning_tokens": 2,
	} {
		if got := u.Get(path).Int(); got != want {
			t.Errorf("%s = %d, want %d", path, got, want)
		}
	}

	r = mustPost(t, s, "/v1/chat/completions", `{"model":"m","messages":[]}`, bearer...)
	if gjson.GetBytes(r.body, "object").Str != "chat.completion" ||
		gjson.GetBytes(r.body, "choices.0.message.content").Str != replyText ||
		gjson.GetBytes(r.body, "usage.prompt_tokens").Int() != 30 {
		t.Errorf("non-stream = %s", r.body)
	}
}

func TestOpenAIAuthAndModels(t *testing.T) {
	s := mustStart(t, Config{OpenAIModels: []string{"gpt-a", "gpt-b"}})
	for _, path := range []string{"/v1/responses", "/v1/chat/completions"} {
		r := mustPost(t, s, path, `{"model":"m"}`)
		if r.status != 401 || gjson.GetBytes(r.body, "error.message").Str != msgOpenAINoKey {
			t.Errorf("%s without key = %d %s", path, r.status, r.body)
		}
		r = mustPost(t, s, path, `{"model":`, bearer...)
		if r.status != 400 || gjson.GetBytes(r.body, "error.type").Str != "invalid_request_error" {
			t.Errorf("%s bad JSON = %d %s", path, r.status, r.body)
		}
	}
	r := send(t, s, "GET", "/v1/models", "", bearer...)
	if r.status != 200 || gjson.GetBytes(r.body, "object").Str != "list" ||
		gjson.GetBytes(r.body, "data.1.id").Str != "gpt-b" || gjson.GetBytes(r.body, "data.0.object").Str != "model" ||
		!gjson.GetBytes(r.body, "data.0.owned_by").Exists() || !gjson.GetBytes(r.body, "data.0.created").Exists() {
		t.Errorf("openai models = %d %s", r.status, r.body)
	}
	for _, h := range [][]string{{"x-api-key", testKey}, append([]string{"anthropic-version", "2023-06-01"}, bearer...)} {
		r = send(t, s, "GET", "/v1/models", "", h...)
		if r.status != 200 || gjson.GetBytes(r.body, "data.0.type").Str != "model" || !gjson.GetBytes(r.body, "has_more").Exists() {
			t.Errorf("anthropic models with %v = %d %s", h[0], r.status, r.body)
		}
	}
	s.Revoke(openaiKey)
	for _, req := range []struct{ method, path string }{{"GET", "/v1/models"}, {"POST", "/v1/responses"}} {
		r = send(t, s, req.method, req.path, `{"model":"m"}`, bearer...)
		if r.status != 401 || gjson.GetBytes(r.body, "error.code").Str != "invalid_api_key" {
			t.Errorf("revoked %s = %d %s", req.path, r.status, r.body)
		}
	}
}

func TestOpenAIRateLimitHeaders(t *testing.T) {
	s := mustStart(t, Config{})
	s.Script(openaiKey, RateLimited(90*time.Second, time.Time{}), Error(429, "rate_limit_error", "slow down"))
	for _, want := range [][2]string{{"90", "1m30s"}, {"1", "1s"}} {
		r := mustPost(t, s, "/v1/chat/completions", `{"model":"m"}`, bearer...)
		if r.status != 429 || r.header["retry-after"] != want[0] || r.header["x-ratelimit-reset-requests"] != want[1] ||
			r.header["x-ratelimit-remaining-tokens"] != "0" || r.header["x-ratelimit-limit-requests"] == "" {
			t.Errorf("429 = %d %v", r.status, r.header)
		}
	}
}
