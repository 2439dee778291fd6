package ledger

import (
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Price is a model's list price in micro-USD per million tokens, so
// $3/Mtok is 3_000_000. Integer micro-USD keeps every published price
// (down to $0.025/Mtok) exact.
type Price struct {
	Input        int64
	Output       int64
	CacheWrite5m int64
	CacheWrite1h int64
	CacheRead    int64

	// LongThreshold and Long describe an optional long-context tier: when
	// the prompt (input + cache writes + cache reads) exceeds LongThreshold
	// tokens, the whole request is billed at *Long instead.
	LongThreshold int64
	Long          *Price
}

// PriceOverride sets or replaces the price of one model, in USD per
// million tokens as written in the config file. Zero cache fields are
// derived from Input: for Claude models writes are 1.25× (5 min) and 2×
// (1 h) and reads 0.1×; for other models reads are 0.1× and writes stay 0.
// InputAbove200k > 0 adds a long-context tier for prompts above 200k
// tokens; its zero output is the standard output price and its zero cache
// fields are derived from InputAbove200k the same way. An override
// replaces a table row whole. NewPricing does not validate values; the
// config layer rejects negative prices.
type PriceOverride struct {
	Model        string
	Input        float64
	Output       float64
	CacheWrite5m float64
	CacheWrite1h float64
	CacheRead    float64

	InputAbove200k        float64
	OutputAbove200k       float64
	CacheWrite5mAbove200k float64
	CacheWrite1hAbove200k float64
	CacheReadAbove200k    float64
}

// maxCached bounds the lookup cache; model names come from clients, so an
// unbounded cache would let them grow memory at will.
const maxCached = 1024

type lookupResult struct {
	price Price
	ok    bool
}

// Pricing resolves model names to prices: overrides first, then the
// price table, then family matching. It is safe for concurrent use and
// immutable after NewPricing apart from its lookup cache.
type Pricing struct {
	exact    map[string]Price       // normalised name → price
	families map[string][]familyRow // family key → rows, oldest first

	mu    sync.Mutex // serialises cache writers
	cache atomic.Pointer[map[string]lookupResult]
}

type familyRow struct {
	version []int
	name    string
	price   Price
}

// NewPricing returns table (nil means EmbeddedTable) with overrides
// applied. An override replaces a table row of the same normalised name
// and also takes part in family matching.
func NewPricing(table *Table, overrides []PriceOverride) *Pricing {
	if table == nil {
		table = EmbeddedTable()
	}
	p := &Pricing{
		exact:    maps.Clone(table.prices),
		families: make(map[string][]familyRow),
	}
	for _, o := range overrides {
		name := Normalize(o.Model)
		if name == "" {
			continue
		}
		p.exact[name] = o.price(name)
	}
	for name, price := range p.exact {
		key, ver := family(name)
		if key == "" {
			continue
		}
		p.families[key] = append(p.families[key], familyRow{ver, name, price})
	}
	for _, rows := range p.families {
		// Oldest first; of rows with the same version the shortest name
		// (the plain id, not a "-preview" or tagged variant) comes last,
		// so resolve picks it.
		sort.Slice(rows, func(i, j int) bool {
			if c := compareVersions(rows[i].version, rows[j].version); c != 0 {
				return c < 0
			}
			if len(rows[i].name) != len(rows[j].name) {
				return len(rows[i].name) > len(rows[j].name)
			}
			return rows[i].name > rows[j].name
		})
	}
	empty := make(map[string]lookupResult)
	p.cache.Store(&empty)
	return p
}

// price converts the override to micro-USD, deriving zero fields.
func (o PriceOverride) price(normalized string) Price {
	claude := strings.Contains(normalized, "claude")
	p := overrideTier(o.Input, o.Output, o.CacheWrite5m, o.CacheWrite1h, o.CacheRead, claude)
	if o.InputAbove200k > 0 {
		output := o.OutputAbove200k
		if output == 0 {
			output = o.Output
		}
		long := overrideTier(o.InputAbove200k, output, o.CacheWrite5mAbove200k,
			o.CacheWrite1hAbove200k, o.CacheReadAbove200k, claude)
		p.LongThreshold, p.Long = longContext, &long
	}
	return p
}

// longContext is the prompt size above which an override's long-context
// tier applies.
const longContext = 200_000

func overrideTier(input, output, write5m, write1h, read float64, claude bool) Price {
	p := Price{
		Input:        USDToMicros(input),
		Output:       USDToMicros(output),
		CacheWrite5m: USDToMicros(write5m),
		CacheWrite1h: USDToMicros(write1h),
		CacheRead:    USDToMicros(read),
	}
	if claude {
		if p.CacheWrite5m == 0 {
			p.CacheWrite5m = p.Input * 5 / 4
		}
		if p.CacheWrite1h == 0 {
			p.CacheWrite1h = p.Input * 2
		}
	}
	if p.CacheRead == 0 {
		p.CacheRead = p.Input / 10
	}
	return p
}

// Lookup returns the price for model, or false when neither an exact row
// nor a family row matches. Results are cached per raw name, so the hot
// path is one atomic load and one map read.
func (p *Pricing) Lookup(model string) (Price, bool) {
	if r, hit := (*p.cache.Load())[model]; hit {
		return r.price, r.ok
	}
	price, ok := p.resolve(Normalize(model))
	p.remember(model, lookupResult{price, ok})
	return price, ok
}

func (p *Pricing) resolve(name string) (Price, bool) {
	if price, ok := p.exact[name]; ok {
		return price, true
	}
	key, ver := family(name)
	if key == "" {
		return Price{}, false
	}
	rows := p.families[key]
	// The newest row not newer than the request: a newer unknown version
	// of a known family is billed like the newest version we know.
	for i := len(rows) - 1; i >= 0; i-- {
		if compareVersions(rows[i].version, ver) <= 0 {
			return rows[i].price, true
		}
	}
	return Price{}, false
}

// remember adds r to the copy-on-write cache unless it is full. Writers are
// rare (one per distinct model name), readers never lock.
func (p *Pricing) remember(model string, r lookupResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.cache.Load()
	if len(old) >= maxCached {
		return
	}
	if _, hit := old[model]; hit {
		return
	}
	next := make(map[string]lookupResult, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[model] = r
	p.cache.Store(&next)
}

// Cost returns the cost of u at p in micro-USD, rounded half up. Cache
// writes are billed by their 5m/1h split when reported; writes the split
// does not account for are billed at the 5 minute rate. Negative counts
// are treated as zero.
func Cost(p Price, u Usage) int64 {
	in := max(u.InputTokens, 0)
	out := max(u.OutputTokens, 0)
	w5 := max(u.CacheCreation5m, 0)
	w1 := max(u.CacheCreation1h, 0)
	read := max(u.CacheReadTokens, 0)
	if rest := u.CacheCreationTokens - w5 - w1; rest > 0 {
		w5 += rest
	}
	if p.Long != nil && p.LongThreshold > 0 && in+w5+w1+read > p.LongThreshold {
		p = *p.Long
	}
	// Split each count into whole millions and a remainder so that the
	// products cannot overflow while the result stays exactly
	// round(sum(tokens*price) / 1e6).
	var whole, frac int64
	for _, t := range [...]struct{ n, price int64 }{
		{in, p.Input}, {out, p.Output}, {w5, p.CacheWrite5m},
		{w1, p.CacheWrite1h}, {read, p.CacheRead},
	} {
		whole += t.n / 1_000_000 * t.price
		frac += t.n % 1_000_000 * t.price
	}
	return whole + (frac+500_000)/1_000_000
}
