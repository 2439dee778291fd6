package proxy

import (
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// connSet is the server's open client connections, kept so that a
// shutdown whose grace period ran out can close them. fasthttp's
// ShutdownWithContext returns at its deadline leaving busy connections
// open, and a second call returns at once (the first one already took
// its listeners away), so without this every keep-alive connection would
// go on being served after Shutdown returned, against a closed scheduler,
// ledger and store.
type connSet struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

func newConnSet() *connSet { return &connSet{m: make(map[net.Conn]struct{})} }

// track is the fasthttp.Server ConnState hook. fasthttp calls it twice
// per request as well (active, idle); those states cost a switch only.
func (cs *connSet) track(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateNew:
		cs.mu.Lock()
		cs.m[c] = struct{}{}
		cs.mu.Unlock()
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		cs.mu.Lock()
		delete(cs.m, c)
		cs.mu.Unlock()
	}
}

// closeAll closes every tracked connection; their fasthttp goroutines
// then end on the failed read or write.
func (cs *connSet) closeAll() {
	cs.mu.Lock()
	conns := make([]net.Conn, 0, len(cs.m))
	for c := range cs.m {
		conns = append(conns, c)
	}
	cs.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// len is how many connections are open.
func (cs *connSet) len() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.m)
}

// drainRequests waits until no request is running (every request is on
// the watcher's list from its start to its end) or d has passed.
func (w *watcher) drainRequests(d time.Duration) {
	deadline := time.Now().Add(d)
	for w.listed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// listed reports whether any request is on the watcher's list.
func (w *watcher) listed() bool {
	for i := range w.lists {
		l := &w.lists[i]
		l.mu.Lock()
		busy := l.head.next != &l.head
		l.mu.Unlock()
		if busy {
			return true
		}
	}
	return false
}
