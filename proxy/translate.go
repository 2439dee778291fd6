package proxy

import (
	"errors"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"github.com/valyala/fasthttp"

	"subgate/proxy/protocol"
	"subgate/proxy/protocol/translate"
	"subgate/sched"
)

// A translated attempt is a mode of the one loop, not a second gateway.
// When the leased account speaks another API family than the client
// (Claude Code on a Codex account, a Chat client on a Claude
// subscription, a Chat client on a Codex account), the attempt carries a
// translation: the client's body in the account's format and a served
// call, the Call the account's own protocol works on. Everything that
// faces the upstream (credentials, Before, Prepare with the account's
// rules, Classify, Windows, the usage readers) takes the served call, so
// a translated request gets exactly what a native one of that family
// gets; everything that faces the client (errors, keepalives, the
// record) keeps the client's call. The reply goes back through
// translate: Response for a buffered body, a Collector for a Codex
// stream a non-stream client waits for, the Stream state machine as the
// relay's sink, and Error for upstream errors.

// translation is one attempt's translation.
type translation struct {
	t    *translate.Translator
	call protocol.Call // the served call
	hdr  [1][2]string  // backs call.Header
	// stream is the client stream's state machine, once the relay made it.
	stream *translate.Stream
}

// upcall is the call the upstream sees: the served call of a translated
// attempt, else the client's.
func (r *run) upcall() *protocol.Call {
	if r.tx != nil {
		return &r.tx.call
	}
	return r.call
}

// formatOf is the API family a protocol speaks.
func formatOf(p protocol.Protocol) translate.Format {
	switch p := p.(type) {
	case *protocol.Anthropic:
		return translate.Messages
	case *protocol.OpenAI:
		if p.Chat {
			return translate.Chat
		}
		return translate.Responses
	}
	return translate.Gemini
}

// accountFormat is the format acct serves a client of format client in:
// OpenAI API keys serve Chat Completions as well as Responses; the Codex
// backend serves Responses only.
func accountFormat(client translate.Format, acct *Account) translate.Format {
	switch acct.Platform {
	case "anthropic":
		return translate.Messages
	case "gemini":
		return translate.Gemini
	}
	if client == translate.Chat && !acct.OAuth() {
		return translate.Chat
	}
	return translate.Responses
}

// protoOf is the protocol that speaks an upstream format.
func (s *Server) protoOf(f translate.Format) protocol.Protocol {
	switch f {
	case translate.Messages:
		return s.anthropic
	case translate.Responses:
		return s.responses
	}
	return s.gemini
}

// mayTranslate reports whether the request may go to an account of
// another API family: its key and its key's group allow it.
func (r *run) mayTranslate() bool { return r.key.Translate }

// translateFor prepares the attempt on acct: nothing when acct speaks the
// client's format; else the translation (r.tx), or how the attempt ends
// when there can be none (ok false).
func (r *run) translateFor(acct *Account) (res result, ok bool) {
	client := formatOf(r.call.Proto)
	served := accountFormat(client, acct)
	if served == client {
		return result{}, true
	}
	if !r.mayTranslate() { // a Chat client on a Codex account
		r.exclude = append(r.exclude, acct.Name)
		r.unsupported = true
		return result{o: canceled, next: again}, false
	}
	if r.call.Endpoint == protocol.EndpointCountTokens {
		return r.countLocally(acct), false
	}
	tx := r.served(acct, served)
	c := &tx.call
	upStream := c.Stream
	if us, ok := c.Proto.(protocol.UpstreamStreamer); ok {
		upStream = us.UpstreamStream(c, acct)
	}
	t, err := translate.New(translate.Config{
		Client: client, Upstream: served,
		ClientModel: r.call.Model, UpstreamModel: r.call.UpstreamModel,
		Stream: r.call.Stream, UpstreamStream: upStream,
		Codex: served == translate.Responses && acct.OAuth(),
	})
	if err != nil { // a pair the gateway never builds
		return r.fail(canceled, clientError{500, protocol.KindAPI, "internal error"}, err), false
	}
	body, err := t.Request(r.call.Body)
	if err != nil {
		return r.untranslatable(served, err), false
	}
	if served == translate.Responses && c.Session != "" {
		// The upstream's prompt cache follows the session, as Codex CLI
		// asks it to with its own prompt_cache_key.
		if b, err := sjson.SetBytes(body, "prompt_cache_key", c.Session); err == nil {
			body = b
		}
	}
	c.Body = body
	tx.t = t
	r.tx = tx
	return result{}, true
}

