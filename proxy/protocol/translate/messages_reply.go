package translate

import "github.com/tidwall/gjson"

// Anthropic Messages replies, buffered: decoding an upstream's, encoding a
// client's.

func decodeMessagesResponse(root gjson.Result, r *response) {
	r.id = root.Get("id").String()
	each(root.Get("content"), func(_ int, b gjson.Result) bool {
		if p, _ := messagesBlock(b, "", false); p.kind != kindText || p.text != "" {
			r.parts = append(r.parts, p)
		}
		return true
	})
	r.stop = messagesStop(root.Get("stop_reason").String())
	readMessagesUsage(root.Get("usage"), &r.usage, false)
}

func messagesStop(s string) stopReason {
	switch s {
	case "max_tokens", "model_context_window_exceeded":
		return stopMax
	case "stop_sequence":
		return stopSequence
	case "tool_use":
		return stopTool
	case "refusal":
		return stopRefusal
	case "pause_turn":
		return stopPause
	}
	return stopEnd
}

func messagesStopText(s stopReason) string {
	switch s {
	case stopMax:
		return "max_tokens"
	case stopSequence:
		return "stop_sequence"
	case stopTool:
		return "tool_use"
	case stopRefusal:
		return "refusal"
	case stopPause:
		return "pause_turn"
	}
	return "end_turn"
}

// readMessagesUsage reads an Anthropic usage object. In message_delta the
// counts are cumulative and the input fields optional (delta): only
// non-zero values replace.
func readMessagesUsage(v gjson.Result, u *usage, delta bool) {
	set := func(dst *int64, r gjson.Result) {
		if n := r.Int(); !delta || n != 0 {
			*dst = n
		}
	}
	fields(v, func(k string, r gjson.Result) bool {
		switch k {
		case "input_tokens":
			set(&u.InputTokens, r)
		case "output_tokens":
			set(&u.OutputTokens, r)
		case "cache_creation_input_tokens":
			set(&u.CacheCreationTokens, r)
		case "cache_read_input_tokens":
			set(&u.CacheReadTokens, r)
		case "cache_creation":
			set(&u.CacheCreation5m, r.Get("ephemeral_5m_input_tokens"))
			set(&u.CacheCreation1h, r.Get("ephemeral_1h_input_tokens"))
		}
		return true
	})
}

func appendMessagesUsage(b []byte, u *usage) []byte {
	b = intField(append(b, '{'), "input_tokens", u.InputTokens)
	b = intField(b, "cache_creation_input_tokens", u.CacheCreationTokens)
	b = intField(b, "cache_read_input_tokens", u.CacheReadTokens)
	b = intField(b, "output_tokens", u.OutputTokens)
	return append(b, '}')
}

// anthropicStatus is the HTTP status an Anthropic error type stands for,
// for error events that arrive inside a 200 stream.
func anthropicStatus(typ string) int {
	switch typ {
	case "invalid_request_error":
		return 400
	case "authentication_error":
		return 401
	case "permission_error":
		return 403
	case "not_found_error":
		return 404
	case "request_too_large":
		return 413
	case "rate_limit_error":
		return 429
	case "overloaded_error":
		return 529
	}
	return 500
}

func (t *Translator) encodeMessagesResponse(r *response) []byte {
	b := make([]byte, 0, 512)
	b = appendStr(append(b, `{"id":`...), clientID("msg_", r.id))
	b = appendStr(append(b, `,"type":"message","role":"assistant","model":`...), t.cfg.ClientModel)
	b = append(b, `,"content":[`...)
	for i := range r.parts {
		b = appendMessagesReplyBlock(b, &r.parts[i])
	}
	b = append(b, `],"stop_reason":"`...)
	b = append(b, messagesStopText(r.stop)...)
	b = append(b, `","stop_sequence":null,"usage":`...)
	b = appendMessagesUsage(b, &r.usage)
	return append(b, '}')
}

// appendMessagesReplyBlock writes a part of a reply for an Anthropic
// client: foreign signatures ride in their carriers.
func appendMessagesReplyBlock(b []byte, p *part) []byte {
	switch p.kind {
	case kindText:
		return append(appendStr(append(sep(b), `{"type":"text","text":`...), p.text), '}')
	case kindThinking:
		b = appendStr(append(sep(b), `{"type":"thinking","thinking":`...), p.text)
		return append(appendStr(append(b, `,"signature":`...), p.sig.carrier(false)), '}')
	case kindCall:
		b = appendStr(append(sep(b), `{"type":"tool_use","id":`...), callID(p.id, p.sig))
		b = appendStr(append(b, `,"name":`...), p.name)
		return append(appendRaw(append(b, `,"input":`...), p.args, "{}"), '}')
	}
	return b // media and the rest have no place in a reply
}
