package translate

import (
	"strconv"
	"strings"
)

// OpenAI Responses streams: decoding an upstream's events, encoding a
// client's.

type responsesDecoder struct {
	parts int  // summary parts of the open reasoning item
	args  bool // the open call streamed its arguments
}

func (d *responsesDecoder) event(dst []byte, s *Stream, event string, data []byte) []byte {
	v, event, ok := parseEvent(event, data)
	if !ok {
		return dst
	}
	switch event {
	case "response.created", "response.in_progress":
		if !s.started {
			s.id = v.Get("response.id").String()
		}
		return s.begin(dst)
	case "response.output_item.added":
		it := v.Get("item")
		switch it.Get("type").String() {
		case "reasoning":
			d.parts = 0
		case "function_call":
			d.args = false
			return s.toolStart(dst, it.Get("call_id").String(), it.Get("name").String())
		}
	case "response.output_text.delta", "response.refusal.delta":
		return s.text(dst, blockText, v.Get("delta").String())
	case "response.reasoning_summary_part.added":
		if d.parts++; d.parts > 1 {
			return s.text(dst, blockThinking, "\n\n")
		}
	case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		return s.text(dst, blockThinking, v.Get("delta").String())
	case "response.function_call_arguments.delta":
		d.args = true
		return s.args(dst, v.Get("delta").String())
	case "response.output_item.done":
		it := v.Get("item")
		switch it.Get("type").String() {
		case "reasoning":
			dst = s.signature(dst, sig{Responses, it.Get("encrypted_content").String()})
		case "function_call":
			if !d.args {
				dst = s.args(dst, it.Get("arguments").String())
			}
		case "message":
		default:
			return dst
		}
		return s.closeBlock(dst)
	case "response.completed", "response.incomplete":
		resp := v.Get("response")
		readResponsesUsage(resp.Get("usage"), &s.t.usage)
		s.stop = responsesStop(resp)
		return s.finish(dst)
	case "response.failed":
		e := v.Get("response.error")
		readResponsesUsage(v.Get("response.usage"), &s.t.usage)
		return s.upstreamFailed(dst, openaiStatus(e.Get("code").String()), e.Get("message").String())
	case "error":
		return s.upstreamFailed(dst, openaiStatus(v.Get("code").String()), v.Get("message").String())
	}
	return dst
}

// openaiStatus is the HTTP status an OpenAI error code stands for, for
// errors inside a 200 stream.
func openaiStatus(code string) int {
	switch code {
	case "rate_limit_exceeded", "usage_limit_reached", "insufficient_quota":
		return 429
	case "invalid_request_error", "invalid_prompt", "context_length_exceeded":
		return 400
	case "server_is_overloaded", "slow_down":
		return 503
	}
	return 500
}

func openaiCode(status int) string {
	switch {
	case status == 429:
		return "rate_limit_exceeded"
	case status < 500:
		return "invalid_request_error"
	}
	return "server_error"
}

// responsesEncoder writes a Responses client's stream. The protocol
// repeats each item's whole content in its done events and all items in
// response.completed, so it holds them, up to Config.MaxHeld.
type responsesEncoder struct {
	seq   int64
	item  string // id of the open item
	buf   []byte // the open item's text, summary or arguments
	parts bool   // the open reasoning item has its summary part
	sig   sig    // the open reasoning item's signature
	held  []byte // completed items, comma-separated
	outs  int    // output items so far
}

// head opens an event: its name, type and sequence number.
func (e *responsesEncoder) head(dst []byte, name string) []byte {
	dst = appendEventHead(dst, name)
	dst = append(append(dst, `{"type":"`...), name...)
	dst = appendInt(append(dst, `","sequence_number":`...), e.seq)
	e.seq++
	return dst
}

// itemHead opens an event about the open item.
func (e *responsesEncoder) itemHead(dst []byte, name string) []byte {
	dst = appendStr(append(e.head(dst, name), `,"item_id":`...), e.item)
	return appendInt(append(dst, `,"output_index":`...), int64(e.outs))
}

const eventEnd = "}\n\n"

func (e *responsesEncoder) begin(dst []byte, s *Stream) []byte {
	for _, name := range [...]string{"response.created", "response.in_progress"} {
		dst = append(e.head(dst, name), `,"response":`...)
		dst = appendResponsesObject(dst, s.t, clientID("resp_", s.id), s.created, 0, true)
		dst = append(dst, `,"output":[],"usage":null}`+eventEnd...)
	}
	return dst
}

func (e *responsesEncoder) open(dst []byte, s *Stream) []byte {
	e.buf, e.parts, e.sig = e.buf[:0], false, sig{}
	prefix := "msg_"
	switch s.open {
	case blockThinking, blockRedacted:
		prefix = "rs_"
	case blockTool:
		prefix = "fc_"
		if s.custom {
			prefix = "ctc_"
		}
	}
	e.item = prefix + s.id + "_" + strconv.Itoa(s.index)
	dst = appendInt(append(e.head(dst, "response.output_item.added"), `,"output_index":`...), int64(e.outs))
	dst = appendStr(append(dst, `,"item":{"id":`...), e.item)
	switch s.open {
	case blockText:
		dst = append(dst, `,"type":"message","status":"in_progress","content":[],"role":"assistant"}`+eventEnd...)
		dst = append(e.itemHead(dst, "response.content_part.added"), `,"content_index":0,"part":`...)
		dst = append(appendOutputText(dst, ""), eventEnd...)
	case blockThinking, blockRedacted:
		dst = append(dst, `,"type":"reasoning","summary":[]}`+eventEnd...)
	case blockTool:
		if s.custom {
			dst = append(dst, `,"type":"custom_tool_call","status":"in_progress","call_id":`...)
			dst = appendStr(dst, s.callID)
			dst = append(appendStr(append(dst, `,"name":`...), s.callName), `,"input":""}`+eventEnd...)
		} else {
			dst = append(dst, `,"type":"function_call","status":"in_progress","arguments":"","call_id":`...)
			dst = appendStr(dst, s.callID)
			dst = append(appendStr(append(dst, `,"name":`...), s.callName), "}"+eventEnd...)
		}
	}
	return dst
}

