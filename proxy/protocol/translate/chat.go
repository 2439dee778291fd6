package translate

import (
	"strings"

	"github.com/tidwall/gjson"
)

// OpenAI Chat Completions requests: decoding a client's. Chat is a client
// format only: every OpenAI account also serves Responses.

func decodeChatRequest(root gjson.Result, r *request) error {
	return fieldsErr(root, func(k string, v gjson.Result) error {
		var err error
		switch k {
		case "messages":
			err = eachErr(v, func(i int, e gjson.Result) error { return decodeChatMessage(e, path("messages", i), r) })
		case "tools":
			err = decodeChatTools(v, r)
		case "tool_choice":
			err = decodeChatChoice(v, r)
		case "parallel_tool_calls":
			r.parallel = parallelOf(v)
		case "max_tokens", "max_completion_tokens":
			r.maxTokens = v.Int()
		case "temperature":
			r.temperature = number(v)
		case "top_p":
			r.topP = number(v)
		case "stop":
			r.stopField = k
			if v.Type == gjson.String {
				r.stop = append(r.stop, v.Str)
			} else {
				each(v, func(_ int, s gjson.Result) bool { r.stop = append(r.stop, s.String()); return true })
			}
		case "reasoning_effort":
			if e := v.String(); e == "none" {
				r.think.off = true
			} else if e != "" {
				r.think = thinking{on: true, effort: e}
			}
		case "response_format":
			err = decodeOpenAIFormat(v, k, r)
		case "n":
			if v.Int() > 1 {
				err = unsupported(k, "only one choice can be generated")
			}
		case "modalities":
			err = eachErr(v, func(_ int, m gjson.Result) error {
				if m.String() != "text" {
					return unsupported(k, "only text output can be translated")
				}
				return nil
			})
		case "audio", "web_search_options", "functions", "function_call":
			err = unsupported(k, "cannot be served by this account")
		}
		return err
	})
}

func decodeChatChoice(v gjson.Result, r *request) error {
	if v.Type == gjson.String {
		return decodeResponsesChoice(v, r)
	}
	if t := v.Get("type").String(); t != "function" {
		return unsupported("tool_choice.type", "tool choice "+shown(t)+" cannot be translated")
	}
	r.choice, r.choiceName = choiceTool, v.Get("function.name").String()
	return nil
}

func decodeChatTools(v gjson.Result, r *request) error {
	return eachErr(v, func(i int, tl gjson.Result) error {
		if t := tl.Get("type").String(); t != "function" {
			return unsupported(path("tools", i)+".type", "tool type "+shown(t)+" cannot be translated")
		}
		f := tl.Get("function")
		r.tools = append(r.tools, tool{name: f.Get("name").String(), desc: f.Get("description").String(), schema: objectOr(f.Get("parameters"))})
		return nil
	})
}

func decodeChatMessage(m gjson.Result, field string, r *request) error {
	role := m.Get("role").String()
	var parts []part
	if err := decodeChatContent(m.Get("content"), field+".content", &parts); err != nil {
		return err
	}
	switch role {
	case "system", "developer":
		if len(r.messages) > 0 {
			break // later instructions stay in place, as user text
		}
		for _, p := range parts {
			if p.kind != kindText {
				return unsupported(field+".content", "a "+role+" message may hold text only")
			}
			if p.text != "" {
				r.system = append(r.system, p.text)
			}
		}
		return nil
	case "user":
	case "assistant":
		if s := m.Get("refusal").String(); s != "" {
			parts = append(parts, part{kind: kindText, text: s})
		}
		for _, p := range parts {
			r.add(roleAssistant, p)
		}
		err := eachErr(m.Get("tool_calls"), func(j int, c gjson.Result) error {
			f := path(field+".tool_calls", j)
			id, s := parseCallID(c.Get("id").String())
			p := part{kind: kindCall, id: id, sig: s, name: c.Get("function.name").String()}
			switch a := strings.TrimSpace(c.Get("function.arguments").String()); {
			case a == "":
				p.args = "{}"
			case isObject(a):
				p.args = a
			default:
				return unsupported(f+".function.arguments", "the arguments are not a JSON object")
			}
			r.add(roleAssistant, p)
			return nil
		})
		if m.Get("function_call").Exists() || m.Get("audio").Exists() {
			err = unsupported(field, "legacy function calls and audio cannot be translated")
		}
		return err
	case "tool":
		id, _ := parseCallID(m.Get("tool_call_id").String())
		r.add(roleUser, part{kind: kindResult, id: id, content: parts})
		return nil
	default:
		return unsupported(field+".role", "role "+shown(role)+" cannot be translated")
	}
	for _, p := range parts {
		r.add(roleUser, p)
	}
	return nil
}

