package upstreamtest

import (
	"encoding/json"
	"strconv"
)

// Replies in which the model calls a tool, for tests of tool loops across
// the gateway's translations: the client gets the call, runs the tool and
// sends its result back in the next request, which the default step
// answers with text. A ToolCall renders in the format of the route it is
// scripted for: the test knows which account (and so which route) a
// credential belongs to.

// ToolCall is one call of a tool by the model.
type ToolCall struct {
	// ID is the call's id: Anthropic's tool_use id, the Responses call_id.
	// Gemini calls carry none.
	ID   string
	Name string
	// Args is the arguments, a JSON object.
	Args string
	// Text, when set, comes before the call (Anthropic and Gemini put
	// both in one reply).
	Text string
	// Signature is the Gemini thoughtSignature on the call (Gemini 3
	// requires it back on the call in the next request's history).
	Signature string
	// Usage overrides the server's configured usage.
	Usage Usage
}

// JSONReply answers 200 with body, a JSON document, as it is, on any
// route. It is a KindError step with status 200, which every route's
// error writer sends as given; the routes' own success headers (rate
// limits, usage windows) are left out.
func JSONReply(body []byte) Step {
	return Step{Kind: KindError, Status: 200, Body: string(body)}
}

func (c ToolCall) usage() Usage {
	if c.Usage == (Usage{}) {
		return DefaultUsage()
	}
	return c.Usage.normalized()
}

func (c ToolCall) args() json.RawMessage { return json.RawMessage(c.Args) }

// Messages is the call as the Anthropic Messages API sends it: a message
// with stop_reason tool_use, or its stream (the input in two
// input_json_delta pieces).
func (c ToolCall) Messages(stream bool) Step {
	u := c.usage()
	usage := func(out int) json.RawMessage {
		return obj("input_tokens", u.InputTokens, "cache_creation_input_tokens", u.CacheCreationInputTokens,
			"cache_read_input_tokens", u.CacheReadInputTokens, "output_tokens", out)
	}
	use := obj("type", "tool_use", "id", c.ID, "name", c.Name, "input", c.args())
	if !stream {
		content := arr(use)
		if c.Text != "" {
			content = arr(obj("type", "text", "text", c.Text), use)
		}
		return JSONReply(obj("id", "msg_tool_"+c.ID, "type", "message", "role", "assistant", "model", "mock",
			"content", content, "stop_reason", "tool_use", "stop_sequence", null, "usage", usage(u.OutputTokens)))
	}
	var b []byte
	ev := func(name string, kv ...any) { b = AppendSSE(b, name, obj(append([]any{"type", name}, kv...)...)) }
	ev("message_start", "message", obj("id", "msg_tool_"+c.ID, "type", "message", "role", "assistant", "model", "mock",
		"content", emptyArray, "stop_reason", null, "stop_sequence", null, "usage", usage(1)))
	i := 0
	if c.Text != "" {
		ev("content_block_start", "index", 0, "content_block", obj("type", "text", "text", ""))
		ev("content_block_delta", "index", 0, "delta", obj("type", "text_delta", "text", c.Text))
		ev("content_block_stop", "index", 0)
		i = 1
	}
	ev("content_block_start", "index", i, "content_block", obj("type", "tool_use", "id", c.ID, "name", c.Name, "input", obj()))
	half := len(c.Args) / 2
	ev("content_block_delta", "index", i, "delta", obj("type", "input_json_delta", "partial_json", c.Args[:half]))
	ev("content_block_delta", "index", i, "delta", obj("type", "input_json_delta", "partial_json", c.Args[half:]))
	ev("content_block_stop", "index", i)
	ev("message_delta", "delta", obj("stop_reason", "tool_use", "stop_sequence", null), "usage", obj("output_tokens", u.OutputTokens))
	ev("message_stop")
	return Replay(b)
}

// Responses is the call as the Responses API (and the Codex backend,
// stream true) sends it: a function_call output item, or its stream.
func (c ToolCall) Responses(stream bool) Step {
	u := c.usage()
	usage := obj("input_tokens", u.prompt(), "input_tokens_details", obj("cached_tokens", u.CacheReadInputTokens),
		"output_tokens", u.OutputTokens, "output_tokens_details", obj("reasoning_tokens", u.ReasoningTokens),
		"total_tokens", u.prompt()+u.OutputTokens)
	item := func(status, args string) json.RawMessage {
		return obj("id", "fc_"+c.ID, "type", "function_call", "status", status, "arguments", args, "call_id", c.ID, "name", c.Name)
	}
	response := func(status string, output, usage json.RawMessage) json.RawMessage {
		return obj("id", "resp_tool_"+c.ID, "object", "response", "created_at", 1755312322, "status", status,
			"error", null, "incomplete_details", null, "model", "mock", "output", output, "usage", usage)
	}
	if !stream {
		return JSONReply(response("completed", arr(item("completed", c.Args)), usage))
	}
	var b []byte
	seq := 0
	ev := func(name string, kv ...any) {
		b = AppendSSE(b, name, obj(append([]any{"type", name, "sequence_number", seq}, kv...)...))
		seq++
	}
	ev("response.created", "response", response("in_progress", emptyArray, null))
	ev("response.output_item.added", "output_index", 0, "item", item("in_progress", ""))
	half := len(c.Args) / 2
	ev("response.function_call_arguments.delta", "item_id", "fc_"+c.ID, "output_index", 0, "delta", c.Args[:half])
	ev("response.function_call_arguments.delta", "item_id", "fc_"+c.ID, "output_index", 0, "delta", c.Args[half:])
	ev("response.function_call_arguments.done", "item_id", "fc_"+c.ID, "output_index", 0, "arguments", c.Args)
	ev("response.output_item.done", "output_index", 0, "item", item("completed", c.Args))
	ev("response.completed", "response", response("completed", arr(item("completed", c.Args)), usage))
	return Replay(b)
}

// Gemini is the call as the Gemini API sends it (codeAssist: inside Code
// Assist's {"response": …} envelope): a functionCall part, with its
// thoughtSignature when set, finishReason STOP, or one streamed chunk
// holding the same.
func (c ToolCall) Gemini(stream, codeAssist bool) Step {
	u := c.usage()
	call := obj("functionCall", obj("name", c.Name, "args", c.args()))
	if c.Signature != "" {
		call = obj("functionCall", obj("name", c.Name, "args", c.args()), "thoughtSignature", c.Signature)
	}
	parts := arr(call)
	if c.Text != "" {
		parts = arr(obj("text", c.Text), call)
	}
	r := obj("candidates", arr(obj("content", obj("role", "model", "parts", parts), "finishReason", "STOP", "index", 0)),
		"usageMetadata", obj("promptTokenCount", u.prompt(), "candidatesTokenCount", u.OutputTokens,
			"cachedContentTokenCount", u.CacheReadInputTokens, "totalTokenCount", u.prompt()+u.OutputTokens),
		"modelVersion", "mock", "responseId", "tool-"+strconv.Itoa(len(c.Name)))
	if codeAssist {
		r = obj("response", r, "traceId", "mock-trace-tool")
	}
	if !stream {
		return JSONReply(r)
	}
	return Replay(append(append([]byte("data: "), r...), "\r\n\r\n"...))
}
