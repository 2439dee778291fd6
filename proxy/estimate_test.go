package proxy

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"subgate/ledger"
	"subgate/proxy/protocol"
	"subgate/proxy/upstreamtest"
)

// TestStreamEndingEarlyIsBilled: a stream that ends before its final usage
// is billed for what it consumed and produced, estimated, and the record
// says so; one that the upstream failed before producing anything keeps
// the upstream's own count; a complete one is not an estimate.
func TestStreamEndingEarlyIsBilled(t *testing.T) {
	responsesStream := `{"model":"gpt-5","stream":true,"input":"` + strings.Repeat("word ", 200) + `"}`
	tests := []struct {
		name      string
		acct      Account
		path      string
		body      string
		step      upstreamtest.Step
		estimated bool
		// minIn is the least input the record may carry.
		minIn int64
		// wantOut says whether output must be above zero.
		wantOut bool
	}{
		{"anthropic cut after text", apiAccount("a1", "k1"), "/v1/messages", streamBody, upstreamtest.CutStream(3), true, 1, true},
		{"responses cut before its usage", openaiKey("a1", "k1"), "/v1/responses", responsesStream, upstreamtest.CutStream(3), true, int64(len(responsesStream) / 4), true},
		// The mock's message_start reports one output token: kept as is.
		{"anthropic failed before any text", apiAccount("a1", "k1"), "/v1/messages", streamBody, upstreamtest.StreamError(), false, 1, true},
		{"anthropic complete", apiAccount("a1", "k1"), "/v1/messages", streamBody, upstreamtest.OK(), false, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []Account{tt.acct})
			h.up.Script("k1", tt.step)
			h.post(tt.path, tt.body, "authorization", "Bearer "+testKey)
			rec := h.records(1)[0]
			if rec.Estimated != tt.estimated {
				t.Errorf("estimated = %v, want %v (record %+v)", rec.Estimated, tt.estimated, rec)
			}
			if rec.InputTokens < tt.minIn {
				t.Errorf("input = %d, want at least %d", rec.InputTokens, tt.minIn)
			}
			if got := rec.OutputTokens > 0; got != tt.wantOut {
				t.Errorf("output = %d, want above zero: %v", rec.OutputTokens, tt.wantOut)
			}
			if tt.estimated && rec.CostMicros == 0 {
				t.Errorf("an estimated stream cost nothing: %+v", rec)
			}
		})
	}
}

// TestHangUpIsBilled: a client that hangs up mid-stream is billed for the
// prompt and the text it was sent, and the record is marked estimated.
func TestHangUpIsBilled(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	h.up.Script("k1", upstreamtest.OK().WithStreamDelay(200*time.Millisecond))
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	req := "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + testKey +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(streamBody)) + "\r\n\r\n" + streamBody
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "event: content_block_delta") {
			break
		}
	}
	conn.Close()
	rec := h.records(1)[0]
	if rec.Status != 499 || !rec.Estimated || rec.InputTokens == 0 || rec.OutputTokens == 0 || rec.CostMicros == 0 {
		t.Errorf("record = %+v, want 499, estimated, with input, output and cost", rec)
	}
}

func TestEstimated(t *testing.T) {
	c := &protocol.Call{Body: make([]byte, 400)}
	tests := []struct {
		name string
		u    ledger.Usage
		text int64
		want ledger.Usage
	}{
		{"nothing reported", ledger.Usage{}, 40, ledger.Usage{InputTokens: 100, OutputTokens: 10}},
		{"input reported", ledger.Usage{InputTokens: 7, OutputTokens: 1}, 40, ledger.Usage{InputTokens: 7, OutputTokens: 10}},
		{"cache reads count as input", ledger.Usage{CacheReadTokens: 9}, 0, ledger.Usage{CacheReadTokens: 9}},
		{"reported output above the text", ledger.Usage{InputTokens: 1, OutputTokens: 50}, 40, ledger.Usage{InputTokens: 1, OutputTokens: 50}},
	}
	for _, tt := range tests {
		if got := estimated(c, tt.u, tt.text); got != tt.want {
			t.Errorf("%s: estimated = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
