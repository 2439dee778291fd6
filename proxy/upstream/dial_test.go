package upstream

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The fake upstream name "example.com" is in httptest's certificate, so
// fasthttp can verify TLS through a tunnel. The test proxies map it to a
// loopback server and refuse every other name: nothing leaves the machine.
const tunnelHost = "example.com"

const proxyPassword = "s3cret-p@ss"

func TestDialerForDirect(t *testing.T) {
	target := startHelloTarget(t)
	d, err := dialerFor("")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := getVia(t, d, target.URL+"/direct", nil), "hello /direct"; got != want {
		t.Fatalf("body = %q, want %q", got, want)
	}
}

func TestDialerForUnsupportedScheme(t *testing.T) {
	_, err := dialerFor("ftp://proxy.example:21")
	if err == nil {
		t.Fatal("dialerFor(ftp) succeeded")
	}
	if got, want := err.Error(), `proxy: scheme "ftp" not supported (want http, https or socks5)`; got != want {
		t.Fatalf("err = %q, want %q", got, want)
	}
}

func TestHTTPConnect(t *testing.T) {
	target := startHelloTarget(t)
	tlsTarget := httptest.NewTLSServer(echoPathHandler())
	t.Cleanup(tlsTarget.Close)
	hosts := map[string]string{
		tunnelHost + ":80":  target.Listener.Addr().String(),
		tunnelHost + ":443": tlsTarget.Listener.Addr().String(),
	}
	open := startConnectProxy(t, &connectProxy{hosts: hosts}, nil)
	locked := startConnectProxy(t, &connectProxy{hosts: hosts, user: "alice", pass: proxyPassword}, nil)
	userinfo := "alice:" + escapeUserinfo(proxyPassword) + "@"
	upstreamTLS := &tls.Config{RootCAs: poolOf(tlsTarget.Certificate())}

	tests := []struct {
		name, proxy, url string
	}{
		{"ip target", "http://" + open, target.URL + "/ip"},
		{"host target", "http://" + open, "http://" + tunnelHost + "/host"},
		{"tls upstream", "http://" + open, "https://" + tunnelHost + "/tls"},
		{"credentials", "http://" + userinfo + locked, "http://" + tunnelHost + "/auth"},
		{"credentials tls upstream", "http://" + userinfo + locked, "https://" + tunnelHost + "/auth-tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := dialerFor(tt.proxy)
			if err != nil {
				t.Fatal(err)
			}
			path := tt.url[strings.LastIndex(tt.url, "/"):]
			if got, want := getVia(t, d, tt.url, upstreamTLS), "hello "+path; got != want {
				t.Fatalf("body = %q, want %q", got, want)
			}
		})
	}
}

func TestHTTPConnectRefused(t *testing.T) {
	locked := startConnectProxy(t, &connectProxy{user: "alice", pass: proxyPassword}, nil)
	always407 := startConnectProxy(t, &connectProxy{status: http.StatusProxyAuthRequired}, nil)
	forbidden := startConnectProxy(t, &connectProxy{status: http.StatusForbidden}, nil)

	tests := []struct {
		name, proxy, want string
	}{
		{"wrong password", "http://alice:" + proxyPassword + "x@" + locked, "407"},
		{"no credentials", "http://" + locked, "407"},
		{"proxy answers 407", "http://alice:" + proxyPassword + "@" + always407, "407 Proxy Authentication Required"},
		{"proxy answers 403", "http://" + forbidden, "403 Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := dialerFor(tt.proxy)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := d(tunnelHost + ":80")
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), proxyPassword) {
				t.Fatalf("err = %q leaks the password", err)
			}
		})
	}
}

func TestHTTPSProxy(t *testing.T) {
	target := startHelloTarget(t)
	cert, pool := borrowTestCert(t)
	hosts := map[string]string{tunnelHost + ":80": target.Listener.Addr().String()}
	addr := startConnectProxy(t, &connectProxy{hosts: hosts, user: "bob", pass: proxyPassword},
		&tls.Config{Certificates: []tls.Certificate{cert}})
	proxyURL := "https://bob:" + escapeUserinfo(proxyPassword) + "@" + addr

	t.Run("trusted", func(t *testing.T) {
		p, err := parseEgress(proxyURL)
		if err != nil {
			t.Fatal(err)
		}
		p.rootCAs = pool
		if got, want := getVia(t, p.dial, "http://"+tunnelHost+"/via-tls", nil), "hello /via-tls"; got != want {
			t.Fatalf("body = %q, want %q", got, want)
		}
	})
	t.Run("verification on", func(t *testing.T) {
		d, err := dialerFor(proxyURL)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := d(tunnelHost + ":80")
		if err == nil {
			conn.Close()
			t.Fatal("dial through a proxy with an untrusted certificate succeeded")
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("err = %v, want an unknown authority error", err)
		}
		if strings.Contains(err.Error(), proxyPassword) {
			t.Fatalf("err = %q leaks the password", err)
		}
	})
}

