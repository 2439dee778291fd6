package ledger

import "time"

// Usage is the token count of one request, in the ledger's normal form:
// InputTokens excludes cached tokens (Anthropic style). Protocols whose
// cached tokens are a subset of input (OpenAI, Gemini) subtract before
// building a Usage.
type Usage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"` // includes reasoning/thinking
	// CacheCreationTokens is the total of cache writes; CacheCreation5m and
	// CacheCreation1h split it when the upstream reported the split.
	CacheCreationTokens int64 `json:"cache_creation_tokens"`
	CacheCreation5m     int64 `json:"cache_creation_5m_tokens,omitempty"`
	CacheCreation1h     int64 `json:"cache_creation_1h_tokens,omitempty"`
	CacheReadTokens     int64 `json:"cache_read_tokens"`
}

// Record is one request in the ledger.
type Record struct {
	Time          time.Time `json:"time"`
	Key           string    `json:"key"`
	Account       string    `json:"account"`
	Platform      string    `json:"platform,omitempty"`
	Model         string    `json:"model"`          // requested by the client
	UpstreamModel string    `json:"upstream_model"` // sent upstream
	Usage
	CostMicros  int64         `json:"cost_micros"`           // charged to the key
	ListMicros  int64         `json:"list_micros,omitempty"` // at list price (account consumption)
	Stream      bool          `json:"stream"`
	Status      int           `json:"status"`
	Duration    time.Duration `json:"duration_ns"`
	TTFT        time.Duration `json:"ttft_ns"`
	RequestID   string        `json:"request_id,omitempty"` // upstream request id
	Intercepted bool          `json:"intercepted,omitempty"`
	Error       string        `json:"error,omitempty"` // safe cause for non-2xx
	// Estimated marks usage the gateway estimated because the upstream
	// never reported it: a stream that ended before its final usage
	// (client hang-up, upstream cut) or an upstream that reports none.
	// Output is estimated from the text relayed, input from the request.
	Estimated bool `json:"estimated,omitempty"`

	// Refused marks a request that never reached an upstream: refused by
	// authentication, a quota or validation. It is counted in rollups as a
	// refusal and never billed.
	Refused bool `json:"refused,omitempty"`
	// Multiplier is the key's rate multiplier: the key is charged list
	// price × Multiplier. Zero means 1.
	Multiplier float64 `json:"multiplier,omitempty"`
	// Reservation is the reservation Reserve returned for this request;
	// Record settles it. The zero value settles nothing. It is not stored.
	Reservation Reservation `json:"-"`
}

// Store persists records and their hourly rollups. kv implements it.
type Store interface {
	// Append writes a batch of records and adds the rollup deltas to the
	// stored rollups (same hour, key, account and model are summed), all
	// in one transaction. It must not keep records once it returns: the
	// ledger reuses the slice for a later batch. A failed Append may be
	// called again with the same batch.
	Append(records []Record, rollups []Rollup) error
	// Scan calls fn for records with from <= Time < to in time order until fn
	// returns false.
	Scan(from, to time.Time, fn func(Record) bool) error
	// Last returns up to n newest records, newest first.
	Last(n int) ([]Record, error)
	// Rollups calls fn for the rollups with from <= Hour < to in hour order
	// until fn returns false.
	Rollups(from, to time.Time, fn func(Rollup) bool) error
	// DeleteBefore deletes up to max of the oldest records with Time < t in
	// one transaction and returns how many it deleted. Rollups are kept.
	DeleteBefore(t time.Time, max int) (int, error)
}
