package upstreamtest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

const geminiBody = `{` + contents + `,"generationConfig":{"thinkingConfig":{"includeThoughts":true}}}`

func TestGeminiGenerate(t *testing.T) {
	s := mustStart(t, Config{Usage: Usage{InputTokens: 50, OutputTokens: 8}})
	for _, c := range []struct {
		path    string
		headers []string
	}{
		{"/v1beta/models/gemini-2.5-pro:generateContent", []string{"x-goog-api-key", geminiKey}},
		{"/v1beta/models/gemini-2.5-pro:generateContent?key=" + geminiKey, nil},
	} {
		r := mustPost(t, s, c.path, geminiBody, c.headers...)
		if r.status != 200 {
			t.Fatalf("%s: status %d: %s", c.path, r.status, r.body)
		}
		for path, want := range map[string]string{
			"candidates.0.content.parts.0.text": replyText, "candidates.0.content.role": "model",
			"candidates.0.finishReason": "STOP", "modelVersion": "gemini-2.5-pro",
		} {
			if got := gjson.GetBytes(r.body, path).Str; got != want {
				t.Errorf("%s = %q, want %q", path, got, want)
			}
		}
		u := gjson.GetBytes(r.body, "usageMetadata")
		if u.Get("promptTokenCount").Int() != 50 || u.Get("candidatesTokenCount").Int() != 8 || u.Get("totalTokenCount").Int() != 58 {
			t.Errorf("usageMetadata = %s", u.Raw)
		}
		if u.Get("cachedContentTokenCount").Exists() || u.Get("thoughtsTokenCount").Exists() {
			t.Errorf("zero counts not omitted: %s", u.Raw)
		}
	}
	if got, want := s.Count(geminiKey), 2; got != want {
		t.Errorf("count = %d, want %d", got, want)
	}
	if got := s.Requests()[1].Credential; got != geminiKey {
		t.Errorf("?key= credential = %q", got)
	}
}

