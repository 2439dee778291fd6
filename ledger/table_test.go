package ledger

import (
	"strings"
	"testing"
)

// m converts USD per million tokens, as spec/pricing.md writes them, to
// the ledger's micro-USD per million tokens.
func m(usd float64) int64 { return USDToMicros(usd) }

// TestEmbeddedTablePublishedPrices checks the embedded table against the
// published prices of spec/pricing.md, row by row.
func TestEmbeddedTablePublishedPrices(t *testing.T) {
	p := NewPricing(nil, nil)
	type row struct {
		models                     []string
		in, out, w5, w1, cacheRead float64
	}
	claude := []row{
		{[]string{"claude-opus-4-5", "claude-opus-4-6", "claude-opus-4-7"}, 5, 25, 6.25, 10, 0.50},
		{[]string{"claude-opus-4", "claude-opus-4-1"}, 15, 75, 18.75, 30, 1.50},
		{[]string{"claude-sonnet-4-5", "claude-sonnet-4-6"}, 3, 15, 3.75, 6, 0.30},
		{[]string{"claude-sonnet-5"}, 2, 10, 2.50, 4, 0.20},
		{[]string{"claude-haiku-4-5"}, 1, 5, 1.25, 2, 0.10},
	}
	cached := []row{ // OpenAI and Gemini: input, output, cached
		{models: []string{"gpt-5", "gpt-5-codex", "gpt-5.1", "gpt-5.1-codex", "gpt-5.1-codex-max"}, in: 1.25, out: 10, cacheRead: 0.125},
		{models: []string{"gpt-5-mini", "gpt-5.1-codex-mini"}, in: 0.25, out: 2, cacheRead: 0.025},
		{models: []string{"gpt-5.2", "gpt-5.2-codex", "gpt-5.3-codex"}, in: 1.75, out: 14, cacheRead: 0.175},
		{models: []string{"gpt-5.4"}, in: 2.50, out: 15, cacheRead: 0.25},
		{models: []string{"gpt-5.4-mini"}, in: 0.75, out: 4.50, cacheRead: 0.075},
		{models: []string{"gpt-5.5"}, in: 5, out: 30, cacheRead: 0.50},
		{models: []string{"gemini-2.5-pro"}, in: 1.25, out: 10, cacheRead: 0.125},
		{models: []string{"gemini-2.5-flash"}, in: 0.30, out: 2.50, cacheRead: 0.03},
		{models: []string{"gemini-3-pro-preview", "gemini-3.1-pro-preview"}, in: 2, out: 12, cacheRead: 0.20},
		{models: []string{"gemini-3-flash-preview"}, in: 0.50, out: 3, cacheRead: 0.05},
	}
	for _, r := range claude {
		for _, model := range r.models {
			got := mustPrice(t, p, model)
			want := Price{Input: m(r.in), Output: m(r.out), CacheWrite5m: m(r.w5), CacheWrite1h: m(r.w1), CacheRead: m(r.cacheRead)}
			got.LongThreshold, got.Long = 0, nil // checked below
			if got != want {
				t.Errorf("%s = %+v, want %+v", model, got, want)
			}
		}
	}
	for _, r := range cached {
		for _, model := range r.models {
			got := mustPrice(t, p, model)
			if got.Input != m(r.in) || got.Output != m(r.out) || got.CacheRead != m(r.cacheRead) {
				t.Errorf("%s = in %d out %d cached %d, want %d %d %d",
					model, got.Input, got.Output, got.CacheRead, m(r.in), m(r.out), m(r.cacheRead))
			}
		}
	}

	// Long-context tiers above 200k prompt tokens.
	long := []struct {
		model                      string
		in, out, w5, w1, cacheRead float64 // 0: not published, not checked
	}{
		{"claude-sonnet-4-5", 6, 22.5, 7.5, 12, 0.60},
		{"gemini-2.5-pro", 2.5, 15, 0, 0, 0},
		{"gemini-3-pro-preview", 4, 18, 0, 0, 0.40},
	}
	for _, tt := range long {
		price := mustPrice(t, p, tt.model)
		if price.Long == nil || price.LongThreshold != 200_000 {
			t.Errorf("%s has no tier above 200k: %+v", tt.model, price)
			continue
		}
		got := *price.Long
		for _, f := range []struct {
			name      string
			got, want int64
		}{
			{"input", got.Input, m(tt.in)}, {"output", got.Output, m(tt.out)},
			{"write 5m", got.CacheWrite5m, m(tt.w5)}, {"write 1h", got.CacheWrite1h, m(tt.w1)},
			{"read", got.CacheRead, m(tt.cacheRead)},
		} {
			if f.want != 0 && f.got != f.want {
				t.Errorf("%s above 200k %s = %d, want %d", tt.model, f.name, f.got, f.want)
			}
		}
	}
}

