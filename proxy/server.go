package proxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/ledger"
	"subgate/proxy/edge"
	"subgate/proxy/errrules"
	"subgate/proxy/metrics"
	"subgate/proxy/oauth"
	"subgate/proxy/protocol"
	"subgate/proxy/reqlog"
	"subgate/proxy/upstream"
	"subgate/sched"
)

// Config configures a Server.
type Config struct {
	Logger   *slog.Logger
	Sched    *sched.Scheduler
	Ledger   *ledger.Ledger
	Tokens   *oauth.Tokens
	Accounts []Account
	Keys     []Key
	// Groups are the settings of the groups that have any; a group not
	// listed has the defaults (Group).
	Groups map[string]Group

	// AnthropicBaseURL is the default upstream of anthropic accounts.
	AnthropicBaseURL string
	// ClaudeCodeSystem is prepended for OAuth accounts and other clients.
	ClaudeCodeSystem string
	// OpenAI and Gemini upstreams.
	OpenAIBaseURL     string // https://api.openai.com/v1
	CodexBaseURL      string // https://chatgpt.com/backend-api/codex
	GeminiBaseURL     string // https://generativelanguage.googleapis.com
	CodeAssistBaseURL string // https://cloudcode-pa.googleapis.com
	// ProjectFound is told the Code Assist project discovered for an
	// account, so it can be kept.
	ProjectFound func(account, project string)

	MaxBodyBytes       int           // client request body limit; default 32 MiB
	MaxAccountSwitches int           // failovers per request; default 3
	HeaderTimeout      time.Duration // upstream response headers; default 5m
	StreamIdleTimeout  time.Duration // upstream silence mid-stream; default 5m
	Keepalive          time.Duration // SSE keepalive while idle; default 10s
	ReadTimeout        time.Duration // client request read; default 60s
	IdleTimeout        time.Duration // idle keep-alive connection; default 120s
	WatchInterval      time.Duration // client hang-up detection period; default 500ms

	WriteTimeout time.Duration // a client that accepts no bytes this long is cut; default 60s
	MaxConns     int           // concurrent client connections; default 10000

	// RequestLog, when set, writes the line per finished request (in
	// batches, off the request path); Logger's handler should write
	// through it too. Without it the line goes through Logger.
	RequestLog *reqlog.Writer

	// MetricsEnabled serves GET /metrics: to a Bearer MetricsToken or
	// admin credential, or to anyone when MetricsPublic is set and
	// MetricsToken is empty.
	MetricsEnabled bool
	MetricsToken   string
	MetricsPublic  bool

	// Admin, when set, serves every path under /admin/.
	Admin fasthttp.RequestHandler

	// ErrorRules are the admin's [[error_rules]], tried before the
	// built-in table (docs/error-rules.md); checked by errrules.Validate.
	ErrorRules []errrules.Rule
	// AdminAuth reports whether request headers carry the admin
	// credential (bearer token or session cookie): it earns /admin/
	// requests their body limit and opens /metrics. Nil admits nobody.
	AdminAuth func(h *fasthttp.RequestHeader) bool

	// Trust names the reverse proxies whose X-Forwarded-For, X-Real-IP
	// and X-Forwarded-Proto are believed; nil believes nobody.
	Trust *edge.Trust
	// MaxConnsPerIP bounds the connections of one client address, and
	// behind a trusted proxy the requests in flight of one forwarded
	// client; 0 turns it off.
	MaxConnsPerIP int
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.MaxAccountSwitches <= 0 {
		c.MaxAccountSwitches = 3
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HeaderTimeout, 5*time.Minute)
	def(&c.StreamIdleTimeout, 5*time.Minute)
	def(&c.Keepalive, 10*time.Second)
	def(&c.ReadTimeout, 60*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	def(&c.WatchInterval, 500*time.Millisecond)
	def(&c.WriteTimeout, 60*time.Second)
	if c.MaxConns <= 0 {
		c.MaxConns = 10000
	}
	if c.ClaudeCodeSystem == "" {
		c.ClaudeCodeSystem = "You are Claude Code, Anthropic's official CLI for Claude."
	}
	defURL := func(u *string, v string) {
		if *u == "" {
			*u = v
		}
	}
	defURL(&c.AnthropicBaseURL, "https://api.anthropic.com")
	defURL(&c.OpenAIBaseURL, "https://api.openai.com/v1")
	defURL(&c.CodexBaseURL, "https://chatgpt.com/backend-api/codex")
	defURL(&c.GeminiBaseURL, "https://generativelanguage.googleapis.com")
	defURL(&c.CodeAssistBaseURL, "https://cloudcode-pa.googleapis.com")
}

// Server is the gateway: a fasthttp server whose handlers run every
// protocol through one failover loop.
type Server struct {
	cfg       Config
	log       *slog.Logger
	sched     *sched.Scheduler
	ledger    *ledger.Ledger
	tokens    *oauth.Tokens
	pool      poolRef
	up        *upstream.Clients
	watch     *edge.Watcher
	conns     *edge.Conns
	anthropic *protocol.Anthropic
	responses *protocol.OpenAI
	chat      *protocol.OpenAI
	gemini    *protocol.Gemini
	srv       *fasthttp.Server
	guard     *edge.Guard
	metrics   *metrics.Metrics
	rules     atomic.Pointer[errrules.Engine] // what an upstream error means; swapped by SetErrorRules
	strikes   *errrules.Strikes               // api_key 403s, counted per client key

	ctx    context.Context // parent of every request; canceled when the grace period ends
	cancel context.CancelFunc
	wg     sync.WaitGroup
	idBase string
}

// New builds a Server; call Serve to accept connections.
func New(cfg Config) *Server {
	cfg.defaults()
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		sched:   cfg.Sched,
		ledger:  cfg.Ledger,
		tokens:  cfg.Tokens,
		up:      upstream.New(upstream.Config{MaxResponseBytes: 64 << 20}),
		watch:   edge.NewWatcher(cfg.WatchInterval),
		conns:   edge.NewConns(),
		metrics: metrics.New(),
		idBase:  strconv.FormatInt(time.Now().UnixNano()&0xffffffffff, 36),
	}
	if s.tokens == nil {
		s.tokens = oauth.NewTokens(oauth.TokensConfig{Logger: cfg.Logger})
	}
	s.rules.Store(newErrorRules(cfg.ErrorRules, cfg.Logger))
	s.strikes = errrules.NewStrikes(0)
	s.anthropic = &protocol.Anthropic{BaseURL: cfg.AnthropicBaseURL, Identity: cfg.ClaudeCodeSystem}
	s.responses = &protocol.OpenAI{BaseURL: cfg.OpenAIBaseURL, CodexBaseURL: cfg.CodexBaseURL, AccountID: s.codexAccountID}
	s.chat = &protocol.OpenAI{Chat: true, BaseURL: cfg.OpenAIBaseURL, CodexBaseURL: cfg.CodexBaseURL, AccountID: s.codexAccountID}
	s.gemini = protocol.NewGemini(protocol.GeminiConfig{BaseURL: cfg.GeminiBaseURL, CodeAssistURL: cfg.CodeAssistBaseURL, Clients: s.up, ProjectFound: cfg.ProjectFound})
	s.pool.p.Store(newPool(cfg.Accounts, cfg.Keys, cfg.Groups))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.guard = edge.New(edge.Config{Trust: cfg.Trust, MaxConnsPerIP: cfg.MaxConnsPerIP, Admits: s.admits, Logger: cfg.Logger})
	s.srv = &fasthttp.Server{
		Handler:      s.handler,
		ErrorHandler: s.errorHandler,
		// No body byte of a request without a credential is buffered
		// beyond edge.SmallBody: fasthttp allocates the declared length
		// before reading it.
		HeaderReceived:     s.guard.HeaderReceived,
		MaxRequestBodySize: cfg.MaxBodyBytes,
		ReadTimeout:        cfg.ReadTimeout, // the whole request, headers and body
		// A buffered reply must be written within WriteTimeout; a stream
		// moves the deadline at every flush (relay.go).
		WriteTimeout:                  cfg.WriteTimeout,
		Concurrency:                   cfg.MaxConns,
		IdleTimeout:                   cfg.IdleTimeout,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		CloseOnShutdown:               true,
		DisableHeaderNamesNormalizing: false,
		ReadBufferSize:                16 << 10,
		Logger:                        fasthttpLogger{cfg.Logger},
		ConnState:                     s.conns.Track,
	}
	if cfg.MaxConnsPerIP > 0 { // the guard counts only when there is a limit
		prev := s.srv.ConnState // keep any hook already set
		s.srv.ConnState = func(c net.Conn, st fasthttp.ConnState) {
			if prev != nil {
				prev(c, st)
			}
			s.guard.ConnState(c, st)
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watch.Run(s.ctx)
	}()
	return s
}

// SetPool replaces the accounts and keys at runtime (admin changes).
func (s *Server) SetPool(accounts []Account, keys []Key) {
	s.pool.p.Store(newPool(accounts, keys, s.cfg.Groups))
	if s.sched != nil {
		s.sched.SetAccounts(schedAccounts(accounts))
	}
}

// SetErrorRules replaces the error rules added in the admin UI: they are
// tried after the config's [[error_rules]] and before the built-in
// defaults, from the next upstream reply on (the engine is swapped
// atomically; a reply being decided keeps the engine it started with).
// An error (a rule errrules.Validate refuses) leaves the rules as they
// were.
func (s *Server) SetErrorRules(ui []errrules.Rule) error {
	rules := append(slices.Clip(s.cfg.ErrorRules), ui...)
	e, err := errrules.New(errrules.Config{Rules: rules})
	if err != nil {
		return err
	}
	s.rules.Store(e)
	return nil
}

// Serve accepts connections on ln until Shutdown, each with TCP keepalive
// on (see keepAlive).
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(edge.LazyListener(s.guard.Listener(ln), edge.LazySlack(s.cfg.ReadTimeout, s.cfg.IdleTimeout)))
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Handler exposes the request handler (tests mount it on in-memory
// listeners).
func (s *Server) Handler() fasthttp.RequestHandler { return s.handler }

// Shutdown stops accepting, lets running requests finish until ctx ends,
// then cancels the rest. Waiters in the scheduler are failed by the
// scheduler's own Close, which the caller runs first.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.ShutdownWithContext(ctx)
	s.cancel()
	s.watch.CancelAll()
	if err != nil {
		// Streams were canceled above; give them a moment to write their
		// error events, then close every connection fasthttp left open
		// (see edge.Conns).
		s.watch.DrainRequests(2 * time.Second)
		s.conns.CloseAll()
	}
	s.wg.Wait()
	if s.cfg.RequestLog != nil {
		s.cfg.RequestLog.Flush() // the last requests' lines; its owner closes it
	}
	return err
}

func (s *Server) handler(ctx *fasthttp.RequestCtx) {
	start := ctx.Time() // stamped by fasthttp just before the handler
	if start.IsZero() {
		start = time.Now()
	}
	// fasthttp's request ID (connection number and request number on
	// it) is unique per server without a counter every request bumps.
	var id [48]byte
	b := append(append(id[:0], s.idBase...), '-')
	ctx.Response.Header.SetCanonical(hdrRequestID, strconv.AppendUint(b, ctx.ID(), 36))
	timed := false // the run stamped the overhead header
	defer func() {
		if v := recover(); v != nil {
			// fasthttp does not recover handler panics: one bad request
			// must not take the gateway down with every stream in flight.
			s.log.Error("handler panic", "route", string(ctx.Path()), "panic", v, "stack", string(debug.Stack()))
			writeError(ctx, s.anthropic, fasthttp.StatusInternalServerError, protocol.KindAPI, "internal error")
			timed = false
		}
		if !timed {
			setOverheadHeader(ctx, time.Since(start))
		}
	}()
	path := ctx.Path()
	if !s.guard.Admit(ctx) { // resolves the client address first
		writeError(ctx, s.shapeOf(path), fasthttp.StatusTooManyRequests, protocol.KindRateLimit, "too many requests in flight from your address")
		return
	}
	switch string(path) {
	case "/v1/messages":
		timed = s.route(ctx, s.anthropic, protocol.EndpointGenerate, fasthttp.MethodPost)
	case "/v1/messages/count_tokens":
		timed = s.route(ctx, s.anthropic, protocol.EndpointCountTokens, fasthttp.MethodPost)
	case "/v1/responses", "/openai/v1/responses", "/backend-api/codex/responses":
		timed = s.route(ctx, s.responses, protocol.EndpointGenerate, fasthttp.MethodPost)
	case "/v1/chat/completions", "/openai/v1/chat/completions":
		timed = s.route(ctx, s.chat, protocol.EndpointGenerate, fasthttp.MethodPost)
	case "/v1/models", "/openai/v1/models":
		s.models(ctx)
	case "/v1beta/models":
		s.geminiModels(ctx)
	case "/v1/usage":
		s.usage(ctx)
	case "/metrics":
		if s.cfg.MetricsEnabled {
			s.metricsHandler(ctx)
		} else {
			writeError(ctx, s.anthropic, fasthttp.StatusNotFound, protocol.KindNotFound, "metrics are disabled")
		}
	case "/healthz":
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
	case "/api/hello":
		ctx.SetStatusCode(fasthttp.StatusOK)
	case "/":
		// Claude Code's gateway contract: HEAD / is a reachability probe.
		if ctx.IsHead() || ctx.IsGet() {
			ctx.SetStatusCode(fasthttp.StatusOK)
		} else {
			writeError(ctx, s.anthropic, fasthttp.StatusNotFound, protocol.KindNotFound, "no route for "+string(ctx.Method())+" /")
		}
	default:
		switch {
		case bytes.HasPrefix(path, []byte("/v1beta/models/")):
			timed = s.route(ctx, s.gemini, protocol.EndpointGenerate, fasthttp.MethodPost)
		case s.cfg.Admin != nil && (bytes.HasPrefix(path, []byte("/admin/")) || string(path) == "/admin"):
			s.cfg.Admin(ctx)
		default:
			writeError(ctx, s.anthropic, fasthttp.StatusNotFound, protocol.KindNotFound, "no route for "+string(ctx.Method())+" "+string(path))
		}
	}
}

// route runs the request through handle if the method fits; it reports
// whether handle's run stamped the overhead header.
func (s *Server) route(ctx *fasthttp.RequestCtx, p protocol.Protocol, ep protocol.Endpoint, method string) bool {
	return s.method(ctx, p, method) && s.handle(ctx, p, ep)
}

// writeError answers with an error in p's own shape.
func writeError(ctx *fasthttp.RequestCtx, p protocol.Protocol, status int, kind protocol.ErrKind, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(p.ErrorBody(status, kind, msg))
}

func (s *Server) method(ctx *fasthttp.RequestCtx, p protocol.Protocol, want string) bool {
	if string(ctx.Method()) == want {
		return true
	}
	ctx.Response.Header.Set("Allow", want)
	writeError(ctx, p, fasthttp.StatusMethodNotAllowed, protocol.KindInvalidRequest, "method not allowed")
	return false
}

// errorHandler answers requests fasthttp could not read, in the Anthropic
// shape rather than fasthttp's plain-text page.
func (s *Server) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		if s.guard.Stranger(&ctx.Request.Header) {
			s.refuseStranger(ctx) // its body was never read: what it lacks is a credential
			return
		}
		writeError(ctx, s.shapeOf(ctx.Path()), fasthttp.StatusRequestEntityTooLarge, protocol.KindTooLarge,
			"request body exceeds "+strconv.Itoa(s.cfg.MaxBodyBytes>>20)+" MB")
		return
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		writeError(ctx, s.anthropic, fasthttp.StatusRequestTimeout, protocol.KindInvalidRequest, "timeout reading request")
		return
	}
	writeError(ctx, s.anthropic, fasthttp.StatusBadRequest, protocol.KindInvalidRequest, "malformed HTTP request")
}

