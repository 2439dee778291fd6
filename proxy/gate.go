package proxy

import (
	"bufio"
	"bytes"
	"crypto/subtle"

	"github.com/valyala/fasthttp"

	"subgate/proxy/metrics"
	"subgate/proxy/protocol"
)

// What a request must show before its body is read (edge.Guard calls
// admits from fasthttp's HeaderReceived hook, with the headers alone):
// a path under /admin/ the admin credential, any other path a client
// key. A request without one may send edge.SmallBody bytes of body; a
// larger one is refused unread with the 401 it would have got anyway.

// admits reports whether h carries the credential its path needs.
func (s *Server) admits(h *fasthttp.RequestHeader) bool {
	if isAdminPath(uriPath(h.RequestURI())) {
		return s.cfg.AdminAuth != nil && s.cfg.AdminAuth(h)
	}
	return s.headerKey(h) != nil
}

// headerKey is authenticate before the body: the same lookup, from the
// headers and the request line.
func (s *Server) headerKey(h *fasthttp.RequestHeader) *Key {
	if secret := clientSecret(h); len(secret) > 0 {
		return s.pool.load().lookupKey(secret)
	}
	uri := h.RequestURI()
	i := bytes.IndexByte(uri, '?')
	if i < 0 {
		return nil
	}
	args := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(args)
	args.ParseBytes(uri[i+1:])
	if secret := args.Peek("key"); len(secret) > 0 {
		return s.pool.load().lookupKey(secret)
	}
	return nil
}

// uriPath is the path of a request URI, origin-form ("/v1/messages?x")
// or absolute-form ("http://host/v1/messages").
func uriPath(uri []byte) []byte {
	for _, scheme := range [...]string{"http://", "https://"} {
		if len(uri) >= len(scheme) && bytes.EqualFold(uri[:len(scheme)], []byte(scheme)) {
			uri = uri[len(scheme):]
			if i := bytes.IndexByte(uri, '/'); i >= 0 {
				uri = uri[i:]
			} else {
				uri = nil
			}
			break
		}
	}
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	return uri
}

func isAdminPath(path []byte) bool {
	return string(path) == "/admin" || bytes.HasPrefix(path, []byte("/admin/"))
}

// shapeOf is the protocol whose error shape a path's clients read.
func (s *Server) shapeOf(path []byte) protocol.Protocol {
	switch string(path) {
	case "/v1/responses", "/openai/v1/responses", "/backend-api/codex/responses", "/openai/v1/models":
		return s.responses
	case "/v1/chat/completions", "/openai/v1/chat/completions":
		return s.chat
	}
	if bytes.HasPrefix(path, []byte("/v1beta/")) {
		return s.gemini
	}
	return s.anthropic
}

// refuseStranger answers a request refused for its body before its
// credential was shown: 401, in the shape its route's clients read.
func (s *Server) refuseStranger(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if isAdminPath(path) {
		ctx.SetStatusCode(fasthttp.StatusUnauthorized)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":{"message":"missing or wrong admin token or session","status":401}}`)
		return
	}
	writeError(ctx, s.shapeOf(path), fasthttp.StatusUnauthorized, protocol.KindAuthentication, "invalid API key")
}

// metricsAllowed reports whether a request may read /metrics: with the
// metrics token or the admin credential, or anyone when the admin made
// the metrics public (and set no token).
func (s *Server) metricsAllowed(ctx *fasthttp.RequestCtx) bool {
	tok := s.cfg.MetricsToken
	if tok == "" && s.cfg.MetricsPublic {
		return true
	}
	h := &ctx.Request.Header
	if tok != "" {
		auth := h.Peek("Authorization")
		if subtle.ConstantTimeCompare(auth, []byte("Bearer "+tok)) == 1 {
			return true
		}
	}
	return s.cfg.AdminAuth != nil && s.cfg.AdminAuth(h)
}

// metricsHandler serves GET /metrics in the Prometheus text format.
func (s *Server) metricsHandler(ctx *fasthttp.RequestCtx) {
	if !s.metricsAllowed(ctx) {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="subgate metrics"`)
		ctx.SetStatusCode(fasthttp.StatusUnauthorized)
		ctx.SetBodyString("unauthorized: send the metrics token or the admin token as a Bearer token\n")
		return
	}
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		s.metrics.Write(w, metrics.Sources{Sched: s.sched, Ledger: s.ledger, Tokens: s.tokens, RequestLog: s.cfg.RequestLog})
	})
}
