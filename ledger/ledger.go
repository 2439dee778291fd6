package ledger

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Ledger. Zero values take the defaults noted.
type Config struct {
	Store         Store            // required
	Pricing       *Pricing         // nil means NewPricing(nil, nil)
	Logger        *slog.Logger     // nil discards
	BatchSize     int              // records per commit at most; default 2048
	FlushInterval time.Duration    // group commit interval; default 25ms
	QueueSize     int              // records buffered before Record blocks; default 65536
	Now           func() time.Time // stamps records and reads the quota clock; default time.Now
	// Location is the time zone of the day, week and month windows and of
	// daily dashboard steps; nil means UTC.
	Location *time.Location
	// RetentionDays is how long raw records are kept; Run prunes older ones
	// hourly (rollups are kept). 0 means 90; below 0 keeps them forever.
	RetentionDays int
}

const (
	defaultBatchSize     = 2048
	defaultFlushInterval = 25 * time.Millisecond
	defaultQueueSize     = 65536
	defaultRetentionDays = 90

	appendAttempts  = 4                     // tries per batch before it is dropped
	firstBackoff    = 50 * time.Millisecond // doubles per retry
	maxWarnedModels = 1024                  // distinct unpriced names logged
	fullWarnEvery   = time.Minute           // queue-full warnings at most this often
)

// Ledger prices usage records and writes them to a Store from a single
// writer goroutine (Run) in group commits.
type Ledger struct {
	store     Store
	pricing   *Pricing
	log       *slog.Logger
	batchSize int
	interval  time.Duration
	now       func() time.Time
	backoff   time.Duration
	loc       *time.Location
	retention time.Duration // 0 keeps raw records forever

	quota quota

	// The queue is a double buffer: Record appends to pending under mu,
	// and the writer swaps pending with its own spare slice, emptied by
	// the previous commit. Both slices are reused, so the memory a record
	// is copied into is the memory the writer just read back, still in
	// cache, and Record allocates nothing.
	mu        sync.Mutex
	pending   []Record  // guarded by mu
	closed    bool      // guarded by mu: intake stopped
	blocked   int       // guarded by mu: Records waiting for room
	taken     sync.Cond // on mu: pending was taken, or intake stopped
	queueSize int       // len(pending) at which Record blocks
	spare     []Record  // owned by the writer (Run, then Close)

	// Signals to the writer, sent under mu, capacity 1, emptied by take.
	wake chan struct{} // pending became non-empty
	full chan struct{} // pending reached queueSize
	stop chan struct{} // closed once intake stopped: Run drains and returns

	runMu       sync.Mutex
	started     bool // Run has begun; guarded by runMu
	closeCalled bool // guarded by runMu
	runDone     chan struct{}
	closeOnce   sync.Once

	warned       sync.Map // unpriced model names already logged
	warnedCount  atomic.Int64
	lastFullWarn atomic.Int64 // unix nanos

	commits    atomic.Uint64
	lastCommit atomic.Int64 // duration of the latest successful Append
	dropped    atomic.Uint64
}

