package upstreamtest

import (
	"testing"

	"github.com/tidwall/gjson"
)

// TestToolCallReplies: each format's tool call, scripted on the route of
// its format, comes back well formed, with the call and the usage the
// reference scanners read.
func TestToolCallReplies(t *testing.T) {
	s := New(Config{})
	if _, err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := Usage{InputTokens: 90, CacheReadInputTokens: 10, OutputTokens: 7}
	tc := ToolCall{ID: "call_1", Name: "Read", Args: `{"file_path":"main.go"}`, Text: "Let me look.", Signature: "c2ln", Usage: u}
	msgs := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	resp := `{"model":"m","input":"hi","stream":true,"store":false,"instructions":""}`
	gem := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	ca := `{"model":"m","project":"p","request":` + gem + `}`
	tests := []struct {
		name, path, body, cred string
		step                   Step
		f                      Format
		call                   string // gjson path to the call's arguments in a JSON reply; "" for streams
	}{
		{"messages", "/v1/messages", msgs, "sk-ant-api03-x", tc.Messages(false), FormatAnthropic, "content.1.input.file_path"},
		{"messages stream", "/v1/messages", msgs, "sk-ant-api03-x", tc.Messages(true), FormatAnthropic, ""},
		{"responses", "/v1/responses", resp, "sk-x", tc.Responses(false), FormatResponses, "output.0.arguments"},
		{"codex stream", "/backend-api/codex/responses", resp, "tok", tc.Responses(true), FormatResponses, ""},
		{"gemini", "/v1beta/models/m:generateContent", gem, "AIza", tc.Gemini(false, false), FormatGemini, "candidates.0.content.parts.1.functionCall.args.file_path"},
		{"code assist stream", "/v1internal:streamGenerateContent?alt=sse", ca, "ya29", tc.Gemini(true, true), FormatCodeAssist, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Script(tt.cred, tt.step)
			hdr := []string{"content-type", "application/json", "authorization", "Bearer " + tt.cred, "x-goog-api-key", tt.cred,
				"x-api-key", tt.cred, "chatgpt-account-id", "acct"}
			r := send(t, s, "POST", tt.path, tt.body, hdr...)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if tt.call != "" {
				got := gjson.GetBytes(r.body, tt.call)
				if tt.call == "output.0.arguments" {
					got = gjson.Get(got.String(), "file_path")
				}
				if got.String() != "main.go" {
					t.Fatalf("%s = %q in %s", tt.call, got, r.body)
				}
			} else if evs := ParseSSE(r.body); len(evs) == 0 || !gjson.ValidBytes(evs[len(evs)-1].Data) {
				t.Fatalf("stream %s", r.body)
			}
			if got := ScanUsageAs(tt.f, r.body); got.InputTokens != 90 || got.OutputTokens != 7 || got.CacheReadInputTokens != 10 {
				t.Fatalf("usage %+v in %s", got, r.body)
			}
		})
	}
}
