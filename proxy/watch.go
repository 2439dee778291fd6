package proxy

import (
	"context"
	"net"
	"sync"
	"syscall"
	"time"
)

// watcher notices clients that hang up while their request waits (in a
// queue, for upstream headers, or through a silent stream). fasthttp does
// not read a connection while its handler runs, so nobody else would see
// the FIN: one goroutine peeks at every watched socket each interval and
// cancels the request's context when the peer has closed.
type watcher struct {
	interval time.Duration
	mu       sync.Mutex
	set      map[*watch]struct{}
}

type watch struct {
	raw    syscall.RawConn
	cancel context.CancelFunc
}

func newWatcher(interval time.Duration) *watcher {
	return &watcher{interval: interval, set: make(map[*watch]struct{})}
}

// add starts watching conn; it returns nil when conn is not a plain socket
// (TLS, in-memory), in which case failed writes are the only signal.
func (w *watcher) add(conn net.Conn, cancel context.CancelFunc) *watch {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	wt := &watch{raw: raw, cancel: cancel}
	w.mu.Lock()
	w.set[wt] = struct{}{}
	w.mu.Unlock()
	return wt
}

// remove stops watching; nil is allowed.
func (w *watcher) remove(wt *watch) {
	if wt == nil {
		return
	}
	w.mu.Lock()
	delete(w.set, wt)
	w.mu.Unlock()
}

// run peeks at every watched socket each interval until ctx ends.
func (w *watcher) run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	var batch []*watch
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		batch = batch[:0]
		w.mu.Lock()
		for wt := range w.set {
			batch = append(batch, wt)
		}
		w.mu.Unlock()
		for _, wt := range batch {
			if peerClosed(wt.raw) {
				wt.cancel()
				w.remove(wt)
			}
		}
	}
}