// authenticate finds the client key from x-api-key, a Bearer token,
// x-goog-api-key or the query's key=.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx, p *pool) *Key {
	secret := clientSecret(&ctx.Request.Header)
	if len(secret) == 0 {
		secret = ctx.QueryArgs().Peek("key")
	}
	if len(secret) == 0 {
		return nil
	}
	return p.lookupKey(secret)
}

// clientSecret is the client key a request's headers carry, nil when none.
func clientSecret(h *fasthttp.RequestHeader) []byte {
	secret := h.Peek("x-api-key")
	if len(secret) == 0 {
		auth := h.Peek("Authorization")
		if len(auth) > 7 && (string(auth[:7]) == "Bearer " || string(auth[:7]) == "bearer ") {
			secret = auth[7:]
		}
	}
	if len(secret) == 0 { // Gemini clients
		secret = h.Peek("x-goog-api-key")
	}
	return secret
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("fasthttp", "msg", format, "args", len(args))
}

// netipAddr is the client's address: the request's RemoteAddr, which
// the handler made the forwarded client's when the peer is a trusted
// proxy (edge.Guard.Admit), so allow lists and logs read the client.
func netipAddr(ctx *fasthttp.RequestCtx) (netip.Addr, bool) {
	a := edge.AddrOf(ctx.RemoteAddr())
	return a, a.IsValid()
}
