package proxy

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"subgate/sched"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRequestLogLine: every request writes one JSON line with stable keys,
// and neither the client's key nor the upstream credential appears in it.
func TestRequestLogLine(t *testing.T) {
	var buf lockedBuffer
	h := newHarness(t, []Account{apiAccount("a1", "sk-ant-upstream-secret")}, func(c *Config, _ *sched.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	})
	resp, body := h.post("/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
			if line != nil {
				t.Fatalf("two request lines for one request:\n%s", buf.String())
			}
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no request line in:\n%s", buf.String())
	}
	want := map[string]any{"route": "/v1/messages", "key": "alice", "acct": "a1", "model": "claude-sonnet-4-5",
		"status": 200.0, "stream": false, "failovers": 0.0, "err": ""}
	for k, v := range want {
		if got := line[k]; got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	for _, k := range []string{"in", "out", "cache_read", "cache_write", "ms", "ttft_ms"} {
		if _, ok := line[k].(float64); !ok {
			t.Errorf("%s missing or not a number: %v", k, line[k])
		}
	}
	if line["in"] == 0.0 || line["out"] == 0.0 {
		t.Errorf("usage not logged: in=%v out=%v", line["in"], line["out"])
	}
	for _, secret := range []string{testKey, "sk-ant-upstream-secret"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log contains a secret %q", secret)
		}
	}
}
