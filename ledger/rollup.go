package ledger

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Counts are the summable counters of a set of records: rollups,
// dashboard points and groups all carry them.
type Counts struct {
	Requests int64 `json:"requests"`
	// Errors counts requests that reached the gateway's upstream stage and
	// failed: Status >= 400 or a non-empty Error. Refusals are counted in
	// Refusals only, so an error rate is not inflated by quota refusals.
	Errors              int64 `json:"errors"`
	Refusals            int64 `json:"refusals"`
	Intercepted         int64 `json:"intercepted"`
	InputTokens         int64 `json:"input_tokens"`
	OutputTokens        int64 `json:"output_tokens"`
	CacheCreationTokens int64 `json:"cache_creation_tokens"`
	CacheReadTokens     int64 `json:"cache_read_tokens"`
	CostMicros          int64 `json:"cost_micros"` // charged to keys
	ListMicros          int64 `json:"list_micros"` // at list price: the accounts' consumption
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	c.Refusals += o.Refusals
	c.Intercepted += o.Intercepted
	c.InputTokens += o.InputTokens
	c.OutputTokens += o.OutputTokens
	c.CacheCreationTokens += o.CacheCreationTokens
	c.CacheReadTokens += o.CacheReadTokens
	c.CostMicros += o.CostMicros
	c.ListMicros += o.ListMicros
}

// addRecord counts one record.
func (c *Counts) addRecord(r *Record) {
	c.Requests++
	switch {
	case r.Refused:
		c.Refusals++
	case r.Status >= 400 || r.Error != "":
		c.Errors++
	}
	if r.Intercepted {
		c.Intercepted++
	}
	c.InputTokens += r.InputTokens
	c.OutputTokens += r.OutputTokens
	c.CacheCreationTokens += r.CacheCreationTokens
	c.CacheReadTokens += r.CacheReadTokens
	c.CostMicros += r.CostMicros
	c.ListMicros += r.ListMicros
}

// Rollup is the total of the records of one UTC hour for one key,
// account and model. Dashboards and budgets read rollups, never raw
// records.
type Rollup struct {
	Hour    time.Time // start of the UTC hour
	Key     string
	Account string // "" for requests refused before an account was chosen
	Model   string // as requested by the client, see Aggregate
	Counts
}

// maxRollupName bounds the model name in a rollup: model names come from
// clients, and every distinct name is a rollup row per hour.
const maxRollupName = 128

// rollupName makes s safe as part of a rollup key: NUL separates the
// key's parts, so NUL bytes become U+FFFD, and a name longer than limit
// bytes (0: no limit) is cut at a rune boundary.
func rollupName(s string, limit int) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if limit <= 0 || len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

type rollupID struct {
	hour                int64 // unix seconds
	key, account, model string
}

// Aggregate sums records into rollup deltas, one per UTC hour, key,
// account and model, in first-seen order. Names never contain NUL (it
// becomes U+FFFD) and a model name is cut to 128 bytes. The writer calls
// it per batch; kv calls it when it backfills rollups from old records.
func Aggregate(recs []Record) []Rollup {
	if len(recs) == 0 {
		return nil
	}
	index := make(map[rollupID]int, 8)
	var out []Rollup
	for i := range recs {
		r := &recs[i]
		id := rollupID{
			hour:    hourStart(r.Time).Unix(),
			key:     rollupName(r.Key, 0),
			account: rollupName(r.Account, 0),
			model:   rollupName(r.Model, maxRollupName),
		}
		j, ok := index[id]
		if !ok {
			j = len(out)
			index[id] = j
			out = append(out, Rollup{Hour: time.Unix(id.hour, 0).UTC(),
				Key: id.key, Account: id.account, Model: id.model})
		}
		out[j].addRecord(r)
	}
	return out
}

// hourStart returns the start of the UTC hour holding t.
func hourStart(t time.Time) time.Time {
	return t.UTC().Truncate(time.Hour)
}
