package ledger

import "testing"

func mustPrice(t *testing.T, p *Pricing, model string) Price {
	t.Helper()
	price, ok := p.Lookup(model)
	if !ok {
		t.Fatalf("Lookup(%q) found no price", model)
	}
	return price
}

func TestCost(t *testing.T) {
	p := NewPricing(nil, nil)
	tests := []struct {
		name  string
		model string
		u     Usage
		want  int64 // micro-USD
	}{
		// $3/Mtok × 1000 + $15/Mtok × 500 = $0.0105
		{"sonnet in/out", "claude-sonnet-4-5", Usage{InputTokens: 1000, OutputTokens: 500}, 10_500},
		{"sonnet writes unsplit at 5m", "claude-sonnet-4-5",
			Usage{CacheCreationTokens: 2000}, 7_500},
		{"sonnet 5m/1h split", "claude-sonnet-4-5",
			Usage{CacheCreationTokens: 3000, CacheCreation5m: 1000, CacheCreation1h: 2000}, 3_750 + 12_000},
		{"sonnet partial split rest at 5m", "claude-sonnet-4-5",
			Usage{CacheCreationTokens: 3000, CacheCreation1h: 1000}, 7_500 + 6_000},
		{"sonnet cache read", "claude-sonnet-4-5", Usage{CacheReadTokens: 10_000}, 3_000},
		{"sonnet exactly 200k is standard", "claude-sonnet-4-5", Usage{InputTokens: 200_000}, 600_000},
		// 210k prompt > 200k: 150k × $6 + 60k × $0.60 + 1k × $22.50
		{"sonnet above 200k", "claude-sonnet-4-5",
			Usage{InputTokens: 150_000, CacheReadTokens: 60_000, OutputTokens: 1000}, 900_000 + 36_000 + 22_500},
		{"sonnet above 200k via writes", "claude-sonnet-4-5",
			Usage{InputTokens: 1000, CacheCreationTokens: 200_000, CacheCreation1h: 200_000}, 6_000 + 2_400_000},
		{"opus 4-1 one million in", "claude-opus-4-1", Usage{InputTokens: 1_000_000}, 15_000_000},
		{"opus 4-5 mixed", "claude-opus-4-5",
			Usage{InputTokens: 10, OutputTokens: 20, CacheCreationTokens: 30, CacheReadTokens: 40},
			// (10×5 + 20×25 + 30×6.25 + 40×0.5) µ$ = 50+500+187.5+20 = 757.5 → 758
			758},
		{"haiku one token", "claude-haiku-4-5", Usage{InputTokens: 1}, 1},
		{"sonnet-5", "claude-sonnet-5", Usage{InputTokens: 1000, OutputTokens: 1000}, 12_000},
		// gpt-5: 10k input of which 4k cached; the caller subtracts.
		{"gpt-5 cached subset", "gpt-5",
			Usage{InputTokens: 6000, CacheReadTokens: 4000, OutputTokens: 2000}, 7_500 + 500 + 20_000},
		{"gpt-5-mini cached rounds down", "gpt-5-mini", Usage{CacheReadTokens: 19}, 0},    // 0.475
		{"gpt-5-mini cached rounds half up", "gpt-5-mini", Usage{CacheReadTokens: 20}, 1}, // 0.5
		{"gpt-5.5", "gpt-5.5", Usage{InputTokens: 1000, OutputTokens: 100}, 5_000 + 3_000},
		{"gpt-5.4-mini", "gpt-5.4-mini", Usage{InputTokens: 1000, OutputTokens: 1000}, 750 + 4_500},
		{"gemini 2.5 pro standard", "gemini-2.5-pro", Usage{InputTokens: 100_000, OutputTokens: 1000}, 125_000 + 10_000},
		{"gemini 2.5 pro above 200k", "gemini-2.5-pro",
			Usage{InputTokens: 250_000, OutputTokens: 1000}, 625_000 + 15_000},
		{"gemini 3 pro above 200k", "gemini-3-pro-preview",
			Usage{InputTokens: 190_000, CacheReadTokens: 20_000, OutputTokens: 1000}, 760_000 + 8_000 + 18_000},
		{"gemini 2.5 flash", "gemini-2.5-flash",
			Usage{InputTokens: 1000, OutputTokens: 1000, CacheReadTokens: 1000}, 300 + 2_500 + 30},
		// 1h writes at 2× input: opus-4-5 $10/Mtok, haiku-4-5 $2/Mtok.
		{"opus 4-5 1h writes", "claude-opus-4-5",
			Usage{CacheCreationTokens: 1000, CacheCreation1h: 1000}, 10_000},
		{"haiku 4-5 5m and 1h", "claude-haiku-4-5",
			Usage{CacheCreationTokens: 3000, CacheCreation5m: 2000, CacheCreation1h: 1000}, 2_500 + 2_000},
		{"sonnet-5 all kinds", "claude-sonnet-5",
			Usage{InputTokens: 1000, OutputTokens: 1000, CacheCreation5m: 1000, CacheCreation1h: 1000,
				CacheCreationTokens: 2000, CacheReadTokens: 1000}, 2_000 + 10_000 + 2_500 + 4_000 + 200},
		// gpt-5.5 above 272k prompt tokens: $10 input (the table's tier).
		{"gpt-5.5 above 272k", "gpt-5.5", Usage{InputTokens: 300_000}, 3_000_000},
		{"gpt-5.5 at 272k is standard", "gpt-5.5", Usage{InputTokens: 272_000}, 1_360_000},
		{"negative counts are zero", "claude-sonnet-4-5", Usage{InputTokens: -5, OutputTokens: 1000}, 15_000},
		{"huge counts do not overflow", "claude-opus-4-1", Usage{OutputTokens: 1_000_000_000_000}, 75_000_000_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cost(mustPrice(t, p, tt.model), tt.u); got != tt.want {
				t.Fatalf("Cost(%s, %+v) = %d, want %d", tt.model, tt.u, got, tt.want)
			}
		})
	}
}

