package proxy

import (
	"subgate/ledger"
	"subgate/proxy/protocol"
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
func estimated(c *protocol.Call, u ledger.Usage, textBytes int64) ledger.Usage {
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
func needsEstimate(st *protocol.StreamState, clientGone bool) bool {
	switch {
	case clientGone:
		return true
	case !st.Done:
		return st.TextBytes > 0
	}
	return st.Usage == (ledger.Usage{})
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
