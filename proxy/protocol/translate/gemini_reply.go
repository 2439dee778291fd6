package translate

import (
	"strconv"

	"github.com/tidwall/gjson"
)

// Gemini replies, buffered and streamed: decoding an upstream's, encoding
// a client's. A stream is a series of whole GenerateContentResponse
// objects whose parts are the deltas; the last has the finishReason.

func decodeGeminiResponse(root gjson.Result, r *response) {
	r.id = root.Get("responseId").String()
	cand := root.Get("candidates.0")
	calls := 0
	each(get(cand.Get("content"), "parts"), func(_ int, p gjson.Result) bool {
		sg := get(p, "thoughtSignature", "thought_signature").String()
		switch {
		case p.Get("thought").Bool():
			n := len(r.parts)
			if n > 0 && r.parts[n-1].kind == kindThinking && r.parts[n-1].sig.fam == 0 {
				r.parts[n-1].text += p.Get("text").String() // one run, one block
			} else {
				r.parts = append(r.parts, part{kind: kindThinking, text: p.Get("text").String()})
			}
			if sg != "" {
				r.parts[len(r.parts)-1].sig = sig{Gemini, sg}
			}
		case p.Get("text").Exists():
			if sg != "" { // a text part's signature rides on an empty thinking block
				r.parts = append(r.parts, part{kind: kindThinking, sig: sig{Gemini, sg}})
			}
			r.parts = append(r.parts, part{kind: kindText, text: p.Get("text").String()})
		case get(p, "functionCall", "function_call").Exists():
			fc := get(p, "functionCall", "function_call")
			r.parts = append(r.parts, part{kind: kindCall, id: geminiCallID(fc, r.id, calls),
				name: fc.Get("name").String(), args: objectOr(fc.Get("args")), sig: sigOf(sg)})
			calls++
		}
		return true
	})
	r.stop = geminiStop(cand.Get("finishReason").String())
	if root.Get("promptFeedback.blockReason").Exists() {
		r.stop = stopRefusal
	}
	readGeminiUsage(root.Get("usageMetadata"), &r.usage)
	if r.stop == stopEnd && hasCall(r.parts) {
		r.stop = stopTool
	}
}

func sigOf(sg string) sig {
	if sg == "" {
		return sig{}
	}
	return sig{Gemini, sg}
}

// geminiCallID is a call's id: Gemini's own when it gave one, else one
// made from the reply's id, unique across the conversation.
func geminiCallID(fc gjson.Result, reply string, n int) string {
	if id := fc.Get("id").String(); id != "" {
		return id
	}
	if reply == "" {
		reply = newID()
	}
	return "toolu_" + reply + "_" + strconv.Itoa(n)
}

func geminiStop(reason string) stopReason {
	switch reason {
	case "MAX_TOKENS":
		return stopMax
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE":
		return stopRefusal
	}
	return stopEnd
}

func geminiFinish(s stopReason) string {
	switch s {
	case stopMax:
		return "MAX_TOKENS"
	case stopRefusal:
		return "SAFETY"
	}
	return "STOP"
}

// readGeminiUsage reads usageMetadata: cached tokens are a subset of the
// prompt, thoughts are billed as output.
func readGeminiUsage(v gjson.Result, u *usage) {
	if !v.IsObject() {
		return
	}
	cached := v.Get("cachedContentTokenCount").Int()
	u.InputTokens = v.Get("promptTokenCount").Int() - cached
	u.CacheReadTokens = cached
	u.reasoning = v.Get("thoughtsTokenCount").Int()
	u.OutputTokens = v.Get("candidatesTokenCount").Int() + u.reasoning
}

func appendGeminiUsage(b []byte, u *usage) []byte {
	b = intField(append(b, '{'), "promptTokenCount", u.prompt())
	b = intField(b, "candidatesTokenCount", u.OutputTokens-u.reasoning)
	b = intField(b, "totalTokenCount", u.prompt()+u.OutputTokens)
	if u.CacheReadTokens > 0 {
		b = intField(b, "cachedContentTokenCount", u.CacheReadTokens)
	}
	if u.reasoning > 0 {
		b = intField(b, "thoughtsTokenCount", u.reasoning)
	}
	return append(b, '}')
}

func (t *Translator) encodeGeminiResponse(r *response) []byte {
	b := make([]byte, 0, 512)
	b = append(b, `{"candidates":[{"content":{"role":"model","parts":[`...)
	for i := range r.parts {
		b = appendGeminiReplyPart(b, &r.parts[i])
	}
	b = append(b, `]},"finishReason":"`...)
	b = append(b, geminiFinish(r.stop)...)
	b = append(b, `","index":0}],"usageMetadata":`...)
	b = appendGeminiUsage(b, &r.usage)
	b = appendStr(append(b, `,"modelVersion":`...), t.cfg.ClientModel)
	return append(appendStr(append(b, `,"responseId":`...), r.id), '}')
}

// appendGeminiReplyPart writes a part of a reply for a Gemini client:
// foreign signatures ride in thoughtSignature.
func appendGeminiReplyPart(b []byte, p *part) []byte {
	switch p.kind {
	case kindText:
		return append(appendStr(append(sep(b), `{"text":`...), p.text), '}')
	case kindThinking, kindRedacted:
		b = appendStr(append(sep(b), `{"text":`...), p.text)
		b = append(b, `,"thought":true`...)
		if p.sig.fam != 0 {
			b = appendStr(append(b, `,"thoughtSignature":`...), p.sig.geminiCarrier(p.kind == kindRedacted))
		}
		return append(b, '}')
	case kindCall:
		b = appendStr(append(sep(b), `{"functionCall":{"id":`...), p.id)
		b = appendStr(append(b, `,"name":`...), p.name)
		return append(appendRaw(append(b, `,"args":`...), p.args, "{}"), "}}"...)
	}
	return b
}

