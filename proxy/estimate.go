package proxy

import (
	"github.com/tidwall/gjson"

	"subgate/ledger"
)

// A stream that ends before the upstream reported its final usage (the
// client hung up, the upstream cut it) still consumed the prompt and
// produced what was relayed: it is billed for that, estimated, rather
// than for nothing, so hanging up early is no way around a budget. The
// protocols count the bytes of generated text (and thinking, and tool
// arguments) as the stream passes (StreamState.TextBytes); a byte per
// four is a token, as in the reservation's estimate.

// estimated returns the usage to bill for a stream that ended without its
// final usage: what the upstream did report, with input estimated from
// the request when it reported none and output at least what the relayed
// text suggests.
func estimated(c *Call, u ledger.Usage, textBytes int64) ledger.Usage {
	if u.InputTokens+u.CacheReadTokens+u.CacheCreationTokens == 0 {
		u.InputTokens = int64(len(c.Body)+3) / 4
	}
	if out := (textBytes + 3) / 4; out > u.OutputTokens {
		u.OutputTokens = out
	}
	return u
}

// needsEstimate reports whether a stream's usage must be estimated: the
// client left before the end, the stream broke after producing text, or
// it ended normally but the upstream reported no usage at all. A stream
// the upstream failed before producing anything keeps what the upstream
// reported.
func needsEstimate(st *StreamState, clientGone bool) bool {
	switch {
	case clientGone:
		return true
	case !st.Done:
		return st.TextBytes > 0
	}
	return st.Usage == (ledger.Usage{})
}

// stringBytes is the length of a JSON string value's raw form less its
// quotes (escapes counted as written: close enough for an estimate, and
// no allocation to unescape).
func stringBytes(r gjson.Result) int64 {
	if r.Type != gjson.String || len(r.Raw) < 2 {
		return 0
	}
	return int64(len(r.Raw) - 2)
}

// anthropicDeltaBytes is the generated text of a content_block_delta:
// text, thinking or tool input JSON.
func anthropicDeltaBytes(data []byte) int64 {
	d := gjson.Get(view(data), "delta")
	return stringBytes(d.Get("text")) + stringBytes(d.Get("thinking")) + stringBytes(d.Get("partial_json"))
}

// chatDeltaBytes is the generated text of a Chat Completions chunk.
func chatDeltaBytes(d gjson.Result) int64 {
	var n int64
	d.Get("choices").ForEach(func(_, ch gjson.Result) bool {
		delta := ch.Get("delta")
		n += stringBytes(delta.Get("content")) + stringBytes(delta.Get("reasoning_content"))
		delta.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
			n += stringBytes(tc.Get("function.arguments"))
			return true
		})
		return true
	})
	return n
}

// geminiPartsBytes is the generated text of a Gemini chunk: text and
// thought parts, and function call arguments.
func geminiPartsBytes(d gjson.Result) int64 {
	var n int64
	d.Get("candidates").ForEach(func(_, c gjson.Result) bool {
		c.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
			n += stringBytes(p.Get("text"))
			if args := p.Get("functionCall.args"); args.Exists() {
				n += int64(len(args.Raw))
			}
			return true
		})
		return true
	})
	return n
}

// streamUsage is the usage to record for a relayed stream, estimated when
// the upstream's own count is missing (needsEstimate); the record is then
// marked estimated.
func (r *run) streamUsage(res *relayResult) ledger.Usage {
	if !needsEstimate(&res.st, res.clientGone) {
		return res.st.Usage
	}
	r.estimated = true
	return estimated(r.call, res.st.Usage, res.st.TextBytes)
}
