package upstreamtest

import (
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// connSet tracks the server's live connections through fasthttp's
// ConnState hook, so Close can end them without fasthttp's slow Shutdown.
type connSet struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (cs *connSet) track(c net.Conn, state fasthttp.ConnState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch state {
	case fasthttp.StateNew:
		if cs.conns == nil {
			cs.conns = map[net.Conn]struct{}{}
		}
		cs.conns[c] = struct{}{}
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		delete(cs.conns, c)
	}
}

// closeAll closes every tracked connection and reports whether all were
// released within timeout.
func (cs *connSet) closeAll(timeout time.Duration) bool {
	cs.mu.Lock()
	for c := range cs.conns {
		_ = c.Close()
	}
	cs.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		cs.mu.Lock()
		n := len(cs.conns)
		cs.mu.Unlock()
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}
