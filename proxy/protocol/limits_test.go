package protocol

import (
	"os"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/proxy/upstream"
	"subgate/sched"
)

func respHeader(kv ...string) *fasthttp.ResponseHeader {
	var h fasthttp.ResponseHeader
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return &h
}

// TestAnthropicScopedWindows: windows of one model family carry its
// Scope; other scopes stay the account's under their own name; headers
// that are not windows are not read.
func TestAnthropicScopedWindows(t *testing.T) {
	h := respHeader(
		"anthropic-ratelimit-unified-5h-utilization", "0.5",
		"Anthropic-Ratelimit-Unified-7d_Opus-Status", "rejected",
		"anthropic-ratelimit-unified-7d_opus-reset", "1900000000",
		"anthropic-ratelimit-unified-7d_opus-utilization", "1.0",
		"anthropic-ratelimit-unified-7d_sonnet-utilization", "0.2",
		"anthropic-ratelimit-unified-7d_oi-utilization", "0.4",
		"anthropic-ratelimit-unified-overage-utilization", "0.9",
		"anthropic-ratelimit-unified-grace-5h-utilization", "0.9",
		"anthropic-ratelimit-unified-representative-claim", "seven_day_opus",
	)
	got := (&Anthropic{}).Windows(h)
	want := []sched.Window{ // account-wide first, then by scope and name
		{Name: "5h", Utilization: 0.5},
		{Name: "7d_oi", Utilization: 0.4},
		{Name: "7d", Scope: "opus", Status: "rejected", Utilization: 1, ResetAt: time.Unix(1900000000, 0)},
		{Name: "7d", Scope: "sonnet", Utilization: 0.2},
	}
	if len(got) != len(want) {
		t.Fatalf("windows = %+v, want %+v", got, want)
	}
	for i := range want {
		if g, w := got[i], want[i]; g.Name != w.Name || g.Scope != w.Scope || g.Status != w.Status ||
			g.Utilization != w.Utilization || !g.ResetAt.Equal(w.ResetAt) {
			t.Errorf("window %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestAnthropicLimitScope: a 429 rests one family when only that family's
// windows are rejected, else the account.
func TestAnthropicLimitScope(t *testing.T) {
	rejected := func(win string) [2]string {
		return [2]string{"anthropic-ratelimit-unified-" + win + "-status", "rejected"}
	}
	allowed := func(win string) [2]string {
		return [2]string{"anthropic-ratelimit-unified-" + win + "-status", "allowed"}
	}
	tests := []struct {
		name string
		hdr  [][2]string
		want string
	}{
		{"weekly opus", [][2]string{allowed("5h"), allowed("7d"), rejected("7d_opus")}, "opus"},
		{"weekly sonnet", [][2]string{rejected("7d_sonnet"), allowed("7d_opus")}, "sonnet"},
		{"five hours", [][2]string{rejected("5h"), rejected("7d_opus")}, ""},
		{"two families", [][2]string{rejected("7d_opus"), rejected("7d_sonnet")}, ""},
		{"unknown scope is the account's", [][2]string{rejected("7d_oi")}, ""},
		{"no unified headers", nil, ""},
	}
	for _, tt := range tests {
		var kv []string
		for _, p := range tt.hdr {
			kv = append(kv, p[0], p[1])
		}
		rep := (&Anthropic{}).Classify(429, respHeader(kv...), []byte(`{"type":"error","error":{"type":"rate_limit_error"}}`), &upstream.Account{})
		if rep.Scope != tt.want {
			t.Errorf("%s: scope %q, want %q", tt.name, rep.Scope, tt.want)
		}
	}
	// The reset of a scoped 429 is its window's.
	h := respHeader("anthropic-ratelimit-unified-7d_opus-status", "rejected", "anthropic-ratelimit-unified-7d_opus-reset", "1900000000",
		"anthropic-ratelimit-unified-reset", "1800000000")
	if got := anthropicReset(h, time.Now()); !got.Equal(time.Unix(1900000000, 0)) {
		t.Errorf("reset = %v", got)
	}
}

// TestCodexScope: a Codex limit is one model's when x-codex-active-limit
// names a limit with a header family of its own (codex-rs's test replies
// and the spark bucket); "codex", or an id without a family ("premium"),
// is the account's.
func TestCodexScope(t *testing.T) {
	tests := []struct {
		name string
		hdr  []string
		want string
	}{
		{"spark bucket", []string{"x-codex-active-limit", "codex_bengalfox", "x-codex-bengalfox-primary-used-percent", "100",
			"x-codex-primary-used-percent", "100"}, scopeRequest},
		{"bare id", []string{"x-codex-active-limit", "bengalfox", "x-bengalfox-secondary-used-percent", "100"}, scopeRequest},
		{"the account's codex limit", []string{"x-codex-active-limit", "codex", "x-codex-primary-used-percent", "100"}, ""},
		{"an id without a family", []string{"x-codex-active-limit", "premium", "x-codex-primary-used-percent", "3"}, ""},
		{"no header", []string{"x-codex-primary-used-percent", "3"}, ""},
		{"not an id", []string{"x-codex-active-limit", "a b", "x-a b-primary-used-percent", "1"}, ""},
	}
	body := []byte(`{"error":{"type":"usage_limit_reached","resets_in_seconds":60}}`)
	for _, tt := range tests {
		h := respHeader(tt.hdr...)
		if got := (&OpenAI{}).Classify(429, h, body, &upstream.Account{Account: sched.Account{Type: "oauth"}}).Scope; got != tt.want {
			t.Errorf("%s: 429 scope %q, want %q", tt.name, got, tt.want)
		}
		for _, w := range (&OpenAI{}).Windows(h) {
			if w.Scope != tt.want {
				t.Errorf("%s: window %s scope %q, want %q", tt.name, w.Name, w.Scope, tt.want)
			}
		}
	}
}

// TestOpenAIAPIScope: an API key's 429 that names its model counts that
// model; an organization-wide one or a quota error the account.
func TestOpenAIAPIScope(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000.", scopeRequest},
		{"Rate limit reached for organization org-xxxx on tokens per min (TPM): Limit 250000", ""},
		{"You exceeded your current quota, please check your plan and billing details.", ""},
	}
	for _, tt := range tests {
		body := []byte(`{"error":{"type":"requests","code":"rate_limit_exceeded","message":` + string(jsonString(tt.msg)) + `}}`)
		if got := (&OpenAI{}).Classify(429, respHeader(), body, &upstream.Account{Account: sched.Account{Type: "api_key"}}).Scope; got != tt.want {
			t.Errorf("%q: scope %q, want %q", tt.msg, got, tt.want)
		}
	}
}

// TestGeminiScope: Google's QuotaFailure names the model a per-model
// quota counts (the real body of testdata/gemini-429-quota.json).
func TestGeminiScope(t *testing.T) {
	real, err := os.ReadFile("../errrules/testdata/gemini-429-quota.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body string
		want string
	}{
		{"per model, named", string(real), "gemini-2.5-flash-preview-image"},
		{"per model, unnamed", `{"error":{"details":[{"violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel"}]}]}}`, scopeRequest},
		{"per project", `{"error":{"details":[{"violations":[{"quotaId":"GenerateRequestsPerMinutePerProject"}]}]}}`, ""},
		{"two models", `{"error":{"details":[{"violations":[{"quotaDimensions":{"model":"gemini-2.5-pro"}},{"quotaDimensions":{"model":"gemini-2.5-flash"}}]}]}}`, ""},
		{"no details (Code Assist)", `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}`, ""},
	}
	for _, tt := range tests {
		if got := (&Gemini{}).Classify(429, respHeader(), []byte(tt.body), &upstream.Account{}).Scope; got != tt.want {
			t.Errorf("%s: scope %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestScopeRequestResolved: the request's family replaces scopeRequest.
func TestScopeRequestResolved(t *testing.T) {
	c := &Call{Proto: &OpenAI{}, UpstreamModel: "gpt-5.3-codex-spark-2026-01-01"}
	h := respHeader("x-codex-active-limit", "codex_bengalfox", "x-codex-bengalfox-primary-used-percent", "100", "x-codex-primary-used-percent", "100")
	rep := Classify(c, 429, h, []byte(`{"error":{"type":"usage_limit_reached"}}`), &upstream.Account{Account: sched.Account{Type: "oauth"}})
	if rep.Scope != "gpt-5.3-codex-spark" {
		t.Errorf("429 scope %q", rep.Scope)
	}
	if ws := Windows(c, h); len(ws) != 1 || ws[0].Scope != "gpt-5.3-codex-spark" {
		t.Errorf("windows %+v", ws)
	}
}
