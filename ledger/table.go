package ledger

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// embeddedPrices is LiteLLM's price table as filtered by the
// model-price-repo mirror; see data/README.md for its origin and date.
//
//go:embed data/model_prices.json
var embeddedPrices []byte

// maxPrice bounds a price (micro-USD per million tokens, so $10,000/Mtok):
// Cost multiplies prices by token counts, and a table entry far above any
// published price is a typo or a unit mix-up, not a price.
const maxPrice = 10_000_000_000

// Table is a parsed price table: normalised model name → price. It is
// immutable once parsed and may be shared by any number of Pricings.
type Table struct {
	prices map[string]Price
}

// Len returns the number of priced model names.
func (t *Table) Len() int { return len(t.prices) }

// embedded parses the embedded table once; tests check it parses.
var embedded = sync.OnceValue(func() *Table {
	t, err := ParseTable(embeddedPrices)
	if err != nil {
		panic("ledger: embedded price table: " + err.Error())
	}
	return t
})

// EmbeddedTable returns the price table built into the binary.
func EmbeddedTable() *Table { return embedded() }

// ParseTable reads a price table in LiteLLM's
// model_prices_and_context_window.json format: an object of model name →
// entry with prices in USD per token. An entry counts when it has an
// input and an output price above zero; others (image, audio, embedding
// and placeholder entries) are skipped, as are entries with a negative or
// absurd price. Several names that normalise alike (a dated id, a
// provider-prefixed one) keep the price of the shortest name. The table
// must price at least one claude-, one gpt- and one gemini- model: a
// download that does not is rejected whole rather than half used.
func ParseTable(data []byte) (*Table, error) {
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("price table: %w", err)
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	// Shortest first, so "gpt-5" beats "gpt-5-2025-08-07" and
	// "claude-sonnet-4-5" beats "vertex_ai/claude-sonnet-4-5".
	sort.Slice(names, func(i, j int) bool {
		if len(names[i]) != len(names[j]) {
			return len(names[i]) < len(names[j])
		}
		return names[i] < names[j]
	})
	t := &Table{prices: make(map[string]Price, len(entries))}
	for _, name := range names {
		key := Normalize(name)
		if key == "" {
			continue
		}
		if _, dup := t.prices[key]; dup {
			continue
		}
		if p, ok := parseEntry(entries[name], strings.Contains(key, "claude")); ok {
			t.prices[key] = p
		}
	}
	var missing []error
	for _, family := range [...]string{"claude-", "gpt-", "gemini-"} {
		if !t.hasPrefix(family) {
			missing = append(missing, fmt.Errorf("price table prices no %s* model", family))
		}
	}
	if len(missing) > 0 {
		return nil, errors.Join(missing...)
	}
	return t, nil
}

func (t *Table) hasPrefix(prefix string) bool {
	for name := range t.prices {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// Field names of a table entry, in USD per token.
const (
	fieldInput   = "input_cost_per_token"
	fieldOutput  = "output_cost_per_token"
	fieldRead    = "cache_read_input_token_cost"
	fieldWrite   = "cache_creation_input_token_cost"
	fieldWrite1h = "cache_creation_input_token_cost_above_1hr"
)

// parseEntry converts one table entry. Claude entries that lack a cache
// price get Anthropic's ratios (writes 1.25× and 2× input, reads 0.1×);
// other entries bill a missing cache price like plain input, which never
// undercharges.
func parseEntry(raw json.RawMessage, claude bool) (Price, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return Price{}, false
	}
	get := func(name string) (int64, bool, bool) { // value, present, valid
		v, ok := fields[name]
		if !ok {
			return 0, false, true
		}
		var usd float64
		if json.Unmarshal(v, &usd) != nil {
			return 0, false, true // a string or object: not a price field we read
		}
		m := math.Round(usd * 1e12) // USD per token → micro-USD per Mtok
		if math.IsNaN(m) || m < 0 || m > maxPrice {
			return 0, false, false
		}
		return int64(m), true, true
	}
	tier := func(suffix string, base *Price) (Price, bool) {
		var p Price
		var ok, valid [5]bool
		p.Input, ok[0], valid[0] = get(fieldInput + suffix)
		p.Output, ok[1], valid[1] = get(fieldOutput + suffix)
		p.CacheRead, ok[2], valid[2] = get(fieldRead + suffix)
		p.CacheWrite5m, ok[3], valid[3] = get(fieldWrite + suffix)
		p.CacheWrite1h, ok[4], valid[4] = get(fieldWrite1h + suffix)
		for _, v := range valid {
			if !v {
				return Price{}, false
			}
		}
		fillMissing(&p, ok, base, claude)
		return p, true
	}
	p, ok := tier("", nil)
	if !ok || p.Input <= 0 || p.Output <= 0 {
		return Price{}, false
	}
	if threshold, suffix := longTier(fields); threshold > 0 {
		long, ok := tier(suffix, &p)
		if !ok {
			return Price{}, false
		}
		p.LongThreshold, p.Long = threshold, &long
	}
	return p, true
}

// fillMissing completes a tier whose fields ok marks as absent (input,
// output, read, write 5m, write 1h). A long-context tier (base set) takes
// a missing input or output from the base tier; cache prices follow the
// tier's own input for Claude, else the base tier's.
func fillMissing(p *Price, ok [5]bool, base *Price, claude bool) {
	if base != nil {
		if !ok[0] {
			p.Input = base.Input
		}
		if !ok[1] {
			p.Output = base.Output
		}
	}
	switch {
	case claude:
		if !ok[2] {
			p.CacheRead = p.Input / 10
		}
		if !ok[3] {
			p.CacheWrite5m = p.Input * 5 / 4
		}
		if !ok[4] {
			p.CacheWrite1h = p.Input * 2
		}
	case base != nil:
		if !ok[2] {
			p.CacheRead = base.CacheRead
		}
		if !ok[3] {
			p.CacheWrite5m = base.CacheWrite5m
		}
		if !ok[4] {
			p.CacheWrite1h = base.CacheWrite1h
		}
	default:
		if !ok[2] {
			p.CacheRead = p.Input
		}
		if !ok[3] {
			p.CacheWrite5m = p.Input
		}
		if !ok[4] {
			p.CacheWrite1h = p.CacheWrite5m
		}
	}
}

// longTier finds the entry's long-context tier: the lowest N of an
// "input_cost_per_token_above_<N>k_tokens" field. It returns the
// threshold in tokens and the suffix its fields share, or 0.
func longTier(fields map[string]json.RawMessage) (int64, string) {
	const prefix = fieldInput + "_above_"
	var best int64
	var suffix string
	for name := range fields {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		num, ok := strings.CutSuffix(rest, "k_tokens")
		if !ok {
			continue // a _priority or _flex variant
		}
		k, err := strconv.Atoi(num)
		if err != nil || k <= 0 || k > 100_000 {
			continue
		}
		if n := int64(k) * 1000; best == 0 || n < best {
			best, suffix = n, "_above_"+num+"k_tokens"
		}
	}
	return best, suffix
}
