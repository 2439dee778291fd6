package proxy

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"subgate/ledger"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// Claude Code's gateway contract (docs/clients.md, "Claude Code's gateway
// contract"), end to end through the gateway and the mock upstream.

// claudeCodeBody is a real Claude Code 2.1.332 request body (49 KB:
// context_management, output_config, adaptive thinking, defer_loading…)
// with what a later client might add: unknown top-level fields, tool
// strict, a new content block type. The gateway must not drop any of it.
func claudeCodeBody(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("identity/testdata/claude-code-2.1.332.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, edit := range []struct{ path, raw string }{
		{"tools.0.strict", `true`},
		{"tools.1.defer_loading", `true`},
		{"output_config.format", `{"type":"json_schema","schema":{"type":"object"}}`},
		{"container", `{"id":"cntr_2027","skills":[{"type":"anthropic","skill_id":"xlsx"}]}`},
		{"mcp_servers", `[{"type":"url","url":"https://mcp.example/sse","name":"ex"}]`},
		{"a_field_from_2027", `{"nested":[1,2.50,"x\u00e9"],"flag":null}`},
	} {
		if b, err = sjson.SetRawBytes(b, edit.path, []byte(edit.raw)); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// ccHeaders are the headers of the captured Claude Code request, as
// (name, value) pairs for harness.post.
var ccHeaders = []string{
	"user-agent", "claude-cli/2.1.332 (external, sdk-cli)",
	"x-app", "cli",
	"anthropic-version", "2023-06-01",
	"anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,per-turn-control-2026-07-01,mid-conversation-tool-changes-2026-07-01,thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20,effort-2025-11-24",
	"anthropic-dangerous-direct-browser-access", "true",
	"x-claude-code-session-id", "8f9746a8-ff1d-42b5-b6c4-86c83941b99f",
	"x-stainless-arch", "x64",
	"x-stainless-lang", "js",
	"x-stainless-os", "Linux",
	"x-stainless-package-version", "0.128.0",
	"x-stainless-retry-count", "0",
	"x-stainless-runtime", "node",
	"x-stainless-runtime-version", "v26.12.1",
	"x-stainless-timeout", "600",
}

// header returns the value of name in (name, value) pairs.
func header(pairs []string, name string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] == name {
			return pairs[i+1]
		}
	}
	return ""
}

// TestContractPassThrough: anthropic-beta and anthropic-version reach the
// upstream as sent (an OAuth account's list only gains oauth-2025-04-20,
// in front), and the body, every field of it, byte for byte.
func TestContractPassThrough(t *testing.T) {
	clientBeta := header(ccHeaders, "anthropic-beta")
	tests := []struct {
		name     string
		acct     Account
		wantBeta string
	}{
		{"api key", apiAccount("a1", "k1"), clientBeta},
		{"oauth", oauthAccount("max1", "sk-ant-oat01-contract", "", time.Now().Add(24*time.Hour)), "oauth-2025-04-20," + clientBeta},
	}
	body := claudeCodeBody(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []Account{tt.acct})
			resp, b := h.post("/v1/messages?beta=true", string(body), ccHeaders...)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			got := h.up.Requests()[0]
			if !bytes.Equal(got.Body, body) {
				t.Errorf("body changed on its way (%d bytes sent, %d received)", len(body), len(got.Body))
			}
			if got, want := got.Header["anthropic-beta"], tt.wantBeta; got != want {
				t.Errorf("anthropic-beta = %q, want %q", got, want)
			}
			if got, want := got.Header["anthropic-version"], "2023-06-01"; got != want {
				t.Errorf("anthropic-version = %q, want %q", got, want)
			}
			if got.Path != "/v1/messages?beta=true" {
				t.Errorf("path = %q", got.Path)
			}
		})
	}
}

