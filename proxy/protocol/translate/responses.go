package translate

import (
	"strings"

	"github.com/tidwall/gjson"
)

// OpenAI Responses requests: decoding a client's, encoding an upstream's.

func decodeResponsesRequest(root gjson.Result, r *request, kept bool) error {
	return fieldsErr(root, func(k string, v gjson.Result) error {
		var err error
		switch k {
		case "instructions":
			if s := v.String(); s != "" {
				r.system = append(r.system, s)
			}
		case "input":
			if v.Type == gjson.String {
				r.add(roleUser, part{kind: kindText, text: v.Str})
			} else {
				err = eachErr(v, func(i int, e gjson.Result) error { return decodeResponsesItem(e, path("input", i), r) })
			}
		case "tools":
			err = decodeResponsesTools(v, r)
		case "tool_choice":
			err = decodeResponsesChoice(v, r)
		case "parallel_tool_calls":
			r.parallel = parallelOf(v)
		case "reasoning":
			if e := v.Get("effort").String(); e == "none" {
				r.think.off = true
			} else if e != "" {
				r.think = thinking{on: true, effort: e}
			}
		case "max_output_tokens":
			r.maxTokens = v.Int()
		case "temperature":
			r.temperature = number(v)
		case "top_p":
			r.topP = number(v)
		case "text":
			err = decodeOpenAIFormat(v.Get("format"), "text.format", r)
		case "previous_response_id":
			if v.String() != "" && !kept {
				err = &Error{Field: k, Reason: "only an OpenAI account keeps earlier turns; send the whole conversation in input", Err: ErrPreviousResponse}
			}
		case "background":
			if v.Bool() {
				err = unsupported(k, "background responses need an OpenAI account")
			}
		case "conversation", "prompt":
			err = unsupported(k, "stored "+k+"s need an OpenAI account")
		}
		return err
	})
}

func parallelOf(v gjson.Result) int8 {
	if v.Bool() {
		return 1
	}
	return -1
}

// decodeOpenAIFormat reads a structured output format, shared by Responses
// (text.format) and Chat (response_format).
func decodeOpenAIFormat(f gjson.Result, field string, r *request) error {
	switch t := f.Get("type").String(); t {
	case "", "text":
	case "json_object":
		r.jsonObject, r.formatField = true, field
	case "json_schema":
		s := f.Get("schema")
		name := f.Get("name")
		if !s.Exists() { // Chat nests it: {"json_schema":{"name","schema"}}
			s, name = f.Get("json_schema.schema"), f.Get("json_schema.name")
		}
		r.schema, r.schemaName, r.formatField = objectOr(s), name.String(), field
	default:
		return unsupported(field+".type", "output format "+shown(t)+" cannot be translated")
	}
	return nil
}

func decodeResponsesChoice(v gjson.Result, r *request) error {
	if v.Type == gjson.String {
		switch v.Str {
		case "auto":
			r.choice = choiceAuto
		case "none":
			r.choice = choiceNone
		case "required":
			r.choice = choiceAny
		}
		return nil
	}
	switch t := v.Get("type").String(); t {
	case "function", "custom":
		r.choice, r.choiceName = choiceTool, v.Get("name").String()
	default:
		return unsupported("tool_choice.type", "tool choice "+shown(t)+" cannot be translated")
	}
	return nil
}

// customSchema is the argument schema a freeform tool gets elsewhere.
const customSchema = `{"type":"object","properties":{"input":{"type":"string","description":"The tool's freeform input."}},"required":["input"]}`

func decodeResponsesTools(v gjson.Result, r *request) error {
	return eachErr(v, func(i int, tl gjson.Result) error {
		var err error
		field := path("tools", i)
		switch t := tl.Get("type").String(); t {
		case "function":
			r.tools = append(r.tools, tool{name: tl.Get("name").String(), desc: tl.Get("description").String(), schema: objectOr(tl.Get("parameters"))})
		case "custom":
			desc := tl.Get("description").String()
			if f := tl.Get("format"); f.Get("type").String() == "grammar" {
				// The grammar is how the model learns the input's syntax.
				desc += "\n\nThe input must follow this " + f.Get("syntax").String() + " grammar:\n" + f.Get("definition").String()
			}
			r.tools = append(r.tools, tool{name: tl.Get("name").String(), desc: desc, schema: customSchema, custom: true})
		case "web_search", "web_search_preview":
			// Codex offers a search of OpenAI's cache; elsewhere there is
			// none to offer, and nothing in the conversation depends on it.
			if !tl.Get("external_web_access").Exists() || tl.Get("external_web_access").Bool() {
				err = unsupported(field+".type", "OpenAI hosted tool "+shown(t)+" needs an OpenAI account")
			}
		default:
			err = unsupported(field+".type", "OpenAI hosted tool "+shown(t)+" needs an OpenAI account")
		}
		return err
	})
}