func decodeChatContent(c gjson.Result, field string, out *[]part) error {
	if c.Type == gjson.String {
		if c.Str != "" {
			*out = append(*out, part{kind: kindText, text: c.Str})
		}
		return nil
	}
	return eachErr(c, func(j int, p gjson.Result) error {
		var err error
		f := path(field, j)
		switch t := p.Get("type").String(); t {
		case "text":
			*out = append(*out, part{kind: kindText, text: p.Get("text").String()})
		case "refusal":
			*out = append(*out, part{kind: kindText, text: p.Get("refusal").String()})
		case "image_url":
			var q part
			q, err = mediaURL(kindImage, p.Get("image_url.url").String(), f+".image_url.url")
			*out = append(*out, q)
		case "file":
			var q part
			if d := p.Get("file.file_data").String(); d != "" {
				q, err = mediaURL(kindFile, d, f+".file.file_data")
			} else {
				err = unsupported(f+".file.file_id", "uploaded files live on OpenAI; send the file inline")
			}
			q.name = p.Get("file.filename").String()
			*out = append(*out, q)
		default:
			err = unsupported(f+".type", "content type "+shown(t)+" cannot be translated")
		}
		return err
	})
}

func chatFinish(s stopReason) string {
	switch s {
	case stopMax:
		return "length"
	case stopTool:
		return "tool_calls"
	case stopRefusal:
		return "content_filter"
	}
	return "stop"
}

func appendChatUsage(b []byte, u *usage) []byte {
	b = intField(append(b, '{'), "prompt_tokens", u.prompt())
	b = intField(b, "completion_tokens", u.OutputTokens)
	b = intField(b, "total_tokens", u.prompt()+u.OutputTokens)
	b = intField(append(key(b, "prompt_tokens_details"), '{'), "cached_tokens", u.CacheReadTokens)
	b = intField(append(key(append(b, '}'), "completion_tokens_details"), '{'), "reasoning_tokens", u.reasoning)
	return append(b, "}}"...)
}

func (t *Translator) encodeChatResponse(r *response) []byte {
	var text, reasoning strings.Builder
	for i := range r.parts {
		switch p := &r.parts[i]; p.kind {
		case kindText:
			text.WriteString(p.text)
		case kindThinking:
			reasoning.WriteString(p.text)
		}
	}
	b := make([]byte, 0, 512+text.Len())
	b = appendStr(append(b, `{"id":`...), clientID("chatcmpl-", r.id))
	b = intField(append(b, `,"object":"chat.completion"`...), "created", t.cfg.Now().Unix())
	b = appendStr(append(b, `,"model":`...), t.cfg.ClientModel)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if text.Len() > 0 || !hasCall(r.parts) {
		b = appendStr(b, text.String())
	} else {
		b = append(b, "null"...)
	}
	if reasoning.Len() > 0 {
		b = appendStr(append(b, `,"reasoning_content":`...), reasoning.String())
	}
	if hasCall(r.parts) {
		b = append(b, `,"tool_calls":[`...)
		for i := range r.parts {
			if p := &r.parts[i]; p.kind == kindCall {
				b = appendChatCall(sep(b), p.id, p.sig, p.name, p.args)
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"refusal":null},"logprobs":null,"finish_reason":"`...)
	b = append(b, chatFinish(r.stop)...)
	b = append(b, `"}],"usage":`...)
	return append(appendChatUsage(b, &r.usage), '}')
}

func appendChatCall(b []byte, id string, s sig, name, args string) []byte {
	b = appendStr(append(b, `{"id":`...), callID(id, s))
	b = appendStr(append(b, `,"type":"function","function":{"name":`...), name)
	return append(appendStr(append(b, `,"arguments":`...), args), "}}"...)
}