// TestContractBetaRepeatedAndAdded: a beta list split over repeated
// headers stays one list in the order sent, flags the gateway adds are
// added once and nothing is dropped or reordered.
func TestContractBetaRepeatedAndAdded(t *testing.T) {
	h := newHarness(t, []Account{oauthAccount("max1", "sk-ant-oat01-beta", "", time.Now().Add(24*time.Hour))})
	req, _ := http.NewRequest("POST", h.url+"/v1/messages", strings.NewReader(
		`{"model":"claude-sonnet-4-5[1m]","max_tokens":10,"system":"You are Claude Code, Anthropic's official CLI for Claude.","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Add("anthropic-beta", "zeta-2027-01-01, oauth-2025-04-20")
	req.Header.Add("anthropic-beta", "alpha-2026-02-02")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := h.up.Requests()[0].Header["anthropic-beta"]
	if want := "zeta-2027-01-01, oauth-2025-04-20,alpha-2026-02-02,context-1m-2025-08-07"; got != want {
		t.Errorf("anthropic-beta = %q, want %q", got, want)
	}
}

// TestContractLongContext: a "[1m]" model goes upstream as the plain id
// with the 1M-context beta, is allowed, scheduled and recorded as the
// plain model, and billed at the long-context tier above 200k prompt
// tokens.
func TestContractLongContext(t *testing.T) {
	onlyPlain := apiAccount("a1", "k1")
	onlyPlain.Models = []string{"claude-sonnet-4-5"} // the allow-list names the plain id
	h := newHarness(t, []Account{onlyPlain})
	const body = `{"model":"claude-sonnet-4-5[1m]","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	for _, in := range []int{100_000, 250_000} {
		h.up.Script("k1", upstreamtest.OK().WithUsage(upstreamtest.Usage{InputTokens: in, OutputTokens: 1000}))
		resp, b := h.post("/v1/messages", body, "anthropic-beta", "claude-code-20250219")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
	reqs := h.up.Requests()
	for _, r := range reqs {
		if got := gjson.GetBytes(r.Body, "model").String(); got != "claude-sonnet-4-5" {
			t.Errorf("upstream model = %q, want the plain id", got)
		}
		if got, want := r.Header["anthropic-beta"], "claude-code-20250219,context-1m-2025-08-07"; got != want {
			t.Errorf("anthropic-beta = %q, want %q", got, want)
		}
	}
	recs := h.records(2)
	price, ok := ledger.NewPricing(nil, nil).Lookup("claude-sonnet-4-5")
	if !ok {
		t.Fatal("no price for claude-sonnet-4-5")
	}
	for i, want := range []int64{
		ledger.Cost(price, ledger.Usage{InputTokens: 100_000, OutputTokens: 1000}),
		ledger.Cost(price, ledger.Usage{InputTokens: 250_000, OutputTokens: 1000}),
	} {
		if recs[i].Model != "claude-sonnet-4-5" || recs[i].UpstreamModel != "claude-sonnet-4-5" {
			t.Errorf("record %d model = %q / %q, want the plain id", i, recs[i].Model, recs[i].UpstreamModel)
		}
		if got := recs[i].CostMicros; got != want || got == 0 {
			t.Errorf("record %d cost = %d µ$, want %d", i, got, want)
		}
	}
	// The long-context tier costs more per token than the base rate.
	if recs[1].CostMicros*100_000 <= recs[0].CostMicros*250_000 {
		t.Errorf("250k prompt cost %d is not above the base rate (100k cost %d)", recs[1].CostMicros, recs[0].CostMicros)
	}
}

// TestContractHeadRoot: HEAD / answers 200 (Claude Code's reachability
// probe), as does HEAD /api/hello.
func TestContractHeadRoot(t *testing.T) {
	h := newHarness(t, nil)
	for _, path := range []string{"/", "/api/hello"} {
		resp, err := http.Head(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("HEAD %s = %d, want 200", path, resp.StatusCode)
		}
	}
}

// TestContractSubagentSticksToParent: Claude Code's subagents run in the
// parent's process and send its session id (metadata.user_id and
// X-Claude-Code-Session-Id) with agent headers of their own, a system
// prompt and first message of their own and often another model. They
// must land on the account the parent's session is bound to, which a key
// built from the agent id or the content would not give.
func TestContractSubagentSticksToParent(t *testing.T) {
	a, b := apiAccount("a1", "k1"), apiAccount("a2", "k2") // equal: least recently used alternates
	h := newHarness(t, []Account{a, b})
	const session = "0d4fa0e1-5b8c-4f3a-9d2e-7c1b3a5e9f10"
	userID := `{\"device_id\":\"` + strings.Repeat("ab", 32) + `\",\"account_uuid\":\"\",\"session_id\":\"` + session + `\"}`
	parent := `{"model":"claude-opus-4-8","max_tokens":10,"metadata":{"user_id":"` + userID + `"},` +
		`"system":[{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{"type":"ephemeral"}}],` +
		`"messages":[{"role":"user","content":"refactor the parser"}]}`
	resp, body := h.post("/v1/messages", parent, "x-claude-code-session-id", session)
	if resp.StatusCode != 200 {
		t.Fatalf("parent: %d %s", resp.StatusCode, body)
	}
	bound := h.up.Requests()[0].Credential
	// Another conversation's request, so that least-recently-used would
	// pick the other account next if nothing bound the subagents.
	other := strings.Replace(strings.Replace(parent, session, "11111111-2222-4333-8444-555555555555", 1), "refactor", "explain", 1)
	if resp, body := h.post("/v1/messages", other, "x-claude-code-session-id", "11111111-2222-4333-8444-555555555555"); resp.StatusCode != 200 {
		t.Fatalf("other session: %d %s", resp.StatusCode, body)
	}
	for i, agent := range []string{"a1b2c3d4e5f607182", "a9f8e7d6c5b4a3921", "a1b2c3d4e5f607182"} {
		sub := `{"model":"claude-haiku-4-5","max_tokens":10,"metadata":{"user_id":"` + userID + `"},` +
			`"system":[{"type":"text","text":"You are an agent for Claude Code, Anthropic's official CLI for Claude. Search the code."}],` +
			`"messages":[{"role":"user","content":"find every caller of parse (` + agent + `)"}]}`
		resp, body := h.post("/v1/messages", sub, "x-claude-code-session-id", session,
			"x-claude-code-agent-id", agent, "x-claude-code-parent-agent-id", "")
		if resp.StatusCode != 200 {
			t.Fatalf("subagent %d: %d %s", i, resp.StatusCode, body)
		}
		reqs := h.up.Requests()
		got := reqs[len(reqs)-1]
		if got.Credential != bound {
			t.Errorf("subagent %d went to %s, its parent's session is on %s", i, got.Credential, bound)
		}
		if got.Header["x-claude-code-agent-id"] != agent {
			t.Errorf("subagent %d: x-claude-code-agent-id = %q, want it forwarded", i, got.Header["x-claude-code-agent-id"])
		}
	}
	if st := h.status("a1"); st.State != sched.StateOK {
		t.Errorf("a1 state %s", st.State)
	}
}