func decodeResponsesItem(it gjson.Result, field string, r *request) error {
	t := it.Get("type").String()
	switch t {
	case "message", "":
		return decodeResponsesMessage(it, field, r)
	case "function_call", "custom_tool_call":
		p := responsesCall(it, t == "custom_tool_call")
		if p.args == "" {
			return unsupported(field+".arguments", "the arguments are not a JSON object")
		}
		r.add(roleAssistant, p)
	case "function_call_output", "custom_tool_call_output":
		id, _ := parseCallID(it.Get("call_id").String())
		p := part{kind: kindResult, id: id}
		out := it.Get("output")
		if out.IsArray() {
			if err := decodeResponsesContent(out, field+".output", &p.content); err != nil {
				return err
			}
		} else if s := str(out); s != "" {
			p.content = []part{{kind: kindText, text: s}}
		}
		r.add(roleUser, p)
	case "reasoning":
		if p, ok := responsesReasoning(it); ok {
			r.add(roleAssistant, p)
		}
	case "web_search_call":
		// A search OpenAI ran: its findings are in the assistant's text.
	default:
		return unsupported(field+".type", "input item type "+shown(t)+" cannot be served by this account")
	}
	return nil
}

// responsesCall reads a function_call or custom_tool_call item; args is
// empty when a function call's arguments are not an object.
func responsesCall(it gjson.Result, custom bool) part {
	id, s := parseCallID(it.Get("call_id").String())
	p := part{kind: kindCall, id: id, sig: s, name: it.Get("name").String(), custom: custom}
	if custom {
		p.args = string(append(appendStr(append([]byte(nil), `{"input":`...), it.Get("input").String()), '}'))
		return p
	}
	a := strings.TrimSpace(it.Get("arguments").String())
	switch {
	case a == "":
		p.args = "{}"
	case isObject(a):
		p.args = a
	}
	return p
}

// responsesReasoning reads a reasoning item: its summary is the thinking
// shown, its encrypted_content the signature.
func responsesReasoning(it gjson.Result) (part, bool) {
	var text strings.Builder
	for _, key := range [...]string{"summary", "content"} {
		each(it.Get(key), func(_ int, s gjson.Result) bool {
			if text.Len() > 0 {
				text.WriteString("\n\n")
			}
			text.WriteString(s.Get("text").String())
			return true
		})
		if text.Len() > 0 {
			break
		}
	}
	s, red := parseCarrier(it.Get("encrypted_content").String(), Responses)
	if red {
		return part{kind: kindRedacted, sig: s}, true
	}
	return part{kind: kindThinking, text: text.String(), sig: s}, s.fam != 0 || text.Len() > 0
}

func decodeResponsesMessage(it gjson.Result, field string, r *request) error {
	ro := roleUser
	switch role := it.Get("role").String(); role {
	case "user":
	case "assistant":
		ro = roleAssistant
	case "system", "developer":
		// Instructions before the conversation are its system prompt;
		// later ones stay in place as user text (Anthropic and Gemini have
		// no system turns).
		if len(r.messages) == 0 {
			var parts []part
			if err := decodeResponsesContentOrText(it.Get("content"), field+".content", &parts); err != nil {
				return err
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
		}
	default:
		return unsupported(field+".role", "role "+shown(role)+" cannot be translated")
	}
	var parts []part
	if err := decodeResponsesContentOrText(it.Get("content"), field+".content", &parts); err != nil {
		return err
	}
	for _, p := range parts {
		r.add(ro, p)
	}
	return nil
}

func decodeResponsesContentOrText(c gjson.Result, field string, out *[]part) error {
	if c.Type == gjson.String {
		*out = append(*out, part{kind: kindText, text: c.Str})
		return nil
	}
	return decodeResponsesContent(c, field, out)
}

// decodeResponsesContent reads content parts (input_text, input_image…).
func decodeResponsesContent(c gjson.Result, field string, out *[]part) error {
	return eachErr(c, func(j int, p gjson.Result) error {
		var err error
		f := path(field, j)
		switch t := p.Get("type").String(); t {
		case "input_text", "output_text", "text", "summary_text":
			*out = append(*out, part{kind: kindText, text: p.Get("text").String()})
		case "refusal":
			*out = append(*out, part{kind: kindText, text: p.Get("refusal").String()})
		case "input_image":
			var q part
			if u := p.Get("image_url").String(); u == "" && p.Get("file_id").Exists() {
				err = unsupported(f+".file_id", "uploaded files live on OpenAI; send the image inline")
			} else {
				q, err = mediaURL(kindImage, u, f+".image_url")
			}
			*out = append(*out, q)
		case "input_file":
			var q part
			if d := p.Get("file_data").String(); d != "" {
				q, err = mediaURL(kindFile, d, f+".file_data")
			} else if u := p.Get("file_url").String(); u != "" {
				q = part{kind: kindFile, url: u, field: f + ".file_url"}
			} else {
				err = unsupported(f+".file_id", "uploaded files live on OpenAI; send the file inline")
			}
			q.name = p.Get("filename").String()
			*out = append(*out, q)
		default:
			err = unsupported(f+".type", "content type "+shown(t)+" cannot be translated")
		}
		return err
	})
}

// mediaURL reads an image or file given as a data: URL or a web URL.
func mediaURL(k kind, u, field string) (part, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mime, enc, _ := strings.Cut(meta, ";")
		if !ok || enc != "base64" {
			return part{}, unsupported(field, "a data URL must be base64")
		}
		return part{kind: k, mime: mime, data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return part{kind: k, url: u, field: field}, nil
	}
	return part{}, unsupported(field, "expected a data: or http(s) URL")
}

// dataURL writes a part's inline data as a data: URL.
func appendDataURL(b []byte, p *part) []byte {
	if p.url != "" {
		return appendStr(b, p.url)
	}
	b = append(b, `"data:`...)
	b = appendEscaped(b, p.mime)
	b = append(b, ";base64,"...)
	b = appendEscaped(b, p.data)
	return append(b, '"')
}
