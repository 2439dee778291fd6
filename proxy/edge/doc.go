// Package edge is what a subgate server shows a stranger: who the client
// is (the socket peer, or the address a trusted reverse proxy forwards),
// how many connections one address may hold, and how much of a request
// body is read before the request's credential is known. Both the gateway
// (proxy.Server) and the separate admin listener use it, so that one set
// of rules faces the internet.
//
// A Trust holds server.trusted_proxies. Only when a connection's peer is
// inside it are X-Forwarded-For (the right-most address not itself
// trusted), X-Real-IP and X-Forwarded-Proto believed; every other peer is
// its own client, whatever its headers say.
//
// A Guard applies the limits to a fasthttp.Server through three hooks:
//   - Listener: a connection from an address (an IPv6 /64) that already
//     holds MaxConnsPerIP connections is refused at accept, before fasthttp
//     spends a worker or a buffer on it. Trusted proxies are exempt: they
//     carry many clients.
//   - HeaderReceived: a request whose headers carry no credential (Admits)
//     may send at most SmallBody bytes of body. fasthttp allocates a body
//     buffer of the declared Content-Length before reading it, so this is
//     what keeps a stranger who declares 32 MiB from costing 32 MiB.
//   - Admit, at the top of the handler: resolves the client address (kept
//     as the request's RemoteAddr, so every later reader sees the client)
//     and, behind a trusted proxy, bounds the requests in flight per
//     forwarded client to MaxConnsPerIP, released when the reply is written
//     (ConnState).
//
// Besides the guard, the server's own connections (conns.go):
//   - LazyListener turns TCP keepalive on for every accepted connection
//     (a queued or silent Gemini stream carries no byte for minutes) and
//     applies fasthttp's read deadlines lazily: only when a read is about
//     to happen and the deadline in force is off by more than a slack.
//   - Conns is a ConnState hook that keeps the open connections, so that
//     a shutdown whose grace period ran out can close the ones fasthttp
//     leaves open.
//
// Invariants:
//   - Every connection the Listener counted is uncounted exactly once, when
//     fasthttp reports it closed; the per-client tables never hold an entry
//     at zero.
//   - No body byte of a request without a credential is buffered beyond
//     SmallBody.
//
// Caveats:
//   - A read timeout may fire up to LazySlack early or late (at most a
//     second).
//   - Admits sees only the request line and headers: a credential in the
//     body (the admin login form) is checked later, within SmallBody.
//   - A stranger still costs a connection's buffers (fasthttp's read buffer,
//     request context and goroutine: about 12 KB of RSS each, measured with
//     a thousand of them) until read_timeout; MaxConnsPerIP and max_conns
//     bound how many.
//   - Behind a proxy the limit counts requests, not connections, and only
//     those the proxy forwards; the proxy's own connection limits are the
//     first line.
//
// A Watcher notices clients that hang up while their request waits:
// fasthttp does not read a connection while its handler runs, so one
// goroutine peeks at every watched socket and cancels the request's
// context when the peer has gone. Its ownership rule is the one run reuse
// relies on: Remove reports a watch free only if the goroutine never
// collected it, since a collected watch may still be peeked at after its
// request ended (TestCollectedRunNotReused in proxy forces that
// interleaving).
package edge
