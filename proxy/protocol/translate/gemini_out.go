package translate

// Gemini: encoding an upstream request (the body of generateContent; the
// model is in the URL and Code Assist's envelope is the gateway's).

// skipSignature is the value Google documents for function calls a Gemini
// model did not make (a conversation begun elsewhere): Gemini 3 refuses a
// call in history without a thoughtSignature, and accepts this one.
const skipSignature = "skip_thought_signature_validator"

// maxGeminiBudget keeps an effort-derived budget within every Gemini
// model's range (Flash stops at 24576).
const maxGeminiBudget = 24576

func (t *Translator) encodeGeminiRequest(r *request) ([]byte, error) {
	if err := geminiRefuses(r); err != nil {
		return nil, err
	}
	names := callNames(r)
	b := make([]byte, 0, 1024)
	b = append(b, `{"contents":[`...)
	for i := range r.messages {
		b = appendGeminiContent(b, &r.messages[i], names)
	}
	b = append(b, ']')
	if len(r.system) > 0 {
		b = append(key(b, "systemInstruction"), `{"parts":[`...)
		for _, s := range r.system {
			b = append(appendStr(append(sep(b), `{"text":`...), s), '}')
		}
		b = append(b, "]}"...)
	}
	if len(r.tools) > 0 {
		b = append(key(b, "tools"), `[{"functionDeclarations":[`...)
		for _, tl := range r.tools {
			b = appendStr(append(sep(b), `{"name":`...), tl.name)
			b = strField(b, "description", tl.desc)
			b = append(append(append(b, `,"parametersJsonSchema":`...), tl.schema...), '}')
		}
		b = append(b, "]}]"...)
	}
	if r.choice != choiceUnset {
		b = append(key(b, "toolConfig"), `{"functionCallingConfig":{"mode":`...)
		switch r.choice {
		case choiceAny:
			b = append(b, `"ANY"`...)
		case choiceNone:
			b = append(b, `"NONE"`...)
		case choiceTool:
			b = append(appendStr(append(b, `"ANY","allowedFunctionNames":[`...), r.choiceName), ']')
		default:
			b = append(b, `"AUTO"`...)
		}
		b = append(b, "}}"...)
	}
	b = appendGeminiConfig(b, r)
	return append(b, '}'), nil
}

// geminiRefuses finds what a Gemini upstream cannot take: media it would
// have to fetch.
func geminiRefuses(r *request) error {
	for i := range r.messages {
		for j := range r.messages[i].parts {
			p := &r.messages[i].parts[j]
			if p.url != "" {
				return unsupported(p.field, "a Gemini account cannot fetch media by URL; send it inline")
			}
			for k := range p.content {
				if c := &p.content[k]; c.url != "" {
					return unsupported(c.field, "a Gemini account cannot fetch media by URL; send it inline")
				}
			}
		}
	}
	return nil
}

// callNames maps call ids to tool names: Gemini's function responses name
// their function, the other formats' results only the call.
func callNames(r *request) map[string]string {
	var m map[string]string
	for i := range r.messages {
		for _, p := range r.messages[i].parts {
			if p.kind == kindCall {
				if m == nil {
					m = map[string]string{}
				}
				m[p.id] = p.name
			}
		}
	}
	return m
}

