package upstreamtest

import (
	"strconv"
	"time"
)

// Kind selects what a scripted Step does with one request.
type Kind int

const (
	// KindOK answers like a healthy upstream: a JSON reply, or an SSE
	// stream when the request asks for one (the route's own way: "stream":
	// true, or :streamGenerateContent).
	KindOK Kind = iota
	// KindError answers with Status and an error body in the route's
	// shape (Anthropic, OpenAI, Codex or Google).
	KindError
	// KindCut sends a 200 SSE stream and drops the connection after the
	// stream's opening events and Events text deltas, without the
	// terminating chunk.
	KindCut
	// KindStreamError sends a 200 SSE stream that starts, then fails: an
	// overloaded "error" event (Anthropic), "error" then "response.failed"
	// (Responses), an error chunk (Chat Completions, Gemini).
	KindStreamError
	// KindReplay sends Body, raw SSE bytes, as a 200 stream, one flushed
	// chunk per event.
	KindReplay
)

// Step is one scripted behaviour. The zero Step is a normal success.
type Step struct {
	Kind Kind
	// Status is the HTTP status of a KindError step.
	Status int
	// ErrType and Message fill the error object of a KindError step.
	ErrType string
	Message string
	// Headers are added to the response (after the defaults, so they win).
	Headers map[string]string
	// Body replaces the JSON error body of a KindError step, or holds the
	// raw SSE bytes of a KindReplay step.
	Body string
	// Delay is waited before any response header is written. It ends early
	// when the server closes.
	Delay time.Duration
	// StreamDelay is waited between SSE events.
	StreamDelay time.Duration
	// Silence is waited after message_start, before the next event.
	Silence time.Duration
	// Events is the number of text deltas (default 3); for KindCut, the
	// number of deltas sent before the cut.
	Events int
	// Usage overrides the server's configured usage for this reply.
	Usage *Usage
	// MidChunk makes a KindCut step drop the connection inside an HTTP
	// chunk instead of between chunks.
	MidChunk bool
	// Code is the "code" of an OpenAI-shaped error (rate_limit_exceeded,
	// insufficient_quota…); empty means one derived from Status.
	Code string
	// RetryAfter is the advised wait of a rate-limit step: the retry-after
	// header on OpenAI routes, the RetryInfo retryDelay on Gemini routes,
	// resets_in_seconds of a Codex usage limit.
	RetryAfter time.Duration
	// QuotaID, when set, adds a QuotaFailure violation with this quotaId to
	// a Gemini-shaped error.
	QuotaID string
}

// OK is a normal success.
func OK() Step { return Step{Kind: KindOK} }

// Error answers with status and an error of the given type. Routes other
// than Anthropic's replace Anthropic type names with their own for the
// status (OpenAI type and code, google.rpc status); other names are kept,
// so Error(400, "FAILED_PRECONDITION", m) is a Google status as written.
func Error(status int, errType, message string) Step {
	return Step{Kind: KindError, Status: status, ErrType: errType, Message: message}
}

// InvalidRequest is a 400 invalid_request_error.
func InvalidRequest(message string) Step { return Error(400, "invalid_request_error", message) }

// AuthError is a 401 authentication_error.
func AuthError() Step { return Error(401, "authentication_error", "invalid x-api-key") }

// PermissionError is a 403 permission_error.
func PermissionError() Step {
	return Error(403, "permission_error", "Your API key does not have permission to use the specified resource.")
}

// ServerError is a 500 api_error.
func ServerError() Step { return Error(500, "api_error", "Internal server error") }

// Overloaded is a 529 overloaded_error.
func Overloaded() Step { return Error(529, "overloaded_error", "Overloaded") }

// RateLimited is a 429 rate_limit_error. A positive retryAfter adds a
// retry-after header (whole seconds, rounded up); a non-zero reset adds the
// unified subscription headers that mark the five-hour window rejected until
// reset.
func RateLimited(retryAfter time.Duration, reset time.Time) Step {
	st := Error(429, "rate_limit_error", "This request would exceed your account's rate limit. Please try again later.")
	st.RetryAfter = retryAfter
	st.Headers = map[string]string{}
	if retryAfter > 0 {
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		st.Headers["retry-after"] = strconv.FormatInt(secs, 10)
	}
	if !reset.IsZero() {
		epoch := strconv.FormatInt(reset.Unix(), 10)
		st.Headers["anthropic-ratelimit-unified-status"] = "rejected"
		st.Headers["anthropic-ratelimit-unified-reset"] = epoch
		st.Headers["anthropic-ratelimit-unified-5h-status"] = "rejected"
		st.Headers["anthropic-ratelimit-unified-5h-reset"] = epoch
		st.Headers["anthropic-ratelimit-unified-5h-utilization"] = "1.0"
		st.Headers["anthropic-ratelimit-unified-representative-claim"] = "five_hour"
	}
	return st
}

// CutStream sends message_start and afterEvents text deltas, then closes
// the connection between chunks, without the terminating zero chunk.
// Beware: fasthttp's streaming client (StreamResponseBody) reads such a
// body to a clean io.EOF; only the missing message_stop shows the cut.
// Use CutMidChunk to get a read error instead.
func CutStream(afterEvents int) Step { return Step{Kind: KindCut, Events: afterEvents} }

