package translate

import (
	"strings"

	"github.com/tidwall/gjson"
)

// Anthropic Messages requests: decoding a client's.

// billingPrefix opens the system block Claude Code adds for Anthropic's
// billing; it changes every release and would spoil other providers'
// prompt caches, so it is not sent to them.
const billingPrefix = "x-anthropic-billing-header:"

func decodeMessagesRequest(root gjson.Result, r *request) error {
	err := fieldsErr(root, func(k string, v gjson.Result) error {
		var err error
		switch k {
		case "system":
			err = decodeMessagesSystem(v, r)
		case "messages":
			err = decodeMessagesList(v, r)
		case "tools":
			err = decodeMessagesTools(v, r)
		case "tool_choice":
			r.choiceName = v.Get("name").String()
			switch v.Get("type").String() {
			case "auto":
				r.choice = choiceAuto
			case "any":
				r.choice = choiceAny
			case "none":
				r.choice = choiceNone
			case "tool":
				r.choice = choiceTool
			}
			if v.Get("disable_parallel_tool_use").Bool() {
				r.parallel = -1
			}
		case "max_tokens":
			r.maxTokens = v.Int()
		case "temperature":
			r.temperature = number(v)
		case "top_p":
			r.topP = number(v)
		case "top_k":
			r.topK = number(v)
		case "stop_sequences":
			r.stopField = k
			each(v, func(_ int, s gjson.Result) bool { r.stop = append(r.stop, s.String()); return true })
		case "thinking":
			switch v.Get("type").String() {
			case "enabled":
				r.think = thinking{on: true, budget: v.Get("budget_tokens").Int()}
			case "adaptive":
				r.think.on = true
			case "disabled":
				r.think.off = true
			}
		case "output_config":
			if e := v.Get("effort"); e.Exists() {
				r.think.effort = e.String()
			}
			if f := v.Get("format"); f.Exists() {
				if f.Get("type").String() != "json_schema" {
					err = unsupported("output_config.format.type", "only json_schema output formats can be translated")
				}
				r.schema, r.schemaName, r.formatField = f.Get("schema").Raw, "output", "output_config.format"
			}
		case "mcp_servers", "container":
			err = unsupported(k, "Anthropic-hosted "+k+" need an Anthropic account")
		}
		// model, stream, metadata, service_tier, context_management and
		// cache hints have no meaning elsewhere (docs/translation.md).
		return err
	})
	if r.think.effort != "" && !r.think.on {
		r.think.effort = "" // an effort alone does not turn thinking on
	}
	return err
}

func decodeMessagesSystem(v gjson.Result, r *request) error {
	if v.Type == gjson.String {
		if v.Str != "" {
			r.system = append(r.system, v.Str)
		}
		return nil
	}
	return eachErr(v, func(i int, b gjson.Result) error {
		if t := b.Get("type").String(); t != "text" {
			return unsupported(path("system", i)+".type", "system block type "+shown(t)+" cannot be translated")
		}
		if text := b.Get("text").String(); text != "" && !strings.HasPrefix(text, billingPrefix) {
			r.system = append(r.system, text)
		}
		return nil
	})
}

func decodeMessagesList(v gjson.Result, r *request) error {
	return eachErr(v, func(i int, m gjson.Result) error {
		var err error
		field := path("messages", i)
		ro := roleUser
		switch m.Get("role").String() {
		case "user":
		case "assistant":
			ro = roleAssistant
		default:
			return unsupported(field+".role", "role must be user or assistant")
		}
		c := m.Get("content")
		if c.Type == gjson.String {
			r.add(ro, part{kind: kindText, text: c.Str})
		} else {
			err = decodeMessagesBlocks(c, field+".content", ro, r)
		}
		return err
	})
}

// decodeMessagesBlocks reads content blocks into r, refusing what has no
// counterpart elsewhere.
func decodeMessagesBlocks(c gjson.Result, field string, ro role, r *request) error {
	return eachErr(c, func(j int, b gjson.Result) error {
		p, err := messagesBlock(b, path(field, j), true)
		if err == nil {
			r.add(ro, p)
		}
		return err
	})
}

