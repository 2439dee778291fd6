package proxy

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/ledger"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

func withKey(k Key) harnessOpt {
	return func(c *Config, _ *sched.Config) {
		k.Hash = HashKey(testKey)
		if k.Name == "" {
			k.Name = "alice"
		}
		if k.Group == "" {
			k.Group = "default"
		}
		c.Keys = []Key{k}
	}
}

func TestKeyRefusals(t *testing.T) {
	tests := []struct {
		name       string
		key        Key
		wantStatus int
		wantType   string
		wantMsg    string
	}{
		{"disabled", Key{Disabled: true}, 401, "authentication_error", "disabled"},
		{"expired", Key{ExpiresAt: time.Now().Add(-time.Hour)}, 401, "authentication_error", "expired"},
		{"ip", Key{AllowIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, 403, "permission_error", "127.0.0.1"},
		{"model", Key{Models: []string{"claude-haiku-*"}}, 403, "permission_error", `"claude-sonnet-4-5"`},
		{"budget", Key{Limits: ledger.Limits{LimitDay: 1}}, 429, "rate_limit_error", "daily"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []Account{apiAccount("a1", "k1")}, withKey(tt.key))
			resp, body := h.post("/v1/messages", simpleBody)
			if resp.StatusCode != tt.wantStatus || gjson.GetBytes(body, "error.type").String() != tt.wantType {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if msg := gjson.GetBytes(body, "error.message").String(); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q does not mention %q", msg, tt.wantMsg)
			}
			if tt.wantStatus == 429 && resp.Header.Get("retry-after") == "" {
				t.Errorf("no retry-after on a budget refusal")
			}
			if h.up.Count("k1") != 0 {
				t.Errorf("a refused request reached the upstream")
			}
			if rec := h.records(1)[0]; !rec.Refused || rec.CostMicros != 0 {
				t.Errorf("refusal record = %+v", rec)
			}
		})
	}
}

// TestBudgetOvershootBound fires 50 concurrent requests at a key with a
// small budget: spend may pass the limit by at most one request's
// estimate.
func TestBudgetOvershootBound(t *testing.T) {
	a := apiAccount("a1", "k1")
	a.Concurrency = 100
	const limit = 20_000 // $0.02
	h := newHarness(t, []Account{a}, withKey(Key{Limits: ledger.Limits{LimitDay: limit}}))
	h.up.SetDefault(upstreamtest.OK().WithUsage(upstreamtest.Usage{InputTokens: 100, OutputTokens: 100}))
	body := `{"model":"claude-sonnet-4-5","max_tokens":200,"messages":[{"role":"user","content":"hi"}]}`
	estimate := h.ledger.Estimate("claude-sonnet-4-5", int64(len(body)/4), 200, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, _ := h.postBG("/v1/messages", body); resp.StatusCode == 200 {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var spent int64
	for _, w := range h.ledger.KeyUsage("alice", ledger.Limits{LimitDay: limit}) {
		if w.Window == ledger.WindowDay {
			spent = w.Used
		}
	}
	if spent > limit+estimate {
		t.Fatalf("spent %d µUSD, limit %d + one estimate %d", spent, limit, estimate)
	}
	if ok == 0 || ok == 50 {
		t.Errorf("%d of 50 served; want some served and some refused", ok)
	}
	perRequest := int64(100*3 + 100*15)
	if got := spent; got != int64(ok)*perRequest {
		t.Errorf("spent %d, want %d served × %d", got, ok, perRequest)
	}
}

func TestUsageEndpoint(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, withKey(Key{Limits: ledger.Limits{LimitDay: 5_000_000}}))
	h.post("/v1/messages", simpleBody)
	h.records(1)
	req, _ := http.NewRequest("GET", h.url+"/v1/usage", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/usage: %v %v", resp, err)
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	body := b.String()
	if !gjson.Get(body, "isValid").Bool() || gjson.Get(body, "unit").String() != "USD" || gjson.Get(body, "planName").String() != "alice" {
		t.Fatalf("body %s", body)
	}
	rem := gjson.Get(body, "remaining").Float()
	if rem <= 4.9 || rem >= 5 {
		t.Errorf("remaining = %v, want just under 5", rem)
	}
	if !gjson.Get(body, `detail.windows.#(window=="day").reset_at`).Exists() {
		t.Errorf("no day window in %s", body)
	}
}

func TestInterceptWarmup(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, withKey(Key{InterceptWarmup: true}))
	for _, stream := range []bool{false, true} {
		body := `{"model":"claude-haiku-4-5","max_tokens":10,"stream":` + map[bool]string{true: "true", false: "false"}[stream] +
			`,"messages":[{"role":"user","content":[{"type":"text","text":"Warmup"}]}]}`
		resp, out := h.post("/v1/messages", body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if stream {
			if evs := sseEvents(out); evs[len(evs)-1][0] != "message_stop" {
				t.Errorf("events %v", evs)
			}
		} else if gjson.GetBytes(out, "type").String() != "message" {
			t.Errorf("body %s", out)
		}
	}
	if h.up.Count("k1") != 0 {
		t.Errorf("a warmup reached the upstream")
	}
	// A real request still goes through.
	h.post("/v1/messages", simpleBody)
	recs := h.records(3)
	if !recs[0].Intercepted || !recs[1].Intercepted || recs[2].Intercepted || recs[0].CostMicros != 0 {
		t.Errorf("records %+v", recs)
	}
}