func appendGeminiContent(b []byte, m *message, names map[string]string) []byte {
	start := len(b)
	if m.role == roleAssistant {
		b = append(sep(b), `{"role":"model","parts":[`...)
	} else {
		b = append(sep(b), `{"role":"user","parts":[`...)
	}
	open := len(b)
	firstCall := true
	var pending string // an empty signed thought's signature, for the next text
	for i := range m.parts {
		p := &m.parts[i]
		switch p.kind {
		case kindText:
			if p.text == "" {
				continue
			}
			b = appendStr(append(sep(b), `{"text":`...), p.text)
			if pending != "" {
				b, pending = appendStr(append(b, `,"thoughtSignature":`...), pending), ""
			}
			b = append(b, '}')
		case kindImage, kindFile:
			b = appendStr(append(sep(b), `{"inlineData":{"mimeType":`...), p.mime)
			b = append(appendStr(append(b, `,"data":`...), p.data), "}}"...)
		case kindThinking:
			if p.sig.fam != Gemini {
				continue // only Gemini's own signatures verify
			}
			if p.text == "" && i+1 < len(m.parts) && m.parts[i+1].kind == kindText {
				pending = p.sig.val // it was a text part's signature
				continue
			}
			b = appendStr(append(sep(b), `{"text":`...), p.text)
			b = append(appendStr(append(b, `,"thought":true,"thoughtSignature":`...), p.sig.val), '}')
		case kindCall:
			b = appendStr(append(sep(b), `{"functionCall":{"name":`...), p.name)
			b = appendRaw(append(b, `,"args":`...), p.args, "{}")
			b = append(appendStr(append(b, `,"id":`...), p.id), '}')
			switch {
			case p.sig.fam == Gemini:
				b = appendStr(append(b, `,"thoughtSignature":`...), p.sig.val)
			case firstCall:
				b = appendStr(append(b, `,"thoughtSignature":`...), skipSignature)
			}
			firstCall = false
			b = append(b, '}')
		case kindResult:
			b = appendGeminiResult(b, p, names)
		}
	}
	if len(b) == open {
		return b[:start]
	}
	return append(b, "]}"...)
}

// appendGeminiResult writes a tool result as a functionResponse, its
// images as parts after it.
func appendGeminiResult(b []byte, p *part, names map[string]string) []byte {
	name := p.name
	if name == "" {
		name = names[p.id]
	}
	b = appendStr(append(sep(b), `{"functionResponse":{"name":`...), name)
	b = appendStr(append(b, `,"id":`...), p.id)
	if p.isError {
		b = append(b, `,"response":{"error":`...)
	} else {
		b = append(b, `,"response":{"output":`...)
	}
	var text []part
	for _, c := range p.content {
		if c.kind == kindText {
			text = append(text, c)
		}
	}
	b = append(appendStr(b, joinText(text)), "}}}"...)
	for i := range p.content {
		if c := &p.content[i]; c.kind != kindText {
			b = appendStr(append(sep(b), `{"inlineData":{"mimeType":`...), c.mime)
			b = append(appendStr(append(b, `,"data":`...), c.data), "}}"...)
		}
	}
	return b
}

func appendGeminiConfig(b []byte, r *request) []byte {
	start := len(b)
	b = append(key(b, "generationConfig"), '{')
	open := len(b)
	if r.maxTokens > 0 {
		b = intField(b, "maxOutputTokens", r.maxTokens)
	}
	b = rawField(b, "temperature", r.temperature)
	b = rawField(b, "topP", r.topP)
	b = rawField(b, "topK", r.topK)
	if len(r.stop) > 0 {
		b = append(key(b, "stopSequences"), '[')
		for _, s := range r.stop {
			b = appendStr(sep(b), s)
		}
		b = append(b, ']')
	}
	if r.schema != "" {
		b = append(append(key(b, "responseMimeType"), `"application/json","responseJsonSchema":`...), r.schema...)
	} else if r.jsonObject {
		b = append(key(b, "responseMimeType"), `"application/json"`...)
	}
	if r.think.on && !r.think.off {
		budget := r.think.budget
		switch {
		case budget == 0 && r.think.effort == "":
			budget = -1 // dynamic: the model decides
		case budget == 0:
			budget = min(effortBudget(r.think.effort), maxGeminiBudget)
		}
		b = append(key(b, "thinkingConfig"), `{"includeThoughts":true,"thinkingBudget":`...)
		b = append(appendInt(b, budget), '}')
	}
	if len(b) == open {
		return b[:start]
	}
	return append(b, '}')
}
