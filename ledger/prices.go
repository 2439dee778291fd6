package ledger

// priceRow gives one price to every name in names.
type priceRow struct {
	names []string
	price Price
}

// longContext is the prompt size above which long-context tiers apply.
const longContext = 200_000

// defaultPrices is the embedded table from spec/pricing.md (USD per Mtok,
// written here in micro-USD). It is a function, not a package variable, so
// that nothing can mutate the shipped defaults.
//
// Where the spec lists a long-context tier for one model of a shared row
// (sonnet-4-5 of "sonnet-4-5 / 4-6", 3-pro of "3-pro / 3.1-pro"), the whole
// row gets the tier: the models share one published price sheet.
func defaultPrices() []priceRow {
	return []priceRow{
		// Anthropic: writes 1.25× (5m) and 2× (1h), reads 0.1× of input.
		{
			names: []string{"claude-opus-4-5", "claude-opus-4-6", "claude-opus-4-7"},
			price: anthropic(5_000_000, 25_000_000),
		},
		{
			names: []string{"claude-opus-4", "claude-opus-4-1"},
			price: anthropic(15_000_000, 75_000_000),
		},
		{
			names: []string{"claude-sonnet-4-5", "claude-sonnet-4-6"},
			price: withLong(anthropic(3_000_000, 15_000_000), anthropic(6_000_000, 22_500_000)),
		},
		{
			names: []string{"claude-sonnet-5"},
			price: anthropic(2_000_000, 10_000_000),
		},
		{
			names: []string{"claude-haiku-4-5"},
			price: anthropic(1_000_000, 5_000_000),
		},

		// OpenAI: cached input is a subset of input_tokens; the caller
		// subtracts it before building a Usage. No write charge.
		{
			names: []string{"gpt-5", "gpt-5-codex", "gpt-5.1", "gpt-5.1-codex", "gpt-5.1-codex-max"},
			price: cachedOnly(1_250_000, 10_000_000, 125_000),
		},
		{
			names: []string{"gpt-5-mini", "gpt-5.1-codex-mini"},
			price: cachedOnly(250_000, 2_000_000, 25_000),
		},
		{
			names: []string{"gpt-5.2", "gpt-5.2-codex", "gpt-5.3-codex"},
			price: cachedOnly(1_750_000, 14_000_000, 175_000),
		},
		{names: []string{"gpt-5.4"}, price: cachedOnly(2_500_000, 15_000_000, 250_000)},
		{names: []string{"gpt-5.4-mini"}, price: cachedOnly(750_000, 4_500_000, 75_000)},
		{names: []string{"gpt-5.5"}, price: cachedOnly(5_000_000, 30_000_000, 500_000)},

		// Gemini: cached is a subset of the prompt; thinking is output.
		{
			names: []string{"gemini-2.5-pro"},
			price: withLong(cachedOnly(1_250_000, 10_000_000, 125_000),
				cachedOnly(2_500_000, 15_000_000, 250_000)),
		},
		{names: []string{"gemini-2.5-flash"}, price: cachedOnly(300_000, 2_500_000, 30_000)},
		{
			names: []string{"gemini-3-pro-preview", "gemini-3.1-pro-preview"},
			price: withLong(cachedOnly(2_000_000, 12_000_000, 200_000),
				cachedOnly(4_000_000, 18_000_000, 400_000)),
		},
		{names: []string{"gemini-3-flash-preview"}, price: cachedOnly(500_000, 3_000_000, 50_000)},
	}
}

// anthropic derives Anthropic's cache prices from the input price.
func anthropic(input, output int64) Price {
	return Price{
		Input:        input,
		Output:       output,
		CacheWrite5m: input * 5 / 4,
		CacheWrite1h: input * 2,
		CacheRead:    input / 10,
	}
}

// cachedOnly is a price with a cached-read rate and no write charge.
func cachedOnly(input, output, cached int64) Price {
	return Price{Input: input, Output: output, CacheRead: cached}
}

// withLong attaches a long-context tier above longContext prompt tokens.
func withLong(p, long Price) Price {
	p.LongThreshold = longContext
	p.Long = &long
	return p
}
