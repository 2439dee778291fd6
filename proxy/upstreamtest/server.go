package upstreamtest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Config tunes the mock. The zero Config is a strict, default upstream.
type Config struct {
	// Logger receives fasthttp's connection errors at Debug. Nil discards.
	Logger *slog.Logger
	// LaxOAuth turns off the Claude Code system prompt check for OAuth
	// tokens (the "StrictOAuth" switch, inverted so that strict is the
	// zero value). The anthropic-beta check always applies.
	LaxOAuth bool
	// Usage is reported by successful replies; zero input and output
	// counts mean DefaultUsage's values.
	Usage Usage
	// Unified, when set, adds subscription rate-limit headers to every
	// successful reply.
	Unified *Unified
	// Models lists the ids /v1/models returns; empty means a default set.
	Models []string
	// CountTokens fixes the count_tokens answer; zero means len(body)/4.
	CountTokens int
	// ExpiresIn is the lifetime in seconds of issued access tokens
	// (default 3600).
	ExpiresIn int
	// NoRecord keeps Requests empty (Count still works), so that long
	// benchmarks do not grow memory.
	NoRecord bool

	// OpenAIModels lists the ids GET /v1/models returns to OpenAI clients;
	// empty means a default set.
	OpenAIModels []string
	// Codex sets the x-codex-* headers of Codex backend replies; nil means
	// DefaultCodexLimits.
	Codex *CodexLimits
	// ChatGPTAccountID is the chatgpt_account_id claim of issued id_tokens
	// (default MockChatGPTAccountID).
	ChatGPTAccountID string
	// GeminiModels lists the ids GET /v1beta/models returns; empty means
	// a default set.
	GeminiModels []string
	// CodeAssistProject is the project Code Assist hands out (default
	// MockProject).
	CodeAssistProject string
	// CodeAssistNeedsOnboard makes loadCodeAssist answer without a project
	// until the credential went through onboardUser.
	CodeAssistNeedsOnboard bool
	// CodeAssistFreeTier lets Code Assist generate calls omit "project".
	CodeAssistFreeTier bool
}

// Recorded is one request as the mock saw it. Everything is a copy.
type Recorded struct {
	Method string
	// Path is the request URI: path and query.
	Path string
	// Header maps lowercase names to values; repeated headers are joined
	// with ", ".
	Header map[string]string
	Body   []byte
	// Credential is the x-api-key value, the x-goog-api-key value, the
	// Bearer token or the ?key= parameter, in that order; "" if none.
	Credential string
}

// Server is a mock of every upstream subgate serves (see the package doc
// for the routes). Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	srv    *fasthttp.Server
	done   chan struct{} // closed by Close; ends waits and streams
	once   sync.Once
	addr   string
	ln     net.Listener
	served chan struct{} // closed when Serve returns
	conns  connSet
	seq    atomic.Int64 // request and message ids

	mu       sync.Mutex
	scripts  map[string][]Step
	def      Step
	records  []Recorded
	counts   map[string]int
	revoked  map[string]bool
	oauth    oauthState
	tokenReq int
	tokenTo  map[string]int    // token endpoint path → requests
	owners   map[string]string // response id → credential
	ca       codeAssistState
	// googleTTL is expires_in of Google tokens: Config.ExpiresIn, else
	// Google's usual 3599.
	googleTTL int
}

// New returns a stopped Server; call Start, or mount Handler yourself.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Usage.InputTokens == 0 && cfg.Usage.OutputTokens == 0 {
		d := DefaultUsage()
		cfg.Usage.InputTokens, cfg.Usage.OutputTokens = d.InputTokens, d.OutputTokens
	}
	googleTTL := cfg.ExpiresIn
	if cfg.ExpiresIn == 0 {
		cfg.ExpiresIn, googleTTL = 3600, 3599
	}
	s := &Server{cfg: cfg, log: cfg.Logger, done: make(chan struct{}), googleTTL: googleTTL}
	s.resetLocked()
	s.srv = &fasthttp.Server{
		Handler:            s.Handler,
		Name:               "mock-anthropic",
		Logger:             fasthttpLogger{s.log},
		MaxRequestBodySize: 64 << 20,
		IdleTimeout:        30 * time.Second,
		ConnState:          s.conns.track,
	}
	return s
}

// Start listens on 127.0.0.1:0 and serves in the background.
func (s *Server) Start() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("upstreamtest: listen: %w", err)
	}
	s.mu.Lock()
	s.addr, s.ln, s.served = ln.Addr().String(), ln, make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil {
			s.log.Debug("mock upstream serve ended", "err", err)
		}
	}()
	return ln.Addr().String(), nil
}

// URL is the base URL of a started server, "http://127.0.0.1:port".
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr
}

// Close aborts pending delays and streams, stops the listener, closes
// every connection (like an upstream going away, not a graceful drain) and
// waits up to five seconds for them to be released. fasthttp's own
// Shutdown polls every 100 ms, which would slow every test that uses a mock.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		s.mu.Lock()
		ln, served := s.ln, s.served
		s.mu.Unlock()
		if ln == nil {
			return // never started: the test owns the listener
		}
		err = ln.Close()
		<-served // every accepted conn is now tracked
		if !s.conns.closeAll(5 * time.Second) {
			err = errors.Join(err, errors.New("upstreamtest: connections still open after 5s"))
		}
	})
	return err
}

