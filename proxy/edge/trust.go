package edge

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// Trust is the set of reverse proxies whose forwarding headers are
// believed. The nil or empty Trust believes nobody.
type Trust struct {
	nets []netip.Prefix
}

// ParseTrust reads server.trusted_proxies: CIDR prefixes ("10.0.0.0/8") or
// single addresses ("192.0.2.7").
func ParseTrust(cidrs []string) (*Trust, error) {
	t := &Trust{}
	for _, s := range cidrs {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is neither a CIDR prefix nor an IP address", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		t.nets = append(t.nets, p.Masked())
	}
	return t, nil
}

// Empty reports whether t believes nobody.
func (t *Trust) Empty() bool { return t == nil || len(t.nets) == 0 }

// Trusts reports whether a is a trusted proxy.
func (t *Trust) Trusts(a netip.Addr) bool {
	if t == nil || !a.IsValid() {
		return false
	}
	for _, p := range t.nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Peer is the address at the other end of the request's connection (IPv4
// unmapped); invalid when the connection is not over IP (in-memory
// listeners).
func Peer(ctx *fasthttp.RequestCtx) netip.Addr {
	if c := ctx.Conn(); c != nil {
		return AddrOf(c.RemoteAddr())
	}
	return AddrOf(ctx.RemoteAddr())
}

// AddrOf is the IP address of a network address, unmapped and without a
// zone; invalid when it has none.
func AddrOf(na net.Addr) netip.Addr {
	var a netip.Addr
	switch v := na.(type) {
	case nil:
		return netip.Addr{}
	case *net.TCPAddr:
		a, _ = netip.AddrFromSlice(v.IP)
	case *net.UDPAddr:
		a, _ = netip.AddrFromSlice(v.IP)
	default:
		if ap, err := netip.ParseAddrPort(na.String()); err == nil {
			a = ap.Addr()
		}
	}
	return a.Unmap().WithZone("")
}

// Client is the request's client address: the peer, or, when the peer is
// a trusted proxy, the address its forwarding headers give. Headers that
// give none, or garbage where the client should be, leave the peer: a
// client that cannot be named is not believed to be anyone else.
func (t *Trust) Client(ctx *fasthttp.RequestCtx) netip.Addr {
	peer := Peer(ctx)
	if !t.Trusts(peer) {
		return peer
	}
	return t.forwarded(&ctx.Request.Header, peer)
}

// forwarded reads X-Forwarded-For from the right: every proxy appends the
// address it got the request from, so the right-most address that is not
// a trusted proxy is the client's, and everything left of it is what the
// client claimed. Without the header, X-Real-IP (one address, set by the
// proxy) is read.
func (t *Trust) forwarded(h *fasthttp.RequestHeader, peer netip.Addr) netip.Addr {
	values := h.PeekAll("X-Forwarded-For")
	if len(values) == 0 {
		if a, ok := parseHop(h.Peek("X-Real-IP")); ok {
			return a
		}
		return peer
	}
	last := peer // the left-most trusted hop so far
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for len(v) > 0 {
			var hop []byte
			if j := bytes.LastIndexByte(v, ','); j >= 0 {
				v, hop = v[:j], v[j+1:]
			} else {
				v, hop = nil, v
			}
			if len(bytes.TrimSpace(hop)) == 0 {
				continue
			}
			a, ok := parseHop(hop)
			if !ok {
				return peer
			}
			if !t.Trusts(a) {
				return a
			}
			last = a
		}
	}
	return last // every hop is a trusted proxy
}

// parseHop reads one forwarded address: "192.0.2.1", "2001:db8::1", or
// either with a port ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(b []byte) (netip.Addr, bool) {
	s := string(bytes.TrimSpace(b))
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// HTTPS reports whether the client reached us over TLS: this server's
// own, or a trusted proxy's that says so with X-Forwarded-Proto: https
// (its left-most value when proxies chained theirs).
func (t *Trust) HTTPS(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsTLS() {
		return true
	}
	if !t.Trusts(Peer(ctx)) {
		return false
	}
	v := ctx.Request.Header.Peek("X-Forwarded-Proto")
	if i := bytes.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return bytes.EqualFold(bytes.TrimSpace(v), []byte("https"))
}

// Resolve makes the request's RemoteAddr its client address, so that
// everything after it (allow lists, limiters, logs) reads the client, not
// the proxy. A peer that is not a trusted proxy costs nothing.
func (t *Trust) Resolve(ctx *fasthttp.RequestCtx) netip.Addr {
	peer := Peer(ctx)
	if !t.Trusts(peer) {
		return peer
	}
	client := t.forwarded(&ctx.Request.Header, peer)
	if client == peer {
		ctx.SetRemoteAddr(nil) // the connection's own, for a request that names no client
	} else {
		ctx.SetRemoteAddr(&net.TCPAddr{IP: client.AsSlice()})
	}
	return client
}

// Bucket is the unit a per-address limit counts: an IPv4 address, or the
// /64 an IPv6 address is in (one host usually holds a whole /64, so
// counting single IPv6 addresses would limit nobody).
func Bucket(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a.Unmap()
}