func TestHTTPConnectEarlyBytesAndDeadline(t *testing.T) {
	// A proxy that reports the request head it got, sends tunnel bytes in
	// the same write as its reply, then echoes.
	ln := listenLocal(t)
	heads := make(chan string, 1)
	serveEach(t, ln, func(c net.Conn) {
		tr := textproto.NewReader(bufio.NewReader(c))
		line, err := tr.ReadLine()
		if err != nil {
			return
		}
		hdr, err := tr.ReadMIMEHeader()
		if err != nil {
			return
		}
		heads <- line + " | Host: " + hdr.Get("Host") + " | auth: " + hdr.Get("Proxy-Authorization")
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\nearly")
		io.Copy(c, tr.R)
	})
	p, err := parseEgress("http://u:pw@" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p.timeout = 100 * time.Millisecond
	conn, err := p.dial(tunnelHost + ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wantHead := "CONNECT " + tunnelHost + ":80 HTTP/1.1 | Host: " + tunnelHost + ":80 | auth: Basic " +
		base64.StdEncoding.EncodeToString([]byte("u:pw"))
	if got := <-heads; got != wantHead {
		t.Fatalf("request head = %q, want %q", got, wantHead)
	}
	if got, want := readExactly(t, conn, 5), "early"; got != want {
		t.Fatalf("first bytes = %q, want %q", got, want)
	}
	time.Sleep(3 * p.timeout) // the handshake deadline must be gone
	if _, err := io.WriteString(conn, "ping"); err != nil {
		t.Fatal(err)
	}
	if got, want := readExactly(t, conn, 4), "ping"; got != want {
		t.Fatalf("echo = %q, want %q", got, want)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	for _, scheme := range []string{"http", "socks5"} {
		t.Run(scheme, func(t *testing.T) {
			ln := listenLocal(t)
			serveEach(t, ln, func(c net.Conn) { io.Copy(io.Discard, c) }) // never answers
			p, err := parseEgress(scheme + "://" + ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			p.timeout = 100 * time.Millisecond
			start := time.Now()
			conn, err := p.dial(tunnelHost + ":80")
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded")
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("err = %v, want a deadline error", err)
			}
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Fatalf("dial took %v", elapsed)
			}
		})
	}
}

func TestSOCKS5(t *testing.T) {
	target := startHelloTarget(t)
	tlsTarget := httptest.NewTLSServer(echoPathHandler())
	t.Cleanup(tlsTarget.Close)
	hosts := map[string]string{
		tunnelHost + ":80":  target.Listener.Addr().String(),
		tunnelHost + ":443": tlsTarget.Listener.Addr().String(),
	}
	open := &socksServer{hosts: hosts}
	openAddr := startSOCKS(t, open)
	locked := &socksServer{hosts: hosts, user: "carol", pass: proxyPassword}
	lockedAddr := startSOCKS(t, locked)
	userinfo := "carol:" + escapeUserinfo(proxyPassword) + "@"
	upstreamTLS := &tls.Config{RootCAs: poolOf(tlsTarget.Certificate())}
	targetIP := target.Listener.Addr().(*net.TCPAddr).IP.String()

	tests := []struct {
		name, proxy, url string
		srv              *socksServer
		wantType         byte
		wantHost         string
	}{
		{"ip target", "socks5://" + openAddr, target.URL + "/ip", open, socksAddrIPv4, targetIP},
		{"host target", "socks5://" + openAddr, "http://" + tunnelHost + "/host", open, socksAddrDomain, tunnelHost},
		{"socks5h", "socks5h://" + openAddr, "http://" + tunnelHost + "/h", open, socksAddrDomain, tunnelHost},
		{"tls upstream", "socks5://" + openAddr, "https://" + tunnelHost + "/tls", open, socksAddrDomain, tunnelHost},
		{"credentials", "socks5://" + userinfo + lockedAddr, "http://" + tunnelHost + "/auth", locked, socksAddrDomain, tunnelHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := dialerFor(tt.proxy)
			if err != nil {
				t.Fatal(err)
			}
			path := tt.url[strings.LastIndex(tt.url, "/"):]
			if got, want := getVia(t, d, tt.url, upstreamTLS), "hello "+path; got != want {
				t.Fatalf("body = %q, want %q", got, want)
			}
			typ, host := tt.srv.lastTarget()
			if typ != tt.wantType || host != tt.wantHost {
				t.Fatalf("proxy saw address type %d host %q, want %d %q", typ, host, tt.wantType, tt.wantHost)
			}
		})
	}
}

func TestSOCKS5Errors(t *testing.T) {
	openAddr := startSOCKS(t, &socksServer{})
	lockedAddr := startSOCKS(t, &socksServer{user: "carol", pass: proxyPassword})

	tests := []struct {
		name, proxy, target, want string
	}{
		{"wrong password", "socks5://carol:" + proxyPassword + "x@" + lockedAddr, tunnelHost + ":80", "rejected the username or password"},
		{"no credentials", "socks5://" + lockedAddr, tunnelHost + ":80", "requires authentication"},
		{"host unreachable", "socks5://" + openAddr, "nowhere.invalid:80", "host unreachable (SOCKS reply 4)"},
		{"connection refused", "socks5://" + openAddr, refusedAddr(t), "connection refused (SOCKS reply 5)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := dialerFor(tt.proxy)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := d(tt.target)
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), proxyPassword) {
				t.Fatalf("err = %q leaks the password", err)
			}
		})
	}
}

