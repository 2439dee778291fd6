package edge

import (
	"net"
	"net/netip"
	"testing"

	"github.com/valyala/fasthttp"
)

// reqFrom is a request arriving from peer with the given headers.
func reqFrom(peer string, hdr ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI("/v1/messages")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	ctx := &fasthttp.RequestCtx{}
	ap := netip.MustParseAddrPort(peer)
	ctx.Init(&req, net.TCPAddrFromAddrPort(ap), nil)
	return ctx
}

func TestParseTrust(t *testing.T) {
	tests := []struct {
		in      []string
		ok      bool
		trusted []string
		not     []string
	}{
		{nil, true, nil, []string{"127.0.0.1"}},
		{[]string{"127.0.0.1"}, true, []string{"127.0.0.1"}, []string{"127.0.0.2", "::1"}},
		{[]string{"10.0.0.0/8", "::1"}, true, []string{"10.200.0.1", "::1"}, []string{"11.0.0.1", "::2"}},
		{[]string{"10.1.2.3/8"}, true, []string{"10.9.9.9"}, nil}, // host bits are ignored
		{[]string{"::ffff:192.0.2.0/120"}, true, []string{"192.0.2.9"}, []string{"192.0.3.1"}},
		{[]string{"fd00::/8"}, true, []string{"fd12::1"}, []string{"fe80::1"}},
		{[]string{"localhost"}, false, nil, nil},
		{[]string{"10.0.0.0/33"}, false, nil, nil},
		{[]string{"fe80::1%eth0"}, false, nil, nil},
	}
	for _, tt := range tests {
		tr, err := ParseTrust(tt.in)
		if got := err == nil; got != tt.ok {
			t.Errorf("ParseTrust(%q) error = %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		for _, a := range tt.trusted {
			if !tr.Trusts(netip.MustParseAddr(a)) {
				t.Errorf("%q does not trust %s", tt.in, a)
			}
		}
		for _, a := range tt.not {
			if tr.Trusts(netip.MustParseAddr(a)) {
				t.Errorf("%q trusts %s", tt.in, a)
			}
		}
	}
}

func TestClient(t *testing.T) {
	tr, err := ParseTrust([]string{"127.0.0.1", "10.0.0.0/8", "2001:db8:f::/48"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer string
		hdr        []string
		want       string
	}{
		{"untrusted peer: headers ignored", "198.51.100.7:1000", []string{"X-Forwarded-For", "203.0.113.1", "X-Real-IP", "203.0.113.2"}, "198.51.100.7"},
		{"trusted, no headers", "127.0.0.1:1000", nil, "127.0.0.1"},
		{"one hop", "127.0.0.1:1000", []string{"X-Forwarded-For", "203.0.113.1"}, "203.0.113.1"},
		{"client-forged hops on the left", "127.0.0.1:1000", []string{"X-Forwarded-For", "1.1.1.1, 2.2.2.2, 203.0.113.1"}, "203.0.113.1"},
		{"trusted hops on the right skipped", "127.0.0.1:1000", []string{"X-Forwarded-For", "1.1.1.1, 203.0.113.1, 10.0.0.2, 10.9.9.9"}, "203.0.113.1"},
		{"every hop trusted: the left-most", "127.0.0.1:1000", []string{"X-Forwarded-For", "10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"repeated headers read as one list", "127.0.0.1:1000", []string{"X-Forwarded-For", "1.1.1.1", "X-Forwarded-For", "203.0.113.1, 10.0.0.2"}, "203.0.113.1"},
		{"ports and IPv6", "127.0.0.1:1000", []string{"X-Forwarded-For", "[2001:db8::5]:443, 203.0.113.9:80"}, "203.0.113.9"},
		{"IPv6 client", "[2001:db8:f::1]:1000", []string{"X-Forwarded-For", "2001:db8:1::5"}, "2001:db8:1::5"},
		{"mapped IPv4 peer", "[::ffff:127.0.0.1]:1000", []string{"X-Forwarded-For", "203.0.113.1"}, "203.0.113.1"},
		{"zone dropped", "127.0.0.1:1000", []string{"X-Forwarded-For", "fe80::1%eth0"}, "fe80::1"},
		{"garbage in the client's place: the proxy", "127.0.0.1:1000", []string{"X-Forwarded-For", "203.0.113.1, unknown"}, "127.0.0.1"},
		{"empty entries skipped", "127.0.0.1:1000", []string{"X-Forwarded-For", "203.0.113.1,, "}, "203.0.113.1"},
		{"X-Real-IP without XFF", "127.0.0.1:1000", []string{"X-Real-IP", "203.0.113.3"}, "203.0.113.3"},
		{"XFF wins over X-Real-IP", "127.0.0.1:1000", []string{"X-Real-IP", "203.0.113.3", "X-Forwarded-For", "203.0.113.4"}, "203.0.113.4"},
		{"bad X-Real-IP", "127.0.0.1:1000", []string{"X-Real-IP", "nope"}, "127.0.0.1"},
	}
	for _, tt := range tests {
		ctx := reqFrom(tt.peer, tt.hdr...)
		if got := tr.Client(ctx); got != netip.MustParseAddr(tt.want) {
			t.Errorf("%s: Client = %v, want %s", tt.name, got, tt.want)
		}
		// Resolve makes it the request's RemoteAddr, and only then.
		tr.Resolve(ctx)
		if got := AddrOf(ctx.RemoteAddr()); got != netip.MustParseAddr(tt.want) {
			t.Errorf("%s: RemoteAddr after Resolve = %v, want %s", tt.name, got, tt.want)
		}
	}
	var none *Trust
	if got := none.Client(reqFrom("127.0.0.1:1", "X-Forwarded-For", "203.0.113.1")); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("nil Trust: Client = %v, want the peer", got)
	}
}

func TestHTTPS(t *testing.T) {
	tr, _ := ParseTrust([]string{"127.0.0.1"})
	tests := []struct {
		peer, proto string
		want        bool
	}{
		{"127.0.0.1:1", "https", true},
		{"127.0.0.1:1", "HTTPS", true},
		{"127.0.0.1:1", "https, http", true},
		{"127.0.0.1:1", "http", false},
		{"127.0.0.1:1", "", false},
		{"198.51.100.7:1", "https", false},
	}
	for _, tt := range tests {
		var hdr []string
		if tt.proto != "" {
			hdr = []string{"X-Forwarded-Proto", tt.proto}
		}
		if got := tr.HTTPS(reqFrom(tt.peer, hdr...)); got != tt.want {
			t.Errorf("peer %s, X-Forwarded-Proto %q: HTTPS = %v, want %v", tt.peer, tt.proto, got, tt.want)
		}
	}
}

func TestBucket(t *testing.T) {
	tests := []struct{ in, want string }{
		{"203.0.113.1", "203.0.113.1"},
		{"::ffff:203.0.113.1", "203.0.113.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::"},
	}
	for _, tt := range tests {
		if got := Bucket(netip.MustParseAddr(tt.in)); got != netip.MustParseAddr(tt.want) {
			t.Errorf("Bucket(%s) = %v, want %s", tt.in, got, tt.want)
		}
	}
}
