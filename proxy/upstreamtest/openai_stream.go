package upstreamtest

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
)

// msgOpenAIServer is the message of OpenAI's mid-stream failures.
const msgOpenAIServer = "The server had an error while processing your request. Sorry about that!"

// responsesReply renders the Responses API (and the Codex backend, which
// speaks it): a response object, or its SSE events with a type and a
// sequence_number each.
type responsesReply struct {
	id, itemID, model string
	created           int64
	instructions      json.RawMessage // echoed; null when absent
	prev              json.RawMessage // previous_response_id or null
	store             bool
	u                 Usage
	seq               int // next sequence_number
}

func (s *Server) newResponsesReply(body []byte, st Step) *responsesReply {
	n := strconv.FormatInt(s.seq.Add(1), 10)
	r := &responsesReply{
		id:           "resp_mock_" + n,
		itemID:       "msg_mock_" + n,
		model:        gjson.GetBytes(body, "model").Str,
		created:      time.Now().Unix(),
		instructions: null,
		prev:         null,
		store:        true,
		u:            s.usageFor(st),
	}
	if v := gjson.GetBytes(body, "instructions"); v.Exists() {
		r.instructions = json.RawMessage(v.Raw)
	}
	if v := gjson.GetBytes(body, "previous_response_id"); v.Type == gjson.String {
		r.prev = json.RawMessage(v.Raw)
	}
	if v := gjson.GetBytes(body, "store"); v.Exists() {
		r.store = v.Bool()
	}
	return r
}

// object is the response object in the given status.
func (r *responsesReply) object(status string, output, usage, errv json.RawMessage) json.RawMessage {
	return obj("id", r.id, "object", "response", "created_at", r.created, "status", status,
		"error", errv, "incomplete_details", null, "instructions", r.instructions,
		"model", r.model, "output", output, "parallel_tool_calls", true,
		"previous_response_id", r.prev, "store", r.store, "usage", usage)
}

// item is the assistant message output item; text "" with status
// in_progress has no content parts yet.
func (r *responsesReply) item(status, text string) json.RawMessage {
	content := emptyArray
	if status == "completed" {
		content = arr(outputText(text))
	}
	return obj("id", r.itemID, "type", "message", "status", status, "content", content, "role", "assistant")
}

func outputText(text string) json.RawMessage {
	return obj("type", "output_text", "annotations", emptyArray, "logprobs", emptyArray, "text", text)
}

func (r *responsesReply) usage() json.RawMessage {
	p, o := r.u.prompt(), r.u.OutputTokens
	return obj("input_tokens", p, "input_tokens_details", obj("cached_tokens", r.u.CacheReadInputTokens),
		"output_tokens", o, "output_tokens_details", obj("reasoning_tokens", r.u.ReasoningTokens),
		"total_tokens", p+o)
}

func (r *responsesReply) body() []byte {
	return r.object("completed", arr(r.item("completed", replyText)), r.usage(), null)
}

// event frames one event; kv follow type and sequence_number.
func (r *responsesReply) event(typ string, kv ...any) []byte {
	head := []any{"type", typ, "sequence_number", r.seq}
	r.seq++
	return AppendSSE(nil, typ, obj(append(head, kv...)...))
}

// start is response.created and response.in_progress.
func (r *responsesReply) start() [][]byte {
	r.seq = 0
	pending := r.object("in_progress", emptyArray, null, null)
	return [][]byte{
		r.event("response.created", "response", pending),
		r.event("response.in_progress", "response", pending),
	}
}

func (r *responsesReply) events(n int, complete bool) [][]byte {
	ev := r.start()
	ev = append(ev,
		r.event("response.output_item.added", "output_index", 0, "item", r.item("in_progress", "")),
		r.event("response.content_part.added", "item_id", r.itemID, "output_index", 0, "content_index", 0, "part", outputText("")))
	for i := range n {
		ev = append(ev, r.event("response.output_text.delta", "item_id", r.itemID, "output_index", 0,
			"content_index", 0, "delta", piece(i), "logprobs", emptyArray))
	}
	if !complete {
		return ev
	}
	text := pieces(n)
	return append(ev,
		r.event("response.output_text.done", "item_id", r.itemID, "output_index", 0, "content_index", 0, "text", text, "logprobs", emptyArray),
		r.event("response.content_part.done", "item_id", r.itemID, "output_index", 0, "content_index", 0, "part", outputText(text)),
		r.event("response.output_item.done", "output_index", 0, "item", r.item("completed", text)),
		r.event("response.completed", "response", r.object("completed", arr(r.item("completed", text)), r.usage(), null)))
}

