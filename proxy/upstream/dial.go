package upstream

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// egressTimeout bounds one dial: the TCP connect and, through a proxy, the
// TLS, CONNECT or SOCKS5 handshake, all under one deadline.
const egressTimeout = 10 * time.Second

// dialerFor returns a fasthttp dial function that reaches addr ("host:port")
// through the egress proxy at proxyURL; "" means a direct dial.
//
// The returned conn is the raw tunnel: fasthttp does TLS to the upstream on
// top of it. Errors name the proxy by scheme and address only, never by its
// credentials.
func dialerFor(proxyURL string) (fasthttp.DialFunc, error) {
	if proxyURL == "" {
		return dialDirect, nil
	}
	p, err := parseEgress(proxyURL)
	if err != nil {
		return nil, err
	}
	return p.dial, nil
}

func dialDirect(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: egressTimeout}
	return d.Dial("tcp", addr)
}

// egressProxy is a validated egress proxy URL.
type egressProxy struct {
	scheme  string // "http", "https" or "socks5" (socks5h folds into socks5)
	addr    string // proxy host:port
	host    string // proxy host: the TLS server name for https
	name    string // scheme://host:port, safe to put in errors
	hasAuth bool
	user    string
	pass    string
	timeout time.Duration
	// rootCAs verifies an https proxy; nil means the system roots. Only
	// tests set it: verification is never switched off.
	rootCAs *x509.CertPool
}

// parseEgress validates raw. Its errors never repeat the URL, since it may
// carry a password.
func parseEgress(raw string) (*egressProxy, error) {
	if !strings.Contains(raw, "://") {
		return nil, errors.New("proxy: egress proxy URL must look like scheme://[user:pass@]host:port")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, and its reason can quote a piece
		// of the userinfo, so the reason is kept only when there is none.
		var ue *url.Error
		if errors.As(err, &ue) && !strings.Contains(raw, "@") {
			return nil, fmt.Errorf("proxy: invalid egress proxy URL: %v", ue.Err)
		}
		return nil, errors.New("proxy: invalid egress proxy URL (is the password percent-encoded?)")
	}
	scheme, defPort := u.Scheme, ""
	switch scheme {
	case "http":
		defPort = "80"
	case "https":
		defPort = "443"
	case "socks5", "socks5h":
		scheme, defPort = "socks5", "1080"
	default:
		return nil, fmt.Errorf("proxy: scheme %q not supported (want http, https or socks5)", u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, errors.New("proxy: egress proxy URL has no host")
	}
	if port == "" {
		port = defPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("proxy: egress proxy URL has invalid port %q", port)
	}
	p := &egressProxy{
		scheme:  scheme,
		addr:    net.JoinHostPort(host, port),
		host:    host,
		timeout: egressTimeout,
	}
	p.name = scheme + "://" + p.addr
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("proxy: egress proxy URL %s must not have a path, query or fragment", p.name)
	}
	if u.User != nil {
		p.user = u.User.Username()
		p.pass, _ = u.User.Password()
		p.hasAuth = p.user != "" || p.pass != ""
	}
	if p.hasAuth && scheme == "socks5" && (p.user == "" || len(p.user) > 255 || len(p.pass) > 255) {
		return nil, fmt.Errorf("proxy: egress proxy %s: socks5 wants a username of 1-255 bytes and a password of at most 255", p.name)
	}
	return p, nil
}

func (p *egressProxy) errorf(format string, args ...any) error {
	return fmt.Errorf("proxy: egress proxy %s: "+format, append([]any{p.name}, args...)...)
}

