package upstreamtest

import (
	"embed"
	"strings"

	"github.com/tidwall/gjson"
)

//go:embed testdata/*.sse
var transcripts embed.FS

// Transcript names, for ranging over every recorded stream.
const (
	// TranscriptPlain is a short text reply with a ping and no caching.
	TranscriptPlain = "plain"
	// TranscriptCacheSplit is a Claude Code turn (thinking, text, tool_use)
	// whose message_start splits cache creation into 5m and 1h, and whose
	// message_delta repeats the cumulative input and cache counts.
	TranscriptCacheSplit = "cache_split"
	// TranscriptNoSpace is a compatible upstream's stream: "event:" and
	// "data:" without the space, zeros in message_start and the real counts
	// only in message_delta.
	TranscriptNoSpace = "nospace"
)

// Transcripts lists the Anthropic transcripts; TranscriptsOf lists those
// of the other formats. Transcript and Golden accept all of them.
func Transcripts() []string {
	return []string{TranscriptPlain, TranscriptCacheSplit, TranscriptNoSpace}
}

// Transcript returns a copy of the recorded SSE body called name (with or
// without the .sse suffix). It panics on an unknown name: that is a bug in
// the calling test.
func Transcript(name string) []byte {
	b, err := transcripts.ReadFile("testdata/" + trimSSE(name) + ".sse")
	if err != nil {
		panic("upstreamtest: unknown transcript " + name)
	}
	return b
}

func trimSSE(name string) string { return strings.TrimSuffix(name, ".sse") }

// Golden is the usage a correct scanner reports for the transcript called
// name, following the rules in spec/protocols.md, in Usage's terms: for
// OpenAI and Gemini, InputTokens is the prompt minus its cached part, and
// BilledOutput is what a ledger charges as output.
func Golden(name string) Usage {
	switch trimSSE(name) {
	case TranscriptPlain:
		return Usage{InputTokens: 472, OutputTokens: 15}
	case TranscriptCacheSplit:
		return Usage{InputTokens: 3, OutputTokens: 187, CacheCreationInputTokens: 1843,
			CacheReadInputTokens: 14620, Ephemeral5m: 512, Ephemeral1h: 1331}
	case TranscriptNoSpace:
		return Usage{InputTokens: 1200, OutputTokens: 42, CacheReadInputTokens: 300}
	case TranscriptResponsesCodex: // input 5120, cached 4864
		return Usage{InputTokens: 256, CacheReadInputTokens: 4864, OutputTokens: 220, ReasoningTokens: 128}
	case TranscriptResponsesIncomplete:
		return Usage{InputTokens: 812, OutputTokens: 64, ReasoningTokens: 64}
	case TranscriptChatUsage: // prompt 1536, cached 1024
		return Usage{InputTokens: 512, CacheReadInputTokens: 1024, OutputTokens: 88}
	case TranscriptChatCompat:
		return Usage{InputTokens: 300, OutputTokens: 20}
	case TranscriptGeminiThoughts: // prompt 2048, cached 1024
		return Usage{InputTokens: 1024, CacheReadInputTokens: 1024, OutputTokens: 96, ThoughtsTokens: 310}
	case TranscriptCodeAssist: // prompt 8123, cached 6144
		return Usage{InputTokens: 1979, CacheReadInputTokens: 6144, OutputTokens: 45, ThoughtsTokens: 212}
	}
	panic("upstreamtest: unknown transcript " + name)
}

// ScanUsage is a reference implementation of the usage rules for an
// Anthropic SSE body: input and cache counts from message_start, output
// from the last message_delta, and any count message_start left at zero
// taken from message_delta. It also reads non-stream JSON bodies.
func ScanUsage(body []byte) Usage {
	if u := gjson.GetBytes(body, "usage"); u.Exists() {
		return usageFrom(u, Usage{})
	}
	var out Usage
	for _, e := range ParseSSE(body) {
		switch gjson.GetBytes(e.Data, "type").Str {
		case "message_start":
			out = usageFrom(gjson.GetBytes(e.Data, "message.usage"), out)
			out.OutputTokens = 0 // message_start's output count is a placeholder
		case "message_delta":
			out = usageFrom(gjson.GetBytes(e.Data, "usage"), out)
		}
	}
	return out
}

// usageFrom overlays the non-zero counts of a usage object on u, except
// that output_tokens always replaces (it is cumulative).
func usageFrom(j gjson.Result, u Usage) Usage {
	fill := func(dst *int, path string) {
		if *dst == 0 {
			*dst = int(j.Get(path).Int())
		}
	}
	fill(&u.InputTokens, "input_tokens")
	fill(&u.CacheCreationInputTokens, "cache_creation_input_tokens")
	fill(&u.CacheReadInputTokens, "cache_read_input_tokens")
	fill(&u.Ephemeral5m, "cache_creation.ephemeral_5m_input_tokens")
	fill(&u.Ephemeral1h, "cache_creation.ephemeral_1h_input_tokens")
	if o := j.Get("output_tokens"); o.Exists() {
		u.OutputTokens = int(o.Int())
	}
	return u
}
