package translate

import (
	"strings"

	"github.com/tidwall/gjson"
)

// OpenAI Responses: encoding an upstream request.

func (t *Translator) encodeResponsesRequest(r *request) ([]byte, error) {
	if len(r.stop) > 0 {
		return nil, unsupported(r.stopField, "OpenAI Responses has no stop sequences")
	}
	b := make([]byte, 0, 1024)
	b = append(b, '{')
	b = strField(b, "model", t.cfg.UpstreamModel)
	b = append(key(b, "input"), '[')
	if len(r.system) > 0 {
		// Codex's own clients send the system prompt this way too; the
		// Codex backend checks what it finds in instructions.
		b = append(sep(b), `{"type":"message","role":"developer","content":[`...)
		for _, s := range r.system {
			b = append(appendStr(append(sep(b), `{"type":"input_text","text":`...), s), '}')
		}
		b = append(b, "]}"...)
	}
	for i := range r.messages {
		b = appendResponsesInput(b, &r.messages[i])
	}
	b = append(b, ']')
	if len(r.tools) > 0 {
		b = append(key(b, "tools"), '[')
		for _, tl := range r.tools {
			b = appendStr(append(sep(b), `{"type":"function","name":`...), tl.name)
			b = strField(b, "description", tl.desc)
			// Omitted, strict means "strict when the schema allows"
			// (openai-go's ResponseFunctionTool docs), which no other
			// format's client asked for.
			b = append(append(append(b, `,"parameters":`...), tl.schema...), `,"strict":false}`...)
		}
		b = append(b, ']')
	}
	b = appendResponsesChoice(b, r)
	if r.parallel != 0 {
		b = append(key(b, "parallel_tool_calls"), boolText(r.parallel > 0)...)
	}
	reasoning := r.think.on && !r.think.off
	if reasoning {
		b = append(key(b, "reasoning"), '{')
		b = strField(b, "effort", responsesEffort(&r.think))
		b = append(strField(b, "summary", "auto"), '}')
	}
	if !t.cfg.Codex { // the Codex backend refuses these
		if r.maxTokens > 0 {
			b = intField(b, "max_output_tokens", max(r.maxTokens, 16)) // OpenAI's minimum
		}
		if !reasoning { // reasoning models refuse sampling settings
			b = rawField(b, "temperature", r.temperature)
			b = rawField(b, "top_p", r.topP)
		}
	}
	if r.schema != "" {
		name := r.schemaName
		if name == "" {
			name = "output"
		}
		b = appendStr(append(key(b, "text"), `{"format":{"type":"json_schema","name":`...), name)
		b = append(append(append(b, `,"schema":`...), r.schema...), `,"strict":false}}`...)
	} else if r.jsonObject {
		b = append(key(b, "text"), `{"format":{"type":"json_object"}}`...)
	}
	// Stateless: the client holds the conversation, so nothing is stored
	// and reasoning comes back encrypted for the next turn.
	b = append(key(b, "store"), "false"...)
	b = append(key(b, "stream"), boolText(t.cfg.UpstreamStream)...)
	b = append(key(b, "include"), `["reasoning.encrypted_content"]`...)
	return append(b, '}'), nil
}

func appendResponsesChoice(b []byte, r *request) []byte {
	switch r.choice {
	case choiceAuto:
		b = append(key(b, "tool_choice"), `"auto"`...)
	case choiceAny:
		b = append(key(b, "tool_choice"), `"required"`...)
	case choiceNone:
		b = append(key(b, "tool_choice"), `"none"`...)
	case choiceTool:
		b = append(appendStr(append(key(b, "tool_choice"), `{"type":"function","name":`...), r.choiceName), '}')
	}
	return b
}

// responsesEffort is the reasoning effort for a thinking setting; "" lets
// the model use its default (adaptive thinking).
func responsesEffort(th *thinking) string {
	switch {
	case th.effort == "max":
		return "high"
	case th.effort != "":
		return th.effort
	case th.budget > 0:
		return budgetEffort(th.budget)
	}
	return ""
}