// New returns a Ledger. It panics when cfg.Store is nil, a wiring bug.
// Start Run in its own goroutine and call Close at shutdown.
func New(cfg Config) *Ledger {
	if cfg.Store == nil {
		panic("ledger: Config.Store is required")
	}
	l := &Ledger{
		store:     cfg.Store,
		pricing:   cfg.Pricing,
		log:       cfg.Logger,
		batchSize: cfg.BatchSize,
		interval:  cfg.FlushInterval,
		now:       cfg.Now,
		backoff:   firstBackoff,
		loc:       cfg.Location,
		wake:      make(chan struct{}, 1),
		full:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		runDone:   make(chan struct{}),
	}
	if l.pricing == nil {
		l.pricing = NewPricing(nil, nil)
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.batchSize <= 0 {
		l.batchSize = defaultBatchSize
	}
	if l.interval <= 0 {
		l.interval = defaultFlushInterval
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.loc == nil {
		l.loc = time.UTC
	}
	l.quota.keys = make(map[string]*keyState)
	l.quota.cal.loc = l.loc
	switch days := cfg.RetentionDays; {
	case days == 0:
		l.retention = defaultRetentionDays * 24 * time.Hour
	case days > 0:
		l.retention = time.Duration(days) * 24 * time.Hour
	}
	l.queueSize = cfg.QueueSize
	if l.queueSize <= 0 {
		l.queueSize = defaultQueueSize
	}
	l.taken.L = &l.mu
	return l
}

// Record prices r, settles its reservation and queues it for the writer.
// It never waits for I/O; it blocks only while the queue is full
// (backpressure, logged), because a record must never be lost. A zero
// Time is set to now.
//
// Pricing: a refused or intercepted request costs 0. Otherwise, when
// CostMicros is zero, ListMicros (if zero) is set to the list price of
// UpstreamModel, else Model, and CostMicros to ListMicros × Multiplier,
// rounded half up; an unpriced model costs 0 and is logged once per name.
// A caller that sets CostMicros itself keeps its figures.
//
// Settling happens before Record returns: r.Reservation is dropped and
// CostMicros is added to r.Key's spend in every window, so the next
// Reserve sees it even though the record is committed a few ms later.
//
// Record after Close logs an error, releases the reservation and drops r:
// shutdown stops the proxy before the ledger, so this only happens on a
// wiring bug.
//
// It returns the record's list price in micro-USD, so callers that count
// cost elsewhere (metrics) need not price the request again.
func (l *Ledger) Record(r Record) (listMicros int64) {
	if r.Time.IsZero() {
		r.Time = l.now()
	}
	l.price(&r)
	if !l.enqueue(&r) {
		l.Release(r.Reservation)
		l.log.Error("ledger closed, record dropped", "key", r.Key, "model", r.Model)
	}
	return r.ListMicros
}

// enqueue settles r and appends it to pending, waiting while pending
// holds queueSize records. It reports false, having done nothing, when
// intake has stopped. Settling under mu means a record is either settled
// and queued or neither: Close cannot slip in between.
func (l *Ledger) enqueue(r *Record) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.settle(r)
	r.Reservation = Reservation{} // the store never needs it
	if len(l.pending) >= l.queueSize {
		l.waitForRoom()
	}
	l.pending = append(l.pending, *r)
	// Sent under mu, so the writer, which receives before it takes
	// pending, never misses a record, and take can drop stale signals.
	if len(l.pending) == 1 {
		signal(l.wake)
	}
	if len(l.pending) == l.queueSize {
		signal(l.full)
	}
	return true
}

// signal sends on a channel of capacity 1 without blocking: one pending
// signal stands for any number sent.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// waitForRoom blocks, with mu held on entry and on return, until the
// writer takes pending or intake stops. A record already settled must not
// be lost, so once intake stops it is appended past queueSize: Close
// waits for blocked to reach 0 before its final drain.
func (l *Ledger) waitForRoom() {
	l.blocked++
	l.mu.Unlock() // never log under mu: the writer needs it to make room
	l.warnFull()
	l.mu.Lock()
	for len(l.pending) >= l.queueSize && !l.closed {
		l.taken.Wait()
	}
	l.blocked--
	if l.closed && l.blocked == 0 {
		l.taken.Broadcast() // Close waits for this
	}
}

// price fills CostMicros and ListMicros; see Record.
func (l *Ledger) price(r *Record) {
	switch {
	case r.Refused || r.Intercepted:
		r.CostMicros, r.ListMicros = 0, 0
	case r.CostMicros == 0:
		l.fillCost(r)
	}
}

func (l *Ledger) fillCost(r *Record) {
	if r.ListMicros == 0 {
		model := r.UpstreamModel
		p, ok := l.pricing.Lookup(model)
		if !ok && r.Model != "" && r.Model != model {
			model = r.Model
			p, ok = l.pricing.Lookup(model)
		}
		if !ok {
			l.warnUnpriced(model)
			return
		}
		r.ListMicros = Cost(p, r.Usage)
	}
	r.CostMicros = charge(r.ListMicros, r.Multiplier)
}

// warnUnpriced logs a model without a price once per name, for at most
// maxWarnedModels names: the names come from clients.
func (l *Ledger) warnUnpriced(model string) {
	if _, seen := l.warned.Load(model); seen || l.warnedCount.Load() >= maxWarnedModels {
		return
	}
	if _, seen := l.warned.LoadOrStore(model, struct{}{}); seen {
		return
	}
	if l.warnedCount.Add(1) == maxWarnedModels {
		l.log.Warn("too many unpriced models, no longer logging new names")
	}
	l.log.Warn("no price for model, recorded at cost 0", "model", model)
}

func (l *Ledger) warnFull() {
	now := time.Now().UnixNano()
	last := l.lastFullWarn.Load()
	if last != 0 && now-last < int64(fullWarnEvery) {
		return
	}
	if l.lastFullWarn.CompareAndSwap(last, now) {
		l.log.Warn("ledger queue full, recording blocks until the writer catches up",
			"queue", l.queueSize)
	}
}

// Price returns the list price of model; see Pricing.Lookup.
func (l *Ledger) Price(model string) (Price, bool) {
	return l.pricing.Lookup(model)
}

// Recent returns up to n committed records, newest first. Records still
// queued are not included.
func (l *Ledger) Recent(n int) ([]Record, error) {
	if n <= 0 {
		return nil, nil
	}
	recs, err := l.store.Last(n)
	if err != nil {
		return nil, fmt.Errorf("ledger recent: %w", err)
	}
	return recs, nil
}

// Stats reports the queue length, the number of successful commits and
// how long the latest commit took, for metrics.
func (l *Ledger) Stats() (queued int, commits uint64, lastCommit time.Duration) {
	l.mu.Lock()
	queued = len(l.pending)
	l.mu.Unlock()
	return queued, l.commits.Load(), time.Duration(l.lastCommit.Load())
}

// Dropped reports how many records were lost because Store.Append kept
// failing. Each loss is also logged with its count.
func (l *Ledger) Dropped() uint64 {
	return l.dropped.Load()
}
