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
}

// Store persists records. kv implements it.
type Store interface {
	// Append writes a batch in one transaction.
	Append([]Record) error
	// Scan calls fn for records with from <= Time < to in time order until fn
	// returns false.
	Scan(from, to time.Time, fn func(Record) bool) error
	// Last returns up to n newest records, newest first.
	Last(n int) ([]Record, error)
}
