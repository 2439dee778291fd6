package translate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// A round trip is two turns of a tool conversation: the client's first
// request is translated, the upstream's recorded stream translated back,
// the client keeps what its SDK keeps from that stream and sends it with
// the tool's result, and the second upstream body must hold every id,
// argument and signature the upstream first sent.

// clientTurn rebuilds what a client of format f keeps from its stream and
// returns its next request: first's conversation, the assistant's turn,
// and a tool result for its first call.
func clientTurn(t *testing.T, f Format, first, sse []byte) []byte {
	t.Helper()
	evs := parseSSE(t, sse)
	var turn []byte
	switch f {
	case Messages:
		turn = mustJSON(t, messagesContent(t, evs))
		callID := gjson.GetBytes(turn, `#(type=="tool_use").id`).String()
		next := `{"role":"assistant","content":` + string(turn) + `},{"role":"user","content":[{"type":"tool_result","tool_use_id":` + quote(callID) + `,"content":"done"}]}`
		return appendConversation(t, first, "messages", next)
	case Responses:
		var items []json.RawMessage
		for _, ev := range evs {
			if ev.name == "response.output_item.done" {
				items = append(items, json.RawMessage(gjson.Get(ev.data, "item").Raw))
			}
		}
		turn = mustJSON(t, items)
		callID := gjson.GetBytes(turn, `#(type%"*call").call_id`).String()
		inner := string(turn[1 : len(turn)-1])
		next := inner + `,{"type":"function_call_output","call_id":` + quote(callID) + `,"output":"done"}`
		return appendConversation(t, first, "input", next)
	case Chat:
		msg := chatMessage(t, evs)
		turn = mustJSON(t, msg)
		callID := gjson.GetBytes(turn, "tool_calls.0.id").String()
		next := string(turn) + `,{"role":"tool","tool_call_id":` + quote(callID) + `,"content":"done"}`
		return appendConversation(t, first, "messages", next)
	default:
		var parts []json.RawMessage
		for _, ev := range evs {
			for _, p := range gjson.Get(ev.data, "candidates.0.content.parts").Array() {
				if p.Get("text").Exists() && p.Get("text").Str == "" && !p.Get("thoughtSignature").Exists() {
					continue
				}
				parts = append(parts, json.RawMessage(p.Raw))
			}
		}
		turn = mustJSON(t, parts)
		call := gjson.GetBytes(turn, `#(functionCall).functionCall`)
		next := `{"role":"model","parts":` + string(turn) + `},{"role":"user","parts":[{"functionResponse":{"name":` +
			quote(call.Get("name").String()) + `,"id":` + quote(call.Get("id").String()) + `,"response":{"output":"done"}}}]}`
		return appendConversation(t, first, "contents", next)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendConversation adds raw elements to the array at key of body.
func appendConversation(t *testing.T, body []byte, key, elems string) []byte {
	t.Helper()
	arr := gjson.GetBytes(body, key).Raw
	out := string(body[:gjson.GetBytes(body, key).Index]) + arr[:len(arr)-1] + "," + elems + "]" +
		string(body[gjson.GetBytes(body, key).Index+len(arr):])
	if !gjson.Valid(out) {
		t.Fatalf("built an invalid next request: %s", out)
	}
	return []byte(out)
}

// messagesContent accumulates an Anthropic stream into content blocks, as
// the SDKs' message accumulators do.
func messagesContent(t *testing.T, evs []sseEvent) []map[string]any {
	t.Helper()
	var blocks []map[string]any
	partial := map[int]string{}
	for _, ev := range evs {
		v := gjson.Parse(ev.data)
		i := int(v.Get("index").Int())
		switch ev.name {
		case "content_block_start":
			var b map[string]any
			if err := json.Unmarshal([]byte(v.Get("content_block").Raw), &b); err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, b)
		case "content_block_delta":
			b, d := blocks[i], v.Get("delta")
			switch d.Get("type").String() {
			case "text_delta":
				b["text"] = b["text"].(string) + d.Get("text").String()
			case "thinking_delta":
				b["thinking"] = b["thinking"].(string) + d.Get("thinking").String()
			case "signature_delta":
				b["signature"] = d.Get("signature").String()
			case "input_json_delta":
				partial[i] += d.Get("partial_json").String()
			}
		case "content_block_stop":
			if s := partial[i]; s != "" {
				var in any
				if err := json.Unmarshal([]byte(s), &in); err != nil {
					t.Fatalf("tool input %q: %v", s, err)
				}
				blocks[i]["input"] = in
			}
		}
	}
	return blocks
}

// chatMessage accumulates a Chat stream into the assistant message.
func chatMessage(t *testing.T, evs []sseEvent) map[string]any {
	t.Helper()
	content := ""
	type call struct{ id, name, args string }
	var calls []*call
	for _, ev := range evs {
		d := gjson.Get(ev.data, "choices.0.delta")
		content += d.Get("content").String()
		for _, tc := range d.Get("tool_calls").Array() {
			i := int(tc.Get("index").Int())
			for len(calls) <= i {
				calls = append(calls, &call{})
			}
			if id := tc.Get("id").String(); id != "" {
				calls[i].id, calls[i].name = id, tc.Get("function.name").String()
			}
			calls[i].args += tc.Get("function.arguments").String()
		}
	}
	var tcs []map[string]any
	for _, c := range calls {
		tcs = append(tcs, map[string]any{"id": c.id, "type": "function", "function": map[string]any{"name": c.name, "arguments": c.args}})
	}
	return map[string]any{"role": "assistant", "content": content, "tool_calls": tcs}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name             string
		client, upstream Format
		first            string
		sse              string
		// want: gjson paths in the second upstream body and their values.
		want map[string]string
	}{{
		name: "claude code on codex", client: Messages, upstream: Responses,
		first: `{"model":"claude-sonnet-4-5","max_tokens":4096,"stream":true,"thinking":{"type":"enabled","budget_tokens":2048},"tools":[{"name":"Read","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"Read main.go"}]}`,
		sse:   "responses_tool.sse",
		want: map[string]string{
			`input.#(type=="reasoning").encrypted_content`:  "gAAAAABosOGk_second_turn_reasoning_blob==",
			`input.#(type=="function_call").call_id`:        "call_9LqXk2mZpR4tV7wY1aB3cD5e",
			`input.#(type=="function_call").name`:           "Read",
			`input.#(type=="function_call").arguments`:      `{"file_path":"/src/main.go"}`,
			`input.#(type=="function_call_output").call_id`: "call_9LqXk2mZpR4tV7wY1aB3cD5e",
			`input.#(type=="function_call_output").output`:  "done",
		},
	}, {
		name: "codex on claude", client: Responses, upstream: Messages,
		first: `{"model":"gpt-5.5-codex","stream":true,"store":false,"reasoning":{"effort":"medium"},"tools":[{"type":"function","name":"Read","parameters":{"type":"object"}}],"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Fix the test"}]}]}`,
		sse:   "cache_split.sse",
		want: map[string]string{
			`messages.1.content.0.type`:        "thinking",
			`messages.1.content.0.thinking`:    "The user wants the failing test fixed. I should read the file first.",
			`messages.1.content.0.signature`:   "EqQBCkYIBhgCIkBmb2NrX3NpZ25hdHVyZV9ub3RfcmVhbF9idXRfc2hhcGVkX2xpa2VfaXQ",
			`messages.1.content.1.text`:        "I'll read the test file first.",
			`messages.1.content.2.id`:          "toolu_01A09q90qw90lq917835lq9",
			`messages.1.content.2.input`:       `{"file_path": "/src/app_test.go"}`,
			`messages.2.content.0.tool_use_id`: "toolu_01A09q90qw90lq917835lq9",
			`thinking.type`:                    "enabled",
		},
	}, {
		name: "claude code on gemini", client: Messages, upstream: Gemini,
		first: `{"model":"claude-sonnet-4-5","max_tokens":4096,"stream":true,"tools":[{"name":"Read","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"Read main.go"}]}`,
		sse:   "gemini_tool.sse",
		want: map[string]string{
			`contents.1.parts.#(functionCall).thoughtSignature`:  "CiQBcsjafF3VgqY4zN+W1o/T0xGQk5mZs2Vd0i8Qy0R3a1pYbG0KaQFyyNp8m6Ff7d2YgQ==",
			`contents.1.parts.#(functionCall).functionCall.id`:   "toolu_kX7haOv2Gp2vz7IPiL3O0AQ_0",
			`contents.1.parts.#(functionCall).functionCall.args`: `{"file_path":"/src/main.go"}`,
			`contents.2.parts.0.functionResponse.name`:           "Read",
			`contents.2.parts.0.functionResponse.id`:             "toolu_kX7haOv2Gp2vz7IPiL3O0AQ_0",
		},
	}, {
		name: "chat client on gemini", client: Chat, upstream: Gemini,
		first: `{"model":"gpt-4o","stream":true,"tools":[{"type":"function","function":{"name":"Read","parameters":{"type":"object"}}}],"messages":[{"role":"user","content":"Read main.go"}]}`,
		sse:   "gemini_tool.sse",
		want: map[string]string{
			`contents.1.parts.#(functionCall).thoughtSignature`: "CiQBcsjafF3VgqY4zN+W1o/T0xGQk5mZs2Vd0i8Qy0R3a1pYbG0KaQFyyNp8m6Ff7d2YgQ==",
			`contents.1.parts.#(functionCall).functionCall.id`:  "toolu_kX7haOv2Gp2vz7IPiL3O0AQ_0",
			`contents.2.parts.0.functionResponse.name`:          "Read",
		},
	}, {
		name: "gemini cli on claude", client: Gemini, upstream: Messages,
		first: `{"contents":[{"role":"user","parts":[{"text":"Fix the test"}]}],"tools":[{"functionDeclarations":[{"name":"Read","parametersJsonSchema":{"type":"object"}}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingBudget":2048}}}`,
		sse:   "cache_split.sse",
		want: map[string]string{
			`messages.1.content.0.type`:        "thinking",
			`messages.1.content.0.thinking`:    "The user wants the failing test fixed. I should read the file first.",
			`messages.1.content.0.signature`:   "EqQBCkYIBhgCIkBmb2NrX3NpZ25hdHVyZV9ub3RfcmVhbF9idXRfc2hhcGVkX2xpa2VfaXQ",
			`messages.1.content.2.id`:          "toolu_01A09q90qw90lq917835lq9",
			`messages.2.content.0.tool_use_id`: "toolu_01A09q90qw90lq917835lq9",
			`thinking.budget_tokens`:           "2048",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Client: tt.client, Upstream: tt.upstream, ClientModel: "client", UpstreamModel: "upstream", Stream: true, UpstreamStream: true}
			tr, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.Request([]byte(tt.first)); err != nil {
				t.Fatalf("first turn: %v", err)
			}
			raw, err := os.ReadFile(filepath.Join("testdata/sse", tt.sse))
			if err != nil {
				t.Fatal(err)
			}
			s := tr.Stream()
			var out []byte
			for _, ev := range parseSSE(t, raw) {
				out = s.Event(out, []byte(ev.name), []byte(ev.data))
			}
			next := clientTurn(t, tt.client, []byte(tt.first), out)
			tr2, _ := New(cfg)
			body, err := tr2.Request(next)
			if err != nil {
				t.Fatalf("second turn: %v\n%s", err, next)
			}
			for p, want := range tt.want {
				got := gjson.GetBytes(body, p)
				if got.Type == gjson.JSON {
					compareJSON(t, p, []byte(got.Raw), []byte(want))
				} else if got.String() != want {
					if got.Type == gjson.String && gjson.Valid(got.Str) && gjson.Valid(want) && gjson.Parse(want).IsObject() {
						compareJSON(t, p, []byte(got.Str), []byte(want))
						continue
					}
					t.Errorf("%s = %q, want %q\nbody: %s", p, got.String(), want, body)
				}
			}
		})
	}
}

