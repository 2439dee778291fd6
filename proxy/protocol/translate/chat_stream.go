package translate

// chatEncoder writes a Chat Completions client's stream: chunks of deltas,
// a final chunk with the finish reason, the usage chunk when the client
// asked for it (stream_options.include_usage), then [DONE]. It holds only
// the chunk prefix and the open call's index.
type chatEncoder struct {
	head  []byte // a chunk up to its delta
	call  int    // index of the open tool call
	calls int
}

func (e *chatEncoder) begin(dst []byte, s *Stream) []byte {
	h := append([]byte(nil), `data: {"id":`...)
	h = appendStr(h, clientID("chatcmpl-", s.id))
	h = intField(append(h, `,"object":"chat.completion.chunk"`...), "created", s.created)
	h = appendStr(append(h, `,"model":`...), s.t.cfg.ClientModel)
	e.head = append(h, `,"choices":[{"index":0,"delta":`...)
	return e.chunk(dst, s, `{"role":"assistant","content":""}`, "")
}

// chunk writes one chunk; delta is a raw JSON object.
func (e *chatEncoder) chunk(dst []byte, s *Stream, delta, finish string) []byte {
	dst = append(append(dst, e.head...), delta...)
	dst = append(dst, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendStr(dst, finish)
	}
	dst = append(dst, "}]"...)
	if s.t.includeUsage {
		dst = append(dst, `,"usage":null`...)
	}
	return append(dst, "}\n\n"...)
}

func (e *chatEncoder) open(dst []byte, s *Stream) []byte {
	if s.open != blockTool {
		return dst
	}
	e.call = e.calls
	e.calls++
	d := appendInt(append([]byte(nil), `{"tool_calls":[{"index":`...), int64(e.call))
	d = appendStr(append(d, `,"id":`...), s.callID)
	d = appendStr(append(d, `,"type":"function","function":{"name":`...), s.callName)
	return e.chunk(dst, s, string(append(d, `,"arguments":""}}]}`...)), "")
}

func (e *chatEncoder) delta(dst []byte, s *Stream, text string) []byte {
	var d []byte
	switch s.open {
	case blockText:
		d = appendStr(append(d, `{"content":`...), text)
	case blockThinking:
		// DeepSeek's field, which Chat clients (Open WebUI, Cline…) show.
		d = appendStr(append(d, `{"reasoning_content":`...), text)
	case blockTool:
		d = appendInt(append(d, `{"tool_calls":[{"index":`...), int64(e.call))
		d = append(appendStr(append(d, `,"function":{"arguments":`...), text), "}}]"...)
	default:
		return dst
	}
	dst = append(append(dst, e.head...), d...)
	dst = append(dst, `},"logprobs":null,"finish_reason":null}]`...)
	if s.t.includeUsage {
		dst = append(dst, `,"usage":null`...)
	}
	return append(dst, "}\n\n"...)
}

// Chat has no field for signatures: thinking is shown, not replayed.
func (e *chatEncoder) signature(dst []byte, _ *Stream, _ sig) []byte { return dst }

func (e *chatEncoder) close(dst []byte, _ *Stream) []byte { return dst }

func (e *chatEncoder) finish(dst []byte, s *Stream) []byte {
	dst = e.chunk(dst, s, "{}", chatFinish(s.stop))
	if s.t.includeUsage {
		h := e.head[:len(e.head)-len(`[{"index":0,"delta":`)]
		dst = append(append(dst, h...), `[],"usage":`...)
		dst = append(appendChatUsage(dst, &s.t.usage), "}\n\n"...)
	}
	return append(dst, "data: [DONE]\n\n"...)
}

func (e *chatEncoder) fail(dst []byte, _ *Stream, status int, msg string) []byte {
	dst = append(dst, "data: "...)
	return append(append(dst, errorBody(Chat, status, msg, "")...), "\n\n"...)
}