func TestLookupFamilies(t *testing.T) {
	p := NewPricing(nil, nil)
	tests := []struct {
		model string
		input int64 // want Price.Input; 0 means not found
	}{
		{"claude-sonnet-4-5", 3_000_000},
		{"claude-sonnet-4-5-20250929", 3_000_000},
		{"Claude-Sonnet-4.5", 3_000_000},
		{"claude-sonnet-4-5@20250929", 3_000_000},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", 3_000_000},
		{"anthropic/claude-opus-4.7", 5_000_000},
		{"claude-opus-4-1-20250805", 15_000_000},
		{"claude-opus-4-20250514", 15_000_000},
		{"claude-opus-4-9", 5_000_000},   // newer opus → newest opus row
		{"claude-opus-6", 5_000_000},     // still the newest opus we know
		{"claude-sonnet-4-7", 3_000_000}, // newest sonnet 4.x row
		{"claude-sonnet-5-1", 2_000_000},
		{"claude-sonnet-6", 2_000_000},
		{"claude-haiku-4-6", 1_000_000},
		{"claude-haiku-4-5-latest", 1_000_000},
		{"claude-sonnet-4-20250514", 3_000_000},
		{"claude-3-7-sonnet-latest", 3_000_000},
		{"claude-3-5-sonnet-20241022", 0}, // older than every row of its family
		{"claude-opus-3", 0},
		{"gpt-5-2025-08-07", 1_250_000},
		{"gpt-5.1-codex", 1_250_000},
		{"gpt-5.2-codex-max", 1_250_000},
		{"gpt-5.1-codex-mini", 250_000},
		{"gpt-5.4-codex", 1_750_000},
		{"gpt-5.1-mini", 250_000},
		{"gpt-5.7", 5_000_000},
		{"gpt-5-nano", 50_000},
		{"gpt-4o", 2_500_000},
		{"gpt-4.1", 2_000_000},
		{"gpt-4-0613", 30_000_000},
		{"gpt-4-0409", 30_000_000}, // a snapshot tag is not a version: gpt-4, not gpt-4.1
		{"gpt-5-0807", 1_250_000},  // gpt-5, not the newer gpt-5.6
		{"o3", 2_000_000},
		{"o3-2025-04-16", 2_000_000},
		{"o5", 0}, // o-series ids have no version part to match
		{"models/gemini-2.5-pro", 1_250_000},
		{"gemini-2.5-flash-preview-05-20", 300_000},
		{"gemini-3-pro", 2_000_000},
		{"gemini-3.5-pro-preview", 2_000_000},
		{"gemini-3-flash", 500_000},
		{"gemini-2.5-flash-lite", 100_000},
		{"gemini-flash-latest", 300_000},
		{"deepseek-chat", 280_000},
		{"deepseek-v3", 0},
		{"gpt-image-1", 0},          // no output price: not a price
		{"gemini-embedding-001", 0}, // idem
		{"", 0},
		{"llama-3-70b", 0},
	}
	for _, tt := range tests {
		price, ok := p.Lookup(tt.model)
		if ok != (tt.input != 0) || price.Input != tt.input {
			t.Errorf("Lookup(%q) = %d, %v; want %d", tt.model, price.Input, ok, tt.input)
		}
		// The cached answer must equal the first one.
		if again, ok2 := p.Lookup(tt.model); ok2 != ok || again.Input != price.Input {
			t.Errorf("cached Lookup(%q) = %d, %v; want %d, %v", tt.model, again.Input, ok2, price.Input, ok)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"Claude-Opus-4.5", "claude-opus-4-5"},
		{"anthropic/claude-haiku-4-5-latest", "claude-haiku-4-5"},
		{"models/gemini-2.5-pro", "gemini-2-5-pro"},
		{"gpt-5.1-codex-max", "gpt-5-1-codex-max"},
		{"gpt-5-2025-08-07", "gpt-5"},
		{"claude-opus-4-1@20250805", "claude-opus-4-1"},
		{"  gpt-5  ", "gpt-5"},
		{"v1.", "v1."},
		{"us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"},
		{"deepseek-v3", "deepseek-v3"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOverrides(t *testing.T) {
	p := NewPricing(nil, []PriceOverride{
		{Model: "claude-sonnet-4-5", Input: 4, Output: 20},
		{Model: "Claude-Opus-5", Input: 6, Output: 30, CacheRead: 0.7},
		{Model: "my-model", Input: 1, Output: 2},
		{Model: "gpt-5", Input: 1.5, Output: 12, CacheRead: 0.15},
	})
	tests := []struct {
		model string
		want  Price
	}{
		{"claude-sonnet-4-5-20250929", Price{Input: 4_000_000, Output: 20_000_000,
			CacheWrite5m: 5_000_000, CacheWrite1h: 8_000_000, CacheRead: 400_000}},
		{"claude-opus-5", Price{Input: 6_000_000, Output: 30_000_000,
			CacheWrite5m: 7_500_000, CacheWrite1h: 12_000_000, CacheRead: 700_000}},
		{"claude-opus-5-2", Price{Input: 6_000_000, Output: 30_000_000, // family follows the override
			CacheWrite5m: 7_500_000, CacheWrite1h: 12_000_000, CacheRead: 700_000}},
		{"claude-opus-4-6", Price{Input: 5_000_000, Output: 25_000_000, // untouched row
			CacheWrite5m: 6_250_000, CacheWrite1h: 10_000_000, CacheRead: 500_000}},
		{"my-model", Price{Input: 1_000_000, Output: 2_000_000, CacheRead: 100_000}},
		{"gpt-5", Price{Input: 1_500_000, Output: 12_000_000, CacheRead: 150_000}},
	}
	for _, tt := range tests {
		if got := mustPrice(t, p, tt.model); got != tt.want {
			t.Errorf("Lookup(%q) = %+v, want %+v", tt.model, got, tt.want)
		}
	}
	// An override replaces the row whole, long-context tier included.
	u := Usage{InputTokens: 300_000}
	if got, want := Cost(mustPrice(t, p, "claude-sonnet-4-5"), u), int64(1_200_000); got != want {
		t.Fatalf("overridden sonnet above 200k = %d, want %d", got, want)
	}
}

func TestOverrideLongTier(t *testing.T) {
	p := NewPricing(nil, []PriceOverride{
		{Model: "claude-sonnet-4-6", Input: 3, Output: 15, InputAbove200k: 6, OutputAbove200k: 22.5},
		{Model: "my-model", Input: 1, Output: 2, InputAbove200k: 2, CacheReadAbove200k: 0.3},
	})
	tests := []struct {
		model string
		u     Usage
		want  int64
	}{
		{"claude-sonnet-4-6", Usage{InputTokens: 200_000, OutputTokens: 1000}, 600_000 + 15_000},
		// 150k + 60k read + 1k 1h write = 211k > 200k: the long tier, its
		// cache prices derived from its input ($6: read 0.6, 1h write 12).
		{"claude-sonnet-4-6", Usage{InputTokens: 150_000, CacheReadTokens: 60_000, CacheCreationTokens: 1000,
			CacheCreation1h: 1000, OutputTokens: 1000}, 900_000 + 36_000 + 12_000 + 22_500},
		// A zero long output keeps the standard output price.
		{"my-model", Usage{InputTokens: 250_000, CacheReadTokens: 10_000, OutputTokens: 1000}, 500_000 + 3_000 + 2_000},
	}
	for _, tt := range tests {
		if got := Cost(mustPrice(t, p, tt.model), tt.u); got != tt.want {
			t.Errorf("Cost(%s, %+v) = %d, want %d", tt.model, tt.u, got, tt.want)
		}
	}
}

func TestLookupCacheBounded(t *testing.T) {
	p := NewPricing(nil, nil)
	for i := range maxCached + 10 {
		p.Lookup("unknown-model-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)))
	}
	if got := len(*p.cache.Load()); got > maxCached {
		t.Fatalf("cache size = %d, want <= %d", got, maxCached)
	}
	if _, ok := p.Lookup("claude-opus-4-9"); !ok {
		t.Fatal("lookup past a full cache failed")
	}
}

// TestUSDToMicros pins the one rounding rule of money entering the
// ledger: to the nearest micro-dollar, halves away from zero.
func TestUSDToMicros(t *testing.T) {
	for _, tt := range []struct {
		usd  float64
		want int64
	}{
		{0, 0}, {1, 1_000_000}, {2.5, 2_500_000}, {0.0000004, 0}, {0.0000005, 1},
		{0.0000015, 2}, {3.75, 3_750_000}, {1e9, 1e15}, {-0.0000005, -1},
	} {
		if got := USDToMicros(tt.usd); got != tt.want {
			t.Errorf("USDToMicros(%v) = %d, want %d", tt.usd, got, tt.want)
		}
		if tt.want != 0 && MicrosToUSD(tt.want) == 0 {
			t.Errorf("MicrosToUSD(%d) = 0", tt.want)
		}
	}
	if got := MicrosToUSD(12_250_000); got != 12.25 {
		t.Errorf("MicrosToUSD(12250000) = %v, want 12.25", got)
	}
}