// dial reaches addr through the proxy. One deadline covers the connect and
// the handshake; it is cleared once the tunnel is up.
func (p *egressProxy) dial(addr string) (net.Conn, error) {
	deadline := time.Now().Add(p.timeout)
	d := net.Dialer{Deadline: deadline}
	conn, err := d.Dial("tcp", p.addr)
	if err != nil {
		return nil, p.errorf("%w", err)
	}
	tunnel, err := p.handshake(conn, addr, deadline)
	if err == nil {
		err = tunnel.SetDeadline(time.Time{})
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return tunnel, nil
}

func (p *egressProxy) handshake(conn net.Conn, addr string, deadline time.Time) (net.Conn, error) {
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, p.errorf("%w", err)
	}
	switch p.scheme {
	case "socks5":
		return conn, p.socksConnect(conn, addr)
	case "https":
		tc := tls.Client(conn, &tls.Config{
			ServerName: p.host,
			MinVersion: tls.VersionTLS12,
			RootCAs:    p.rootCAs,
		})
		if err := tc.Handshake(); err != nil {
			return nil, p.errorf("tls: %w", err)
		}
		conn = tc
	}
	return p.httpConnect(conn, addr)
}

// httpConnect asks an HTTP proxy for a tunnel with CONNECT.
func (p *egressProxy) httpConnect(conn net.Conn, addr string) (net.Conn, error) {
	if strings.ContainsAny(addr, " \r\n") {
		return nil, p.errorf("invalid target address %q", addr)
	}
	req := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	if p.hasAuth {
		cred := base64.StdEncoding.EncodeToString([]byte(p.user + ":" + p.pass))
		req += "Proxy-Authorization: Basic " + cred + "\r\n"
	}
	req += "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, p.errorf("CONNECT %s: %w", addr, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, p.errorf("CONNECT %s: read reply: %w", addr, err)
	}
	// The body of a 2xx reply is the tunnel itself: leave it unread.
	if code := resp.StatusCode; code/100 != 2 {
		hint := ""
		if code == http.StatusProxyAuthRequired {
			hint = " (check the proxy credentials)"
		}
		return nil, p.errorf("CONNECT %s: proxy answered %d %s%s", addr, code, http.StatusText(code), hint)
	}
	if n := br.Buffered(); n > 0 {
		// Tunnel bytes that arrived with the reply must come out first.
		early, _ := br.Peek(n)
		return &prefixConn{Conn: conn, early: append([]byte(nil), early...)}, nil
	}
	return conn, nil
}

// prefixConn is a conn whose first reads return bytes that were buffered
// while reading the CONNECT reply.
type prefixConn struct {
	net.Conn
	early []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(b, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// SOCKS5 protocol constants (RFC 1928, RFC 1929).
const (
	socksVersion      = 0x05
	socksAuthNone     = 0x00
	socksAuthPassword = 0x02
	socksNoAcceptable = 0xff
	socksCmdConnect   = 0x01
	socksAddrIPv4     = 0x01
	socksAddrDomain   = 0x03
	socksAddrIPv6     = 0x04
	socksPassVersion  = 0x01
)

// socksConnect negotiates a method, authenticates when asked to and
// connects to addr. The proxy resolves hostnames (socks5 acts as socks5h),
// so the gateway's DNS never sees upstream names.
func (p *egressProxy) socksConnect(conn net.Conn, addr string) error {
	req, err := socksRequest(addr)
	if err != nil {
		return p.errorf("%w", err)
	}
	if err := p.socksAuth(conn); err != nil {
		return err
	}
	if _, err := conn.Write(req); err != nil {
		return p.errorf("socks5 connect %s: %w", addr, err)
	}
	var hdr [4]byte // VER REP RSV ATYP
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return p.errorf("socks5 connect %s: read reply: %w", addr, err)
	}
	if hdr[0] != socksVersion {
		return p.errorf("not a SOCKS5 proxy (reply version %d)", hdr[0])
	}
	if hdr[1] != 0 {
		return p.errorf("socks5 connect %s: %s", addr, socksReplyText(hdr[1]))
	}
	// Skip the bound address; nothing here needs it.
	var n int
	switch hdr[3] {
	case socksAddrIPv4:
		n = 4
	case socksAddrIPv6:
		n = 16
	case socksAddrDomain:
		var l [1]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return p.errorf("socks5 connect %s: read reply: %w", addr, err)
		}
		n = int(l[0])
	default:
		return p.errorf("socks5 connect %s: reply has unknown address type %d", addr, hdr[3])
	}
	if _, err := io.ReadFull(conn, make([]byte, n+2)); err != nil {
		return p.errorf("socks5 connect %s: read reply: %w", addr, err)
	}
	return nil
}

