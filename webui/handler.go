package webui

import (
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"
)

// Handler serves the admin API and pages under /admin/.
type Handler struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	limiter  *limiter
	pages    *pages
	// compare checks a password against its bcrypt hash (a seam for the
	// tests that count how many attempts reach it).
	compare func(hash, password []byte) error
}

// New returns the admin handler. It panics when cfg.Sched is nil, a
// wiring bug.
func New(cfg Config) *Handler {
	if cfg.Sched == nil {
		panic("webui: Config.Sched is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		sessions: newSessions(cfg.Now),
		limiter:  newLimiter(cfg.Now, loginAttempts, loginWindow),
		pages:    mustPages(),
		compare:  bcrypt.CompareHashAndPassword,
	}
}

// route is one admin API endpoint. In pattern, "*" matches one path
// segment and a trailing "**" the rest of the path; matches are passed to
// fn in order.
type route struct {
	method, pattern string
	fn              func(h *Handler, ctx *fasthttp.RequestCtx, args []string)
}

var routes = []route{
	{"GET", "usage", (*Handler).usage},
	{"GET", "usage/export", (*Handler).export},
	{"GET", "dashboard", (*Handler).dashboard},
	{"GET", "backup", (*Handler).backup},
	{"GET", "accounts", (*Handler).listAccounts},
	{"POST", "accounts", (*Handler).addAccount},
	{"PATCH", "accounts/*", (*Handler).updateAccount},
	{"DELETE", "accounts/*", (*Handler).deleteAccount},
	{"POST", "accounts/*/*", (*Handler).accountAction},
	{"POST", "oauth/start", (*Handler).oauthStart},
	{"POST", "oauth/finish", (*Handler).oauthFinish},
	{"GET", "keys", (*Handler).listKeys},
	{"POST", "keys", (*Handler).createKey},
	{"PATCH", "keys/*", (*Handler).updateKey},
	{"DELETE", "keys/*", (*Handler).deleteKey},
	{"GET", "error-rules", (*Handler).listRules},
	{"POST", "error-rules", (*Handler).addRule},
	{"PATCH", "error-rules/*", (*Handler).updateRule},
	{"DELETE", "error-rules/*", (*Handler).deleteRule},
	{"GET", "sessions", (*Handler).listSessions},
	{"DELETE", "sessions/**", (*Handler).unbindSession},
}

// match reports whether path fits pattern and returns the captures.
func match(pattern, path string) ([]string, bool) {
	var args []string
	for pattern != "" {
		seg, rest, _ := strings.Cut(pattern, "/")
		if seg == "**" {
			if path == "" {
				return nil, false
			}
			return append(args, path), true
		}
		if path == "" {
			return nil, false
		}
		got, prest, _ := strings.Cut(path, "/")
		switch {
		case seg == "*" && got != "":
			args = append(args, got)
		case seg != got:
			return nil, false
		}
		pattern, path = rest, prest
	}
	return args, path == ""
}

// Handler is the fasthttp entry point for every path under /admin/ (and
// /admin itself).
func (h *Handler) Handler(ctx *fasthttp.RequestCtx) {
	secureHeaders(ctx)
	path := string(ctx.Path())
	method := string(ctx.Method())
	switch {
	case path == "/admin":
		redirect(ctx, "/admin/")
	case strings.HasPrefix(path, "/admin/static/"):
		h.pages.static(ctx, strings.TrimPrefix(path, "/admin/static/"))
	case path == "/admin/login" && method == "GET":
		h.loginPage(ctx, "", fasthttp.StatusOK)
	case path == "/admin/login" && method == "POST":
		h.login(ctx)
	case path == "/admin/logout" && method == "POST":
		h.logout(ctx)
	case strings.HasPrefix(path, "/admin/api/"):
		ctx.Response.Header.Set("Cache-Control", "no-store")
		if !h.allowAPI(ctx, method) {
			return
		}
		h.api(ctx, method, strings.TrimPrefix(path, "/admin/api/"))
	default:
		h.page(ctx, path)
	}
}

// allowAPI authenticates an API call and, for a cookie session, checks
// the CSRF token on every state change. It answers 401/403 itself.
func (h *Handler) allowAPI(ctx *fasthttp.RequestCtx, method string) bool {
	a := h.authenticate(ctx)
	if !a.ok {
		writeError(ctx, fasthttp.StatusUnauthorized, "missing or wrong admin token or session", "")
		return false
	}
	if a.session != nil && method != "GET" && method != "HEAD" && !h.csrfOK(ctx, a.session) {
		writeError(ctx, fasthttp.StatusForbidden, "missing or wrong CSRF token (X-CSRF-Token)", "")
		return false
	}
	return true
}

func (h *Handler) api(ctx *fasthttp.RequestCtx, method, path string) {
	known := false
	for _, r := range routes {
		args, ok := match(r.pattern, path)
		if !ok {
			continue
		}
		known = true
		if r.method == method {
			r.fn(h, ctx, args)
			return
		}
	}
	if known {
		writeError(ctx, fasthttp.StatusMethodNotAllowed, method+" not allowed on /admin/api/"+path, "")
		return
	}
	writeError(ctx, fasthttp.StatusNotFound, "no admin route for "+method+" /admin/api/"+path, "")
}

// page serves an HTML page, or sends an unauthenticated browser to the
// login page.
func (h *Handler) page(ctx *fasthttp.RequestCtx, path string) {
	name, ok := pageNames[strings.TrimSuffix(path, "/")]
	if !ok || (string(ctx.Method()) != "GET" && string(ctx.Method()) != "HEAD") {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("not found")
		return
	}
	a := h.authenticate(ctx)
	if !a.ok {
		redirect(ctx, "/admin/login?next="+url.QueryEscape(path))
		return
	}
	csrf := ""
	if a.session != nil {
		csrf = a.session.csrf
	}
	h.pages.render(ctx, name, pageData{CSRF: csrf})
}

// ErrorHandler answers requests a server could not read, in the admin
// API's shape: 401 for a body refused before any credential was shown
// (edge.Guard lets a stranger send edge.SmallBody bytes), 413 for one
// too large for the server's limit, 408 for a slow one.
func (h *Handler) ErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	var te interface{ Timeout() bool }
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge) && !h.Authorized(&ctx.Request.Header):
		writeError(ctx, fasthttp.StatusUnauthorized, "missing or wrong admin token or session", "")
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body too large", "")
	case errors.As(err, &te) && te.Timeout():
		writeError(ctx, fasthttp.StatusRequestTimeout, "timeout reading request", "")
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "malformed HTTP request", "")
	}
}

// secureHeaders keeps the admin pages out of frames and other origins'
// scripts: everything, scripts and styles included, comes from the binary.
func secureHeaders(ctx *fasthttp.RequestCtx) {
	hd := &ctx.Response.Header
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "+
		"script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
}

// redirect answers 303 with a relative Location: fasthttp's Redirect
// would make it absolute with the scheme it sees, which is wrong behind a
// TLS-terminating proxy.
func redirect(ctx *fasthttp.RequestCtx, to string) {
	ctx.Response.Header.Set("Location", to)
	ctx.SetStatusCode(fasthttp.StatusSeeOther)
}
