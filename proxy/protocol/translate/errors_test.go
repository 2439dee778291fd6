package translate

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

func TestUnsupported(t *testing.T) {
	const (
		msgs = `"model":"m","max_tokens":100,`
		hi   = `{"role":"user","content":"hi"}`
	)
	tests := []struct {
		name             string
		client, upstream Format
		body             string
		field            string // the *Error's Field
		kept             bool
	}{
		{"server tool on gemini", Messages, Gemini, `{` + msgs + `"messages":[` + hi + `],"tools":[{"name":"a","input_schema":{}},{"name":"b","input_schema":{}},{"type":"web_search_20250305","name":"web_search"}]}`, "tools[2].type", false},
		{"server tool on openai", Messages, Responses, `{` + msgs + `"messages":[` + hi + `],"tools":[{"type":"code_execution_20250825","name":"code_execution"}]}`, "tools[0].type", false},
		{"server tool result block", Messages, Responses, `{` + msgs + `"messages":[` + hi + `,{"role":"assistant","content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}]}]}`, "messages[1].content[0].type", false},
		{"search result block", Messages, Gemini, `{` + msgs + `"messages":[{"role":"user","content":[{"type":"search_result","source":"x","title":"t","content":[]}]}]}`, "messages[0].content[0].type", false},
		{"image by file id", Messages, Responses, `{` + msgs + `"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_1"}}]}]}`, "messages[0].content[0].source.type", false},
		{"image url on gemini", Messages, Gemini, `{` + msgs + `"messages":[{"role":"user","content":[{"type":"text","text":"see"},{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}`, "messages[0].content[1].source.url", false},
		{"image url in a tool result on gemini", Messages, Gemini, `{` + msgs + `"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]}]}`, "messages[0].content[0].content[0].source.url", false},
		{"stop sequences on openai", Messages, Responses, `{` + msgs + `"stop_sequences":["END"],"messages":[` + hi + `]}`, "stop_sequences", false},
		{"system block not text", Messages, Gemini, `{` + msgs + `"system":[{"type":"image","source":{}}],"messages":[` + hi + `]}`, "system[0].type", false},
		{"hosted mcp servers", Messages, Responses, `{` + msgs + `"mcp_servers":[{"type":"url","url":"https://mcp"}],"messages":[` + hi + `]}`, "mcp_servers", false},
		{"bad role", Messages, Responses, `{` + msgs + `"messages":[{"role":"system","content":"x"}]}`, "messages[0].role", false},
		{"previous response", Responses, Messages, `{"model":"m","previous_response_id":"resp_1","input":"go on"}`, "previous_response_id", false},
		{"hosted tool", Responses, Messages, `{"model":"m","input":"x","tools":[{"type":"function","name":"f","parameters":{}},{"type":"file_search","vector_store_ids":["vs_1"]}]}`, "tools[1].type", false},
		{"live web search", Responses, Gemini, `{"model":"m","input":"x","tools":[{"type":"web_search"}]}`, "tools[0].type", false},
		{"item reference", Responses, Messages, `{"model":"m","input":[{"type":"message","role":"user","content":"x"},{"type":"item_reference","id":"msg_1"}]}`, "input[1].type", false},
		{"compaction item", Responses, Gemini, `{"model":"m","input":[{"type":"compaction","encrypted_content":"gAAA"}]}`, "input[0].type", false},
		{"uploaded image", Responses, Messages, `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]}`, "input[0].content[0].file_id", false},
		{"arguments not an object", Responses, Messages, `{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"[1,2]"}]}`, "input[0].arguments", false},
		{"background", Responses, Messages, `{"model":"m","input":"x","background":true}`, "background", false},
		{"stored prompt", Responses, Gemini, `{"model":"m","input":"x","prompt":{"id":"pmpt_1"}}`, "prompt", false},
		{"unknown output format", Responses, Messages, `{"model":"m","input":"x","text":{"format":{"type":"grammar"}}}`, "text.format.type", false},
		{"json mode on claude", Responses, Messages, `{"model":"m","input":"x","text":{"format":{"type":"json_object"}}}`, "text.format", false},
		{"n choices", Chat, Messages, `{"model":"m","n":2,"messages":[` + hi + `]}`, "n", false},
		{"audio out", Chat, Gemini, `{"model":"m","modalities":["text","audio"],"messages":[` + hi + `]}`, "modalities", false},
		{"audio in", Chat, Messages, `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"input_audio","input_audio":{"data":"UklG","format":"wav"}}]}]}`, "messages[0].content[1].type", false},
		{"legacy functions", Chat, Messages, `{"model":"m","functions":[{"name":"f"}],"messages":[` + hi + `]}`, "functions", false},
		{"custom chat tool", Chat, Responses, `{"model":"m","tools":[{"type":"custom","custom":{"name":"x"}}],"messages":[` + hi + `]}`, "tools[0].type", false},
		{"broken call arguments", Chat, Messages, `{"model":"m","messages":[` + hi + `,{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}]}`, "messages[1].tool_calls[0].function.arguments", false},
		{"uploaded file", Chat, Messages, `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file_1"}}]}]}`, "messages[0].content[0].file.file_id", false},
		{"data url not base64", Chat, Messages, `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/svg+xml;utf8,<svg/>"}}]}]}`, "messages[0].content[0].image_url.url", false},
		{"image url on gemini from chat", Chat, Gemini, `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`, "messages[0].content[1].image_url.url", false},
		{"stop on openai from chat", Chat, Responses, `{"model":"m","stop":"END","messages":[` + hi + `]}`, "stop", false},
		{"function role", Chat, Gemini, `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role", false},
		{"google search", Gemini, Messages, `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"googleSearch":{}}]}`, "tools[0].googleSearch", false},
		{"code execution part", Gemini, Responses, `{"contents":[{"role":"model","parts":[{"executableCode":{"language":"PYTHON","code":"1"}}]}]}`, "contents[0].parts[0].executableCode", false},
		{"uploaded file uri", Gemini, Messages, `{"contents":[{"parts":[{"fileData":{"mimeType":"application/pdf","fileUri":"https://generativelanguage.googleapis.com/v1beta/files/abc"}}]}]}`, "contents[0].parts[0].fileData.fileUri", false},
		{"cached content", Gemini, Messages, `{"cachedContent":"cachedContents/1","contents":[{"parts":[{"text":"x"}]}]}`, "cachedContent", false},
		{"candidates", Gemini, Responses, `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"candidateCount":2}}`, "generationConfig.candidateCount", false},
		{"image output", Gemini, Messages, `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseModalities":["TEXT","IMAGE"]}}`, "generationConfig.responseModalities", false},
		{"gemini role", Gemini, Messages, `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, "contents[0].role", false},
		{"not json", Messages, Responses, `{"model":`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := New(Config{Client: tt.client, Upstream: tt.upstream, UpstreamModel: "u", KeptTurn: tt.kept})
			if err != nil {
				t.Fatal(err)
			}
			out, err := tr.Request([]byte(tt.body))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Request = %s, %v; want an *Error", out, err)
			}
			if got, want := e.Field, tt.field; got != want {
				t.Errorf("Field = %q, want %q (%v)", got, want, e)
			}
			if e.Reason == "" || !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrPreviousResponse) {
				t.Errorf("error %v has no reason or sentinel", err)
			}
			if tt.field != "" && !strings.HasPrefix(e.Error(), tt.field+": ") {
				t.Errorf("Error() = %q, want it to open with the field", e.Error())
			}
		})
	}
}

func TestPreviousResponse(t *testing.T) {
	body := []byte(`{"model":"m","previous_response_id":"resp_1","input":"go on"}`)
	tr, _ := New(Config{Client: Responses, Upstream: Messages, UpstreamModel: "u"})
	if _, err := tr.Request(body); !errors.Is(err, ErrPreviousResponse) {
		t.Errorf("err = %v, want ErrPreviousResponse", err)
	}
	tr, _ = New(Config{Client: Responses, Upstream: Messages, UpstreamModel: "u", KeptTurn: true})
	out, err := tr.Request(body)
	if err != nil {
		t.Fatalf("kept turn: %v", err)
	}
	if strings.Contains(string(out), "resp_1") || gjson.GetBytes(out, "messages.0.content.0.text").String() != "go on" {
		t.Errorf("kept turn body = %s", out)
	}
}

func TestNew(t *testing.T) {
	for _, c := range []Config{
		{Client: Messages, Upstream: Messages},
		{Client: Messages, Upstream: Chat},
		{Client: 0, Upstream: Gemini},
		{Client: Gemini, Upstream: 9},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%v → %v) accepted", c.Client, c.Upstream)
		}
	}
}

func TestUpstreamError(t *testing.T) {
	tests := []struct {
		name   string
		client Format
		status int
		body   string
		want   string
	}{
		{"anthropic overloaded to chat", Chat, 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}`,
			`{"error":{"message":"Overloaded","type":"server_error","param":null,"code":"overloaded_error"}}`},
		{"openai rate limit to anthropic", Messages, 429, `{"error":{"message":"Rate limit reached for gpt-5 in organization org-1 on tokens per min (TPM)","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			`{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached for gpt-5 in organization org-1 on tokens per min (TPM)"}}`},
		{"codex usage limit to responses", Responses, 429, `{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus","resets_at":1755320000,"resets_in_seconds":7000}}`,
			`{"error":{"message":"The usage limit has been reached","type":"rate_limit_error","param":null,"code":"usage_limit_reached"}}`},
		{"codex detail to gemini", Gemini, 400, `{"detail":"Unsupported parameter: max_output_tokens"}`,
			`{"error":{"code":400,"message":"Unsupported parameter: max_output_tokens","status":"INVALID_ARGUMENT"}}`},
		{"gemini quota to anthropic", Messages, 429, `{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"40s"}]}}`,
			`{"type":"error","error":{"type":"rate_limit_error","message":"You exceeded your current quota."}}`},
		{"anthropic invalid to gemini", Gemini, 400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`,
			`{"error":{"code":400,"message":"max_tokens: Field required","status":"INVALID_ARGUMENT"}}`},
		{"html page to chat", Chat, 502, `<html><body>Bad Gateway</body></html>`,
			`{"error":{"message":"Bad Gateway","type":"server_error","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := Messages
			if tt.client == Messages {
				up = Responses
			}
			tr, _ := New(Config{Client: tt.client, Upstream: up})
			compareJSON(t, "error", tr.Error(tt.status, []byte(tt.body)), []byte(tt.want))
		})
	}
}

// TestStreamErrors: an upstream's error event ends the client's stream
// with the client's own error event, and Fail does the same for the
// gateway's causes; nothing is written after either.
func TestStreamErrors(t *testing.T) {
	upstreamErr := map[Format][2]string{
		Messages:  {"error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
		Responses: {"error", `{"type":"error","sequence_number":3,"code":"server_error","message":"Overloaded","param":null}`},
		Gemini:    {"", `{"error":{"code":503,"message":"Overloaded","status":"UNAVAILABLE"}}`},
	}
	wantEvent := map[Format]string{Messages: "error", Responses: "error", Chat: "", Gemini: ""}
	for up, ev := range upstreamErr {
		for _, client := range []Format{Messages, Responses, Chat, Gemini} {
			if client == up {
				continue
			}
			tr, _ := New(Config{Client: client, Upstream: up, ClientModel: "c"})
			s := tr.Stream()
			out := s.Event(nil, []byte(ev[0]), []byte(ev[1]))
			if !s.Done() || s.Err() != "Overloaded" {
				t.Errorf("%v→%v: Done = %v, Err = %q", up, client, s.Done(), s.Err())
			}
			evs := parseSSE(t, out)
			last := evs[len(evs)-1]
			if client == Responses {
				last = evs[len(evs)-2] // then response.failed
			}
			if last.name != wantEvent[client] || !strings.Contains(last.data, "Overloaded") || !gjson.Valid(last.data) {
				t.Errorf("%v→%v: last event %q %s", up, client, last.name, last.data)
			}
			if more := s.Event(nil, []byte("message_stop"), []byte(`{"type":"message_stop"}`)); len(more) != 0 {
				t.Errorf("%v→%v: wrote %s after the error", up, client, more)
			}
			if more := s.Fail(nil, 500, "x"); len(more) != 0 {
				t.Errorf("%v→%v: Fail wrote %s after the error", up, client, more)
			}
		}
	}
	for _, client := range []Format{Messages, Responses, Chat, Gemini} {
		tr, _ := New(Config{Client: client, Upstream: Messages, ClientModel: "c"})
		if client == Messages {
			tr, _ = New(Config{Client: client, Upstream: Gemini, ClientModel: "c"})
		}
		s := tr.Stream()
		out := s.Fail(nil, 529, "upstream stream interrupted")
		if !s.Done() || s.Err() != "" || !strings.Contains(string(out), "upstream stream interrupted") {
			t.Errorf("%v: Fail = %s (done %v, err %q)", client, out, s.Done(), s.Err())
		}
	}
}

// TestUnsupportedIsBounded: a client's value quoted in a refusal is cut,
// so a huge tool type cannot make a huge message (the gateway keeps it).
func TestUnsupportedIsBounded(t *testing.T) {
	tr, err := New(Config{Client: Messages, Upstream: Responses, ClientModel: "m", UpstreamModel: "m"})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é", 10_000)
	_, err = tr.Request([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"` + long + `","name":"x"}]}`))
	if err == nil {
		t.Fatal("an unknown tool type was translated")
	}
	if msg := err.Error(); len(msg) > 200 || !utf8.ValidString(msg) || !strings.Contains(msg, "…") {
		t.Fatalf("error of %d bytes: %.300s", len(msg), msg)
	}
}
