package edge

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Watcher notices clients that hang up while their request waits (in a
// queue, for upstream headers, or through a silent stream). fasthttp does
// not read a connection while its handler runs, so nobody else would see
// the FIN: one goroutine peeks at every watched socket each interval and
// cancels the request's context when the peer has closed.
//
// Watches are nodes of an intrusive list embedded in each request, so
// adding and removing one costs a short lock and no allocation; the raw
// socket is looked up by the Watcher goroutine, only for requests that
// last long enough to be peeked at.
type Watcher struct {
	interval time.Duration
	// lists are shards of the Watch list, picked by the Watch's address:
	// every request joins and leaves one, on both cores at once.
	lists [watchShards]watchList
	// AfterCollect, when set (tests), runs between collecting a batch and
	// peeking at it: the window in which a request may finish under the
	// goroutine's feet.
	AfterCollect func()
}

const watchShards = 8

type watchList struct {
	mu   sync.Mutex
	head Watch // sentinel of a circular list
	_    [64]byte
}

// list is the shard wt joins.
func (w *Watcher) list(wt *Watch) *watchList {
	h := uint64(uintptr(unsafe.Pointer(wt))) * 0x9e3779b97f4a7c15
	return &w.lists[h>>61] // the top 3 bits: watchShards
}

// Canceler is what a Watch cancels: a request's context.
type Canceler interface{ Cancel() }

type Watch struct {
	conn       net.Conn
	ctx        Canceler
	prev, next *Watch // guarded by its list's mu; nil when not listed
	// gen changes, under the list's mu, whenever the Watch is listed or
	// unlisted: the goroutine acts only on the Listing it collected.
	gen atomic.Uint64
	// collected is set, under the list's mu, when the goroutine takes the
	// Watch into a batch. From then on the goroutine may reach it at any
	// time, so its request must never be reused (see remove).
	collected bool
	// raw and rawTried belong to the goroutine; add resets them before the
	// Watch is listed, and only a Watch never collected is listed again.
	raw      syscall.RawConn
	rawTried bool
}

// Watching reports whether the watch still holds the connection and
// context it was added with: a watch whose request was reused would have
// been reset (tests check the ownership rule with it).
func (wt *Watch) Watching() bool { return wt.conn != nil && wt.ctx != nil }

func NewWatcher(interval time.Duration) *Watcher {
	w := &Watcher{interval: interval}
	for i := range w.lists {
		l := &w.lists[i]
		l.head.prev, l.head.next = &l.head, &l.head
	}
	return w
}

// add lists wt, which must not be listed already and must never have
// been collected (a Watch is listed again only after remove reported it
// free), for conn. Every
// request is listed, so that cancelAll reaches it at shutdown; only plain
// sockets are peeked at (for TLS or in-memory connections failed writes
// are the only signal of a hang-up).
func (w *Watcher) Add(wt *Watch, conn net.Conn, ctx Canceler) {
	wt.conn, wt.ctx = conn, ctx
	wt.raw, wt.rawTried = nil, false
	l := w.list(wt)
	l.mu.Lock()
	wt.prev, wt.next = l.head.prev, &l.head
	l.head.prev.next = wt
	l.head.prev = wt
	wt.gen.Add(1)
	l.mu.Unlock()
}

// remove stops watching; a Watch not listed (never added, or removed) is
// left alone. It reports whether the Watch is free: the goroutine never
// collected it, so nothing but its owner can reach it and its request may
// be reused. A collected Watch may still sit in the goroutine's batch, to
// be peeked at after remove returns: its request must be left to the
// garbage collector. This is the ownership rule run reuse relies on.
func (w *Watcher) Remove(wt *Watch) (free bool) {
	l := w.list(wt)
	l.mu.Lock()
	w.unlinkLocked(wt)
	free = !wt.collected
	l.mu.Unlock()
	return free
}

func (w *Watcher) unlink(wt *Watch) {
	l := w.list(wt)
	l.mu.Lock()
	w.unlinkLocked(wt)
	l.mu.Unlock()
}

func (w *Watcher) unlinkLocked(wt *Watch) {
	if wt.next != nil {
		wt.prev.next, wt.next.prev = wt.next, wt.prev
		wt.prev, wt.next = nil, nil
		wt.gen.Add(1)
	}
}

// cancelAll cancels every listed request: the server is shutting down.
func (w *Watcher) CancelAll() {
	for i := range w.lists {
		l := &w.lists[i]
		l.mu.Lock()
		for wt := l.head.next; wt != &l.head; wt = wt.next {
			wt.ctx.Cancel()
		}
		l.mu.Unlock()
	}
}

// Listing is a Watch as the goroutine collected it.
type Listing struct {
	Watch *Watch
	gen   uint64
}

// run peeks at every watched socket each interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	var batch []Listing
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		batch = w.Collect(batch[:0])
		if w.AfterCollect != nil {
			w.AfterCollect()
		}
		w.PeekAll(batch)
	}
}

// collect appends every listed Watch to batch and marks it collected.
func (w *Watcher) Collect(batch []Listing) []Listing {
	for i := range w.lists {
		l := &w.lists[i]
		l.mu.Lock()
		for wt := l.head.next; wt != &l.head; wt = wt.next {
			wt.collected = true
			batch = append(batch, Listing{wt, wt.gen.Load()})
		}
		l.mu.Unlock()
	}
	return batch
}

// peekAll peeks at a collected batch and then forgets it, so that
// finished requests are not kept alive.
func (w *Watcher) PeekAll(batch []Listing) {
	for i, l := range batch {
		w.peek(l.Watch, l.gen)
		batch[i] = Listing{}
	}
}

// peek cancels wt's request when its client has hung up, unless wt was
// unlisted since the goroutine collected it at gen. Only the goroutine
// peeks, and a collected Watch is never listed again (see remove), so
// conn, ctx and raw stay as they were when it was collected.
func (w *Watcher) peek(wt *Watch, gen uint64) {
	if wt.gen.Load() != gen {
		return
	}
	if !wt.rawTried {
		wt.rawTried = true
		if sc, ok := wt.conn.(syscall.Conn); ok {
			wt.raw, _ = sc.SyscallConn()
		}
	}
	if wt.raw != nil && peerClosed(wt.raw) {
		wt.ctx.Cancel()
		w.unlink(wt)
	}
}

// drainRequests waits until no request is running (every request is on
// the Watcher's list from its start to its end) or d has passed.
func (w *Watcher) DrainRequests(d time.Duration) {
	deadline := time.Now().Add(d)
	for w.listed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// listed reports whether any request is on the Watcher's list.
func (w *Watcher) listed() bool {
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
