package translate

import (
	"fmt"
	"testing"
)

// benchRequest is a 1 KB Messages request: system, a tool, a turn with
// thinking and a tool call, its result and a question.
const benchRequest = `{"model":"claude-sonnet-4-5","max_tokens":8192,"stream":true,
"system":[{"type":"text","text":"You are a careful coding assistant. Keep answers short and cite files.","cache_control":{"type":"ephemeral"}}],
"thinking":{"type":"enabled","budget_tokens":4096},
"tools":[{"name":"Read","description":"Reads a file from the local filesystem.","input_schema":{"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to read"}},"required":["file_path"]}}],
"messages":[{"role":"user","content":[{"type":"text","text":"Why does the retry test fail on CI but not locally? Look at the test first."}]},
{"role":"assistant","content":[{"type":"thinking","thinking":"I should read the test file before guessing.","signature":"openai:gAAAAABooPDH3mOcK_encrypted_reasoning_blob_mock=="},
{"type":"text","text":"Let me read the test."},{"type":"tool_use","id":"call_9LqXk2mZpR4tV7wY1aB3cD5e","name":"Read","input":{"file_path":"/src/retry_test.go"}}]},
{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_9LqXk2mZpR4tV7wY1aB3cD5e","content":"func TestRetry(t *testing.T) {\n\ttime.Sleep(10 * time.Millisecond)\n\tif !done { t.Fatal(\"not done\") }\n}"},
{"type":"text","text":"What is wrong with it?"}]}]}`

func benchRequestTo(b *testing.B, up Format) {
	body := []byte(benchRequest)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		tr, _ := New(Config{Client: Messages, Upstream: up, ClientModel: "claude-sonnet-4-5", UpstreamModel: "gpt-5.5-codex", Stream: true, UpstreamStream: true})
		if _, err := tr.Request(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequestMessagesToResponses(b *testing.B) { benchRequestTo(b, Responses) }
func BenchmarkRequestMessagesToGemini(b *testing.B)    { benchRequestTo(b, Gemini) }

// benchEvents is a 20-event Responses stream: a reasoning summary, text
// deltas and the terminal event.
func benchEvents() [][2][]byte {
	ev := func(name, data string) [2][]byte { return [2][]byte{[]byte(name), []byte(data)} }
	out := [][2][]byte{
		ev("response.created", `{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-5.5-codex","output":[],"usage":null}}`),
		ev("response.in_progress", `{"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-5.5-codex","output":[],"usage":null}}`),
		ev("response.output_item.added", `{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}`),
		ev("response.reasoning_summary_part.added", `{"type":"response.reasoning_summary_part.added","sequence_number":3,"item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}`),
		ev("response.reasoning_summary_text.delta", `{"type":"response.reasoning_summary_text.delta","sequence_number":4,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"Reading the test."}`),
		ev("response.output_item.done", `{"type":"response.output_item.done","sequence_number":5,"output_index":0,"item":{"id":"rs_1","type":"reasoning","encrypted_content":"gAAAAABooPDH3mOcK_encrypted","summary":[{"type":"summary_text","text":"Reading the test."}]}}`),
		ev("response.output_item.added", `{"type":"response.output_item.added","sequence_number":6,"output_index":1,"item":{"id":"msg_1","type":"message","status":"in_progress","content":[],"role":"assistant"}}`),
	}
	for i := range 12 {
		out = append(out, ev("response.output_text.delta", fmt.Sprintf(`{"type":"response.output_text.delta","sequence_number":%d,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"word %d of the answer, ","logprobs":[]}`, 7+i, i)))
	}
	return append(out, ev("response.completed", `{"type":"response.completed","sequence_number":19,"response":{"id":"resp_1","object":"response","status":"completed","model":"gpt-5.5-codex","output":[],"usage":{"input_tokens":5120,"input_tokens_details":{"cached_tokens":4864},"output_tokens":220,"output_tokens_details":{"reasoning_tokens":128},"total_tokens":5340}}}`))
}

func benchStream(b *testing.B, client Format) {
	events := benchEvents()
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		tr, _ := New(Config{Client: client, Upstream: Responses, ClientModel: "claude-sonnet-4-5"})
		s := tr.Stream()
		out := buf[:0]
		for _, e := range events {
			out = s.Event(out, e[0], e[1])
		}
		if !s.Done() {
			b.Fatal("stream not done")
		}
	}
}

func BenchmarkStreamResponsesToMessages(b *testing.B) { benchStream(b, Messages) }
func BenchmarkStreamResponsesToChat(b *testing.B)     { benchStream(b, Chat) }
