package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
)

// claudeBin is the real Claude Code CLI, installed from npm by .ci/run
// (SUBGATE_CLAUDE_BIN) or found on PATH; tests that drive it skip, saying
// so, when there is none.
func claudeBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SUBGATE_CLAUDE_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("claude"); err == nil {
		return p
	}
	t.Skip("the claude CLI is not installed: .ci/run installs it with npm (npm install @anthropic-ai/claude-code) and sets SUBGATE_CLAUDE_BIN")
	return ""
}

// runClaude runs `claude -p prompt` against the gateway at addr with the
// client key, in a home of its own, with nothing but the gateway to talk
// to, and returns its JSON result.
func runClaude(t *testing.T, bin, addr, home, prompt string, env ...string) gjson.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-p", prompt, "--output-format", "json", "--model", "claude-sonnet-4-5")
	cmd.Dir = home
	cmd.Env = append([]string{
		"HOME=" + home, "PATH=" + os.Getenv("PATH"),
		"ANTHROPIC_BASE_URL=http://" + addr, "ANTHROPIC_API_KEY=" + serveKey,
		"DISABLE_TELEMETRY=1", "DISABLE_ERROR_REPORTING=1", "DISABLE_AUTOUPDATER=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "CI=1",
	}, env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("claude -p: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	// The JSON result is the last line of stdout.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return gjson.Parse(lines[len(lines)-1])
}

// TestClaudeCLI drives the real Claude Code through subgate to the mock
// upstream: its answer comes back, and the request is in the ledger under
// the client's key.
func TestClaudeCLI(t *testing.T) {
	bin := claudeBin(t)
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	in := startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{}), addr)
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	res := runClaude(t, bin, addr, home, "Say hello.")
	if res.Get("is_error").Bool() || res.Get("result").String() == "" {
		t.Fatalf("claude result: %s", res.Raw)
	}
	waitFor(t, "the CLI's requests in the ledger", func() bool {
		_, b := in.admin("GET", "/admin/api/usage?limit=50", "")
		return gjson.GetBytes(b, `records.#(key=="alice")#`).Get("#(status==200)").Exists()
	})
	t.Logf("claude result: %s", res.Raw)
	if got := up.Count("k1") + up.Count("k2"); got == 0 {
		t.Errorf("the mock saw no request from the CLI")
	}
}
