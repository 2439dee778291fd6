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

// TestClaudeCLITwoDevicesOneAccount drives two real Claude Code installs
// (two homes: two device ids) through one setup-token account: the
// provider sees one device and one client, while each install's
// conversation keeps a session of its own (docs/identity.md).
func TestClaudeCLITwoDevicesOneAccount(t *testing.T) {
	bin := claudeBin(t)
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	const token = "sk-ant-oat01-two-devices"
	accounts := "[[accounts]]\nname = \"max1\"\ntype = \"setup_token\"\naccess_token = \"" + token + "\"\n"
	startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{accounts: accounts}), addr)
	var homes [2]string
	for i := range homes {
		homes[i] = filepath.Join(dir, "home"+string(rune('1'+i)))
		if err := os.MkdirAll(homes[i], 0o700); err != nil {
			t.Fatal(err)
		}
		if res := runClaude(t, bin, addr, homes[i], "Say hello."); res.Get("is_error").Bool() {
			t.Fatalf("claude %d: %s", i+1, res.Raw)
		}
	}
	// Which install sent what: the requests before the second run began
	// are the first's. The mock numbers requests in order.
	var sent [2][]upstreamtest.Recorded
	run := 0
	for _, r := range up.Requests() {
		if r.Credential != token || !strings.HasPrefix(r.Path, "/v1/messages") || strings.Contains(r.Path, "count_tokens") {
			continue
		}
		uid := gjson.GetBytes(r.Body, "metadata.user_id").String()
		if run == 0 && len(sent[0]) > 0 && gjson.Get(uid, "session_id").String() != sessionOf(sent[0][0]) {
			run = 1
		}
		sent[run] = append(sent[run], r)
	}
	if len(sent[0]) == 0 || len(sent[1]) == 0 {
		t.Fatalf("the mock saw %d and %d messages requests from the two installs", len(sent[0]), len(sent[1]))
	}
	device, ua := deviceOf(sent[0][0]), sent[0][0].Header["user-agent"]
	if len(device) != 64 {
		t.Fatalf("device_id %q", device)
	}
	for i, home := range homes {
		if own := gjson.GetBytes(readFile(t, filepath.Join(home, ".claude.json")), "userID").String(); own != "" && own == device {
			t.Errorf("install %d: its own device id %s reached the provider", i+1, own)
		}
		for _, r := range sent[i] {
			if got := deviceOf(r); got != device {
				t.Errorf("install %d sent device %s, want the account's %s", i+1, got, device)
			}
			if got := r.Header["user-agent"]; got != ua || !strings.HasPrefix(got, "claude-cli/") {
				t.Errorf("install %d sent User-Agent %q, want %q", i+1, got, ua)
			}
			if got := r.Header["x-claude-code-session-id"]; got != "" && got != sessionOf(r) {
				t.Errorf("install %d: session header %s disagrees with user_id's %s", i+1, got, sessionOf(r))
			}
		}
	}
	if sessionOf(sent[0][0]) == sessionOf(sent[1][0]) {
		t.Errorf("the two installs' conversations share upstream session %s", sessionOf(sent[0][0]))
	}
}

func sessionOf(r upstreamtest.Recorded) string {
	return gjson.Get(gjson.GetBytes(r.Body, "metadata.user_id").String(), "session_id").String()
}

func deviceOf(r upstreamtest.Recorded) string {
	return gjson.Get(gjson.GetBytes(r.Body, "metadata.user_id").String(), "device_id").String()
}

// readFile returns the file's bytes, or nil when it cannot be read.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, _ := os.ReadFile(path)
	return b
}
