package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"subgate/proxy/reqlog"
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

// requestLines returns the request lines in a JSON log.
func requestLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if l == "" {
			continue
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, l)
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// TestRequestLogLine: every request writes one JSON line with stable keys,
// through the slog handler or the batched request log, and neither the
// client's key nor the upstream credential appears in it.
func TestRequestLogLine(t *testing.T) {
	for _, batched := range []bool{false, true} {
		var buf lockedBuffer
		h := newHarness(t, []Account{apiAccount("a1", "sk-ant-upstream-secret")}, func(c *Config, _ *sched.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
			if batched {
				rl := reqlog.New(reqlog.Config{Out: &buf})
				t.Cleanup(func() { rl.Close() })
				c.Logger, c.RequestLog = slog.New(slog.NewJSONHandler(rl, nil)), rl
			}
		})
		resp, body := h.post("/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if batched {
			h.srv.cfg.RequestLog.Flush()
		}
		lines := requestLines(t, buf.String())
		if len(lines) != 1 {
			t.Fatalf("batched=%v: %d request lines for one request:\n%s", batched, len(lines), buf.String())
		}
		line := lines[0]
		want := map[string]any{"level": "INFO", "route": "/v1/messages", "key": "alice", "acct": "a1", "model": "claude-sonnet-4-5",
			"status": 200.0, "stream": false, "failovers": 0.0, "err": ""}
		for k, v := range want {
			if got := line[k]; got != v {
				t.Errorf("batched=%v: %s = %v, want %v", batched, k, got, v)
			}
		}
		for _, k := range []string{"in", "out", "cache_read", "cache_write", "ms", "ttft_ms"} {
			if _, ok := line[k].(float64); !ok {
				t.Errorf("batched=%v: %s missing or not a number: %v", batched, k, line[k])
			}
		}
		if line["in"] == 0.0 || line["out"] == 0.0 {
			t.Errorf("batched=%v: usage not logged: in=%v out=%v", batched, line["in"], line["out"])
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(line["time"])); err != nil {
			t.Errorf("batched=%v: time: %v", batched, err)
		}
		for _, secret := range []string{testKey, "sk-ant-upstream-secret"} {
			if strings.Contains(buf.String(), secret) {
				t.Errorf("batched=%v: log contains a secret %q", batched, secret)
			}
		}
	}
}

// TestRequestLogFlushedAtShutdown: the lines of the last requests, a
// buffered one and a stream, are written by Shutdown, though the batch
// reached neither its size nor its interval.
func TestRequestLogFlushedAtShutdown(t *testing.T) {
	var buf lockedBuffer
	rl := reqlog.New(reqlog.Config{Out: &buf, FlushInterval: time.Hour})
	t.Cleanup(func() { rl.Close() })
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, func(c *Config, _ *sched.Config) {
		c.Logger, c.RequestLog = slog.New(slog.NewJSONHandler(rl, nil)), rl
	})
	for _, body := range []string{simpleBody, streamBody} {
		if resp, b := h.post("/v1/messages", body); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	lines := requestLines(t, buf.String())
	if len(lines) != 2 {
		t.Fatalf("%d request lines after shutdown, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range []bool{false, true} {
		if got := lines[i]["stream"]; got != want || lines[i]["status"] != 200.0 {
			t.Errorf("line %d: stream = %v status = %v, want stream %v status 200", i, got, lines[i]["status"], want)
		}
	}
}
