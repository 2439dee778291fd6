package webui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/proxy/edge"
)

const (
	cookieName    = "subgate_admin"
	csrfHeader    = "X-CSRF-Token"
	sessionTTL    = 12 * time.Hour
	maxSessions   = 256 // oldest sessions are dropped beyond this
	loginAttempts = 5   // failed logins per IP per loginWindow
	loginWindow   = time.Minute
)

// session is one logged-in browser. Sessions live in memory: a restart
// logs everybody out, which is fine for an admin panel.
type session struct {
	csrf    string
	expires time.Time
}

// sessions maps sha256(cookie value) to a session, so no lookup compares
// the secret itself.
type sessions struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[[32]byte]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: make(map[[32]byte]*session)}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// create starts a session and returns its cookie value.
func (s *sessions) create() (id string, sess *session) {
	id = randomToken()
	sess = &session{csrf: randomToken(), expires: s.now().Add(sessionTTL)}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, k)
		}
	}
	for len(s.m) >= maxSessions {
		var oldest [32]byte
		first := true
		for k, v := range s.m {
			if first || v.expires.Before(s.m[oldest].expires) {
				oldest, first = k, false
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = sess
	return id, sess
}

// get returns the live session of a cookie value, or nil.
func (s *sessions) get(id string) *session {
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.m[k]
	if sess == nil || !s.now().Before(sess.expires) {
		delete(s.m, k)
		return nil
	}
	return sess
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

// auth is who a request is: the bearer token holder (session nil) or a
// logged-in browser.
type auth struct {
	ok      bool
	session *session
}

// authenticate accepts the admin bearer token or a session cookie. A
// request that sends an Authorization header is judged by it alone.
func (h *Handler) authenticate(ctx *fasthttp.RequestCtx) auth {
	return h.authHeader(&ctx.Request.Header)
}

// Authorized reports whether request headers carry the admin credential:
// the bearer token, or the cookie of a live session. It reads the headers
// alone, so a server may ask before it reads the body (edge.Guard), and is
// safe for concurrent use.
func (h *Handler) Authorized(hdr *fasthttp.RequestHeader) bool { return h.authHeader(hdr).ok }

func (h *Handler) authHeader(hd *fasthttp.RequestHeader) auth {
	if hdr := hd.Peek("Authorization"); len(hdr) > 0 {
		tok, ok := strings.CutPrefix(string(hdr), "Bearer ")
		return auth{ok: ok && tok != "" && h.tokenOK(tok)}
	}
	if id := hd.Cookie(cookieName); len(id) > 0 {
		if s := h.sessions.get(string(id)); s != nil {
			return auth{ok: true, session: s}
		}
	}
	return auth{}
}

func (h *Handler) tokenOK(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], h.cfg.TokenHash[:]) == 1
}

// secretOK accepts the admin token or, when configured, the password.
func (h *Handler) secretOK(secret string) bool {
	if secret == "" {
		return false
	}
	if h.tokenOK(secret) {
		return true
	}
	return h.cfg.PasswordHash != "" && h.compare([]byte(h.cfg.PasswordHash), []byte(secret)) == nil
}

// csrfOK checks a cookie-authenticated state change: the session's CSRF
// token in the X-CSRF-Token header (or a form field "csrf"), and no
// foreign Origin.
func (h *Handler) csrfOK(ctx *fasthttp.RequestCtx, s *session) bool {
	if !sameOrigin(ctx) {
		return false
	}
	got := ctx.Request.Header.Peek(csrfHeader)
	if len(got) == 0 {
		got = ctx.PostArgs().Peek("csrf")
	}
	return len(got) > 0 && subtle.ConstantTimeCompare(got, []byte(s.csrf)) == 1
}

// sameOrigin is false when the browser says the request comes from
// another site. Sec-Fetch-Site decides when the browser sends it: it does
// not depend on the Host header, which a reverse proxy may rewrite.
// Otherwise a foreign Origin is refused.
func sameOrigin(ctx *fasthttp.RequestCtx) bool {
	switch string(ctx.Request.Header.Peek("Sec-Fetch-Site")) {
	case "same-origin", "none":
		return true
	case "same-site", "cross-site":
		return false
	}
	o := ctx.Request.Header.Peek("Origin")
	if len(o) == 0 || string(o) == "null" {
		return true
	}
	u, err := url.Parse(string(o))
	return err == nil && u.Host == string(ctx.Host())
}

// login serves POST /admin/login: a form (secret, next) answered with a
// redirect, or JSON {"secret"} answered with {"ok","csrf"}.
func (h *Handler) login(ctx *fasthttp.RequestCtx) {
	isJSON := strings.HasPrefix(string(ctx.Request.Header.ContentType()), "application/json")
	var secret, next string
	if isJSON {
		var in struct {
			Secret string `json:"secret"`
		}
		_ = json.Unmarshal(ctx.PostBody(), &in)
		secret = in.Secret
	} else {
		secret = string(ctx.PostArgs().Peek("secret"))
		next = string(ctx.PostArgs().Peek("next"))
	}
	ip := h.cfg.Trust.Client(ctx)
	if !sameOrigin(ctx) {
		h.loginFailed(ctx, isJSON, fasthttp.StatusForbidden, "Cross-origin login refused.")
		return
	}
	// The attempt counts before the secret is checked: bcrypt is slow, and
	// attempts that arrive together must not all reach it.
	bucket := edge.Bucket(ip).String()
	if ok, retry := h.limiter.take(bucket); !ok {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(int(retry.Seconds()+0.999)))
		h.loginFailed(ctx, isJSON, fasthttp.StatusTooManyRequests, "Too many failed logins; try again in a minute.")
		return
	}
	if !h.secretOK(secret) {
		h.log.Warn("admin login failed", "ip", ip.String())
		h.loginFailed(ctx, isJSON, fasthttp.StatusUnauthorized, "Wrong admin token or password.")
		return
	}
	h.limiter.forgive(bucket) // only failures count
	id, s := h.sessions.create()
	h.setCookie(ctx, id, sessionTTL)
	h.log.Info("admin login", "ip", ip.String())
	if isJSON {
		writeJSON(ctx, map[string]any{"ok": true, "csrf": s.csrf})
		return
	}
	redirect(ctx, safeNext(next))
}