// failed is a stream that starts, then reports an error event and
// response.failed.
func (r *responsesReply) failed() [][]byte {
	ev := r.start()
	return append(ev,
		r.event("error", "code", "server_error", "message", msgOpenAIServer, "param", null),
		r.event("response.failed", "response", r.object("failed", emptyArray, null,
			obj("code", "server_error", "message", msgOpenAIServer))))
}

func (r *responsesReply) half() []byte {
	return AppendSSE(nil, "response.output_text.delta", obj("type", "response.output_text.delta",
		"sequence_number", 99, "item_id", r.itemID, "output_index", 0, "content_index", 0, "delta", " cut"))
}

// own remembers that cred produced response id, for ResponseOwner and
// the previous_response_id check. A replayed transcript's own response id
// is remembered instead. Error steps produce no response.
func (s *Server) own(st Step, id, cred string) {
	switch st.Kind {
	case KindError:
		return
	case KindReplay:
		id = ""
		for _, e := range ParseSSE([]byte(st.Body)) {
			if id = gjson.GetBytes(e.Data, "response.id").Str; id != "" {
				break
			}
		}
	}
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owners[id] = cred
}

// ResponseOwner is the credential whose request produced the response
// called id (on /v1/responses or the Codex backend), "" if unknown.
func (s *Server) ResponseOwner(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owners[id]
}

// chatReply renders Chat Completions: a chat.completion object, or its
// chunks ending with data: [DONE].
type chatReply struct {
	id, model    string
	created      int64
	u            Usage
	includeUsage bool
}

func (r *chatReply) usage() json.RawMessage {
	p, o := r.u.prompt(), r.u.OutputTokens
	return obj("prompt_tokens", p, "completion_tokens", o, "total_tokens", p+o,
		"prompt_tokens_details", obj("cached_tokens", r.u.CacheReadInputTokens, "audio_tokens", 0),
		"completion_tokens_details", obj("reasoning_tokens", r.u.ReasoningTokens, "audio_tokens", 0,
			"accepted_prediction_tokens", 0, "rejected_prediction_tokens", 0))
}

func (r *chatReply) body() []byte {
	msg := obj("role", "assistant", "content", replyText, "refusal", null, "annotations", emptyArray)
	return obj("id", r.id, "object", "chat.completion", "created", r.created, "model", r.model,
		"choices", arr(obj("index", 0, "message", msg, "logprobs", null, "finish_reason", "stop")),
		"usage", r.usage(), "service_tier", "default", "system_fingerprint", "fp_mock")
}

// chunk frames one chat.completion.chunk with the given choices.
func (r *chatReply) chunk(choices, usage json.RawMessage) []byte {
	return dataFrame(obj("id", r.id, "object", "chat.completion.chunk", "created", r.created,
		"model", r.model, "service_tier", "default", "system_fingerprint", "fp_mock",
		"choices", choices, "usage", usage), "\n\n")
}

// choice is a one-element choices array with delta and finish reason.
func choice(delta json.RawMessage, finish any) json.RawMessage {
	return arr(obj("index", 0, "delta", delta, "logprobs", null, "finish_reason", finish))
}

func (r *chatReply) first() []byte {
	return r.chunk(choice(obj("role", "assistant", "content", "", "refusal", null), null), null)
}

func (r *chatReply) events(n int, complete bool) [][]byte {
	ev := [][]byte{r.first()}
	for i := range n {
		ev = append(ev, r.chunk(choice(obj("content", piece(i)), null), null))
	}
	if !complete {
		return ev
	}
	ev = append(ev, r.chunk(choice(obj(), "stop"), null))
	if r.includeUsage {
		ev = append(ev, r.chunk(emptyArray, r.usage()))
	}
	return append(ev, dataFrame([]byte("[DONE]"), "\n\n"))
}

// failed is a stream that starts, then carries an error object and ends
// without [DONE].
func (r *chatReply) failed() [][]byte {
	e := obj("error", openaiErrorObject("server_error", "", "", msgOpenAIServer))
	return [][]byte{r.first(), dataFrame(e, "\n\n")}
}

func (r *chatReply) half() []byte { return r.chunk(choice(obj("content", " cut"), null), null) }
