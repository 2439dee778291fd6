package webui

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// every API route, with a body where one is needed.
var allRoutes = []struct{ method, path string }{
	{"GET", "/admin/api/usage"}, {"GET", "/admin/api/usage/export"}, {"GET", "/admin/api/dashboard"},
	{"GET", "/admin/api/backup"}, {"GET", "/admin/api/accounts"}, {"POST", "/admin/api/accounts"},
	{"PATCH", "/admin/api/accounts/openai-1"}, {"DELETE", "/admin/api/accounts/openai-1"},
	{"POST", "/admin/api/accounts/claude-1/disable"}, {"POST", "/admin/api/accounts/claude-1/test"},
	{"POST", "/admin/api/oauth/start"}, {"POST", "/admin/api/oauth/finish"},
	{"GET", "/admin/api/keys"}, {"POST", "/admin/api/keys"}, {"PATCH", "/admin/api/keys/team"},
	{"DELETE", "/admin/api/keys/team"}, {"GET", "/admin/api/sessions"}, {"DELETE", "/admin/api/sessions/s1"},
}

func TestAPIRequiresAuth(t *testing.T) {
	hs := newHarness(t)
	for _, r := range allRoutes {
		for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken, "Bearer "} {
			got := hs.send(r.method, r.path, "{}", "auth", auth)
			if got.status != 401 {
				t.Errorf("%s %s with %q: status %d, want 401", r.method, r.path, auth, got.status)
			}
		}
	}
	// A stale or forged cookie is no better.
	got := hs.send("GET", "/admin/api/accounts", nil, "auth", "", "Cookie", cookieName+"=forged")
	if got.status != 401 {
		t.Fatalf("forged cookie: status %d, want 401", got.status)
	}
}

func TestCSRFOnCookieSessions(t *testing.T) {
	hs := newHarness(t)
	cookie, csrf := hs.login(t)
	path := "/admin/api/accounts/claude-1/disable"
	hs.send("GET", "/admin/api/accounts", nil, "auth", "", "Cookie", cookie).must(t, 200)
	for _, r := range allRoutes {
		if r.method == "GET" {
			continue
		}
		hs.send(r.method, r.path, "{}", "auth", "", "Cookie", cookie).must(t, 403)
	}
	hs.send("POST", path, nil, "auth", "", "Cookie", cookie, csrfHeader, "wrong").must(t, 403)
	hs.send("POST", path, nil, "auth", "", "Cookie", cookie, csrfHeader, csrf,
		"Origin", "https://evil.example").must(t, 403)
	hs.send("POST", path, nil, "auth", "", "Cookie", cookie, csrfHeader, csrf,
		"Sec-Fetch-Site", "cross-site").must(t, 403)
	hs.send("POST", path, nil, "auth", "", "Cookie", cookie, csrfHeader, csrf,
		"Origin", "http://admin.test").must(t, 200)
	// Behind a proxy that rewrites Host, Sec-Fetch-Site still tells.
	hs.send("POST", path, nil, "auth", "", "Cookie", cookie, csrfHeader, csrf,
		"Origin", "https://admin.example.org", "Sec-Fetch-Site", "same-origin").must(t, 200)
	// The bearer token needs no CSRF token: browsers never send it by themselves.
	hs.send("POST", "/admin/api/accounts/claude-1/enable", nil).must(t, 200)
}

func TestLoginCookieFlags(t *testing.T) {
	for _, secure := range []bool{false, true} {
		hs := newHarness(t, func(c *Config) { c.SecureCookies = secure })
		r := hs.send("POST", "/admin/login", "secret="+url.QueryEscape(testToken)+"&next=%2Fadmin%2Fkeys",
			"auth", "", "Content-Type", "application/x-www-form-urlencoded").must(t, 303)
		if got, want := r.header["Location"], "/admin/keys"; got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
		c := strings.ToLower(r.header["Set-Cookie"])
		for _, flag := range []string{"httponly", "samesite=strict", "path=/admin", "max-age="} {
			if !strings.Contains(c, flag) {
				t.Errorf("cookie %q lacks %s", c, flag)
			}
		}
		if got := strings.Contains(c, "secure;") || strings.HasSuffix(c, "secure"); got != secure {
			t.Errorf("cookie %q: Secure = %v, want %v", c, got, secure)
		}
	}
}

func TestLoginFailuresAreRateLimited(t *testing.T) {
	hs := newHarness(t)
	for i := range loginAttempts {
		r := hs.send("POST", "/admin/login", map[string]string{"secret": "guess"}, "auth", "")
		if r.status != 401 {
			t.Fatalf("attempt %d: status %d, want 401", i, r.status)
		}
	}
	r := hs.send("POST", "/admin/login", map[string]string{"secret": testToken}, "auth", "").must(t, 429)
	if r.header["Retry-After"] == "" {
		t.Error("429 without Retry-After")
	}
	hs.send("POST", "/admin/login", "secret=guess", "auth", "",
		"Content-Type", "application/x-www-form-urlencoded").must(t, 429)
	hs.clock.advance(loginWindow + time.Second)
	hs.login(t)
}

