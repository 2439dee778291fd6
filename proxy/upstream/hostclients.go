package upstream

import (
	"bytes"
	"fmt"
	"maps"

	"github.com/valyala/fasthttp"
)

// Every request looks up its clients twice: the pair for its account's
// egress proxy, and the buffered client's connection pool for the
// upstream host. fasthttp.Client does the second under an RWMutex and
// bumps a per-host counter, and Clients.For did the first under a mutex:
// four to six writes to cache lines every core shares, per request. Both
// maps are now immutable snapshots behind atomic pointers, read with one
// load and replaced, under Clients.mu, when a new proxy or host first
// appears.

// hostClients are one buffered client's pools, by host, like fasthttp's.
type hostClients struct {
	plain, tls map[string]*fasthttp.HostClient
}

// hostClient returns the pool that c.Do would use for req's host.
func (u *Clients) hostClient(c *fasthttp.Client, req *fasthttp.Request) (*fasthttp.HostClient, error) {
	uri := req.URI()
	host := uri.Host()
	var isTLS bool
	switch string(uri.Scheme()) {
	case "https":
		isTLS = true
	case "http":
	default:
		return nil, fmt.Errorf("unsupported protocol %q: http and https are supported", uri.Scheme())
	}
	if len(host) == 0 || bytes.IndexByte(host, ',') >= 0 {
		return nil, fmt.Errorf("invalid upstream host %q", host)
	}
	if hs := (*u.hosts.Load())[c]; hs != nil {
		m := hs.plain
		if isTLS {
			m = hs.tls
		}
		if hc := m[string(host)]; hc != nil {
			return hc, nil
		}
	}
	return u.addHostClient(c, string(host), isTLS), nil
}

func (u *Clients) addHostClient(c *fasthttp.Client, host string, isTLS bool) *fasthttp.HostClient {
	u.mu.Lock()
	defer u.mu.Unlock()
	all := *u.hosts.Load()
	var hs hostClients
	if old := all[c]; old != nil {
		hs = *old
	}
	m := &hs.plain
	if isTLS {
		m = &hs.tls
	}
	if hc := (*m)[host]; hc != nil {
		return hc // added while this call waited for the lock
	}
	hc := newHostClient(c, host, isTLS)
	*m = maps.Clone(*m)
	if *m == nil {
		*m = make(map[string]*fasthttp.HostClient)
	}
	(*m)[host] = hc
	next := maps.Clone(all)
	next[c] = &hs
	u.hosts.Store(&next)
	return hc
}

// newHostClient is the HostClient that fasthttp.Client would make for
// host, with c's settings.
func newHostClient(c *fasthttp.Client, host string, isTLS bool) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          fasthttp.AddMissingPort(host, isTLS),
		Transport:                     c.Transport,
		Name:                          c.Name,
		NoDefaultUserAgentHeader:      c.NoDefaultUserAgentHeader,
		Dial:                          c.Dial,
		DialTimeout:                   c.DialTimeout,
		DialDualStack:                 c.DialDualStack,
		IsTLS:                         isTLS,
		TLSConfig:                     c.TLSConfig,
		MaxConns:                      c.MaxConnsPerHost,
		MaxIdleConnDuration:           c.MaxIdleConnDuration,
		MaxConnDuration:               c.MaxConnDuration,
		MaxIdemponentCallAttempts:     c.MaxIdemponentCallAttempts,
		ReadBufferSize:                c.ReadBufferSize,
		WriteBufferSize:               c.WriteBufferSize,
		ReadTimeout:                   c.ReadTimeout,
		WriteTimeout:                  c.WriteTimeout,
		MaxResponseBodySize:           c.MaxResponseBodySize,
		DisableHeaderNamesNormalizing: c.DisableHeaderNamesNormalizing,
		DisablePathNormalizing:        c.DisablePathNormalizing,
		MaxConnWaitTimeout:            c.MaxConnWaitTimeout,
		RetryIf:                       c.RetryIf,
		RetryIfErr:                    c.RetryIfErr,
		RetryIfErrUpstream:            c.RetryIfErrUpstream,
		ConnPoolStrategy:              c.ConnPoolStrategy,
		StreamResponseBody:            c.StreamResponseBody,
	}
}
