package upstreamtest

import (
	"encoding/json"
)

// geminiSep ends each SSE event: Google's servers use CRLF.
const geminiSep = "\r\n\r\n"

// geminiReply renders GenerateContentResponse objects: one for a
// non-stream call, one per text chunk for a stream (data lines only, no
// terminator event). Code Assist wraps each in {"response","traceId"}.
type geminiReply struct {
	model, id string
	u         Usage
	trace     string // non-empty: Code Assist wrapping
}

// usage is the final usageMetadata; zero cached and thoughts counts are
// left out, as the real API does.
func (r *geminiReply) usage() json.RawMessage {
	p := r.u.prompt()
	kv := []any{"promptTokenCount", p, "candidatesTokenCount", r.u.OutputTokens}
	if r.u.CacheReadInputTokens > 0 {
		kv = append(kv, "cachedContentTokenCount", r.u.CacheReadInputTokens)
	}
	kv = append(kv, "totalTokenCount", p+r.u.OutputTokens+r.u.ThoughtsTokens)
	if r.u.ThoughtsTokens > 0 {
		kv = append(kv, "thoughtsTokenCount", r.u.ThoughtsTokens)
	}
	return obj(kv...)
}

// response is one GenerateContentResponse carrying text. A final one has
// finishReason STOP and the full usage; others a partial usage (the
// prompt only), as streamed chunks do.
func (r *geminiReply) response(text string, final bool) json.RawMessage {
	content := obj("parts", arr(obj("text", text)), "role", "model")
	cand := obj("content", content, "index", 0)
	usage := obj("promptTokenCount", r.u.prompt(), "totalTokenCount", r.u.prompt())
	if final {
		cand = obj("content", content, "finishReason", "STOP", "index", 0)
		usage = r.usage()
	}
	resp := obj("candidates", arr(cand), "usageMetadata", usage, "modelVersion", r.model, "responseId", r.id)
	if r.trace != "" {
		return obj("response", resp, "traceId", r.trace)
	}
	return resp
}

func (r *geminiReply) body() []byte { return r.response(replyText, true) }

// chunks are the n streamed responses of a reply; the last one is final
// when complete. A complete reply of zero deltas is one empty final chunk.
func (r *geminiReply) chunks(n int, complete bool) []json.RawMessage {
	var out []json.RawMessage
	for i := range n {
		out = append(out, r.response(piece(i), complete && i == n-1))
	}
	if complete && n == 0 {
		out = append(out, r.response("", true))
	}
	return out
}

func (r *geminiReply) events(n int, complete bool) [][]byte {
	var ev [][]byte
	for _, c := range r.chunks(n, complete) {
		ev = append(ev, dataFrame(c, geminiSep))
	}
	return ev
}

// array is a stream without alt=sse: one JSON array of the chunks.
func (r *geminiReply) array(n int) []byte {
	cs := r.chunks(n, true)
	vs := make([]any, len(cs))
	for i, c := range cs {
		vs[i] = c
	}
	return arr(vs...)
}

// failed is one chunk, then an error object in a data line.
func (r *geminiReply) failed() [][]byte {
	e := obj("error", googleErrorObject(503, "UNAVAILABLE", msgGeminiOverload))
	return [][]byte{dataFrame(r.response(piece(0), false), geminiSep), dataFrame(e, geminiSep)}
}

func (r *geminiReply) half() []byte { return dataFrame(r.response(" cut", false), geminiSep) }
