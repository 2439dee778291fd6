package translate

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Gemini generateContent requests: decoding a client's. Gemini's JSON
// takes camelCase and the proto's snake_case names alike, so both are read.

func decodeGeminiRequest(root gjson.Result, r *request) error {
	return fieldsErr(root, func(k string, v gjson.Result) error {
		var err error
		switch k {
		case "contents":
			err = decodeGeminiContents(v, r)
		case "systemInstruction", "system_instruction":
			each(get(v, "parts"), func(_ int, p gjson.Result) bool {
				if s := p.Get("text").String(); s != "" {
					r.system = append(r.system, s)
				}
				return true
			})
		case "tools":
			err = decodeGeminiTools(v, r)
		case "toolConfig", "tool_config":
			decodeGeminiChoice(get(v, "functionCallingConfig", "function_calling_config"), r)
		case "generationConfig", "generation_config":
			err = decodeGeminiConfig(v, k, r)
		case "cachedContent", "cached_content":
			err = unsupported(k, "cached contents live on Google's servers")
		}
		return err
	})
}

func decodeGeminiChoice(v gjson.Result, r *request) {
	allowed := get(v, "allowedFunctionNames", "allowed_function_names").Array()
	switch v.Get("mode").String() {
	case "AUTO", "VALIDATED":
		r.choice = choiceAuto
	case "NONE":
		r.choice = choiceNone
	case "ANY":
		r.choice = choiceAny
		if len(allowed) == 1 {
			r.choice, r.choiceName = choiceTool, allowed[0].String()
		}
	}
}

func decodeGeminiConfig(v gjson.Result, field string, r *request) error {
	err := fieldsErr(v, func(k string, c gjson.Result) error {
		var err error
		f := field + "." + k
		switch k {
		case "maxOutputTokens", "max_output_tokens":
			r.maxTokens = c.Int()
		case "temperature":
			r.temperature = number(c)
		case "topP", "top_p":
			r.topP = number(c)
		case "topK", "top_k":
			r.topK = number(c)
		case "stopSequences", "stop_sequences":
			r.stopField = f
			each(c, func(_ int, s gjson.Result) bool { r.stop = append(r.stop, s.String()); return true })
		case "candidateCount", "candidate_count":
			if c.Int() > 1 {
				err = unsupported(f, "only one candidate can be generated")
			}
		case "responseMimeType", "response_mime_type":
			if c.String() == "application/json" {
				r.jsonObject, r.formatField = true, f
			}
		case "responseJsonSchema", "response_json_schema":
			r.schema, r.formatField = objectOr(c), f
		case "responseSchema", "response_schema":
			r.schema, r.formatField = jsonSchema(c), f
		case "responseModalities", "response_modalities":
			err = eachErr(c, func(_ int, m gjson.Result) error {
				if m.String() != "TEXT" {
					return unsupported(f, "only text output can be translated")
				}
				return nil
			})
		case "thinkingConfig", "thinking_config":
			b := get(c, "thinkingBudget", "thinking_budget")
			level := strings.ToLower(get(c, "thinkingLevel", "thinking_level").String())
			switch {
			case b.Exists() && b.Int() == 0:
				r.think.off = true
			case b.Exists() && b.Int() > 0:
				r.think = thinking{on: true, budget: b.Int()}
			case level != "":
				r.think = thinking{on: true, effort: level}
			case b.Exists() || get(c, "includeThoughts", "include_thoughts").Bool():
				r.think = thinking{on: true} // dynamic
			}
		}
		return err
	})
	if r.schema != "" {
		r.jsonObject = false
	}
	return err
}

func decodeGeminiTools(v gjson.Result, r *request) error {
	return eachErr(v, func(i int, tl gjson.Result) error {
		field := path("tools", i)
		return fieldsErr(tl, func(k string, decls gjson.Result) error {
			if k != "functionDeclarations" && k != "function_declarations" {
				return unsupported(field+"."+k, "Gemini tool "+shown(k)+" cannot be served by this account")
			}
			each(decls, func(_ int, d gjson.Result) bool {
				schema := get(d, "parametersJsonSchema", "parameters_json_schema")
				raw := objectOr(schema)
				if !schema.Exists() {
					raw = `{"type":"object","properties":{}}`
					if p := d.Get("parameters"); p.Exists() {
						raw = jsonSchema(p)
					}
				}
				r.tools = append(r.tools, tool{name: d.Get("name").String(), desc: d.Get("description").String(), schema: raw})
				return true
			})
			return nil
		})
	})
}

// geminiCalls pairs function responses without ids with their calls, in
// order, by name: Gemini ids are optional, the other formats' are not.
type geminiCalls struct {
	n       int
	pending []struct{ name, id string }
}