func TestSOCKSRequest(t *testing.T) {
	tests := []struct {
		addr    string
		want    []byte
		wantErr string
	}{
		{"10.1.2.3:443", []byte{5, 1, 0, 1, 10, 1, 2, 3, 0x01, 0xbb}, ""},
		{"[::ffff:10.1.2.3]:80", []byte{5, 1, 0, 1, 10, 1, 2, 3, 0, 80}, ""},
		{"[2001:db8::1]:443", append(append([]byte{5, 1, 0, 4}, netip.MustParseAddr("2001:db8::1").AsSlice()...), 0x01, 0xbb), ""},
		{"api.example.com:443", append(append([]byte{5, 1, 0, 3, 15}, "api.example.com"...), 0x01, 0xbb), ""},
		{"api.example.com", nil, "missing port"},
		{"api.example.com:https", nil, "invalid port"},
		{"api.example.com:0", nil, "invalid port"},
		{":443", nil, "1-255 bytes"},
		{strings.Repeat("a", 256) + ":443", nil, "1-255 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := socksRequest(tt.addr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("request = %x, want %x", got, tt.want)
			}
		})
	}
}

func TestParseEgress(t *testing.T) {
	tests := []struct {
		raw      string
		scheme   string // want, when valid
		addr     string
		hasAuth  bool
		wantErr  string // substring, when invalid
		user     string
		password string
	}{
		{raw: "http://proxy.example:3128", scheme: "http", addr: "proxy.example:3128"},
		{raw: "http://proxy.example:3128/", scheme: "http", addr: "proxy.example:3128"},
		{raw: "http://proxy.example", scheme: "http", addr: "proxy.example:80"},
		{raw: "https://proxy.example", scheme: "https", addr: "proxy.example:443"},
		{raw: "HTTPS://proxy.example:8443", scheme: "https", addr: "proxy.example:8443"},
		{raw: "socks5://proxy.example", scheme: "socks5", addr: "proxy.example:1080"},
		{raw: "socks5h://proxy.example:1081", scheme: "socks5", addr: "proxy.example:1081"},
		{raw: "http://[::1]:3128", scheme: "http", addr: "[::1]:3128"},
		{raw: "http://u:s3cret@proxy.example:3128", scheme: "http", addr: "proxy.example:3128", hasAuth: true, user: "u", password: "s3cret"},
		{raw: "http://u:s3cr%40t@proxy.example:3128", scheme: "http", addr: "proxy.example:3128", hasAuth: true, user: "u", password: "s3cr@t"},
		{raw: "http://u@proxy.example:3128", scheme: "http", addr: "proxy.example:3128", hasAuth: true, user: "u"},
		{raw: "socks5://u:s3cret@proxy.example", scheme: "socks5", addr: "proxy.example:1080", hasAuth: true, user: "u", password: "s3cret"},
		{raw: "http://@proxy.example:3128", scheme: "http", addr: "proxy.example:3128"},

		{raw: "ftp://proxy.example:21", wantErr: `scheme "ftp" not supported`},
		{raw: "socks4://proxy.example:1080", wantErr: `scheme "socks4" not supported`},
		{raw: "proxy.example:3128", wantErr: "must look like scheme://"},
		{raw: "127.0.0.1:3128", wantErr: "must look like scheme://"},
		{raw: "http://", wantErr: "no host"},
		{raw: "http://:3128", wantErr: "no host"},
		{raw: "http://proxy.example:0", wantErr: "invalid port"},
		{raw: "http://proxy.example:99999", wantErr: "invalid port"},
		{raw: "http://proxy.example:abc", wantErr: "invalid egress proxy URL"},
		{raw: "http://proxy.example:3128/path", wantErr: "must not have a path"},
		{raw: "http://proxy.example:3128?x=1", wantErr: "must not have a path"},
		{raw: "http://u:s3cret@proxy.example:abc", wantErr: "invalid egress proxy URL"},
		{raw: "http://u:s3/cret@proxy.example:3128", wantErr: "invalid egress proxy URL"},
		{raw: "http://u:s3%zzcret@proxy.example:3128", wantErr: "invalid egress proxy URL"},
		{raw: "socks5://:s3cret@proxy.example", wantErr: "username of 1-255 bytes"},
		{raw: "socks5://" + strings.Repeat("u", 256) + ":s3cret@proxy.example", wantErr: "username of 1-255 bytes"},
		{raw: "socks5://u:s3cret" + strings.Repeat("x", 250) + "@proxy.example", wantErr: "password of at most 255"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			p, err := parseEgress(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3") {
					t.Fatalf("err = %q leaks the password", err)
				}
				if _, derr := dialerFor(tt.raw); derr == nil {
					t.Fatal("dialerFor accepted what parseEgress rejects")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.scheme != tt.scheme || p.addr != tt.addr || p.hasAuth != tt.hasAuth || p.user != tt.user || p.pass != tt.password {
				t.Fatalf("got scheme %q addr %q auth %v user %q pass %q, want %q %q %v %q %q",
					p.scheme, p.addr, p.hasAuth, p.user, p.pass, tt.scheme, tt.addr, tt.hasAuth, tt.user, tt.password)
			}
			if strings.Contains(p.name, "s3cret") || strings.Contains(p.name, "@") {
				t.Fatalf("name %q carries the userinfo", p.name)
			}
		})
	}
}