// CutMidChunk is CutStream, but the connection drops inside a chunk
// (half of one more delta was sent), so an HTTP client reports an
// unexpected EOF rather than a clean end of body.
func CutMidChunk(afterEvents int) Step {
	return Step{Kind: KindCut, Events: afterEvents, MidChunk: true}
}

// Hang waits d before writing headers, then answers normally. The wait ends
// early when the server closes.
func Hang(d time.Duration) Step { return Step{Kind: KindOK, Delay: d} }

// StreamError sends a 200 stream with message_start followed by an
// overloaded "error" event.
func StreamError() Step { return Step{Kind: KindStreamError} }

// Silence streams message_start, then stays silent for d, then finishes
// the stream normally.
func Silence(d time.Duration) Step { return Step{Kind: KindOK, Silence: d} }

// Replay writes body, raw SSE bytes such as a Transcript, as a 200 stream.
func Replay(body []byte) Step { return Step{Kind: KindReplay, Body: string(body)} }

// WithHeader returns a copy of st that also sends header k: v.
func (st Step) WithHeader(k, v string) Step {
	h := make(map[string]string, len(st.Headers)+1)
	for hk, hv := range st.Headers {
		h[hk] = hv
	}
	h[k] = v
	st.Headers = h
	return st
}

// WithUsage returns a copy of st that reports u.
func (st Step) WithUsage(u Usage) Step {
	st.Usage = &u
	return st
}

// WithStreamDelay returns a copy of st that waits d between SSE events.
func (st Step) WithStreamDelay(d time.Duration) Step {
	st.StreamDelay = d
	return st
}

// Usage is the token accounting a reply reports, in Anthropic's terms:
// InputTokens excludes cached tokens. Other formats render it in theirs:
// OpenAI's input_tokens/prompt_tokens and Gemini's promptTokenCount are
// InputTokens + CacheReadInputTokens, their cached counts are
// CacheReadInputTokens; cache creation exists only in Anthropic replies.
type Usage struct {
	InputTokens              int
	OutputTokens             int
	CacheCreationInputTokens int
	CacheReadInputTokens     int
	// Ephemeral5m and Ephemeral1h split cache creation by TTL. When either
	// is set the reply carries a cache_creation object, and a zero
	// CacheCreationInputTokens becomes their sum.
	Ephemeral5m int
	Ephemeral1h int
	// ReasoningTokens is OpenAI's output_tokens_details.reasoning_tokens:
	// a SUBSET of OutputTokens.
	ReasoningTokens int
	// ThoughtsTokens is Gemini's thoughtsTokenCount: billed as output but
	// NOT included in OutputTokens (candidatesTokenCount).
	ThoughtsTokens int
}

// BilledOutput is the output a ledger charges: OutputTokens plus Gemini's
// thoughts (OpenAI's reasoning is already inside OutputTokens).
func (u Usage) BilledOutput() int { return u.OutputTokens + u.ThoughtsTokens }

// prompt is the whole prompt, cached part included, as OpenAI and Gemini
// count it.
func (u Usage) prompt() int { return u.InputTokens + u.CacheReadInputTokens }

// DefaultUsage is what a reply reports when nothing is configured.
func DefaultUsage() Usage { return Usage{InputTokens: 25, OutputTokens: 10} }

// normalized fills the derived cache creation total.
func (u Usage) normalized() Usage {
	if u.CacheCreationInputTokens == 0 {
		u.CacheCreationInputTokens = u.Ephemeral5m + u.Ephemeral1h
	}
	return u
}

func (u Usage) hasSplit() bool { return u.Ephemeral5m != 0 || u.Ephemeral1h != 0 }

// Unified describes the undocumented subscription rate-limit headers.
type Unified struct {
	Status              string // allowed | allowed_warning | rejected
	FiveHourStatus      string
	FiveHourUtilization float64
	FiveHourReset       time.Time
	SevenDayStatus      string
	SevenDayUtilization float64
	SevenDayReset       time.Time
	RepresentativeClaim string // five_hour | seven_day
}

// Headers renders u as anthropic-ratelimit-unified-* headers.
func (u Unified) Headers() map[string]string {
	const p = "anthropic-ratelimit-unified-"
	h := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			h[p+k] = v
		}
	}
	epoch := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return strconv.FormatInt(t.Unix(), 10)
	}
	set("status", u.Status)
	set("5h-status", u.FiveHourStatus)
	set("5h-utilization", strconv.FormatFloat(u.FiveHourUtilization, 'f', -1, 64))
	set("5h-reset", epoch(u.FiveHourReset))
	set("7d-status", u.SevenDayStatus)
	set("7d-utilization", strconv.FormatFloat(u.SevenDayUtilization, 'f', -1, 64))
	set("7d-reset", epoch(u.SevenDayReset))
	set("representative-claim", u.RepresentativeClaim)
	reset := u.FiveHourReset
	if u.RepresentativeClaim == "seven_day" {
		reset = u.SevenDayReset
	}
	set("reset", epoch(reset))
	return h
}