// Script queues steps for requests that authenticate with token. Each
// generating request pops one (/v1/messages, /v1/responses,
// /v1/chat/completions, the Codex backend, Gemini and Code Assist
// generateContent and streamGenerateContent); an empty queue means the
// default step.
func (s *Server) Script(token string, steps ...Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[token] = append(s.scripts[token], steps...)
}

// SetDefault replaces the step used when a credential's queue is empty.
func (s *Server) SetDefault(st Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = st
}

// Revoke makes token an invalid credential (401) and, if it is a refresh
// token, unusable at the token endpoint.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[token] = true
}

// Requests returns a copy of every request seen, in arrival order.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.records...)
}

// Count is the number of requests seen that carried token.
func (s *Server) Count(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[token]
}

// Reset returns the server to its state after New: scripts, records,
// counters, revocations and OAuth codes and tokens are all forgotten.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.scripts = map[string][]Step{}
	s.def = OK()
	s.records = nil
	s.counts = map[string]int{}
	s.revoked = map[string]bool{}
	s.oauth = newOAuthState()
	s.tokenReq = 0
	s.tokenTo = map[string]int{}
	s.owners = map[string]string{}
	s.ca = newCodeAssistState()
}

// next pops the step for token.
func (s *Server) next(token string) Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.scripts[token]
	if len(q) == 0 {
		return s.def
	}
	st := q[0]
	if len(q) == 1 {
		delete(s.scripts, token)
	} else {
		s.scripts[token] = q[1:]
	}
	return st
}

func (s *Server) isRevoked(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked[token]
}

// Handler serves the mock API; tests may mount it on their own listener.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	cred := credential(ctx)
	s.record(ctx, cred)
	rid := fmt.Sprintf("req_mock_%d", s.seq.Add(1))
	ctx.Response.Header.Set("request-id", rid)
	path, method := string(ctx.Path()), string(ctx.Method())
	switch {
	case path == "/v1/messages" && method == "POST":
		s.messages(ctx, cred, rid)
	case path == "/v1/messages/count_tokens" && method == "POST":
		s.countTokens(ctx, cred, rid)
	case path == "/v1/models" && method == "GET" && isAnthropic(ctx):
		s.models(ctx, cred, rid)
	case path == "/v1/models" && method == "GET":
		s.openaiModels(ctx, cred)
	case path == "/v1/responses" && method == "POST":
		ctx.Response.Header.Set("x-request-id", rid)
		s.responses(ctx, cred)
	case path == "/v1/chat/completions" && method == "POST":
		ctx.Response.Header.Set("x-request-id", rid)
		s.chatCompletions(ctx, cred)
	case path == "/backend-api/codex/responses" && method == "POST":
		s.codex(ctx, cred)
	case strings.HasPrefix(path, geminiPrefix) && method == "POST":
		s.gemini(ctx, cred, path[len(geminiPrefix):])
	case path == "/v1beta/models" && method == "GET":
		s.geminiModels(ctx, cred)
	case strings.HasPrefix(path, codeAssistPrefix) && method == "POST":
		s.codeAssist(ctx, cred, path[len(codeAssistPrefix):])
	case strings.HasPrefix(path, "/v1internal/operations/") && method == "GET":
		s.codeAssist(ctx, cred, "getOperation")
	case path == "/v1/oauth/token" && method == "POST":
		s.countToken(path)
		s.token(ctx)
	case path == "/oauth/token" && method == "POST":
		s.countToken(path)
		s.openaiToken(ctx)
	case path == "/token" && method == "POST":
		s.countToken(path)
		s.googleToken(ctx)
	default:
		writeError(ctx, rid, 404, "not_found_error", "Not found")
	}
}

// Route prefixes of the Gemini API and Code Assist.
const (
	geminiPrefix     = "/v1beta/models/"
	codeAssistPrefix = "/v1internal:"
)

func (s *Server) countToken(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenTo[path]++
}

func (s *Server) record(ctx *fasthttp.RequestCtx, cred string) {
	if s.cfg.NoRecord {
		if cred != "" {
			s.mu.Lock()
			s.counts[cred]++
			s.mu.Unlock()
		}
		return
	}
	h := map[string]string{}
	for k, v := range ctx.Request.Header.All() {
		key := strings.ToLower(string(k))
		if old, ok := h[key]; ok {
			h[key] = old + ", " + string(v)
		} else {
			h[key] = string(v)
		}
	}
	r := Recorded{
		Method:     string(ctx.Method()),
		Path:       string(ctx.RequestURI()),
		Header:     h,
		Body:       append([]byte(nil), ctx.PostBody()...),
		Credential: cred,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, r)
	if cred != "" {
		s.counts[cred]++
	}
}

// wait sleeps d or until the server closes; it reports whether d elapsed.
func (s *Server) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// errClosed aborts a stream when the server closes.
var errClosed = errors.New("upstreamtest: server closed")

// fasthttpLogger sends fasthttp's internal messages to slog at Debug.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...))
}
