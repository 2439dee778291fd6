package upstreamtest

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/valyala/fasthttp"
)

// replier renders the successful replies of one wire format for one
// request. The Anthropic route predates it and renders its own; every
// other route answers its scripted Step through play.
type replier interface {
	// body is the non-stream success, a JSON document.
	body() []byte
	// events are the framed SSE events of a success with n text deltas.
	// With complete false they stop right after the deltas, for a cut.
	events(n int, complete bool) [][]byte
	// failed are the events of a stream that breaks after it started.
	failed() [][]byte
	// half is an event of which a mid-chunk cut sends only half.
	half() []byte
}

// errWriter writes a KindError step in a route's own error shape.
type errWriter func(ctx *fasthttp.RequestCtx, st Step)

// pop takes the next step scripted for cred and waits its Delay. When the
// server closes during the delay it writes a 503 through werr, drops the
// connection and reports false.
func (s *Server) pop(ctx *fasthttp.RequestCtx, cred string, werr errWriter) (Step, bool) {
	st := s.next(cred)
	if !s.wait(st.Delay) {
		ctx.SetConnectionClose()
		werr(ctx, Error(503, "api_error", "Service unavailable"))
		return st, false
	}
	return st, true
}

// play answers st: its error through werr, a JSON body, or a stream, then
// the step's own headers, which win over the route's defaults.
func (s *Server) play(ctx *fasthttp.RequestCtx, st Step, r replier, stream bool, werr errWriter) {
	switch {
	case st.Kind == KindError:
		werr(ctx, st)
	case st.Kind == KindOK && !stream:
		ctx.SetStatusCode(200)
		ctx.SetContentType("application/json")
		ctx.SetBody(r.body())
	default:
		s.streamReply(ctx, st, r)
	}
	for k, v := range st.Headers {
		ctx.Response.Header.Set(k, v)
	}
}

// streamReply sends the stream st asks for in r's format.
func (s *Server) streamReply(ctx *fasthttp.RequestCtx, st Step, r replier) {
	var events [][]byte
	end := io.EOF
	switch st.Kind {
	case KindReplay:
		events = splitFrames([]byte(st.Body))
	case KindStreamError:
		events = r.failed()
	case KindCut:
		events, end = r.events(st.Events, false), errCut
	default:
		n := st.Events
		if n <= 0 {
			n = 3
		}
		events = r.events(n, true)
	}
	s.sendFrames(ctx, st, events, end, r.half())
}

// piece is the i-th text delta of a reply.
func piece(i int) string { return replyPieces[i%len(replyPieces)] }

// pieces is the text of the first n deltas.
func pieces(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(piece(i))
	}
	return b.String()
}

// obj renders a JSON object from alternating keys and values, keeping the
// order (the mock's replies read like the real ones). Values are encoded
// with encoding/json; a json.RawMessage (what obj and arr return) is
// embedded as is.
func obj(kv ...any) json.RawMessage {
	b := make([]byte, 0, 64*len(kv)/2+2)
	b = append(b, '{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, kv[i].(string))
		b = append(b, ':')
		b = appendValue(b, kv[i+1])
	}
	return append(b, '}')
}

// arr renders a JSON array of values encoded like obj's.
func arr(vs ...any) json.RawMessage {
	b := []byte{'['}
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendValue(b, v)
	}
	return append(b, ']')
}

func appendValue(b []byte, v any) []byte {
	if r, ok := v.(json.RawMessage); ok {
		return append(b, r...)
	}
	j, err := json.Marshal(v)
	if err != nil { // only the mock's own values reach here
		panic("upstreamtest: " + err.Error())
	}
	return append(b, j...)
}

// emptyArray and null are the literals obj embeds most.
var (
	emptyArray = json.RawMessage(`[]`)
	null       = json.RawMessage(`null`)
)

// dataFrame frames one SSE event that has only a data line, with sep as
// the blank-line terminator.
func dataFrame(data []byte, sep string) []byte {
	b := make([]byte, 0, len(data)+8+len(sep))
	b = append(b, "data: "...)
	b = append(b, data...)
	return append(b, sep...)
}
