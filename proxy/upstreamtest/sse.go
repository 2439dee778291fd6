package upstreamtest

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
)

// Event is one server-sent event: its name and its data payload.
type Event struct {
	Name string
	Data []byte
}

// AppendSSE appends the frame "event: name\ndata: data\n\n" to dst.
func AppendSSE(dst []byte, name string, data []byte) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, data...)
	return append(dst, "\n\n"...)
}

// WriteSSE writes one frame to w, the way Anthropic frames its events.
func WriteSSE(w io.Writer, name string, data []byte) error {
	_, err := w.Write(AppendSSE(nil, name, data))
	return err
}

// Encode renders events as one SSE body.
func Encode(events []Event) []byte {
	var b []byte
	for _, e := range events {
		b = AppendSSE(b, e.Name, e.Data)
	}
	return b
}

// ParseSSE splits an SSE body into events. It accepts "data:" with or
// without the space, CRLF line ends, comments and multi-line data (joined
// with "\n"). An event without an "event:" line gets the name "message".
// A trailing event without its blank line is still returned.
func ParseSSE(body []byte) []Event {
	var out []Event
	var cur Event
	var data [][]byte
	var have bool
	flush := func() {
		if have {
			cur.Data = bytes.Join(data, []byte("\n"))
			if cur.Name == "" {
				cur.Name = "message"
			}
			out = append(out, cur)
		}
		cur, data, have = Event{}, nil, false
	}
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			flush()
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			cur.Name, have = string(value), true
		case "data":
			data, have = append(data, append([]byte(nil), value...)), true
		}
	}
	flush()
	return out
}

// replyPieces are the text deltas of a reply; they concatenate to
// replyText when there are three.
var replyPieces = [...]string{"Hello", " from", " mock"}

// StreamEvents builds the events of a normal streamed reply: message_start,
// content_block_start, ping, n text deltas, content_block_stop,
// message_delta with cumulative output tokens, message_stop. model is a
// raw JSON value (a quoted string).
func StreamEvents(id, model string, u Usage, n int) []Event {
	u = u.normalized()
	ev := make([]Event, 0, n+6)
	ev = append(ev, Event{"message_start", messageStart(id, model, u)})
	ev = append(ev, Event{"content_block_start", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)})
	ev = append(ev, Event{"ping", []byte(`{"type": "ping"}`)})
	for i := range n {
		d := append([]byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`),
			strconv.Quote(replyPieces[i%len(replyPieces)])...)
		ev = append(ev, Event{"content_block_delta", append(d, "}}"...)})
	}
	ev = append(ev, Event{"content_block_stop", []byte(`{"type":"content_block_stop","index":0}`)})
	md := []byte(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`)
	md = strconv.AppendInt(md, int64(u.OutputTokens), 10)
	ev = append(ev, Event{"message_delta", append(md, "}}"...)})
	ev = append(ev, Event{"message_stop", []byte(`{"type":"message_stop"}`)})
	return ev
}

// overloadedEvent is the error event Anthropic sends after a 200.
var overloadedEvent = Event{"error", []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)}

func messageStart(id, model string, u Usage) []byte {
	b := make([]byte, 0, 384)
	b = append(b, `{"type":"message_start","message":{"id":`...)
	b = strconv.AppendQuote(b, id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = append(b, model...)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	b = appendUsage(b, u, 1)
	return append(b, "}}"...)
}

// appendUsage appends u as a usage object with the given output count.
func appendUsage(b []byte, u Usage, output int) []byte {
	num := func(b []byte, key string, v int) []byte {
		b = append(b, '"')
		b = append(b, key...)
		b = append(b, `":`...)
		return strconv.AppendInt(b, int64(v), 10)
	}
	b = num(append(b, '{'), "input_tokens", u.InputTokens)
	b = num(append(b, ','), "cache_creation_input_tokens", u.CacheCreationInputTokens)
	b = num(append(b, ','), "cache_read_input_tokens", u.CacheReadInputTokens)
	if u.hasSplit() {
		b = num(append(b, `,"cache_creation":{`...), "ephemeral_5m_input_tokens", u.Ephemeral5m)
		b = num(append(b, ','), "ephemeral_1h_input_tokens", u.Ephemeral1h)
		b = append(b, '}')
	}
	b = num(append(b, ','), "output_tokens", output)
	return append(b, `,"service_tier":"standard"}`...)
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return append(b, `""`...)
	}
	return append(b, q...)
}
