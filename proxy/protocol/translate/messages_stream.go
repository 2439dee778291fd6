package translate

import "github.com/tidwall/gjson"

// Anthropic Messages streams: decoding an upstream's events, encoding a
// client's.

type messagesDecoder struct {
	skip bool // inside a block type with no counterpart (server tools)
}

func (d *messagesDecoder) event(dst []byte, s *Stream, event string, data []byte) []byte {
	v, event, ok := parseEvent(event, data)
	if !ok {
		return dst
	}
	switch event {
	case "message_start":
		m := v.Get("message")
		if !s.started {
			s.id = m.Get("id").String()
		}
		readMessagesUsage(m.Get("usage"), &s.t.usage, false)
		return s.begin(dst)
	case "content_block_start":
		cb := v.Get("content_block")
		d.skip = false
		switch cb.Get("type").String() {
		case "text":
			return s.text(dst, blockText, cb.Get("text").String())
		case "thinking":
			return s.text(dst, blockThinking, cb.Get("thinking").String())
		case "redacted_thinking":
			return s.redactedBlock(dst, cb.Get("data").String())
		case "tool_use":
			return s.toolStart(dst, cb.Get("id").String(), cb.Get("name").String())
		}
		d.skip = true
	case "content_block_delta":
		if d.skip {
			return dst
		}
		dv := v.Get("delta")
		switch dv.Get("type").String() {
		case "text_delta":
			return s.text(dst, blockText, dv.Get("text").String())
		case "thinking_delta":
			return s.text(dst, blockThinking, dv.Get("thinking").String())
		case "signature_delta":
			return s.signature(dst, sig{Messages, dv.Get("signature").String()})
		case "input_json_delta":
			return s.args(dst, dv.Get("partial_json").String())
		}
	case "content_block_stop":
		if d.skip {
			d.skip = false
			return dst
		}
		return s.closeBlock(dst)
	case "message_delta":
		if r := v.Get("delta.stop_reason"); r.Type == gjson.String {
			s.stop = messagesStop(r.Str)
		}
		readMessagesUsage(v.Get("usage"), &s.t.usage, true)
	case "message_stop":
		return s.finish(dst)
	case "error":
		e := v.Get("error")
		return s.upstreamFailed(dst, anthropicStatus(e.Get("type").String()), e.Get("message").String())
	}
	return dst
}

// messagesEncoder writes an Anthropic client's stream. It holds nothing
// between events.
type messagesEncoder struct{}

func (messagesEncoder) begin(dst []byte, s *Stream) []byte {
	dst = appendEventHead(dst, "message_start")
	dst = appendStr(append(dst, `{"type":"message_start","message":{"id":`...), clientID("msg_", s.id))
	dst = appendStr(append(dst, `,"type":"message","role":"assistant","model":`...), s.t.cfg.ClientModel)
	dst = append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	u := s.t.usage
	u.OutputTokens = 0
	dst = appendMessagesUsage(dst, &u)
	return append(dst, "}}\n\n"...)
}

func blockHead(dst []byte, s *Stream, name string) []byte {
	dst = appendEventHead(dst, name)
	dst = append(dst, `{"type":"`...)
	dst = append(dst, name...)
	return appendInt(append(dst, `","index":`...), int64(s.index))
}

func (messagesEncoder) open(dst []byte, s *Stream) []byte {
	dst = append(blockHead(dst, s, "content_block_start"), `,"content_block":`...)
	switch s.open {
	case blockText:
		dst = append(dst, `{"type":"text","text":""}`...)
	case blockThinking:
		dst = append(dst, `{"type":"thinking","thinking":"","signature":""}`...)
	case blockRedacted:
		dst = append(appendStr(append(dst, `{"type":"redacted_thinking","data":`...), s.redacted), '}')
	case blockTool:
		dst = appendStr(append(dst, `{"type":"tool_use","id":`...), s.callID)
		dst = appendStr(append(dst, `,"name":`...), s.callName)
		dst = append(dst, `,"input":{}}`...)
	}
	return append(dst, "}\n\n"...)
}

func (messagesEncoder) delta(dst []byte, s *Stream, text string) []byte {
	dst = append(blockHead(dst, s, "content_block_delta"), `,"delta":`...)
	switch s.open {
	case blockThinking:
		dst = appendStr(append(dst, `{"type":"thinking_delta","thinking":`...), text)
	case blockTool:
		dst = appendStr(append(dst, `{"type":"input_json_delta","partial_json":`...), text)
	default:
		dst = appendStr(append(dst, `{"type":"text_delta","text":`...), text)
	}
	return append(dst, "}}\n\n"...)
}

func (messagesEncoder) signature(dst []byte, s *Stream, v sig) []byte {
	dst = append(blockHead(dst, s, "content_block_delta"), `,"delta":{"type":"signature_delta","signature":`...)
	return append(appendStr(dst, v.carrier(false)), "}}\n\n"...)
}

func (messagesEncoder) close(dst []byte, s *Stream) []byte {
	return append(blockHead(dst, s, "content_block_stop"), "}\n\n"...)
}

func (messagesEncoder) finish(dst []byte, s *Stream) []byte {
	dst = appendEventHead(dst, "message_delta")
	dst = append(dst, `{"type":"message_delta","delta":{"stop_reason":"`...)
	dst = append(dst, messagesStopText(s.stop)...)
	dst = append(dst, `","stop_sequence":null},"usage":`...)
	dst = appendMessagesUsage(dst, &s.t.usage)
	dst = append(dst, "}\n\n"...)
	dst = appendEventHead(dst, "message_stop")
	return append(dst, `{"type":"message_stop"}`+"\n\n"...)
}

func (messagesEncoder) fail(dst []byte, s *Stream, status int, msg string) []byte {
	dst = appendEventHead(dst, "error")
	return append(append(dst, errorBody(Messages, status, msg, "")...), "\n\n"...)
}
