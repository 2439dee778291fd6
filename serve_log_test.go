package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"subgate/proxy/reqlog"
	"subgate/proxy/upstreamtest"
)

// TestNewLoggerFormats: the request log follows log_format and log_level
// as slog's handler does, and both write to the same destination.
func TestNewLoggerFormats(t *testing.T) {
	for _, tc := range []struct {
		format, level string
		want          []string // substrings, in order
		none          string
	}{
		{"json", "info", []string{`"msg":"hello"`, `"level":"INFO","msg":"request","route":"/v1/messages"`}, "\x1b"},
		{"text", "info", []string{"INF\x1b[0m hello", "INF\x1b[0m request \x1b[2mroute=\x1b[0m/v1/messages"}, `"msg"`},
		{"json", "warn", []string{`"msg":"careful"`}, `"msg":"request"`},
	} {
		var out bytes.Buffer
		log, rl := newLogger(ServerConfig{LogFormat: tc.format, LogLevel: tc.level}, &out)
		log.Info("hello")
		rl.Log(&reqlog.Entry{Route: "/v1/messages", Status: 200})
		log.Warn("careful")
		rl.Close()
		got := out.String()
		at := 0
		for _, w := range tc.want {
			i := strings.Index(got[at:], w)
			if i < 0 {
				t.Errorf("%s/%s: %q missing or out of order in:\n%s", tc.format, tc.level, w, got)
				break
			}
			at += i + len(w)
		}
		if strings.Contains(got, tc.none) {
			t.Errorf("%s/%s: %q in:\n%s", tc.format, tc.level, tc.none, got)
		}
	}
}

// TestServeRequestLogAtShutdown: the binary's log is one JSON line per
// request and per slog record, whole and in order; the line of a stream
// that ends during shutdown, after the last slog line, is still written.
func TestServeRequestLogAtShutdown(t *testing.T) {
	up := upstreamtest.New(upstreamtest.Config{})
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	dir, addr := t.TempDir(), freeAddr(t)
	in := startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{}), addr)
	if resp, body := in.message(serveKey, serveBody); resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	up.Script("k1", upstreamtest.OK().WithStreamDelay(100*time.Millisecond))
	done := make(chan struct{})
	go func() {
		defer close(done)
		in.message(serveKey, strings.Replace(serveBody, `"max_tokens"`, `"stream":true,"max_tokens"`, 1))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for up.Count("k1") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	in.stop()
	<-done

	var msgs []string
	var streams []bool
	for _, l := range strings.Split(strings.TrimSpace(in.out.String()), "\n") {
		var m struct {
			Msg    string `json:"msg"`
			Stream bool   `json:"stream"`
			Status int    `json:"status"`
		}
		if !strings.HasPrefix(l, "{") {
			continue // the admin token banner on stdout
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not whole JSON: %v\n%s", err, l)
		}
		msgs = append(msgs, m.Msg)
		if m.Msg == "request" {
			streams = append(streams, m.Stream)
			if m.Status != 200 {
				t.Errorf("request line with status %d: %s", m.Status, l)
			}
		}
	}
	if len(streams) != 2 || streams[0] || !streams[1] {
		t.Fatalf("request lines (stream flags) %v, want [false true]; log:\n%s", streams, in.out.String())
	}
	// The stream ended during shutdown: its line follows "shutting down".
	shut, last := -1, -1
	for i, m := range msgs {
		switch m {
		case "shutting down":
			shut = i
		case "request":
			last = i
		}
	}
	if shut < 0 || last < shut {
		t.Errorf("stream's line at %d, shutdown at %d: %v", last, shut, msgs)
	}
}
