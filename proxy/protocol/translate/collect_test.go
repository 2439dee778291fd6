package translate

import (
	"os"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func collect(t *testing.T, file string) *Collector {
	t.Helper()
	raw, err := os.ReadFile("testdata/sse/" + file)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCollector(0)
	for _, ev := range parseSSE(t, raw) {
		c.Event([]byte(ev.name), []byte(ev.data))
	}
	return c
}

// TestCollector: the Codex backend ends with "output": [] although the
// items streamed; the collector puts them back, and a non-stream Anthropic
// client of a Codex account gets the whole reply from it.
func TestCollector(t *testing.T) {
	c := collect(t, "responses_tool.sse")
	body, ok := c.Response()
	if !ok {
		t.Fatal("no response after response.completed")
	}
	out := gjson.GetBytes(body, "output").Array()
	if len(out) != 2 || out[0].Get("type").String() != "reasoning" || out[1].Get("call_id").String() != "call_9LqXk2mZpR4tV7wY1aB3cD5e" {
		t.Fatalf("output = %s", gjson.GetBytes(body, "output").Raw)
	}
	if got, want := gjson.GetBytes(body, "usage.output_tokens").Int(), int64(58); got != want {
		t.Errorf("usage.output_tokens = %d, want %d", got, want)
	}

	tr, _ := New(Config{Client: Messages, Upstream: Responses, ClientModel: "claude-sonnet-4-5", UpstreamStream: true, Codex: true})
	reply, err := tr.Response(body)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"msg_resp_68b0e1a2f3c48190a7d6e5f4c3b2a190","type":"message","role":"assistant","model":"claude-sonnet-4-5",
		"content":[{"type":"thinking","thinking":"","signature":"openai:gAAAAABosOGk_second_turn_reasoning_blob=="},
		{"type":"tool_use","id":"call_9LqXk2mZpR4tV7wY1aB3cD5e","name":"Read","input":{"file_path":"/src/main.go"}}],
		"stop_reason":"tool_use","stop_sequence":null,
		"usage":{"input_tokens":160,"cache_creation_input_tokens":0,"cache_read_input_tokens":8960,"output_tokens":58}}`
	compareJSON(t, "reply", reply, []byte(want))
	if got := tr.Usage(); got.InputTokens != 160 || got.CacheReadTokens != 8960 || got.OutputTokens != 58 {
		t.Errorf("usage = %+v", got)
	}
}

func TestCollectorKeepsFullOutput(t *testing.T) {
	c := collect(t, "responses_codex.sse")
	body, ok := c.Response()
	if !ok {
		t.Fatal("no response")
	}
	if n := len(gjson.GetBytes(body, "output").Array()); n != 2 {
		t.Errorf("output has %d items, want the terminal event's 2", n)
	}
	if c.Err() != "" {
		t.Errorf("Err = %q", c.Err())
	}
}

func TestCollectorLimits(t *testing.T) {
	c := NewCollector(10)
	c.Event([]byte("response.output_item.done"), []byte(`{"type":"response.output_item.done","output_index":0,"item":{"type":"message","content":[{"type":"output_text","text":"more than ten bytes"}]}}`))
	c.Event([]byte("response.completed"), []byte(`{"type":"response.completed","response":{"id":"r","output":[]}}`))
	if _, ok := c.Response(); ok {
		t.Error("an oversized reply was collected")
	}
	c = NewCollector(0)
	if _, ok := c.Response(); ok {
		t.Error("a response before the terminal event")
	}
	c.Event(nil, []byte(`{"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_error","message":"boom"},"output":[]}}`))
	if _, ok := c.Response(); !ok || c.Err() != "boom" {
		t.Errorf("failed response: ok %v, Err %q", ok, c.Err())
	}
}

// TestLongToolNames: a name beyond OpenAI's 64 characters is shortened
// upstream, the same way in every turn, and named back in the reply.
func TestLongToolNames(t *testing.T) {
	long := "mcp__github_enterprise__create_pull_request_review_comment_with_suggestion"
	body := `{"model":"m","max_tokens":100,"tools":[{"name":"` + long + `","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"` + long + `","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"ok"}]}]}`
	tr, _ := New(Config{Client: Messages, Upstream: Responses, ClientModel: "c", UpstreamModel: "u"})
	out, err := tr.Request([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	short := gjson.GetBytes(out, "tools.0.name").String()
	if len(short) > 64 || !strings.HasPrefix(short, "mcp__github") {
		t.Fatalf("tool name %q", short)
	}
	if got := gjson.GetBytes(out, `input.#(type=="function_call").name`).String(); got != short {
		t.Errorf("history call name = %q, want %q", got, short)
	}
	s := tr.Stream()
	var sse []byte
	sse = s.Event(sse, []byte("response.output_item.added"), []byte(`{"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","call_id":"call_2","name":"`+short+`","arguments":""}}`))
	if !strings.Contains(string(sse), `"name":"`+long+`"`) {
		t.Errorf("stream names the tool %s", sse)
	}
	reply, _ := tr.Response([]byte(`{"id":"r","status":"completed","output":[{"type":"function_call","call_id":"c","name":"` + short + `","arguments":"{}"}]}`))
	if got := gjson.GetBytes(reply, "content.0.name").String(); got != long {
		t.Errorf("reply names the tool %q, want %q", got, long)
	}
}

// TestHeldLimit: a Responses client's stream holds the reply's items for
// the done events; past MaxHeld it ends with an error event instead.
func TestHeldLimit(t *testing.T) {
	tr, _ := New(Config{Client: Responses, Upstream: Messages, ClientModel: "c", MaxHeld: 64})
	s := tr.Stream()
	var out []byte
	out = s.Event(out, []byte("message_start"), []byte(`{"type":"message_start","message":{"id":"m","usage":{"input_tokens":1}}}`))
	out = s.Event(out, []byte("content_block_start"), []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`))
	for range 10 {
		out = s.Event(out, []byte("content_block_delta"), []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"0123456789"}}`))
	}
	if !s.Done() {
		t.Fatal("stream still open past MaxHeld")
	}
	evs := parseSSE(t, out)
	if last := evs[len(evs)-1]; last.name != "response.failed" {
		t.Errorf("last event %q, want response.failed", last.name)
	}
}