type geminiDecoder struct {
	calls int
}

func (d *geminiDecoder) event(dst []byte, s *Stream, _ string, data []byte) []byte {
	if !gjson.ValidBytes(data) {
		return dst
	}
	v := parse(data)
	if e := v.Get("error"); e.Exists() {
		status := int(e.Get("code").Int())
		if status < 400 || status > 599 {
			status = 500
		}
		return s.upstreamFailed(dst, status, e.Get("message").String())
	}
	if !s.started {
		s.id = v.Get("responseId").String()
	}
	readGeminiUsage(v.Get("usageMetadata"), &s.t.usage)
	dst = s.begin(dst)
	cand := v.Get("candidates.0")
	each(get(cand.Get("content"), "parts"), func(_ int, p gjson.Result) bool {
		sg := sigOf(get(p, "thoughtSignature", "thought_signature").String())
		switch {
		case p.Get("thought").Bool():
			dst = s.text(dst, blockThinking, p.Get("text").String())
			if sg.fam != 0 {
				dst = s.closeBlock(s.signature(dst, sg)) // a signature ends the run
			}
		case p.Get("text").Exists():
			if sg.fam != 0 {
				dst = s.closeBlock(s.signature(s.closeBlock(dst), sg))
			}
			dst = s.text(dst, blockText, p.Get("text").String())
		case get(p, "functionCall", "function_call").Exists():
			fc := get(p, "functionCall", "function_call")
			dst = s.toolStart(dst, callID(geminiCallID(fc, s.id, d.calls), sg), fc.Get("name").String())
			d.calls++
			dst = s.closeBlock(s.args(dst, objectOr(fc.Get("args"))))
		}
		return true
	})
	if fr := cand.Get("finishReason"); fr.Exists() || v.Get("promptFeedback.blockReason").Exists() {
		s.stop = geminiStop(fr.String())
		if !fr.Exists() {
			s.stop = stopRefusal
		}
		return s.finish(dst)
	}
	return dst
}

// geminiEncoder writes a Gemini client's stream. Gemini sends function
// calls whole, so it holds the open call's arguments.
type geminiEncoder struct {
	args []byte
}

// chunk writes one streamed response holding parts (raw, comma-separated).
func geminiChunk(dst []byte, s *Stream, parts []byte) []byte {
	dst = append(dst, `data: {"candidates":[{"content":{"role":"model","parts":[`...)
	dst = append(append(dst, parts...), `]},"index":0}],"modelVersion":`...)
	dst = appendStr(dst, s.t.cfg.ClientModel)
	dst = appendStr(append(dst, `,"responseId":`...), s.id)
	return append(dst, "}\r\n\r\n"...)
}

func (e *geminiEncoder) begin(dst []byte, _ *Stream) []byte { return dst }

func (e *geminiEncoder) open(dst []byte, _ *Stream) []byte {
	e.args = e.args[:0]
	return dst
}

func (e *geminiEncoder) delta(dst []byte, s *Stream, text string) []byte {
	switch s.open {
	case blockTool:
		if e.args = append(e.args, text...); len(e.args) > s.t.cfg.MaxHeld {
			s.overflow = true
		}
		return dst
	case blockThinking:
		return geminiChunk(dst, s, appendGeminiReplyPart(nil, &part{kind: kindThinking, text: text}))
	}
	return geminiChunk(dst, s, appendGeminiReplyPart(nil, &part{kind: kindText, text: text}))
}

func (e *geminiEncoder) signature(dst []byte, s *Stream, v sig) []byte {
	return geminiChunk(dst, s, appendGeminiReplyPart(nil, &part{kind: kindThinking, sig: v}))
}

func (e *geminiEncoder) close(dst []byte, s *Stream) []byte {
	switch s.open {
	case blockTool:
		args := string(e.args)
		if !isObject(args) {
			args = "{}"
		}
		return geminiChunk(dst, s, appendGeminiReplyPart(nil, &part{kind: kindCall, id: s.callID, name: s.callName, args: args}))
	case blockRedacted:
		return geminiChunk(dst, s, appendGeminiReplyPart(nil, &part{kind: kindRedacted, sig: sig{Messages, s.redacted}}))
	}
	return dst
}

func (e *geminiEncoder) finish(dst []byte, s *Stream) []byte {
	dst = append(dst, `data: {"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"`...)
	dst = append(dst, geminiFinish(s.stop)...)
	dst = append(dst, `","index":0}],"usageMetadata":`...)
	dst = appendGeminiUsage(dst, &s.t.usage)
	dst = appendStr(append(dst, `,"modelVersion":`...), s.t.cfg.ClientModel)
	dst = appendStr(append(dst, `,"responseId":`...), s.id)
	return append(dst, "}\r\n\r\n"...)
}

func (e *geminiEncoder) fail(dst []byte, _ *Stream, status int, msg string) []byte {
	dst = append(dst, "data: "...)
	return append(append(dst, errorBody(Gemini, status, msg, "")...), "\r\n\r\n"...)
}
