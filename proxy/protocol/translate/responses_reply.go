package translate

import (
	"strconv"

	"github.com/tidwall/gjson"
)

// OpenAI Responses replies, buffered: decoding an upstream's (or the
// object a Collector rebuilt from a Codex stream), encoding a client's.

func decodeResponsesResponse(root gjson.Result, r *response) {
	r.id = root.Get("id").String()
	each(root.Get("output"), func(_ int, it gjson.Result) bool {
		switch it.Get("type").String() {
		case "message":
			each(it.Get("content"), func(_ int, c gjson.Result) bool {
				switch c.Get("type").String() {
				case "output_text":
					r.parts = append(r.parts, part{kind: kindText, text: c.Get("text").String()})
				case "refusal":
					r.parts = append(r.parts, part{kind: kindText, text: c.Get("refusal").String()})
					r.stop = stopRefusal
				}
				return true
			})
		case "reasoning":
			if p, ok := responsesReasoning(it); ok {
				r.parts = append(r.parts, p)
			}
		case "function_call":
			p := responsesCall(it, false)
			if p.args == "" {
				p.args = "{}"
			}
			r.parts = append(r.parts, p)
		}
		return true
	})
	if r.stop == stopEnd {
		r.stop = responsesStop(root)
	}
	readResponsesUsage(root.Get("usage"), &r.usage)
	if r.stop == stopEnd && hasCall(r.parts) {
		r.stop = stopTool
	}
}

// responsesStop reads why a response object ended.
func responsesStop(resp gjson.Result) stopReason {
	if resp.Get("status").String() == "incomplete" {
		if resp.Get("incomplete_details.reason").String() == "content_filter" {
			return stopRefusal
		}
		return stopMax
	}
	return stopEnd
}

// replyPart reports whether a part has a place in a reply: media parts
// (Gemini's generated images) have none in the other formats.
func replyPart(p *part) bool {
	switch p.kind {
	case kindText, kindThinking, kindRedacted, kindCall:
		return true
	}
	return false
}

func hasCall(ps []part) bool { return hasKind(ps, kindCall) }

func (t *Translator) encodeResponsesResponse(r *response) []byte {
	b := make([]byte, 0, 512)
	id := clientID("resp_", r.id)
	b = appendResponsesObject(b, t, id, t.cfg.Now().Unix(), r.stop, false)
	b = append(b, `,"output":[`...)
	for i := range r.parts {
		if p := &r.parts[i]; replyPart(p) {
			b = appendResponsesItem(sep(b), p, itemID(p, r.id, i))
		}
	}
	b = append(append(b, `],"usage":`...), appendResponsesUsage(nil, &r.usage)...)
	return append(b, '}')
}

// appendResponsesObject opens a response object, up to its output.
func appendResponsesObject(b []byte, t *Translator, id string, created int64, stop stopReason, inProgress bool) []byte {
	b = appendStr(append(b, `{"id":`...), id)
	b = intField(append(b, `,"object":"response"`...), "created_at", created)
	switch {
	case inProgress:
		b = append(b, `,"status":"in_progress","error":null,"incomplete_details":null`...)
	case stop == stopMax:
		b = append(b, `,"status":"incomplete","error":null,"incomplete_details":{"reason":"max_output_tokens"}`...)
	case stop == stopRefusal:
		b = append(b, `,"status":"incomplete","error":null,"incomplete_details":{"reason":"content_filter"}`...)
	default:
		b = append(b, `,"status":"completed","error":null,"incomplete_details":null`...)
	}
	b = appendStr(append(b, `,"model":`...), t.cfg.ClientModel)
	return append(b, `,"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"store":false`...)
}

// itemID names an output item after the reply and its position.
func itemID(p *part, reply string, n int) string {
	prefix := "msg_"
	switch p.kind {
	case kindThinking, kindRedacted:
		prefix = "rs_"
	case kindCall:
		prefix = "fc_"
		if p.custom {
			prefix = "ctc_"
		}
	}
	return prefix + reply + "_" + strconv.Itoa(n)
}

// appendResponsesItem writes a part as a completed output item for a
// Responses client; foreign signatures ride in encrypted_content.
func appendResponsesItem(b []byte, p *part, id string) []byte {
	switch p.kind {
	case kindText:
		b = appendStr(append(b, `{"id":`...), id)
		b = append(b, `,"type":"message","status":"completed","content":[`...)
		b = appendOutputText(b, p.text)
		return append(b, `],"role":"assistant"}`...)
	case kindThinking:
		return appendResponsesReasoning(b, id, p.text, p.sig.carrier(false))
	case kindRedacted:
		return appendResponsesReasoning(b, id, "", p.sig.carrier(true))
	case kindCall:
		b = appendStr(append(b, `{"id":`...), id)
		if p.custom {
			b = append(b, `,"type":"custom_tool_call","status":"completed","call_id":`...)
			b = appendStr(b, callID(p.id, p.sig))
			b = appendStr(append(b, `,"name":`...), p.name)
			return append(appendStr(append(b, `,"input":`...), customInput(p.args)), '}')
		}
		b = append(b, `,"type":"function_call","status":"completed","arguments":`...)
		b = appendStr(b, p.args)
		b = appendStr(append(b, `,"call_id":`...), callID(p.id, p.sig))
		return append(appendStr(append(b, `,"name":`...), p.name), '}')
	}
	return b
}

func appendOutputText(b []byte, text string) []byte {
	b = append(b, `{"type":"output_text","annotations":[],"logprobs":[],"text":`...)
	return append(appendStr(b, text), '}')
}

// customInput is a freeform tool's input from its {"input": …} arguments.
func customInput(args string) string {
	return str(gjson.Get(args, "input"))
}