func (c *geminiCalls) call(name, id string) string {
	if id == "" {
		id = "call_" + strconv.Itoa(c.n)
		c.n++
		c.pending = append(c.pending, struct{ name, id string }{name, id})
	}
	return id
}

func (c *geminiCalls) result(name, id string) string {
	if id != "" {
		return id
	}
	for i, p := range c.pending {
		if p.name == name {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return p.id
		}
	}
	id = "call_" + strconv.Itoa(c.n)
	c.n++
	return id
}

func decodeGeminiContents(v gjson.Result, r *request) error {
	var calls geminiCalls
	return eachErr(v, func(i int, c gjson.Result) error {
		var err error
		field := path("contents", i)
		ro := roleUser
		switch role := c.Get("role").String(); role {
		case "", "user", "function":
		case "model":
			ro = roleAssistant
		default:
			return unsupported(field+".role", "role "+shown(role)+" cannot be translated")
		}
		// Streamed thoughts arrive in pieces: one run, one block. The run's
		// text gathers in one buffer (appending strings would be quadratic).
		thought := -1 // index in the message of the open, unsigned run
		var run []byte
		endRun := func() {
			if thought >= 0 {
				r.messages[len(r.messages)-1].parts[thought].text = string(run)
				thought, run = -1, run[:0]
			}
		}
		each(get(c, "parts"), func(j int, p gjson.Result) bool {
			var q part
			if q, err = geminiPart(p, path(field+".parts", j), &calls); err != nil {
				return false
			}
			if q.kind != kindThinking {
				endRun()
				r.add(ro, q)
				return true
			}
			if thought >= 0 {
				run = append(run, q.text...)
				if q.sig.fam != 0 {
					r.messages[len(r.messages)-1].parts[thought].sig = q.sig
					endRun()
				}
				return true
			}
			r.add(ro, q)
			if q.sig.fam == 0 {
				thought, run = len(r.messages[len(r.messages)-1].parts)-1, append(run[:0], q.text...)
			}
			return true
		})
		endRun()
		return err
	})
}

// geminiPart reads one part of a client's content.
func geminiPart(p gjson.Result, field string, calls *geminiCalls) (part, error) {
	sg := get(p, "thoughtSignature", "thought_signature").String()
	if t := p.Get("text"); t.Exists() {
		if p.Get("thought").Bool() {
			s, red := parseGeminiCarrier(sg)
			if red {
				return part{kind: kindRedacted, sig: s}, nil
			}
			return part{kind: kindThinking, text: t.String(), sig: s}, nil
		}
		return part{kind: kindText, text: t.String()}, nil
	}
	if d := get(p, "inlineData", "inline_data"); d.Exists() {
		mime := get(d, "mimeType", "mime_type").String()
		k := kindFile
		if strings.HasPrefix(mime, "image/") {
			k = kindImage
		}
		return part{kind: k, mime: mime, data: d.Get("data").String()}, nil
	}
	if d := get(p, "fileData", "file_data"); d.Exists() {
		u := get(d, "fileUri", "file_uri").String()
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") || strings.Contains(u, "generativelanguage.googleapis.com") {
			return part{}, unsupported(field+".fileData.fileUri", "files uploaded to Google cannot be sent to this account; send the data inline")
		}
		k := kindFile
		if strings.HasPrefix(get(d, "mimeType", "mime_type").String(), "image/") {
			k = kindImage
		}
		return part{kind: k, url: u}, nil
	}
	if fc := get(p, "functionCall", "function_call"); fc.Exists() {
		name := fc.Get("name").String()
		id, s := parseCallID(calls.call(name, fc.Get("id").String()))
		if s.fam == 0 {
			s, _ = parseGeminiCarrier(sg)
		}
		return part{kind: kindCall, id: id, sig: s, name: name, args: objectOr(fc.Get("args"))}, nil
	}
	if fr := get(p, "functionResponse", "function_response"); fr.Exists() {
		name := fr.Get("name").String()
		id, _ := parseCallID(calls.result(name, fr.Get("id").String()))
		q := part{kind: kindResult, id: id, name: name}
		resp := fr.Get("response")
		text := resp.Raw
		if o := resp.Get("output"); o.Exists() && len(resp.Map()) == 1 {
			text = str(o)
		} else if e := resp.Get("error"); e.Exists() && len(resp.Map()) == 1 {
			text, q.isError = str(e), true
		}
		if text != "" {
			q.content = []part{{kind: kindText, text: text}}
		}
		return q, nil
	}
	var name string
	fields(p, func(k string, _ gjson.Result) bool {
		if k != "thoughtSignature" && k != "thought_signature" && k != "thought" {
			name = k
			return false
		}
		return true
	})
	if name == "" {
		return part{kind: kindText}, nil // a signature alone: nothing to carry
	}
	return part{}, unsupported(field+"."+name, "part "+shown(name)+" cannot be served by this account")
}
