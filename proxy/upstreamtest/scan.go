package upstreamtest

import (
	"bytes"

	"github.com/tidwall/gjson"
)

// Format is a wire format the mock speaks; it picks a transcript's
// reference scanner.
type Format string

// The formats. The Codex backend speaks FormatResponses.
const (
	FormatAnthropic  Format = "anthropic"
	FormatResponses  Format = "responses"
	FormatChat       Format = "chat"
	FormatGemini     Format = "gemini"
	FormatCodeAssist Format = "codeassist"
)

// Transcripts in the other formats.
const (
	// TranscriptResponsesCodex is a Codex CLI turn on the Responses API: a
	// reasoning item with summary deltas and encrypted content, then a
	// message; most of the prompt is cached.
	TranscriptResponsesCodex = "responses_codex"
	// TranscriptResponsesIncomplete ends with response.incomplete
	// (max_output_tokens) instead of response.completed; its usage counts.
	TranscriptResponsesIncomplete = "responses_incomplete"
	// TranscriptChatUsage is a Chat Completions stream with
	// stream_options.include_usage: "usage":null on every chunk, then a
	// chunk with empty choices and the usage, then [DONE].
	TranscriptChatUsage = "chat_usage"
	// TranscriptChatCompat is an OpenAI-compatible server's stream:
	// "data:" without the space, no usage key on ordinary chunks, the
	// usage on the finish_reason chunk itself.
	TranscriptChatCompat = "chat_compat"
	// TranscriptGeminiThoughts is a Gemini API stream with CRLF frames, a
	// thought part first, implicit caching, and partial usageMetadata on
	// every chunk; only the last one is complete.
	TranscriptGeminiThoughts = "gemini_thoughts"
	// TranscriptCodeAssist is a Code Assist stream: the same chunks, each
	// wrapped in {"response":…,"traceId":…}.
	TranscriptCodeAssist = "codeassist_stream"
)

// transcriptFormats maps every transcript to its format.
var transcriptFormats = map[string]Format{
	TranscriptPlain: FormatAnthropic, TranscriptCacheSplit: FormatAnthropic, TranscriptNoSpace: FormatAnthropic,
	TranscriptResponsesCodex: FormatResponses, TranscriptResponsesIncomplete: FormatResponses,
	TranscriptChatUsage: FormatChat, TranscriptChatCompat: FormatChat,
	TranscriptGeminiThoughts: FormatGemini, TranscriptCodeAssist: FormatCodeAssist,
}

// TranscriptsOf lists the transcripts recorded in format f, sorted.
// Transcripts (without a format) stays the Anthropic list.
func TranscriptsOf(f Format) []string {
	var out []string
	for _, name := range []string{
		TranscriptPlain, TranscriptCacheSplit, TranscriptNoSpace,
		TranscriptChatCompat, TranscriptChatUsage, TranscriptCodeAssist,
		TranscriptGeminiThoughts, TranscriptResponsesCodex, TranscriptResponsesIncomplete,
	} {
		if transcriptFormats[name] == f {
			out = append(out, name)
		}
	}
	return out
}

// TranscriptFormat is the format of the transcript called name, "" if
// there is none.
func TranscriptFormat(name string) Format {
	return transcriptFormats[trimSSE(name)]
}

// ScanUsageAs reads the usage of a reply body in format f, SSE or JSON,
// following spec/protocols.md, and returns it in Usage's terms
// (InputTokens without the cached part). It is the reference the golden
// values are checked against.
func ScanUsageAs(f Format, body []byte) Usage {
	switch f {
	case FormatResponses:
		return scanLast(body, responsesUsage)
	case FormatChat:
		return scanLast(body, chatUsage)
	case FormatGemini, FormatCodeAssist:
		return scanLast(body, geminiUsage)
	}
	return ScanUsage(body)
}

// scanLast applies read to a JSON body (an object, or an array of them as
// a Gemini stream without alt=sse) or to each SSE data payload, and keeps
// the last usage found.
func scanLast(body []byte, read func(gjson.Result) (Usage, bool)) Usage {
	var out Usage
	keep := func(v gjson.Result) bool {
		if u, ok := read(v); ok {
			out = u
		}
		return true
	}
	switch t := bytes.TrimSpace(body); {
	case len(t) > 0 && t[0] == '[':
		gjson.ParseBytes(t).ForEach(func(_, v gjson.Result) bool { return keep(v) })
	case len(t) > 0 && t[0] == '{':
		keep(gjson.ParseBytes(t))
	default:
		for _, e := range ParseSSE(body) {
			keep(gjson.ParseBytes(e.Data))
		}
	}
	return out
}

// responsesUsage reads response.usage of a terminal event, or usage of a
// response object.
func responsesUsage(v gjson.Result) (Usage, bool) {
	u := v.Get("response.usage")
	if !u.IsObject() {
		u = v.Get("usage")
	}
	if !u.IsObject() || !u.Get("input_tokens").Exists() {
		return Usage{}, false
	}
	cached := int(u.Get("input_tokens_details.cached_tokens").Int())
	return Usage{
		InputTokens:          int(u.Get("input_tokens").Int()) - cached,
		CacheReadInputTokens: cached,
		OutputTokens:         int(u.Get("output_tokens").Int()),
		ReasoningTokens:      int(u.Get("output_tokens_details.reasoning_tokens").Int()),
	}, true
}

// chatUsage reads a non-null usage of a chunk or completion.
func chatUsage(v gjson.Result) (Usage, bool) {
	u := v.Get("usage")
	if !u.IsObject() {
		return Usage{}, false
	}
	cached := int(u.Get("prompt_tokens_details.cached_tokens").Int())
	return Usage{
		InputTokens:          int(u.Get("prompt_tokens").Int()) - cached,
		CacheReadInputTokens: cached,
		OutputTokens:         int(u.Get("completion_tokens").Int()),
		ReasoningTokens:      int(u.Get("completion_tokens_details.reasoning_tokens").Int()),
	}, true
}

// geminiUsage reads usageMetadata, unwrapping Code Assist's "response".
func geminiUsage(v gjson.Result) (Usage, bool) {
	if r := v.Get("response"); r.IsObject() {
		v = r
	}
	u := v.Get("usageMetadata")
	if !u.IsObject() {
		return Usage{}, false
	}
	cached := int(u.Get("cachedContentTokenCount").Int())
	return Usage{
		InputTokens:          int(u.Get("promptTokenCount").Int()) - cached,
		CacheReadInputTokens: cached,
		OutputTokens:         int(u.Get("candidatesTokenCount").Int()),
		ThoughtsTokens:       int(u.Get("thoughtsTokenCount").Int()),
	}, true
}