func (p *egressProxy) socksAuth(conn net.Conn) error {
	greeting := []byte{socksVersion, 1, socksAuthNone}
	if p.hasAuth {
		greeting = []byte{socksVersion, 2, socksAuthNone, socksAuthPassword}
	}
	if _, err := conn.Write(greeting); err != nil {
		return p.errorf("socks5 greeting: %w", err)
	}
	var reply [2]byte
	if _, err := io.ReadFull(conn, reply[:]); err != nil {
		return p.errorf("socks5 greeting: %w", err)
	}
	if reply[0] != socksVersion {
		return p.errorf("not a SOCKS5 proxy (greeting version %d)", reply[0])
	}
	switch m := reply[1]; {
	case m == socksAuthNone:
		return nil
	case m == socksAuthPassword && p.hasAuth:
		return p.socksPassword(conn)
	case m == socksNoAcceptable && !p.hasAuth:
		return p.errorf("socks5 proxy requires authentication; put user:pass in the proxy URL")
	case m == socksNoAcceptable:
		return p.errorf("socks5 proxy accepted none of the offered auth methods")
	default:
		return p.errorf("socks5 proxy chose auth method %#x, which was not offered", m)
	}
}

// socksPassword is the RFC 1929 username/password sub-negotiation.
func (p *egressProxy) socksPassword(conn net.Conn) error {
	msg := make([]byte, 0, 3+len(p.user)+len(p.pass))
	msg = append(msg, socksPassVersion, byte(len(p.user)))
	msg = append(msg, p.user...)
	msg = append(msg, byte(len(p.pass)))
	msg = append(msg, p.pass...)
	if _, err := conn.Write(msg); err != nil {
		return p.errorf("socks5 auth: %w", err)
	}
	var reply [2]byte
	if _, err := io.ReadFull(conn, reply[:]); err != nil {
		return p.errorf("socks5 auth: %w", err)
	}
	if reply[1] != 0 {
		return p.errorf("socks5 proxy rejected the username or password")
	}
	return nil
}

// socksRequest builds the CONNECT request for addr: literal IPs as IPv4 or
// IPv6 addresses, anything else as a domain name.
func socksRequest(addr string) ([]byte, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("socks5 target %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("socks5 target %q: invalid port", addr)
	}
	req := []byte{socksVersion, socksCmdConnect, 0}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap().WithZone("")
		if ip.Is4() {
			req = append(req, socksAddrIPv4)
		} else {
			req = append(req, socksAddrIPv6)
		}
		req = append(req, ip.AsSlice()...)
	} else {
		if host == "" || len(host) > 255 {
			return nil, fmt.Errorf("socks5 target %q: host name must be 1-255 bytes", addr)
		}
		req = append(req, socksAddrDomain, byte(len(host)))
		req = append(req, host...)
	}
	return binary.BigEndian.AppendUint16(req, uint16(port)), nil
}

// socksReplyText names a SOCKS5 reply code (RFC 1928 section 6).
func socksReplyText(code byte) string {
	var s string
	switch code {
	case 0x01:
		s = "general SOCKS server failure"
	case 0x02:
		s = "connection not allowed by ruleset"
	case 0x03:
		s = "network unreachable"
	case 0x04:
		s = "host unreachable"
	case 0x05:
		s = "connection refused"
	case 0x06:
		s = "TTL expired"
	case 0x07:
		s = "command not supported"
	case 0x08:
		s = "address type not supported"
	default:
		s = "unknown error"
	}
	return fmt.Sprintf("%s (SOCKS reply %d)", s, code)
}
