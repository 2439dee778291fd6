package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	in := startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{accounts: accounts}), addr)
	_ = in
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
