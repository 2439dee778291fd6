package proxy

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"subgate/proxy/reqlog"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

func TestMetrics(t *testing.T) {
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) { c.MetricsEnabled, c.MetricsToken = true, "mtok" })
	h.up.Script("k1", upstreamtest.Overloaded())
	h.post("/v1/messages", simpleBody)
	h.post("/v1/messages", streamBody)
	h.records(2)

	resp, err := http.Get(h.url + "/metrics")
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("metrics without token: %v %v", resp, err)
	}
	req, _ := http.NewRequest("GET", h.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer mtok")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("metrics: %v %v", resp, err)
	}
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		`subgate_requests_total{protocol="anthropic",status="200",key="alice",account="a2",model="claude-sonnet-4-5"} 2`,
		`subgate_tokens_total{protocol="anthropic",status="200",key="alice",account="a2",model="claude-sonnet-4-5",kind="input"} 50`,
		`subgate_failovers_total{cause="overloaded"} 1`,
		`subgate_account_state{account="a1",state="overloaded"} 1`,
		`subgate_account_in_flight{account="a2"} 0`,
		`subgate_ttft_seconds_count 2`,
		`subgate_ledger_queue_depth`,
		`subgate_token_refreshes_total{result="ok"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "k1") || strings.Contains(body, testKey) {
		t.Errorf("metrics leak a credential")
	}
}

func TestOverheadHeader(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	h.up.Script("k1", upstreamtest.Hang(200*time.Millisecond))
	resp, _ := h.post("/v1/messages", simpleBody)
	ms, err := strconv.ParseFloat(resp.Header.Get("x-subgate-overhead-ms"), 64)
	if err != nil || ms < 0 || ms >= 200 {
		t.Fatalf("x-subgate-overhead-ms = %q (upstream wait must be left out)", resp.Header.Get("x-subgate-overhead-ms"))
	}
	if resp.Header.Get("x-subgate-request-id") == "" {
		t.Errorf("no request id")
	}
}

// TestReplyHeaders: every reply, whatever path it took, carries one
// overhead figure and a request id of its own.
func TestReplyHeaders(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	seen := map[string]bool{}
	for _, tt := range []struct {
		name, path, body string
		hdr              []string
		status           int
	}{
		{"buffered", "/v1/messages", simpleBody, nil, 200},
		{"stream", "/v1/messages", streamBody, nil, 200},
		{"bad key", "/v1/messages", simpleBody, []string{"x-api-key", "sk-sg-wrong"}, 401},
		{"not json", "/v1/messages", "nope", nil, 400},
		{"no route", "/v2/nothing", simpleBody, nil, 404},
		{"again", "/v1/messages", simpleBody, nil, 200},
	} {
		resp, _ := h.post(tt.path, tt.body, tt.hdr...)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		if v := resp.Header.Values("x-subgate-overhead-ms"); len(v) != 1 {
			t.Errorf("%s: x-subgate-overhead-ms = %q, want one value", tt.name, v)
		}
		id := resp.Header.Get("x-subgate-request-id")
		if id == "" || seen[id] {
			t.Errorf("%s: request id %q missing or seen before", tt.name, id)
		}
		seen[id] = true
	}
}

// TestSlowReaderIsCut: a client that reads nothing cannot hold a slot (or
// memory) forever.
func TestSlowReaderIsCut(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, func(c *Config, _ *sched.Config) { c.WriteTimeout = 200 * time.Millisecond })
	// A stream much larger than the socket buffers.
	var sse strings.Builder
	sse.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n")
	delta := "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + strings.Repeat("x", 4000) + "\"}}\n\n"
	for sse.Len() < 32<<20 {
		sse.WriteString(delta)
	}
	sse.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	h.up.Script("k1", upstreamtest.Replay([]byte(sse.String())))
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	conn.Write([]byte("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + testKey +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(streamBody)) + "\r\n\r\n" + streamBody))
	waitUntil(t, "stream started", func() bool { return h.status("a1").InFlight == 1 })
	// The socket buffers take a few megabytes before the writes block.
	waitUntilFor(t, 60*time.Second, "slot freed while the client reads nothing", func() bool { return h.status("a1").InFlight == 0 })
}

func TestAppendMillis(t *testing.T) {
	for _, d := range []time.Duration{0, time.Microsecond, 999 * time.Microsecond, time.Millisecond, 1234567 * time.Microsecond,
		12*time.Millisecond + 50*time.Microsecond, time.Hour, -1500 * time.Microsecond, 1500 * time.Nanosecond} {
		got := string(appendMillis(nil, d))
		want := strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
		if got != want {
			t.Errorf("appendMillis(%v) = %q, want %q", d, got, want)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// TestMetricsLogDropped: request log lines the destination refused show
// in /metrics, so a stuck or failing log is visible.
func TestMetricsLogDropped(t *testing.T) {
	rl := reqlog.New(reqlog.Config{Out: failingWriter{}, FlushInterval: time.Millisecond})
	t.Cleanup(func() { rl.Close() })
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
		c.MetricsEnabled, c.MetricsPublic, c.RequestLog = true, true, rl
	})
	h.post("/v1/messages", simpleBody)
	h.records(1)
	rl.Flush()
	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "subgate_log_dropped_total 1\n") {
		t.Errorf("metrics lack subgate_log_dropped_total 1:\n%s", b)
	}
}