// served is a translation whose served call addresses acct in format f,
// its body still to be made: the client's stream and output limit, the
// upstream model, the client's User-Agent, the session's hash.
func (r *run) served(acct *Account, f translate.Format) *translation {
	tx := &translation{}
	c := &tx.call
	*c = protocol.Call{
		Proto:         r.s.protoOf(f),
		Endpoint:      r.call.Endpoint,
		Path:          "/v1/messages", // Anthropic's route; the others build their own
		Model:         r.call.UpstreamModel,
		UpstreamModel: r.call.UpstreamModel,
		Stream:        r.call.Stream,
		MaxTokens:     r.call.MaxTokens,
		Acct:          acct,
	}
	for _, kv := range r.call.Header {
		if kv[0] == "user-agent" { // the one client header every family has
			c.Header = append(tx.hdr[:0], kv)
		}
	}
	if r.call.Session != "" {
		// The account sees the session's hash, never the client's string.
		c.Session = sched.SessionID(r.call.Session)
	}
	return tx
}

// untranslatable ends a request the translator refused: a 400 naming the
// client's field, in the client's shape. Nothing reached the account. The
// message may hold the client's key names and values and is kept (the
// record, the log), so it is bounded.
func (r *run) untranslatable(served translate.Format, err error) result {
	msg := err.Error()
	if len(msg) > maxRefusal {
		msg = strings.ToValidUTF8(msg[:maxRefusal], "") + "…"
	}
	if errors.As(err, new(*translate.Error)) {
		msg += " (the account that can serve this model speaks " + served.String() + ")"
	}
	return r.fail(canceled, clientError{fasthttp.StatusBadRequest, protocol.KindInvalidRequest, msg}, err)
}

// maxRefusal bounds the translator's part of a refusal's message.
const maxRefusal = 300

// countLocally answers a count_tokens call that an account of another
// family would serve: no family's counter reads another's format, so the
// count is estimated (a token per four bytes, as budgets estimate) in
// the client's shape. Nothing is sent upstream.
func (r *run) countLocally(acct *Account) result {
	n := strconv.Itoa((len(r.call.Body) + 3) / 4)
	body := `{"input_tokens":` + n + `}`
	if formatOf(r.call.Proto) == translate.Gemini {
		body = `{"totalTokens":` + n + `}`
	}
	r.ctx.SetStatusCode(fasthttp.StatusOK)
	r.ctx.SetContentType("application/json")
	r.ctx.SetBodyString(body)
	return result{o: canceled, end: ending{status: fasthttp.StatusOK, acct: acct.Name}, next: answered}
}

// translatedError is an upstream error body in the client's shape, with
// the upstream's message.
func (r *run) translatedError(status int, body []byte) []byte {
	return r.tx.t.Error(status, body)
}

// translatedMessage is the upstream's error message as the translator
// reads it, for an error event on a committed stream.
func (r *run) translatedMessage(status int, body []byte) string {
	return gjson.GetBytes(r.tx.t.Error(status, body), "error.message").String()
}

// collector adapts a translate.Collector to the relay's sink: it keeps
// the events and writes nothing.
type collector struct{ *translate.Collector }

func (c collector) Event(dst, event, data []byte) []byte {
	c.Collector.Event(event, data)
	return dst
}

// streamStatus is the HTTP status a stream's error event stands for.
func streamStatus(kind protocol.ErrKind) int {
	switch kind {
	case protocol.KindOverloaded:
		return 529
	case protocol.KindRateLimit:
		return 429
	}
	return 500
}