func TestParseTable(t *testing.T) {
	base := `"claude-x-1": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05},
		"gpt-x-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
		"gemini-x-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}`
	tests := []struct {
		name    string
		json    string
		wantErr string // "" means it parses
		model   string // looked up when it parses
		want    Price
		wantOK  bool
	}{
		{name: "not json", json: `{"claude-x-1": `, wantErr: "price table"},
		{name: "not an object", json: `[1,2]`, wantErr: "price table"},
		{name: "empty", json: `{}`, wantErr: "no claude-* model"},
		{name: "no gemini", json: `{"claude-a-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
			"gpt-a-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}}`, wantErr: "no gemini-* model"},
		{name: "zero gemini is no price", json: `{"claude-a-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
			"gpt-a-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
			"gemini-a-1": {"input_cost_per_token": 0, "output_cost_per_token": 0}}`, wantErr: "no gemini-* model"},
		{name: "claude cache prices derived", json: `{` + base + `}`, model: "claude-x-1",
			want: Price{Input: 3_000_000, Output: 15_000_000, CacheWrite5m: 3_750_000, CacheWrite1h: 6_000_000, CacheRead: 300_000}, wantOK: true},
		{name: "other cache prices bill as input", json: `{` + base + `}`, model: "gpt-x-1",
			want: Price{Input: 1_000_000, Output: 2_000_000, CacheWrite5m: 1_000_000, CacheWrite1h: 1_000_000, CacheRead: 1_000_000}, wantOK: true},
		{name: "every field read", json: `{` + base + `, "claude-y-2": {"input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06,
			"cache_read_input_token_cost": 1.1e-07, "cache_creation_input_token_cost": 1.3e-06,
			"cache_creation_input_token_cost_above_1hr": 2.1e-06, "search_context_cost_per_query": {"low": 0.01}}}`,
			model: "claude-y-2", want: Price{Input: 1_000_000, Output: 5_000_000, CacheWrite5m: 1_300_000, CacheWrite1h: 2_100_000, CacheRead: 110_000}, wantOK: true},
		{name: "no output price is no price", json: `{` + base + `, "gpt-img-1": {"input_cost_per_token": 5e-06}}`, model: "gpt-img-1"},
		{name: "negative price skips the entry", json: `{` + base + `, "gpt-neg-1": {"input_cost_per_token": -1e-06, "output_cost_per_token": 1e-06}}`, model: "gpt-neg-1"},
		{name: "absurd price skips the entry", json: `{` + base + `, "gpt-big-1": {"input_cost_per_token": 1, "output_cost_per_token": 1}}`, model: "gpt-big-1"},
		{name: "shortest spelling wins", json: `{` + base + `, "gpt-z-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
			"azure/gpt-z-1": {"input_cost_per_token": 9e-06, "output_cost_per_token": 9e-06},
			"gpt-z-1-2025-01-01": {"input_cost_per_token": 8e-06, "output_cost_per_token": 8e-06}}`,
			model: "gpt-z-1-2025-01-01", want: Price{Input: 1_000_000, Output: 1_000_000, CacheWrite5m: 1_000_000, CacheWrite1h: 1_000_000, CacheRead: 1_000_000}, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := ParseTable([]byte(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTable error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTable: %v", err)
			}
			got, ok := NewPricing(table, nil).Lookup(tt.model)
			if ok != tt.wantOK || got != tt.want {
				t.Fatalf("Lookup(%q) = %+v, %v; want %+v, %v", tt.model, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseTableLongTier(t *testing.T) {
	table, err := ParseTable([]byte(`{
		"claude-x-1": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
			"input_cost_per_token_above_200k_tokens": 6e-06, "output_cost_per_token_above_200k_tokens": 2.25e-05,
			"input_cost_per_token_above_200k_tokens_priority": 9e-06},
		"gpt-x-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "cache_read_input_token_cost": 1e-07,
			"input_cost_per_token_above_272k_tokens": 2e-06},
		"gemini-x-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := NewPricing(table, nil)
	tests := []struct {
		model     string
		threshold int64
		long      Price
	}{
		// Claude: missing cache prices of the tier follow the tier's input.
		{"claude-x-1", 200_000, Price{Input: 6_000_000, Output: 22_500_000, CacheWrite5m: 7_500_000, CacheWrite1h: 12_000_000, CacheRead: 600_000}},
		// Others: missing fields of the tier keep the standard price.
		{"gpt-x-1", 272_000, Price{Input: 2_000_000, Output: 2_000_000, CacheWrite5m: 1_000_000, CacheWrite1h: 1_000_000, CacheRead: 100_000}},
	}
	for _, tt := range tests {
		price := mustPrice(t, p, tt.model)
		if price.Long == nil || price.LongThreshold != tt.threshold || *price.Long != tt.long {
			t.Errorf("%s long tier = %d %+v, want %d %+v", tt.model, price.LongThreshold, price.Long, tt.threshold, tt.long)
		}
	}
	if price := mustPrice(t, p, "gemini-x-1"); price.Long != nil {
		t.Errorf("gemini-x-1 has a long tier it was not given: %+v", price.Long)
	}
}