// --- helpers ---

func echoPathHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path)
	})
}

func startHelloTarget(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(echoPathHandler())
	t.Cleanup(s.Close)
	return s
}

// getVia does a GET with a fasthttp client that dials with d and returns
// the body of a 200 reply.
func getVia(t *testing.T, d fasthttp.DialFunc, url string, tlsCfg *tls.Config) string {
	t.Helper()
	c := &fasthttp.Client{Dial: d, TLSConfig: tlsCfg, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	if err := c.Do(req, resp); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if got, want := resp.StatusCode(), http.StatusOK; got != want {
		t.Fatalf("GET %s: status = %d, want %d", url, got, want)
	}
	return string(resp.Body())
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// refusedAddr returns a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln := listenLocal(t)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func readExactly(t *testing.T, r io.Reader, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func escapeUserinfo(s string) string {
	return strings.NewReplacer("@", "%40", ":", "%3A", "/", "%2F").Replace(s)
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

// borrowTestCert borrows httptest's certificate (valid for 127.0.0.1) for a TLS
// proxy, with a pool that trusts it.
func borrowTestCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	s := httptest.NewUnstartedServer(http.NotFoundHandler())
	s.StartTLS()
	defer s.Close()
	return s.TLS.Certificates[0], poolOf(s.Certificate())
}

// serveEach runs handle for every conn accepted on ln until the test ends,
// then closes the listener and the conns and waits for the handlers.
func serveEach(t *testing.T, ln net.Listener, handle func(net.Conn)) {
	var (
		mu     sync.Mutex
		closed bool
		conns  = map[net.Conn]struct{}{}
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = struct{}{}
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// relay copies between the client (read through r, which may hold buffered
// bytes) and the upstream until either side ends.
func pipeConns(client net.Conn, r io.Reader, upstream net.Conn) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(upstream, r); done <- struct{}{} }()
	go func() { io.Copy(client, upstream); done <- struct{}{} }()
	<-done
	client.Close()
	upstream.Close()
	<-done
}

// loopbackTarget maps a requested host:port to a loopback address: names
// through hosts, loopback IPs as they are. Anything else is refused.
func loopbackTarget(hosts map[string]string, hostport string) (string, bool) {
	if a, ok := hosts[hostport]; ok {
		return a, true
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", false
	}
	ip, err := netip.ParseAddr(host)
	return hostport, err == nil && ip.IsLoopback()
}

// connectProxy is a minimal HTTP CONNECT proxy.
type connectProxy struct {
	hosts      map[string]string
	user, pass string // required credentials, none when user is ""
	status     int    // when set, every CONNECT gets this status
}

func startConnectProxy(t *testing.T, cp *connectProxy, tlsCfg *tls.Config) string {
	t.Helper()
	ln := listenLocal(t)
	addr := ln.Addr().String()
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	serveEach(t, ln, cp.handle)
	return addr
}

func (cp *connectProxy) handle(c net.Conn) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	reply := func(code int) {
		fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n", code, http.StatusText(code))
	}
	if req.Method != http.MethodConnect || req.RequestURI != req.Host {
		reply(http.StatusBadRequest)
		return
	}
	if cp.status != 0 {
		reply(cp.status)
		return
	}
	if cp.user != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(cp.user+":"+cp.pass))
		if req.Header.Get("Proxy-Authorization") != want {
			reply(http.StatusProxyAuthRequired)
			return
		}
	}
	target, ok := loopbackTarget(cp.hosts, req.Host)
	if !ok {
		reply(http.StatusBadGateway)
		return
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		reply(http.StatusBadGateway)
		return
	}
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	pipeConns(c, br, up)
}

