package translate

import "strings"

// Anthropic Messages: encoding an upstream request.

// ephemeral marks a prompt cache breakpoint. Other formats cache on their
// own; Anthropic caches only where asked, so translated requests mark the
// end of the tools, of the system prompt and of the conversation, as
// Claude Code does.
const ephemeral = `"cache_control":{"type":"ephemeral"}`

func (t *Translator) encodeMessagesRequest(r *request) ([]byte, error) {
	if r.jsonObject {
		return nil, unsupported(r.formatField, "Anthropic has no JSON mode without a schema")
	}
	b := make([]byte, 0, 1024)
	b = append(b, '{')
	b = strField(b, "model", t.cfg.UpstreamModel)
	maxTokens := r.maxTokens
	if maxTokens <= 0 {
		maxTokens = t.cfg.MaxTokens
	}
	think, budget, effort := messagesThinking(r, t.cfg.UpstreamModel, &maxTokens, r.maxTokens <= 0)
	b = intField(b, "max_tokens", maxTokens)
	if len(r.system) > 0 {
		b = append(key(b, "system"), '[')
		for i, s := range r.system {
			b = sep(b)
			b = appendStr(append(b, `{"type":"text","text":`...), s)
			if i == len(r.system)-1 {
				b = append(append(b, ','), ephemeral...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(key(b, "messages"), '[')
	for i := range r.messages {
		b = appendMessagesMessage(b, &r.messages[i], i == len(r.messages)-1)
	}
	b = append(b, ']')
	if len(r.tools) > 0 {
		b = append(key(b, "tools"), '[')
		for i, tl := range r.tools {
			b = sep(b)
			b = appendStr(append(b, `{"name":`...), tl.name)
			b = strField(b, "description", tl.desc)
			b = append(append(b, `,"input_schema":`...), tl.schema...)
			if i == len(r.tools)-1 {
				b = append(append(b, ','), ephemeral...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendMessagesChoice(b, r)
	if !think { // Anthropic refuses sampling settings with thinking
		b = rawField(b, "temperature", r.temperature)
		b = rawField(b, "top_p", r.topP)
		b = rawField(b, "top_k", r.topK)
	}
	if len(r.stop) > 0 {
		b = append(key(b, "stop_sequences"), '[')
		for _, s := range r.stop {
			b = appendStr(sep(b), s)
		}
		b = append(b, ']')
	}
	switch {
	case budget > 0:
		b = append(key(b, "thinking"), `{"type":"enabled","budget_tokens":`...)
		b = append(appendInt(b, budget), '}')
	case think:
		b = append(key(b, "thinking"), `{"type":"adaptive"}`...)
	}
	if effort != "" || r.schema != "" {
		b = append(key(b, "output_config"), '{')
		b = strField(b, "effort", effort)
		if r.schema != "" {
			b = append(append(key(b, "format"), `{"type":"json_schema","schema":`...), r.schema...)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = append(key(b, "stream"), boolText(t.cfg.UpstreamStream)...)
	return append(b, '}'), nil
}

// messagesThinking decides the thinking to ask for: none, adaptive with
// an effort (Claude 4.6 and later, where budgets are deprecated or
// refused), or a budget within the output limit, which it may raise when
// the client set none. Anthropic requires budget ≥ 1024 and < max_tokens,
// refuses thinking with a forced tool choice, and wants the final assistant
// turn of a tool loop to open with its thinking block: a history that
// cannot show one (from a format without signatures) runs without.
func messagesThinking(r *request, model string, maxTokens *int64, defaulted bool) (on bool, budget int64, effort string) {
	if !r.think.on || r.think.off || r.choice == choiceAny || r.choice == choiceTool || !lastTurnThinks(r) {
		return false, 0, ""
	}
	if adaptiveModel(model) {
		switch e := r.think.effort; {
		case e == "" && r.think.budget > 0:
			effort = budgetEffort(r.think.budget)
		case e == "minimal":
			effort = "low"
		case e == "xhigh":
			effort = "high"
		default:
			effort = e
		}
		return true, 0, effort
	}
	budget = r.think.budget
	if budget <= 0 {
		budget = effortBudget(r.think.effort)
	}
	budget = max(budget, 1024)
	if budget >= *maxTokens {
		if defaulted {
			*maxTokens = budget + 4096
		} else if budget = *maxTokens / 2; budget < 1024 {
			return false, 0, ""
		}
	}
	return true, budget, ""
}

// adaptiveModel reports whether a Claude model is 4.6 or later, which
// think adaptively: "claude-opus-4-6", "claude-sonnet-5", "claude-opus-5-5".
// Older names ("claude-3-7-sonnet-…", "claude-sonnet-4-5-…") are not.
func adaptiveModel(model string) bool {
	var nums [2]int
	n := 0
	for _, f := range strings.Split(model, "-") {
		d, v := 0, 0
		for ; d < len(f) && f[d] >= '0' && f[d] <= '9'; d++ {
			v = v*10 + int(f[d]-'0')
		}
		if d == 0 || d > 2 { // a word, or a date: the version is over
			if n > 0 {
				break
			}
			continue
		}
		nums[n] = v
		if n++; n == 2 {
			break
		}
	}
	return nums[0] > 4 || nums[0] == 4 && nums[1] >= 6
}

// lastTurnThinks reports whether a request that continues a tool loop (its
// last message carries tool results) has the loop's assistant turn opening
// with thinking Anthropic can verify.
func lastTurnThinks(r *request) bool {
	n := len(r.messages)
	if n == 0 || r.messages[n-1].role != roleUser || !hasKind(r.messages[n-1].parts, kindResult) {
		return true
	}
	for i := n - 2; i >= 0; i-- {
		m := &r.messages[i]
		if m.role != roleAssistant {
			continue
		}
		for _, p := range m.parts {
			if (p.kind == kindThinking || p.kind == kindRedacted) && p.sig.fam != Messages {
				continue // dropped on the way
			}
			return p.kind == kindThinking || p.kind == kindRedacted
		}
		return false
	}
	return true
}

func hasKind(ps []part, k kind) bool {
	for i := range ps {
		if ps[i].kind == k {
			return true
		}
	}
	return false
}

func appendMessagesMessage(b []byte, m *message, last bool) []byte {
	start := len(b)
	b = sep(b)
	if m.role == roleAssistant {
		b = append(b, `{"role":"assistant","content":[`...)
	} else {
		b = append(b, `{"role":"user","content":[`...)
	}
	open := len(b)
	mark := 0 // end of the last block that may carry a cache breakpoint
	// Anthropic wants tool results first in a user turn.
	for pass := 0; pass < 2; pass++ {
		for i := range m.parts {
			p := &m.parts[i]
			if (p.kind == kindResult) != (pass == 0) {
				continue
			}
			n := len(b)
			b = appendMessagesBlock(b, p)
			if len(b) > n && p.kind != kindThinking && p.kind != kindRedacted {
				mark = len(b)
			}
		}
	}
	if len(b) == open {
		return b[:start] // nothing Anthropic can read: the turn is dropped
	}
	if last && mark > 0 {
		tail := append([]byte(nil), b[mark-1:]...) // the block's '}' and what follows
		b = append(append(b[:mark-1], ','), ephemeral...)
		b = append(b, tail...)
	}
	return append(b, "]}"...)
}

// appendMessagesBlock writes one part as a content block of an upstream
// request.
func appendMessagesBlock(b []byte, p *part) []byte {
	switch p.kind {
	case kindText:
		if p.text == "" {
			return b // Anthropic refuses empty text blocks
		}
		return append(appendStr(append(sep(b), `{"type":"text","text":`...), p.text), '}')
	case kindImage, kindFile:
		return appendMessagesMedia(sep(b), p)
	case kindThinking:
		if p.sig.fam != Messages {
			return b // only Anthropic's own signatures verify
		}
		b = appendStr(append(sep(b), `{"type":"thinking","thinking":`...), p.text)
		return append(appendStr(append(b, `,"signature":`...), p.sig.val), '}')
	case kindRedacted:
		if p.sig.fam != Messages {
			return b
		}
		return append(appendStr(append(sep(b), `{"type":"redacted_thinking","data":`...), p.sig.val), '}')
	case kindCall:
		b = appendStr(append(sep(b), `{"type":"tool_use","id":`...), p.id)
		b = appendStr(append(b, `,"name":`...), p.name)
		return append(appendRaw(append(b, `,"input":`...), p.args, "{}"), '}')
	case kindResult:
		b = appendStr(append(sep(b), `{"type":"tool_result","tool_use_id":`...), p.id)
		if p.isError {
			b = append(b, `,"is_error":true`...)
		}
		if len(p.content) > 0 {
			b = append(b, `,"content":[`...)
			for i := range p.content {
				b = appendMessagesBlock(b, &p.content[i])
			}
			b = append(b, ']')
		}
		return append(b, '}')
	}
	return b
}

func appendMessagesMedia(b []byte, p *part) []byte {
	if p.kind == kindImage {
		b = append(b, `{"type":"image","source":`...)
	} else {
		b = append(b, `{"type":"document","source":`...)
	}
	if p.url != "" {
		b = appendStr(append(b, `{"type":"url","url":`...), p.url)
	} else {
		b = appendStr(append(b, `{"type":"base64","media_type":`...), p.mime)
		b = appendStr(append(b, `,"data":`...), p.data)
	}
	b = append(b, '}')
	if p.kind == kindFile && p.name != "" {
		b = appendStr(append(b, `,"title":`...), p.name)
	}
	return append(b, '}')
}

func appendMessagesChoice(b []byte, r *request) []byte {
	if r.choice == choiceUnset && r.parallel == 0 {
		return b
	}
	b = key(b, "tool_choice")
	switch r.choice {
	case choiceAny:
		b = append(b, `{"type":"any"`...)
	case choiceNone:
		b = append(b, `{"type":"none"`...)
	case choiceTool:
		b = appendStr(append(b, `{"type":"tool","name":`...), r.choiceName)
	default:
		b = append(b, `{"type":"auto"`...)
	}
	if r.parallel < 0 && r.choice != choiceNone {
		b = append(b, `,"disable_parallel_tool_use":true`...)
	}
	return append(b, '}')
}

func boolText(v bool) string {
	if v {
		return "true"
	}
	return "false"
}