func (h *Handler) loginFailed(ctx *fasthttp.RequestCtx, isJSON bool, status int, msg string) {
	if isJSON {
		writeError(ctx, status, msg, "")
		return
	}
	h.loginPage(ctx, msg, status)
}

func (h *Handler) loginPage(ctx *fasthttp.RequestCtx, msg string, status int) {
	next := string(ctx.QueryArgs().Peek("next"))
	if n := ctx.PostArgs().Peek("next"); len(n) > 0 {
		next = string(n)
	}
	ctx.SetStatusCode(status)
	h.pages.render(ctx, "login", pageData{Error: msg, Next: safeNext(next)})
}

// safeNext keeps a post-login redirect inside the admin pages.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/admin/") || strings.HasPrefix(next, "/admin/api/") ||
		strings.ContainsAny(next, "\\\r\n") || strings.Contains(next, "//") {
		return "/admin/"
	}
	return next
}

// logout serves POST /admin/logout (CSRF-checked).
func (h *Handler) logout(ctx *fasthttp.RequestCtx) {
	id := string(ctx.Request.Header.Cookie(cookieName))
	if s := h.sessions.get(id); s != nil {
		if !h.csrfOK(ctx, s) {
			writeError(ctx, fasthttp.StatusForbidden, "missing or wrong CSRF token", "")
			return
		}
		h.sessions.delete(id)
	}
	h.setCookie(ctx, "", -1)
	redirect(ctx, "/admin/login")
}

// setCookie sets the session cookie; ttl < 0 deletes it.
func (h *Handler) setCookie(ctx *fasthttp.RequestCtx, value string, ttl time.Duration) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(cookieName)
	c.SetValue(value)
	c.SetPath("/admin")
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	// Secure when the browser reached us over HTTPS: our TLS, or a
	// trusted proxy's (X-Forwarded-Proto), or whenever the admin says so.
	c.SetSecure(h.cfg.SecureCookies || h.cfg.Trust.HTTPS(ctx))
	if ttl < 0 {
		c.SetExpire(fasthttp.CookieExpireDelete)
	} else {
		c.SetMaxAge(int(ttl.Seconds()))
	}
	ctx.Response.Header.SetCookie(c)
}

// limiter counts login attempts per client address (an IPv6 /64) in a
// sliding window: each attempt counts from before its secret is checked,
// and a successful one is forgiven afterwards, so the window holds the
// failed attempts and those still being checked.
type limiter struct {
	mu       sync.Mutex
	now      func() time.Time
	max      int
	window   time.Duration
	attempts map[string][]time.Time
}

// maxTrackedIPs bounds the limiter's memory under a spray of addresses.
const maxTrackedIPs = 10000

func newLimiter(now func() time.Time, max int, window time.Duration) *limiter {
	return &limiter{now: now, max: max, window: window, attempts: make(map[string][]time.Time)}
}

// take counts an attempt from ip, or reports false with the wait until
// ip may try again.
func (l *limiter) take(ip string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.live(ip, now)
	if len(f) >= l.max {
		return false, f[0].Add(l.window).Sub(now)
	}
	if f == nil && len(l.attempts) >= maxTrackedIPs {
		for k := range l.attempts {
			l.live(k, now)
		}
	}
	l.attempts[ip] = append(f, now)
	return true, 0
}

// forgive takes back ip's latest attempt: it succeeded.
func (l *limiter) forgive(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.live(ip, l.now())
	if len(f) <= 1 {
		delete(l.attempts, ip)
		return
	}
	l.attempts[ip] = f[:len(f)-1]
}

// live drops ip's attempts older than the window and returns the rest.
func (l *limiter) live(ip string, now time.Time) []time.Time {
	f := l.attempts[ip]
	i := 0
	for i < len(f) && !now.Before(f[i].Add(l.window)) {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.attempts, ip)
		return nil
	}
	l.attempts[ip] = f
	return f
}
