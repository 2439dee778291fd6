package proxy

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

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