func TestLoginWithPassword(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, func(c *Config) { c.PasswordHash = string(hash) })
	hs.send("POST", "/admin/login", map[string]string{"secret": "correct horse"}, "auth", "").must(t, 200)
	hs.send("POST", "/admin/login", map[string]string{"secret": "wrong horse"}, "auth", "").must(t, 401)
	hs.send("POST", "/admin/login", map[string]string{"secret": testToken}, "auth", "").must(t, 200)
	hs.send("POST", "/admin/login", map[string]string{"secret": ""}, "auth", "").must(t, 401)
}

func TestLoginRejectsCrossOrigin(t *testing.T) {
	hs := newHarness(t)
	hs.send("POST", "/admin/login", map[string]string{"secret": testToken}, "auth", "",
		"Origin", "https://evil.example").must(t, 403)
}

func TestLogoutAndExpiry(t *testing.T) {
	hs := newHarness(t)
	cookie, csrf := hs.login(t)
	form := "Content-Type"
	hs.send("POST", "/admin/logout", "", "auth", "", "Cookie", cookie, form, "application/x-www-form-urlencoded").must(t, 403)
	r := hs.send("POST", "/admin/logout", "csrf="+csrf, "auth", "", "Cookie", cookie,
		form, "application/x-www-form-urlencoded").must(t, 303)
	if !strings.Contains(strings.ToLower(r.header["Set-Cookie"]), "expires=") {
		t.Errorf("logout does not expire the cookie: %q", r.header["Set-Cookie"])
	}
	hs.send("GET", "/admin/api/accounts", nil, "auth", "", "Cookie", cookie).must(t, 401)

	cookie, _ = hs.login(t)
	hs.clock.advance(sessionTTL + time.Minute)
	hs.send("GET", "/admin/api/accounts", nil, "auth", "", "Cookie", cookie).must(t, 401)
}

func TestPages(t *testing.T) {
	hs := newHarness(t)
	r := hs.send("GET", "/admin/keys", nil, "auth", "").must(t, 303)
	if got, want := r.header["Location"], "/admin/login?next=%2Fadmin%2Fkeys"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	hs.send("GET", "/admin/login", nil, "auth", "").must(t, 200)
	cookie, csrf := hs.login(t)
	for path, name := range pageNames {
		if _, ok := hs.h.pages.files[name+".js"]; !ok {
			t.Errorf("page %s has no script %s.js", path, name)
		}
		r := hs.send("GET", path+"/", nil, "auth", "", "Cookie", cookie).must(t, 200)
		if !strings.Contains(string(r.body), `<meta name="csrf" content="`+csrf+`">`) {
			t.Errorf("%s: page lacks the CSRF meta tag", path)
		}
		if !strings.Contains(r.header["Content-Security-Policy"], "script-src 'self'") {
			t.Errorf("%s: CSP = %q", path, r.header["Content-Security-Policy"])
		}
	}
	hs.send("GET", "/admin/nope", nil, "auth", "", "Cookie", cookie).must(t, 404)
	r = hs.send("GET", "/admin", nil, "auth", "").must(t, 303)
	if r.header["Location"] != "/admin/" {
		t.Errorf("/admin redirects to %q", r.header["Location"])
	}
}

func TestStaticAssets(t *testing.T) {
	hs := newHarness(t)
	for name := range hs.h.pages.files {
		r := hs.send("GET", "/admin/static/"+name+"?v="+hs.h.pages.version, nil, "auth", "").must(t, 200)
		if r.header["Content-Type"] == "" || !strings.Contains(r.header["Cache-Control"], "immutable") {
			t.Errorf("%s: type %q, cache %q", name, r.header["Content-Type"], r.header["Cache-Control"])
		}
	}
	for _, name := range []string{"nope.js", "../pages.go", "layout.html"} {
		hs.send("GET", "/admin/static/"+name, nil, "auth", "").must(t, 404)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "/admin/",
		"/admin/keys":         "/admin/keys",
		"/admin/usage?key=a":  "/admin/usage?key=a",
		"https://evil.com/":   "/admin/",
		"//evil.com/admin/":   "/admin/",
		"/admin//evil.com":    "/admin/",
		"/admin/api/backup":   "/admin/",
		"/admin/\r\nSet-X: 1": "/admin/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		args          []string
		ok            bool
	}{
		{"accounts", "accounts", nil, true},
		{"accounts/*", "accounts/a", []string{"a"}, true},
		{"accounts/*", "accounts/", nil, false},
		{"accounts/*/*", "accounts/a/test", []string{"a", "test"}, true},
		{"accounts/*", "accounts/a/test", nil, false},
		{"sessions/**", "sessions/a/b", []string{"a/b"}, true},
		{"sessions/**", "sessions/", nil, false},
	} {
		args, ok := match(c.pattern, c.path)
		if ok != c.ok || (ok && strings.Join(args, ",") != strings.Join(c.args, ",")) {
			t.Errorf("match(%q, %q) = %v %v, want %v %v", c.pattern, c.path, args, ok, c.args, c.ok)
		}
	}
}