func TestGeminiStreamFraming(t *testing.T) {
	s := mustStart(t, Config{Usage: Usage{InputTokens: 20, CacheReadInputTokens: 30, OutputTokens: 6, ThoughtsTokens: 11}})
	r := mustPost(t, s, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", geminiBody, "x-goog-api-key", geminiKey)
	if r.status != 200 || !strings.HasPrefix(r.header["content-type"], "text/event-stream") {
		t.Fatalf("status %d %v", r.status, r.header)
	}
	frames := bytes.SplitAfter(r.body, []byte("\r\n\r\n"))
	frames = frames[:len(frames)-1]
	if got, want := len(frames), 3; got != want {
		t.Fatalf("%d frames, want %d:\n%q", got, want, r.body)
	}
	var text string
	for i, f := range frames {
		if !bytes.HasPrefix(f, []byte("data: {")) || bytes.Count(f, []byte("\n")) != 2 {
			t.Fatalf("frame %d = %q", i, f)
		}
		c := gjson.ParseBytes(f[len("data: ") : len(f)-4])
		text += c.Get("candidates.0.content.parts.0.text").Str
		last := i == len(frames)-1
		if got := c.Get("candidates.0.finishReason").Exists(); got != last {
			t.Errorf("frame %d finishReason present = %v", i, got)
		}
		if got := c.Get("usageMetadata.candidatesTokenCount").Exists(); got != last {
			t.Errorf("frame %d has full usage = %v", i, got)
		}
		if c.Get("usageMetadata.promptTokenCount").Int() != 50 {
			t.Errorf("frame %d usage = %s", i, c.Get("usageMetadata").Raw)
		}
	}
	if got, want := text, replyText; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	if bytes.Contains(r.body, []byte("[DONE]")) || bytes.Contains(r.body, []byte("event:")) {
		t.Errorf("not data-only:\n%s", r.body)
	}
	last := gjson.ParseBytes(ParseSSE(r.body)[2].Data).Get("usageMetadata")
	for k, want := range map[string]int64{"promptTokenCount": 50, "cachedContentTokenCount": 30,
		"candidatesTokenCount": 6, "thoughtsTokenCount": 11, "totalTokenCount": 67} {
		if got := last.Get(k).Int(); got != want {
			t.Errorf("%s = %d, want %d", k, got, want)
		}
	}

	// Without alt=sse the stream is one JSON array.
	r = mustPost(t, s, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", geminiBody, "x-goog-api-key", geminiKey)
	if !gjson.ValidBytes(r.body) || len(gjson.ParseBytes(r.body).Array()) != 3 ||
		gjson.GetBytes(r.body, "2.candidates.0.finishReason").Str != "STOP" {
		t.Errorf("array stream = %s", r.body)
	}
	if got, want := ScanUsageAs(FormatGemini, r.body), (Usage{InputTokens: 20, CacheReadInputTokens: 30, OutputTokens: 6, ThoughtsTokens: 11}); got != want {
		t.Errorf("array usage = %+v, want %+v", got, want)
	}
}

func TestGeminiOtherRoutesAndAuth(t *testing.T) {
	s := mustStart(t, Config{CountTokens: 17, GeminiModels: []string{"gemini-x"}})
	key := []string{"x-goog-api-key", geminiKey}
	r := mustPost(t, s, "/v1beta/models/gemini-2.5-pro:countTokens", geminiBody, key...)
	if r.status != 200 || gjson.GetBytes(r.body, "totalTokens").Int() != 17 {
		t.Errorf("countTokens = %d %s", r.status, r.body)
	}
	r = send(t, s, "GET", "/v1beta/models", "", key...)
	if r.status != 200 || gjson.GetBytes(r.body, "models.0.name").Str != "models/gemini-x" ||
		!gjson.GetBytes(r.body, "models.0.supportedGenerationMethods").IsArray() {
		t.Errorf("models = %d %s", r.status, r.body)
	}
	tests := []struct {
		name, path, body string
		headers          []string
		status           int
		gstatus          string
	}{
		{"no key", "/v1beta/models/g:generateContent", geminiBody, nil, 403, "PERMISSION_DENIED"},
		{"no contents", "/v1beta/models/g:generateContent", `{"contents":[]}`, key, 400, "INVALID_ARGUMENT"},
		{"bad json", "/v1beta/models/g:streamGenerateContent?alt=sse", `{`, key, 400, "INVALID_ARGUMENT"},
		{"unknown method", "/v1beta/models/g:embedContent", geminiBody, key, 404, "NOT_FOUND"},
		{"no method", "/v1beta/models/g", geminiBody, key, 404, "NOT_FOUND"},
	}
	for _, tt := range tests {
		r := mustPost(t, s, tt.path, tt.body, tt.headers...)
		if r.status != tt.status || gjson.GetBytes(r.body, "error.status").Str != tt.gstatus ||
			gjson.GetBytes(r.body, "error.code").Int() != int64(tt.status) {
			t.Errorf("%s = %d %s, want %d %s", tt.name, r.status, r.body, tt.status, tt.gstatus)
		}
	}
	if got := s.Count(geminiKey); got != 6 {
		t.Errorf("count = %d, want 6", got)
	}
	// An invalid key is a 400 with reason API_KEY_INVALID, as Google sends it.
	s.Revoke(geminiKey)
	r = mustPost(t, s, "/v1beta/models/g:generateContent", geminiBody, key...)
	if r.status != 400 || gjson.GetBytes(r.body, "error.details.0.reason").Str != "API_KEY_INVALID" {
		t.Errorf("revoked key = %d %s", r.status, r.body)
	}
}

func TestGeminiRateLimited(t *testing.T) {
	s := mustStart(t, Config{})
	s.Script(geminiKey, GeminiRateLimited(40*time.Second, false), GeminiRateLimited(1500*time.Millisecond, true),
		RateLimited(3*time.Second, time.Time{}))
	for _, want := range []struct{ delay, quota string }{{"40s", QuotaPerMinute}, {"1.5s", QuotaPerDay}, {"3s", ""}} {
		r := mustPost(t, s, "/v1beta/models/gemini-2.5-pro:generateContent", geminiBody, "x-goog-api-key", geminiKey)
		e := gjson.GetBytes(r.body, "error")
		if r.status != 429 || e.Get("code").Int() != 429 || e.Get("status").Str != "RESOURCE_EXHAUSTED" {
			t.Fatalf("reply = %d %s", r.status, r.body)
		}
		var delay, quota string
		for _, d := range e.Get("details").Array() {
			switch d.Get("@type").Str {
			case "type.googleapis.com/google.rpc.RetryInfo":
				delay = d.Get("retryDelay").Str
			case "type.googleapis.com/google.rpc.QuotaFailure":
				quota = d.Get("violations.0.quotaId").Str
			}
		}
		if delay != want.delay || quota != want.quota {
			t.Errorf("retryDelay %q quotaId %q, want %q %q", delay, quota, want.delay, want.quota)
		}
	}
}
