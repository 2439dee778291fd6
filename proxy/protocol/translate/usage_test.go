package translate_test

import (
	"testing"

	"subgate/ledger"
	"subgate/proxy/protocol/translate"
)

// TestUsageIsLedgerUsage: the gateway records a translator's usage with a
// conversion, which compiles only while the fields match.
func TestUsageIsLedgerUsage(t *testing.T) {
	u := translate.Usage{InputTokens: 1, OutputTokens: 2, CacheCreationTokens: 3, CacheCreation5m: 1, CacheCreation1h: 2, CacheReadTokens: 4}
	if got := ledger.Usage(u); got.CacheReadTokens != 4 || got.CacheCreation1h != 2 {
		t.Errorf("ledger.Usage(u) = %+v", got)
	}
}
