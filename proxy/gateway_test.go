package proxy

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
)

func TestNonStreamRecordsUsage(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "sk-ant-api-1")})
	h.up.Script("sk-ant-api-1", upstreamtest.OK().WithUsage(upstreamtest.Usage{InputTokens: 1000, OutputTokens: 500, CacheReadInputTokens: 2000}))
	resp, body := h.post("/v1/messages?beta=true", simpleBody)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got, want := gjson.GetBytes(body, "type").String(), "message"; got != want {
		t.Fatalf("type = %q, want %q", got, want)
	}
	reqs := h.up.Requests()
	if got, want := reqs[0].Path, "/v1/messages?beta=true"; got != want {
		t.Errorf("upstream path = %q, want %q", got, want)
	}
	if got := reqs[0].Header["x-api-key"]; got != "sk-ant-api-1" {
		t.Errorf("upstream x-api-key = %q, want the account key", got)
	}
	rec := h.records(1)[0]
	if rec.InputTokens != 1000 || rec.OutputTokens != 500 || rec.CacheReadTokens != 2000 {
		t.Fatalf("usage = %+v", rec.Usage)
	}
	// sonnet-4-5: 1000×3 + 500×15 + 2000×0.30 = 3000+7500+600 µUSD
	if got, want := rec.CostMicros, int64(11100); got != want {
		t.Errorf("cost = %d µUSD, want %d", got, want)
	}
	if rec.Key != "alice" || rec.Account != "a1" || rec.Status != 200 || rec.Stream {
		t.Errorf("record = %+v", rec)
	}
}

func TestStreamRelaysEventsAndRecordsUsage(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "sk-ant-api-1")})
	h.up.Script("sk-ant-api-1", upstreamtest.OK().WithUsage(upstreamtest.Usage{
		InputTokens: 10, OutputTokens: 42, CacheCreationInputTokens: 300, Ephemeral5m: 100, Ephemeral1h: 200, CacheReadInputTokens: 50,
	}))
	resp, body := h.post("/v1/messages", streamBody)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("content-type"), "text/event-stream") {
		t.Fatalf("status %d content-type %q", resp.StatusCode, resp.Header.Get("content-type"))
	}
	evs := sseEvents(body)
	if got, want := evs[0][0], "message_start"; got != want {
		t.Fatalf("first event %q, want %q", got, want)
	}
	if got, want := evs[len(evs)-1][0], "message_stop"; got != want {
		t.Fatalf("last event %q, want %q", got, want)
	}
	rec := h.records(1)[0]
	want := [...]int64{10, 42, 300, 100, 200, 50}
	got := [...]int64{rec.InputTokens, rec.OutputTokens, rec.CacheCreationTokens, rec.CacheCreation5m, rec.CacheCreation1h, rec.CacheReadTokens}
	if got != want {
		t.Fatalf("usage = %v, want %v", got, want)
	}
	// 10×3 + 42×15 + 100×3.75 + 200×6 + 50×0.3 = 30+630+375+1200+15
	if got, want := rec.CostMicros, int64(2250); got != want {
		t.Errorf("cost = %d, want %d", got, want)
	}
	if !rec.Stream || rec.TTFT <= 0 {
		t.Errorf("stream=%v ttft=%v", rec.Stream, rec.TTFT)
	}
}

func TestTranscriptsGoldenUsage(t *testing.T) {
	for _, name := range upstreamtest.Transcripts() {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, []Account{apiAccount("a1", "k1")})
			h.up.Script("k1", upstreamtest.Replay(upstreamtest.Transcript(name)))
			resp, body := h.post("/v1/messages", streamBody)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got, want := string(body), string(upstreamtest.Transcript(name)); got != want {
				t.Errorf("relayed body differs from the upstream transcript:\n%s", got)
			}
			rec := h.records(1)[0]
			g := upstreamtest.Golden(name)
			want := [...]int64{int64(g.InputTokens), int64(g.OutputTokens), int64(g.CacheCreationInputTokens), int64(g.CacheReadInputTokens)}
			got := [...]int64{rec.InputTokens, rec.OutputTokens, rec.CacheCreationTokens, rec.CacheReadTokens}
			if got != want {
				t.Errorf("usage = %v, want golden %v", got, want)
			}
		})
	}
}