func (e *responsesEncoder) delta(dst []byte, s *Stream, text string) []byte {
	e.buf = append(e.buf, text...)
	if len(e.buf)+len(e.held) > s.t.cfg.MaxHeld {
		s.overflow = true
		return dst
	}
	switch s.open {
	case blockText:
		dst = appendStr(append(e.itemHead(dst, "response.output_text.delta"), `,"content_index":0,"delta":`...), text)
		return append(dst, `,"logprobs":[]`+eventEnd...)
	case blockThinking:
		if !e.parts {
			e.parts = true
			dst = append(e.itemHead(dst, "response.reasoning_summary_part.added"), `,"summary_index":0,"part":{"type":"summary_text","text":""}`+eventEnd...)
		}
		dst = appendStr(append(e.itemHead(dst, "response.reasoning_summary_text.delta"), `,"summary_index":0,"delta":`...), text)
	case blockTool:
		if s.custom {
			return dst // a freeform input is sent whole when it is complete
		}
		dst = appendStr(append(e.itemHead(dst, "response.function_call_arguments.delta"), `,"delta":`...), text)
	}
	return append(dst, eventEnd...)
}

func (e *responsesEncoder) signature(dst []byte, s *Stream, v sig) []byte {
	e.sig = sig{v.fam, strings.Clone(v.val)}
	return dst
}

func (e *responsesEncoder) close(dst []byte, s *Stream) []byte {
	text := string(e.buf)
	p := part{kind: kindText, text: text}
	switch s.open {
	case blockText:
		dst = appendStr(append(e.itemHead(dst, "response.output_text.done"), `,"content_index":0,"text":`...), text)
		dst = append(dst, `,"logprobs":[]`+eventEnd...)
		dst = append(e.itemHead(dst, "response.content_part.done"), `,"content_index":0,"part":`...)
		dst = append(appendOutputText(dst, text), eventEnd...)
	case blockThinking:
		if e.parts {
			dst = appendStr(append(e.itemHead(dst, "response.reasoning_summary_text.done"), `,"summary_index":0,"text":`...), text)
			dst = append(e.itemHead(append(dst, eventEnd...), "response.reasoning_summary_part.done"), `,"summary_index":0,"part":{"type":"summary_text","text":`...)
			dst = append(appendStr(dst, text), "}"+eventEnd...)
		}
		p = part{kind: kindThinking, text: text, sig: e.sig}
	case blockRedacted:
		p = part{kind: kindRedacted, sig: sig{Messages, s.redacted}}
	case blockTool:
		p = part{kind: kindCall, id: s.callID, name: s.callName, args: text, custom: s.custom}
		if s.custom {
			in := customInput(text)
			dst = appendStr(append(e.itemHead(dst, "response.custom_tool_call_input.delta"), `,"delta":`...), in)
			dst = appendStr(append(e.itemHead(append(dst, eventEnd...), "response.custom_tool_call_input.done"), `,"input":`...), in)
		} else {
			dst = appendStr(append(e.itemHead(dst, "response.function_call_arguments.done"), `,"arguments":`...), text)
		}
		dst = append(dst, eventEnd...)
	}
	e.held = sep(e.held)
	n := len(e.held)
	e.held = appendResponsesItem(e.held, &p, e.item)
	dst = appendInt(append(e.head(dst, "response.output_item.done"), `,"output_index":`...), int64(e.outs))
	dst = append(append(append(dst, `,"item":`...), e.held[n:]...), eventEnd...)
	e.outs++
	return dst
}

func (e *responsesEncoder) finish(dst []byte, s *Stream) []byte {
	name := "response.completed"
	if s.stop == stopMax || s.stop == stopRefusal {
		name = "response.incomplete"
	}
	dst = append(e.head(dst, name), `,"response":`...)
	dst = appendResponsesObject(dst, s.t, clientID("resp_", s.id), s.created, s.stop, false)
	dst = append(append(append(dst, `,"output":[`...), e.held...), `],"usage":`...)
	dst = appendResponsesUsage(dst, &s.t.usage)
	e.held = nil
	return append(dst, "}"+eventEnd...)
}

func (e *responsesEncoder) fail(dst []byte, s *Stream, status int, msg string) []byte {
	code := openaiCode(status)
	dst = appendStr(append(e.head(dst, "error"), `,"code":`...), code)
	dst = appendStr(append(dst, `,"message":`...), msg)
	dst = append(dst, `,"param":null`+eventEnd...)
	dst = append(e.head(dst, "response.failed"), `,"response":{"id":`...)
	dst = appendStr(dst, clientID("resp_", s.id))
	dst = intField(append(dst, `,"object":"response"`...), "created_at", s.created)
	dst = appendStr(append(dst, `,"status":"failed","error":{"code":`...), code)
	dst = appendStr(append(dst, `,"message":`...), msg)
	dst = appendStr(append(dst, `},"incomplete_details":null,"model":`...), s.t.cfg.ClientModel)
	e.held = nil
	return append(dst, `,"output":[],"usage":null}`+eventEnd...)
}
