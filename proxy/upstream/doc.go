// Package upstream is the gateway's way out: the fasthttp clients that
// call the providers, one pair (buffered and streaming) per egress proxy
// (Clients, upstream.go), the buffered clients' per-host connection pools
// (hostclients.go), dialing directly or through an HTTP, HTTPS or SOCKS5
// egress proxy (dial.go), the interruptible transport that lets a
// buffered call run on the request's own goroutine and still be cut
// (transport.go), and the deadline tricks that keep that cheap
// (deadline.go).
//
// It knows nothing of the gateway: it declares the one thing it needs
// from a request, Interruptible (a context that lends a call record and
// registers the call in flight), and works with any other context too.
// It imports no other room.
//
// Invariants:
//   - Do either hands req and resp to the caller (success) or releases
//     them itself (failure); Release frees them and closes an unfinished
//     body stream, which closes its upstream connection and so stops the
//     upstream's generation.
//   - A buffered call costs no goroutine, channel or timer: it runs on the
//     caller's goroutine, its header timeout is a connection deadline, and
//     a cancel interrupts it with a past deadline on its connection. A
//     connection that was interrupted never goes back to the pool.
//   - An egress proxy's credentials never appear in an error: errors name
//     a proxy by scheme, host and port only. TLS verification is never
//     switched off.
//   - The lookups every request makes (the pair for an egress proxy, the
//     pool for a host) read immutable maps behind atomic pointers; only
//     adding a proxy or host takes a lock.
//
// Caveats:
//   - fasthttp's client cannot be canceled mid-call. A streaming call
//     therefore runs on a goroutine of its own (a flight); an abandoned
//     one runs on until the upstream sends headers or the header timeout
//     strikes, and its stream is closed as soon as they arrive.
//   - A pooled buffered connection's deadline is moved only when it is off
//     by more than a 64th of the call's timeout (deadlineConn), so a header
//     timeout may fire that much early. Interrupts are exact.
//   - Calls that nobody registered (made with a client directly, such as
//     token refreshes with DoTimeout) go through fasthttp's default
//     transport unchanged.
package upstream