// socksServer is a minimal SOCKS5 server (RFC 1928, RFC 1929) that
// remembers the last address it was asked for.
type socksServer struct {
	hosts      map[string]string
	user, pass string // required credentials, none when user is ""

	mu       sync.Mutex
	lastType byte
	lastHost string
}

func startSOCKS(t *testing.T, s *socksServer) string {
	t.Helper()
	ln := listenLocal(t)
	serveEach(t, ln, s.handle)
	return ln.Addr().String()
}

func (s *socksServer) lastTarget() (byte, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastType, s.lastHost
}

func (s *socksServer) handle(c net.Conn) {
	if !s.negotiate(c) {
		return
	}
	var hdr [4]byte // VER CMD RSV ATYP
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 || hdr[1] != 1 {
		return
	}
	var host string
	switch hdr[3] {
	case socksAddrIPv4, socksAddrIPv6:
		b := make([]byte, 4)
		if hdr[3] == socksAddrIPv6 {
			b = make([]byte, 16)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		ip, _ := netip.AddrFromSlice(b)
		host = ip.String()
	case socksAddrDomain:
		var l [1]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		b := make([]byte, l[0])
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		host = string(b)
	default:
		return
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return
	}
	s.mu.Lock()
	s.lastType, s.lastHost = hdr[3], host
	s.mu.Unlock()

	reply := func(code byte) { c.Write([]byte{5, code, 0, 1, 127, 0, 0, 1, 0, 0}) }
	hostport := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:]))))
	target, ok := loopbackTarget(s.hosts, hostport)
	if !ok {
		reply(4) // host unreachable
		return
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		reply(5) // connection refused
		return
	}
	reply(0)
	pipeConns(c, c, up)
}

// negotiate runs the greeting and, when credentials are required, the
// username/password sub-negotiation.
func (s *socksServer) negotiate(c net.Conn) bool {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 {
		return false
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return false
	}
	want := byte(socksAuthNone)
	if s.user != "" {
		want = socksAuthPassword
	}
	if !bytes.Contains(methods, []byte{want}) {
		c.Write([]byte{5, 0xff})
		return false
	}
	c.Write([]byte{5, want})
	if want == socksAuthNone {
		return true
	}
	field := func() string {
		var l [1]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return ""
		}
		b := make([]byte, l[0])
		if _, err := io.ReadFull(c, b); err != nil {
			return ""
		}
		return string(b)
	}
	var ver [1]byte
	if _, err := io.ReadFull(c, ver[:]); err != nil || ver[0] != 1 {
		return false
	}
	user, pass := field(), field()
	if user != s.user || pass != s.pass {
		c.Write([]byte{1, 1})
		return false
	}
	c.Write([]byte{1, 0})
	return true
}