// messagesBlock reads one content block. strict refuses unknown types
// (requests); replies skip them (kind stays text with no text).
func messagesBlock(b gjson.Result, field string, strict bool) (part, error) {
	t := b.Get("type").String()
	switch t {
	case "text":
		return part{kind: kindText, text: b.Get("text").String()}, nil
	case "image", "document":
		return messagesSource(b, field, t)
	case "tool_use":
		id, s := parseCallID(b.Get("id").String())
		return part{kind: kindCall, id: id, sig: s, name: b.Get("name").String(), args: objectOr(b.Get("input"))}, nil
	case "tool_result":
		id, _ := parseCallID(b.Get("tool_use_id").String())
		p := part{kind: kindResult, id: id, isError: b.Get("is_error").Bool()}
		c := b.Get("content")
		if c.Type == gjson.String || !c.Exists() {
			if c.Str != "" {
				p.content = []part{{kind: kindText, text: c.Str}}
			}
			return p, nil
		}
		err := eachErr(c, func(k int, rb gjson.Result) error {
			f := path(field+".content", k)
			q, err := messagesBlock(rb, f, strict)
			if err != nil {
				return err
			}
			if q.kind != kindText && q.kind != kindImage && q.kind != kindFile {
				return unsupported(f+".type", "a tool result may hold text, images and documents")
			}
			p.content = append(p.content, q)
			return nil
		})
		return p, err
	case "thinking":
		s, _ := parseCarrier(b.Get("signature").String(), Messages)
		return part{kind: kindThinking, text: b.Get("thinking").String(), sig: s}, nil
	case "redacted_thinking":
		return part{kind: kindRedacted, sig: sig{Messages, b.Get("data").String()}}, nil
	}
	if !strict {
		return part{}, nil
	}
	return part{}, unsupported(field+".type", "content block type "+shown(t)+" cannot be served by this account")
}

// messagesSource reads an image or document block's source.
func messagesSource(b gjson.Result, field, t string) (part, error) {
	k := kindImage
	if t == "document" {
		k = kindFile
	}
	src := b.Get("source")
	p := part{kind: k, name: b.Get("title").String()}
	switch st := src.Get("type").String(); st {
	case "base64":
		p.mime, p.data = src.Get("media_type").String(), src.Get("data").String()
	case "url":
		p.url, p.field = src.Get("url").String(), field+".source.url"
	case "text":
		if k == kindFile {
			return part{kind: kindText, text: src.Get("data").String()}, nil
		}
		fallthrough
	default:
		return part{}, unsupported(field+".source.type", t+" source "+shown(st)+" cannot be translated (send base64 data or a URL)")
	}
	return p, nil
}

// objectOr is v's raw object text, "{}" when v is not an object.
func objectOr(v gjson.Result) string {
	if v.IsObject() {
		return v.Raw
	}
	return "{}"
}

func quote(s string) string { return string(appendStr(nil, s)) }

// shown is a client's value as an error message shows it: quoted, and cut
// to maxShown bytes, since the gateway keeps refusals' messages.
func shown(s string) string {
	if len(s) > maxShown {
		s = strings.ToValidUTF8(s[:maxShown], "") + "…"
	}
	return quote(s)
}

// maxShown bounds a client's value in an error message.
const maxShown = 64

func decodeMessagesTools(v gjson.Result, r *request) error {
	return eachErr(v, func(i int, tl gjson.Result) error {
		var err error
		switch t := tl.Get("type").String(); t {
		case "", "custom":
			r.tools = append(r.tools, tool{
				name:   tl.Get("name").String(),
				desc:   tl.Get("description").String(),
				schema: objectOr(tl.Get("input_schema")),
			})
		default:
			err = unsupported(path("tools", i)+".type", "Anthropic server tool "+shown(t)+" cannot be served by this account")
		}
		return err
	})
}
