package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
)

// TestClaudeCLIDiscovery: Claude Code's gateway model discovery
// (CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1) asks subgate for its
// models and keeps the Claude ones the key may use, aliases included, in
// its cache file (~/.claude/cache/gateway-models.json).
func TestClaudeCLIDiscovery(t *testing.T) {
	bin := claudeBin(t)
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	accounts := defaultServeAccounts + `
[[accounts]]
name = "cx"
platform = "openai"
type = "api_key"
api_key = "sk-cx"
model_map = { "claude-fable-9" = "gpt-5.5" }
`
	startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{accounts: accounts}), addr)
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	res := runClaude(t, bin, addr, home, "Say hello.", "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1")
	if res.Get("is_error").Bool() {
		t.Fatalf("claude result: %s", res.Raw)
	}
	cache := filepath.Join(home, ".claude", "cache", "gateway-models.json")
	b, err := os.ReadFile(cache)
	if err != nil {
		t.Fatalf("no discovery cache: %v", err)
	}
	var ids []string
	for _, m := range gjson.GetBytes(b, "models").Array() {
		ids = append(ids, m.Get("id").String())
	}
	t.Logf("discovered: %v", ids)
	if !slices.Contains(ids, "claude-opus-5") || !slices.Contains(ids, "claude-fable-9") || slices.ContainsFunc(ids, func(id string) bool { return strings.HasPrefix(id, "gpt") }) {
		t.Fatalf("discovery cache %s", b)
	}
}

// TestClaudeCLIOnCodex: the real Claude Code on a ChatGPT (Codex) login,
// its model aliased on the account: the answer comes back through the
// Responses translation, and the ledger has the request under Claude
// Code's model and the Codex model.
func TestClaudeCLIOnCodex(t *testing.T) {
	bin := claudeBin(t)
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	accounts := fmt.Sprintf(`
[[accounts]]
name = "cx"
platform = "openai"
type = "oauth"
access_token = "codex-access"
refresh_token = "codex-refresh"
expires_at = %q
id_token = %q
model_map = { "claude-sonnet-4-5" = "gpt-5-codex", "claude-haiku-4-5" = "gpt-5-codex-mini", "claude-haiku-4-5-20251001" = "gpt-5-codex-mini" }
`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), upstreamtest.IDToken(upstreamtest.MockChatGPTAccountID, "me@example.com"))
	in := startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{accounts: accounts}), addr)
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	res := runClaude(t, bin, addr, home, "Say hello.")
	if res.Get("is_error").Bool() || !strings.Contains(res.Get("result").String(), "Hello from mock") {
		t.Fatalf("claude result: %s", res.Raw)
	}
	var rec gjson.Result
	waitFor(t, "the CLI's request in the ledger", func() bool {
		_, b := in.admin("GET", "/admin/api/usage?limit=50", "")
		rec = gjson.GetBytes(b, `records.#(upstream_model=="gpt-5-codex")`)
		return rec.Exists()
	})
	if rec.Get("model").String() != "claude-sonnet-4-5" || rec.Get("account").String() != "cx" || rec.Get("status").Int() != 200 ||
		rec.Get("output_tokens").Int() == 0 {
		t.Fatalf("record %s", rec.Raw)
	}
	var sawCodex bool
	for _, r := range up.Requests() {
		if strings.HasPrefix(r.Path, "/backend-api/codex/responses") {
			sawCodex = true
			if gjson.GetBytes(r.Body, "store").Type != gjson.False || gjson.GetBytes(r.Body, "model").String() == "claude-sonnet-4-5" {
				t.Errorf("codex request %s", r.Body)
			}
		}
		if strings.HasPrefix(r.Path, "/v1/messages") {
			t.Errorf("a request went to the Anthropic route: %s", r.Path)
		}
	}
	if !sawCodex {
		t.Fatal("the mock saw no Codex request")
	}
}