// TestRoundTripThreeTurns: Claude Code on a Codex account over three
// turns, streamed and buffered, keeps every earlier reasoning blob, call id
// and argument in the third request.
func TestRoundTripThreeTurns(t *testing.T) {
	cfg := Config{Client: Messages, Upstream: Responses, ClientModel: "claude-sonnet-4-5", UpstreamModel: "gpt-5.5-codex", Stream: true, UpstreamStream: true, Codex: true}
	conv := []byte(`{"model":"claude-sonnet-4-5","max_tokens":4096,"stream":true,"thinking":{"type":"enabled","budget_tokens":2048},"tools":[{"name":"Read","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"Read main.go"}]}`)
	for _, sse := range []string{"responses_tool.sse", "responses_codex.sse"} {
		tr, _ := New(cfg)
		if _, err := tr.Request(conv); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(filepath.Join("testdata/sse", sse))
		s := tr.Stream()
		var out []byte
		for _, ev := range parseSSE(t, raw) {
			out = s.Event(out, []byte(ev.name), []byte(ev.data))
		}
		content := mustJSON(t, messagesContent(t, parseSSE(t, out)))
		next := `{"role":"assistant","content":` + string(content) + `}`
		if id := gjson.GetBytes(content, `#(type=="tool_use").id`).String(); id != "" {
			next += `,{"role":"user","content":[{"type":"tool_result","tool_use_id":` + quote(id) + `,"content":"package main"}]}`
		} else {
			next += `,{"role":"user","content":"thanks"}`
		}
		conv = appendConversation(t, conv, "messages", next)
	}
	// A buffered third reply, as a non-stream client would get it.
	tr, _ := New(Config{Client: Messages, Upstream: Responses, ClientModel: "c", UpstreamModel: "u"})
	if _, err := tr.Request(conv); err != nil {
		t.Fatal(err)
	}
	reply, err := tr.Response([]byte(`{"id":"resp_3","status":"completed","output":[{"type":"reasoning","encrypted_content":"gAAAAB_third","summary":[{"type":"summary_text","text":"Done."}]},{"type":"function_call","call_id":"call_3","name":"Read","arguments":"{\"file_path\":\"go.mod\"}"}],"usage":{"input_tokens":10,"output_tokens":5}}`))
	if err != nil {
		t.Fatal(err)
	}
	conv = appendConversation(t, conv, "messages", `{"role":"assistant","content":`+gjson.GetBytes(reply, "content").Raw+`},{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_3","content":"module x"}]}`)

	body, err := tr.Request(conv)
	if err != nil {
		t.Fatal(err)
	}
	var encs, calls, outputs []string
	for _, it := range gjson.GetBytes(body, "input").Array() {
		switch it.Get("type").String() {
		case "reasoning":
			encs = append(encs, it.Get("encrypted_content").String())
		case "function_call":
			calls = append(calls, it.Get("call_id").String()+" "+it.Get("arguments").String())
		case "function_call_output":
			outputs = append(outputs, it.Get("call_id").String())
		}
	}
	want := []string{"gAAAAABosOGk_second_turn_reasoning_blob==", "gAAAAABooPDH3mOcK_encrypted_reasoning_blob_mock==", "gAAAAB_third"}
	if strings.Join(encs, "|") != strings.Join(want, "|") {
		t.Errorf("encrypted_content = %q, want %q", encs, want)
	}
	wantCalls := []string{`call_9LqXk2mZpR4tV7wY1aB3cD5e {"file_path":"/src/main.go"}`, `call_3 {"file_path":"go.mod"}`}
	if strings.Join(calls, "|") != strings.Join(wantCalls, "|") {
		t.Errorf("calls = %q, want %q", calls, wantCalls)
	}
	if strings.Join(outputs, "|") != "call_9LqXk2mZpR4tV7wY1aB3cD5e|call_3" {
		t.Errorf("outputs = %q", outputs)
	}
}
