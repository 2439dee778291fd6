package protocol

import (
	"context"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/proxy/errrules"
	"subgate/proxy/upstream"
	"subgate/sched"
)

// Protocol is one API family (Anthropic Messages, OpenAI, Gemini). The
// failover loop, the relay and the ledger are shared; a protocol only knows
// its own wire format.
type Protocol interface {
	// Platform is the account platform this protocol is served by.
	Platform() string
	// Parse reads what scheduling needs from the client request, its
	// head h and c.Body, into c (Model, Stream, Session…) without
	// unmarshalling the body.
	Parse(h Head, c *Call) error
	// Prepare fills req, the upstream request, for the leased account.
	Prepare(req *fasthttp.Request, c *Call, a *upstream.Account, token string) error
	// Classify reads what the error rules need from a non-2xx upstream
	// reply: its error type, the protocol's overloaded signal and its
	// reset parser. errrules.Engine.Decide decides.
	Classify(status int, h *fasthttp.ResponseHeader, body []byte, a *upstream.Account) errrules.Reply
	// Windows reads subscription window headers from a successful reply.
	Windows(h *fasthttp.ResponseHeader) []sched.Window
	// Response rewrites a buffered successful body for the client (model
	// name mapped back) and reads its usage.
	Response(body []byte, c *Call, u *ledger.Usage) []byte
	// Event handles one SSE event of a successful stream: it reads usage into
	// st and may return a rewritten data payload (nil keeps the original).
	Event(event, data []byte, c *Call, st *StreamState) []byte
	// ErrorBody is an error in the protocol's own JSON shape, the body
	// of a reply with status.
	ErrorBody(status int, kind ErrKind, msg string) []byte
	// StreamError is an SSE event that ends a stream with an error.
	StreamError(kind ErrKind, msg string) []byte
	// Keepalive is what keeps an idle SSE connection open: bytes that
	// every official client of the protocol skips. nil means it has none;
	// a queued stream then waits without committing its reply and a
	// silent upstream is relayed as silence (see run.keepalive).
	Keepalive() []byte
}

// Head is what Parse reads of a client request besides its body: the
// headers and the parsed query. Both are fasthttp's request types, which
// the client side uses too; no server type reaches a protocol.
type Head struct {
	Header *fasthttp.RequestHeader
	Args   *fasthttp.Args
}

// StreamState is what a protocol learns from a stream while it is relayed.
type StreamState struct {
	Usage ledger.Usage
	// Done is set once the protocol saw its terminal event.
	Done bool
	// Err is set when the upstream sent an error event.
	Err string
	// ResponseID is the upstream's id for this response (OpenAI), bound to
	// the account so previous_response_id finds it again.
	ResponseID string
	// TextBytes counts the generated text (and thinking and tool
	// arguments) seen so far, for billing a stream that ends before its
	// usage (estimate.go).
	TextBytes int64
}

// dropEvent, returned by Protocol.Event, removes the data line from what
// the client receives (a usage chunk the client did not ask for).
var dropEvent = []byte{}

// UpstreamStreamer is implemented by protocols whose upstream call may
// stream even when the client's does not (Codex always streams).
type UpstreamStreamer interface {
	UpstreamStream(c *Call, a *upstream.Account) bool
}

// Preparer is implemented by protocols that must call the upstream before
// the request itself (Code Assist project discovery).
type Preparer interface {
	Before(ctx context.Context, c *Call, a *upstream.Account, token string) error
}

// Endpoint distinguishes the routes of a protocol that share the loop.
type Endpoint int

// Endpoints.
const (
	EndpointGenerate Endpoint = iota // billable generation
	EndpointCountTokens
)

// Call is one client request as the loop sees it. Everything in it is a
// copy, except Body of a buffered request, which is fasthttp's request
// buffer and valid only while the handler runs (see Server.handle).
type Call struct {
	Proto    Protocol
	Endpoint Endpoint
	// Path is the route; Query is what Parse chose to forward of the
	// client's query (upstreamQuery: re-encoded, never a ?key=).
	Path  string
	Query string
	Body  []byte
	// Header is the allow-listed client headers, lowercase names.
	Header [][2]string

	Model     string
	Stream    bool
	Session   string
	MaxTokens int64 // the request's output limit, 0 when it names none
	// ClientUsage is set when an OpenAI Chat client asked for the usage
	// chunk itself (stream_options.include_usage).
	ClientUsage bool
	// ResponseID is the upstream response id of a buffered reply.
	ResponseID string
	// ClaudeCode is set when the request comes from Claude Code itself;
	// its body then passes through untouched.
	ClaudeCode bool
	// LongContext is set when the client named its model with the "[1m]"
	// suffix: Model is the plain id, and the upstream gets the 1M-context
	// beta.
	LongContext bool

	// Set per attempt.
	Acct          *upstream.Account
	UpstreamModel string
	RequestID     string
}

// header returns the value of a forwarded client header ("" when absent).
func (c *Call) header(name string) string {
	for _, kv := range c.Header {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// bodyFields are the top-level fields every protocol's body has.
type bodyFields struct {
	model     string
	dupModel  bool
	stream    bool
	maxTokens int64
}

// takeCommon records key when it is one of bodyFields (maxKey: the
// protocol's name for the output limit) and reports whether it was.
func (f *bodyFields) takeCommon(key, raw string, maxKey bool) bool {
	switch {
	case key == "model":
		if f.model != "" {
			f.dupModel = true // model_map and allow-lists must see the model that is served
		}
		f.model = gjson.Parse(raw).String()
	case key == "stream":
		f.stream = gjson.Parse(raw).Bool()
	case maxKey:
		f.maxTokens = gjson.Parse(raw).Int()
	default:
		return false
	}
	return true
}

// modelErr is the request error a body's model fields make, if any. A
// model that is not a bounded model name (validModel) is refused here,
// before it is kept anywhere: Parse copies it into the Call only after.
func (f *bodyFields) modelErr() error {
	switch {
	case f.model == "":
		return errMissingModel
	case f.dupModel:
		return errDuplicateModel
	case !validModel(f.model):
		return errBadModel
	}
	return nil
}
