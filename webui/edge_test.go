package webui

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"

	"subgate/proxy/edge"
	"subgate/sched"
)

// loopback serves h on a real loopback port, as the admin server does,
// and returns its base URL.
func loopback(t *testing.T, h *Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h.Handler, ErrorHandler: h.ErrorHandler}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func newLoopbackHandler(t *testing.T, edit func(*Config)) *Handler {
	t.Helper()
	s, err := sched.New(sched.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cfg := Config{TokenHash: sha256.Sum256([]byte(testToken)), Sched: s}
	if edit != nil {
		edit(&cfg)
	}
	return New(cfg)
}

// postLogin sends the JSON login form with extra header pairs and
// returns the status and Set-Cookie.
func postLogin(t *testing.T, base, secret string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/admin/login", strings.NewReader(`{"secret":"`+secret+`"}`))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Set-Cookie")
}

// TestLoginAttemptsCountBeforeBcrypt: of 40 wrong passwords sent at once
// from one address, no more than the limit reach bcrypt; the rest are
// refused with 429 before it.
func TestLoginAttemptsCountBeforeBcrypt(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	h := newLoopbackHandler(t, func(c *Config) { c.PasswordHash = string(hash) })
	var calls atomic.Int32
	h.compare = func(hash, pw []byte) error {
		calls.Add(1)
		time.Sleep(50 * time.Millisecond) // bcrypt's real cost, at the default cost factor
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	base := loopback(t, h)
	var wg sync.WaitGroup
	var limited atomic.Int32
	start := make(chan struct{})
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", base+"/admin/login", strings.NewReader(`{"secret":"wrong"}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 429 {
				limited.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got, want := calls.Load(), int32(loginAttempts); got > want {
		t.Errorf("%d of 40 parallel attempts reached bcrypt, want at most %d", got, want)
	}
	if got, want := limited.Load(), int32(40-loginAttempts); got < want {
		t.Errorf("%d attempts refused with 429, want at least %d", got, want)
	}
}

// TestLoginSuccessNotCounted: a successful login is forgiven, so an
// admin who logs in often is never locked out.
func TestLoginSuccessNotCounted(t *testing.T) {
	base := loopback(t, newLoopbackHandler(t, nil))
	for i := range 2 * loginAttempts {
		if status, _ := postLogin(t, base, testToken); status != 200 {
			t.Fatalf("login %d: status %d, want 200", i, status)
		}
	}
}

// TestLoginLimiterForwardedClient: behind a trusted proxy the limiter
// counts the forwarded client, so one client's failures do not lock out
// another; from an untrusted peer the header is ignored.
func TestLoginLimiterForwardedClient(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		h := newLoopbackHandler(t, func(c *Config) {
			if trusted {
				c.Trust, _ = edge.ParseTrust([]string{"127.0.0.1"})
			}
		})
		base := loopback(t, h)
		for i := range loginAttempts {
			if status, _ := postLogin(t, base, "wrong", "X-Forwarded-For", "203.0.113.7"); status != 401 {
				t.Fatalf("trusted=%v: failure %d: status %d, want 401", trusted, i, status)
			}
		}
		if status, _ := postLogin(t, base, "wrong", "X-Forwarded-For", "203.0.113.7"); status != 429 {
			t.Errorf("trusted=%v: same client over the limit: status %d, want 429", trusted, status)
		}
		want := 429 // an untrusted peer's header names nobody: it is the same peer
		if trusted {
			want = 200
		}
		if status, _ := postLogin(t, base, testToken, "X-Forwarded-For", "203.0.113.8"); status != want {
			t.Errorf("trusted=%v: another client: status %d, want %d", trusted, status, want)
		}
	}
}

// TestCookieSecureBehindProxy: the session cookie is Secure when a
// trusted proxy says the browser used HTTPS, or when the admin says so.
func TestCookieSecureBehindProxy(t *testing.T) {
	tests := []struct {
		name    string
		trust   []string
		always  bool
		proto   string
		secure  bool
		comment string
	}{
		{"plain http", nil, false, "", false, ""},
		{"untrusted proxy says https", nil, false, "https", false, "anyone can send the header"},
		{"trusted proxy says https", []string{"127.0.0.0/8"}, false, "https", true, ""},
		{"trusted proxy says http", []string{"127.0.0.0/8"}, false, "http", false, ""},
		{"cookie_secure", nil, true, "", true, ""},
	}
	for _, tt := range tests {
		h := newLoopbackHandler(t, func(c *Config) {
			c.Trust, _ = edge.ParseTrust(tt.trust)
			c.SecureCookies = tt.always
		})
		base := loopback(t, h)
		var hdr []string
		if tt.proto != "" {
			hdr = []string{"X-Forwarded-Proto", tt.proto}
		}
		status, cookie := postLogin(t, base, testToken, hdr...)
		if status != 200 || cookie == "" {
			t.Fatalf("%s: login %d, cookie %q", tt.name, status, cookie)
		}
		if got := strings.Contains(strings.ToLower(cookie), "; secure"); got != tt.secure {
			t.Errorf("%s: cookie %q Secure = %v, want %v %s", tt.name, cookie, got, tt.secure, tt.comment)
		}
	}
}

// TestAuthorizedFromHeaders: the header-only check a server runs before
// reading the body agrees with the API's own.
func TestAuthorizedFromHeaders(t *testing.T) {
	hs := newHarness(t)
	cookie, _ := hs.login(t)
	tests := []struct {
		name string
		hdr  []string
		want bool
	}{
		{"bearer token", []string{"Authorization", "Bearer " + testToken}, true},
		{"session cookie", []string{"Cookie", cookie}, true},
		{"nothing", nil, false},
		{"wrong token", []string{"Authorization", "Bearer nope"}, false},
		{"forged cookie", []string{"Cookie", cookieName + "=forged"}, false},
		{"wrong token beats a good cookie", []string{"Authorization", "Bearer nope", "Cookie", cookie}, false},
	}
	for _, tt := range tests {
		var h fasthttp.RequestHeader
		for i := 0; i+1 < len(tt.hdr); i += 2 {
			h.Set(tt.hdr[i], tt.hdr[i+1])
		}
		if got := hs.h.Authorized(&h); got != tt.want {
			t.Errorf("%s: Authorized = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestDownloadOutlastsWriteTimeout: the server's write timeout bounds a
// reply, but a backup that takes longer to produce and send while its
// client keeps reading is not cut: each write moves the deadline.
func TestDownloadOutlastsWriteTimeout(t *testing.T) {
	const chunk, chunks = 64 << 10, 40
	h := newLoopbackHandler(t, func(c *Config) {
		c.WriteTimeout = 300 * time.Millisecond
		c.Backup = func(w io.Writer) (int64, error) {
			var n int64
			for range chunks {
				time.Sleep(20 * time.Millisecond) // 800 ms in all: beyond the write timeout
				m, err := w.Write(bytes.Repeat([]byte("b"), chunk))
				n += int64(m)
				if err != nil {
					return n, err
				}
			}
			return n, nil
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h.Handler, WriteTimeout: 300 * time.Millisecond}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/admin/api/backup", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != chunk*chunks {
		t.Errorf("steady client got %d of %d bytes (%v): cut by the reply's write timeout", n, chunk*chunks, err)
	}
}