// appendResponsesInput writes one message as input items: runs of text and
// media become a message item, everything else an item of its own.
func appendResponsesInput(b []byte, m *message) []byte {
	inMsg := false
	for i := range m.parts {
		p := &m.parts[i]
		switch p.kind {
		case kindText, kindImage, kindFile:
			if p.kind == kindText && p.text == "" {
				continue
			}
			if !inMsg {
				if m.role == roleAssistant {
					b = append(sep(b), `{"type":"message","role":"assistant","content":[`...)
				} else {
					b = append(sep(b), `{"type":"message","role":"user","content":[`...)
				}
				inMsg = true
			}
			b = appendResponsesContent(b, p, m.role == roleAssistant)
			continue
		}
		if inMsg {
			b, inMsg = append(b, "]}"...), false
		}
		switch p.kind {
		case kindThinking:
			if p.sig.fam == Responses {
				b = appendResponsesReasoning(sep(b), "", p.text, p.sig.val)
			}
		case kindCall:
			b = appendStr(append(sep(b), `{"type":"function_call","call_id":`...), p.id)
			b = appendStr(append(b, `,"name":`...), p.name)
			b = append(appendStr(append(b, `,"arguments":`...), p.args), '}')
		case kindResult:
			b = appendStr(append(sep(b), `{"type":"function_call_output","call_id":`...), p.id)
			b = append(appendResponsesOutput(append(b, `,"output":`...), p.content), '}')
		}
	}
	if inMsg {
		b = append(b, "]}"...)
	}
	return b
}

func appendResponsesContent(b []byte, p *part, assistant bool) []byte {
	switch p.kind {
	case kindImage:
		return append(appendDataURL(append(sep(b), `{"type":"input_image","image_url":`...), p), '}')
	case kindFile:
		if p.url != "" {
			return append(appendStr(append(sep(b), `{"type":"input_file","file_url":`...), p.url), '}')
		}
		name := p.name
		if name == "" {
			name = "document"
		}
		b = appendStr(append(sep(b), `{"type":"input_file","filename":`...), name)
		return append(appendDataURL(append(b, `,"file_data":`...), p), '}')
	}
	if assistant {
		return append(appendStr(append(sep(b), `{"type":"output_text","text":`...), p.text), '}')
	}
	return append(appendStr(append(sep(b), `{"type":"input_text","text":`...), p.text), '}')
}

// appendResponsesOutput writes a tool result's output: a string when it is
// all text, else content parts.
func appendResponsesOutput(b []byte, content []part) []byte {
	if onlyText(content) {
		return appendStr(b, joinText(content))
	}
	b = append(b, '[')
	for i := range content {
		b = appendResponsesContent(b, &content[i], false)
	}
	return append(b, ']')
}

func onlyText(ps []part) bool {
	for i := range ps {
		if ps[i].kind != kindText {
			return false
		}
	}
	return true
}

func joinText(ps []part) string {
	if len(ps) == 1 {
		return ps[0].text
	}
	var sb strings.Builder
	for i := range ps {
		if i > 0 {
			sb.WriteString("\n")
		}
		sb.WriteString(ps[i].text)
	}
	return sb.String()
}

// appendResponsesReasoning writes a reasoning item; id is "" in requests
// (with store false, ids name nothing the upstream kept).
func appendResponsesReasoning(b []byte, id, text, enc string) []byte {
	b = append(b, '{')
	b = strField(b, "id", id)
	b = append(key(b, "type"), `"reasoning","summary":[`...)
	if text != "" {
		b = append(appendStr(append(b, `{"type":"summary_text","text":`...), text), '}')
	}
	b = append(b, ']')
	b = strField(b, "encrypted_content", enc)
	return append(b, '}')
}

// readResponsesUsage reads a Responses usage object into the ledger's
// terms: cached tokens are a subset of input there.
func readResponsesUsage(v gjson.Result, u *usage) {
	if !v.IsObject() {
		return
	}
	cached := v.Get("input_tokens_details.cached_tokens").Int()
	u.InputTokens = v.Get("input_tokens").Int() - cached
	u.CacheReadTokens = cached
	u.OutputTokens = v.Get("output_tokens").Int()
	u.reasoning = v.Get("output_tokens_details.reasoning_tokens").Int()
}

func appendResponsesUsage(b []byte, u *usage) []byte {
	b = intField(append(b, '{'), "input_tokens", u.prompt())
	b = intField(append(key(b, "input_tokens_details"), '{'), "cached_tokens", u.CacheReadTokens)
	b = intField(append(b, '}'), "output_tokens", u.OutputTokens)
	b = intField(append(key(b, "output_tokens_details"), '{'), "reasoning_tokens", u.reasoning)
	b = intField(append(b, '}'), "total_tokens", u.prompt()+u.OutputTokens)
	return append(b, '}')
}
