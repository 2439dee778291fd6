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
	// MaxPending bounds the records kept in memory while Store.Append
	// fails (they are retried with backoff); records past it are dropped,
	// counted by Dropped and logged. 0 means 100,000.
	MaxPending int
	// AllowUnpriced lets keys with a spend limit use models without a
	// price: RefusesUnpriced then always reports false.
	AllowUnpriced bool
}

const (
	defaultBatchSize     = 2048
	defaultFlushInterval = 25 * time.Millisecond
	defaultQueueSize     = 65536
	defaultRetentionDays = 90
	defaultMaxPending    = 100_000

	appendAttempts  = 4                     // tries of the backlog at Close before it is dropped
	firstBackoff    = 50 * time.Millisecond // doubles per retry
	maxBackoff      = 5 * time.Second       // while the store fails, retried at least this often
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
	backoff   time.Duration // first retry delay of a failing store
	maxDelay  time.Duration // longest retry delay
	loc       *time.Location
	retention time.Duration // 0 keeps raw records forever

	allowUnpriced bool

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

	// backlog holds what the writer could not commit; see backlog.go.
	backlog backlog

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

	commits     atomic.Uint64
	lastCommit  atomic.Int64 // duration of the latest successful Append
	writeErrors atomic.Uint64
	dropped     atomic.Uint64
}

// New returns a Ledger. It panics when cfg.Store is nil, a wiring bug.
// Start Run in its own goroutine and call Close at shutdown.
func New(cfg Config) *Ledger {
	if cfg.Store == nil {
		panic("ledger: Config.Store is required")
	}
	l := &Ledger{
		store:         cfg.Store,
		pricing:       cfg.Pricing,
		log:           cfg.Logger,
		batchSize:     cfg.BatchSize,
		interval:      cfg.FlushInterval,
		now:           cfg.Now,
		backoff:       firstBackoff,
		maxDelay:      maxBackoff,
		loc:           cfg.Location,
		allowUnpriced: cfg.AllowUnpriced,
		wake:          make(chan struct{}, 1),
		full:          make(chan struct{}, 1),
		stop:          make(chan struct{}),
		runDone:       make(chan struct{}),
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
	l.backlog.max = cfg.MaxPending
	if l.backlog.max <= 0 {
		l.backlog.max = defaultMaxPending
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

// Price returns the list price of model; see Pricing.Lookup.
func (l *Ledger) Price(model string) (Price, bool) {
	return l.pricing.Lookup(model)
}

// RefusesUnpriced reports whether a key with lim must be refused a model
// without a price: it has a spend limit, which such a model (billed 0)
// would let it pass, and Config.AllowUnpriced is off. Keys without spend
// limits are served; their unpriced requests are recorded at cost 0 with
// one warning per model name.
func (l *Ledger) RefusesUnpriced(lim Limits) bool {
	return !l.allowUnpriced && lim.HasSpendLimit()
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
