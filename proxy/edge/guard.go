package edge

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// SmallBody is the body a request without a credential may send: enough
// for the admin login form, far too little to matter a thousand times.
const SmallBody = 4 << 10

// Config configures a Guard.
type Config struct {
	// Trust names the reverse proxies whose forwarding headers are
	// believed; nil believes nobody.
	Trust *Trust
	// MaxConnsPerIP bounds the connections one address (an IPv6 /64)
	// holds, and behind a trusted proxy the requests one forwarded client
	// has in flight. 0 turns both off.
	MaxConnsPerIP int
	// Admits reports whether request headers carry a credential that
	// earns the server's full body limit. It must be cheap (an in-memory
	// lookup) and safe for concurrent use. Nil admits nobody.
	Admits func(h *fasthttp.RequestHeader) bool
	Logger *slog.Logger
}

// Guard applies Config to one fasthttp.Server: wrap its listener with
// Listener and set HeaderReceived and ConnState to the Guard's methods;
// call Admit first thing in its handler.
type Guard struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	peers    map[netip.Addr]int      // open connections per untrusted peer bucket
	clients  map[netip.Addr]int      // requests in flight per forwarded client bucket
	serving  map[net.Conn]netip.Addr // a trusted proxy's connection → the client it serves
	lastWarn time.Time
}

// New returns a Guard.
func New(cfg Config) *Guard {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Guard{
		cfg:     cfg,
		log:     cfg.Logger,
		peers:   make(map[netip.Addr]int),
		clients: make(map[netip.Addr]int),
		serving: make(map[net.Conn]netip.Addr),
	}
}

// Trust is the Guard's Trust (possibly nil, which trusts nobody).
func (g *Guard) Trust() *Trust { return g.cfg.Trust }

// Admits reports whether h carries a credential (Config.Admits).
func (g *Guard) Admits(h *fasthttp.RequestHeader) bool {
	return g.cfg.Admits != nil && g.cfg.Admits(h)
}

// HeaderReceived is fasthttp's per-request hook, run after the headers and
// before the body is read: a request whose body may exceed SmallBody gets
// the server's limit only if its headers carry a credential. fasthttp
// allocates the declared Content-Length up front, so a stranger's 32 MiB
// declaration now fails at once with ErrBodyTooLarge, unread.
func (g *Guard) HeaderReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	cl := h.ContentLength() // -1 chunked, -2 no body
	if cl == -2 || (cl >= 0 && cl <= SmallBody) || g.Admits(h) {
		return fasthttp.RequestConfig{} // the server's own limit
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: SmallBody}
}

// Stranger reports whether a request whose body was too large was refused
// for want of a credential (answer 401) rather than for its size (413).
// Call it from the server's ErrorHandler on fasthttp.ErrBodyTooLarge.
func (g *Guard) Stranger(h *fasthttp.RequestHeader) bool { return !g.Admits(h) }

// Listener counts the connections ln accepts per peer and closes, at
// accept, those of a peer that already holds MaxConnsPerIP.
func (g *Guard) Listener(ln net.Listener) net.Listener {
	if g.cfg.MaxConnsPerIP <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, g: g}
}

type limitListener struct {
	net.Listener
	g *Guard
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.g.connOpened(c) {
			return c, nil
		}
		refuseConn(c)
	}
}

// counted is the bucket a connection counts against, if it counts.
func (g *Guard) counted(c net.Conn) (netip.Addr, bool) {
	if g.cfg.MaxConnsPerIP <= 0 {
		return netip.Addr{}, false
	}
	a := AddrOf(c.RemoteAddr())
	if !a.IsValid() || g.cfg.Trust.Trusts(a) {
		return netip.Addr{}, false
	}
	return Bucket(a), true
}

// connOpened counts c, or reports false when its peer is at the limit.
func (g *Guard) connOpened(c net.Conn) bool {
	b, ok := g.counted(c)
	if !ok {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.peers[b]; n >= g.cfg.MaxConnsPerIP {
		g.warn("connection refused: too many from one address", b)
		return false
	}
	g.peers[b]++
	return true
}

// warn logs a refusal at most once a minute; g.mu is held.
func (g *Guard) warn(msg string, b netip.Addr) {
	if now := time.Now(); now.Sub(g.lastWarn) >= time.Minute {
		g.lastWarn = now
		g.log.Warn(msg, "ip", b.String(), "max_conns_per_ip", g.cfg.MaxConnsPerIP,
			"hint", "behind a reverse proxy, set server.trusted_proxies")
	}
}

// refuseConn answers a refused plain connection with a 429 and closes it.
// A TLS connection is closed silently: answering would cost a handshake
// on the accept loop.
var refusal = func() []byte {
	body := `{"type":"error","error":{"type":"rate_limit_error","message":"too many connections from your address"}}`
	return []byte("HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

func refuseConn(c net.Conn) {
	if _, isTLS := c.(*tls.Conn); !isTLS {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(refusal)
	}
	_ = c.Close()
}

// ConnState is fasthttp's connection hook: it uncounts a closed
// connection and ends the request a trusted proxy's connection was
// serving once its reply is written (idle) or the connection closes.
func (g *Guard) ConnState(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateIdle:
		if g.forwarding() {
			g.leave(c)
		}
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		if g.forwarding() {
			g.leave(c)
		}
		if b, ok := g.counted(c); ok {
			g.mu.Lock()
			if g.peers[b]--; g.peers[b] <= 0 {
				delete(g.peers, b)
			}
			g.mu.Unlock()
		}
	}
}

// forwarding reports whether forwarded clients are limited at all.
func (g *Guard) forwarding() bool { return g.cfg.MaxConnsPerIP > 0 && !g.cfg.Trust.Empty() }

// Admit runs first in the handler. It makes the request's RemoteAddr the
// client's address (Trust.Resolve) and, when the request comes through a
// trusted proxy, counts it against its client's in-flight limit until
// the reply is written. It reports false when the client is over the
// limit: answer 429.
func (g *Guard) Admit(ctx *fasthttp.RequestCtx) bool {
	if g.cfg.Trust.Empty() {
		return true
	}
	peer := Peer(ctx)
	if !g.cfg.Trust.Trusts(peer) {
		return true
	}
	client := g.cfg.Trust.Resolve(ctx)
	if !g.forwarding() || ctx.Conn() == nil {
		return true
	}
	return g.enter(ctx.Conn(), Bucket(client))
}

func (g *Guard) enter(c net.Conn, b netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leaveLocked(c) // a pipelined request whose predecessor was not yet marked idle
	if g.clients[b] >= g.cfg.MaxConnsPerIP {
		g.warn("request refused: too many in flight from one forwarded client", b)
		return false
	}
	g.clients[b]++
	g.serving[c] = b
	return true
}

func (g *Guard) leave(c net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leaveLocked(c)
}

func (g *Guard) leaveLocked(c net.Conn) {
	b, ok := g.serving[c]
	if !ok {
		return
	}
	delete(g.serving, c)
	if g.clients[b]--; g.clients[b] <= 0 {
		delete(g.clients, b)
	}
}

// Stats is a snapshot of the Guard's tables, for tests and debugging.
type Stats struct {
	Peers   int // peer buckets holding connections
	Conns   int // connections counted
	Clients int // forwarded clients with requests in flight
}

// Stats returns the current counts.
func (g *Guard) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := Stats{Peers: len(g.peers), Clients: len(g.clients)}
	for _, n := range g.peers {
		st.Conns += n
	}
	return st
}
