package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/kv/kvtest"
	"subgate/ledger"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// flakyStore is the kv store of a test's own ledger whose writes fail
// while down is set.
type flakyStore struct {
	ledger.Store
	down atomic.Bool
}

func (s *flakyStore) Append(recs []ledger.Record, rollups []ledger.Rollup) error {
	if s.down.Load() {
		return errors.New("disk I/O error")
	}
	return s.Store.Append(recs, rollups)
}

// withLedger gives the gateway a ledger of its own over a flaky kv store,
// run (and closed after the gateway) by the test.
func withLedger(t *testing.T, cfg ledger.Config) (harnessOpt, *ledger.Ledger, *flakyStore) {
	t.Helper()
	store := &flakyStore{Store: kvtest.Open(t)}
	cfg.Store = store
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Millisecond
	}
	led := ledger.New(cfg)
	done := make(chan struct{})
	go func() { defer close(done); led.Run(context.Background()) }()
	t.Cleanup(func() { led.Close(); <-done }) // registered first: runs after the gateway's
	return func(c *Config, _ *sched.Config) { c.Ledger = led }, led, store
}

// withKeys replaces the harness's key with keys named after their secrets.
func withKeys(keys ...Key) harnessOpt {
	return func(c *Config, _ *sched.Config) {
		for i := range keys {
			keys[i].Hash = HashKey(keys[i].Name)
			if keys[i].Group == "" {
				keys[i].Group = "default"
			}
		}
		c.Keys = keys
	}
}

const unpricedBody = `{"model":"claude-mystery-1","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`

func TestUnpricedModel(t *testing.T) {
	limited := ledger.Limits{LimitDay: 5_000_000}
	alias := apiAccount("a1", "k1")
	alias.ModelMap = map[string]string{"claude-mystery-1": "claude-sonnet-4-5"}
	tests := []struct {
		name       string
		key        ledger.Limits
		allow      bool
		account    Account
		wantStatus int
		wantCost   bool // the record costs more than 0
	}{
		{"limited key refused", limited, false, apiAccount("a1", "k1"), 403, false},
		{"quota key refused", ledger.Limits{Quota: 1_000_000}, false, apiAccount("a1", "k1"), 403, false},
		{"no limits served at 0", ledger.Limits{}, false, apiAccount("a1", "k1"), 200, false},
		{"rpm only served at 0", ledger.Limits{RPM: 100}, false, apiAccount("a1", "k1"), 200, false},
		{"unpriced = allow", limited, true, apiAccount("a1", "k1"), 200, false},
		{"alias of a priced model", limited, false, alias, 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt, _, store := withLedger(t, ledger.Config{AllowUnpriced: tt.allow})
			h := newHarness(t, []Account{tt.account}, opt, withKey(Key{Limits: tt.key}))
			resp, body := h.post("/v1/messages", unpricedBody)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == 403 {
				if got, want := gjson.GetBytes(body, "error.message").String(),
					"no price for model claude-mystery-1; the admin can add [[prices]]"; got != want {
					t.Errorf("message %q, want %q", got, want)
				}
				if typ := gjson.GetBytes(body, "error.type").String(); typ != "permission_error" {
					t.Errorf("error type %q, want permission_error", typ)
				}
				if h.up.Count("k1") != 0 {
					t.Errorf("a refused request reached the upstream")
				}
			}
			recs := storedRecords(t, store, 1)
			if got := recs[0]; got.Refused != (tt.wantStatus == 403) || (got.CostMicros > 0) != tt.wantCost {
				t.Errorf("record = refused %v, cost %d; want refused %v, cost > 0 %v",
					got.Refused, got.CostMicros, tt.wantStatus == 403, tt.wantCost)
			}
		})
	}
}

// TestUnpricedModelOpenAIShape: the refusal comes in the client's own
// protocol shape.
func TestUnpricedModelOpenAIShape(t *testing.T) {
	h := newHarness(t, []Account{openaiKey("o1", "sk-o1")}, withKey(Key{Limits: ledger.Limits{LimitDay: 5_000_000}}))
	resp, body := h.post("/v1/chat/completions", `{"model":"gpt-mystery-1","messages":[{"role":"user","content":"hi"}]}`,
		"authorization", "Bearer "+testKey)
	if resp.StatusCode != 403 || !strings.Contains(gjson.GetBytes(body, "error.message").String(), "no price for model gpt-mystery-1") ||
		gjson.GetBytes(body, "error.type").String() == "" {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
}

// storedRecords waits until store holds n records and returns them.
func storedRecords(t *testing.T, store *flakyStore, n int) []ledger.Record {
	t.Helper()
	var recs []ledger.Record
	waitUntil(t, "ledger records", func() bool {
		var err error
		recs, err = store.Last(n + 10)
		return err == nil && len(recs) >= n
	})
	if len(recs) != n {
		t.Fatalf("ledger has %d records, want %d", len(recs), n)
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs
}

// TestLedgerUnavailable: while the store fails, a key with spend limits
// gets 503 in its protocol's shape and a key without keeps working; the
// records of that time all land once the store recovers, and /metrics
// shows the failure.
func TestLedgerUnavailable(t *testing.T) {
	opt, led, store := withLedger(t, ledger.Config{})
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, opt,
		withKeys(Key{Name: "sk-limited", Limits: ledger.Limits{LimitDay: 5_000_000}}, Key{Name: "sk-free"}),
		func(c *Config, _ *sched.Config) { c.MetricsEnabled, c.MetricsPublic = true, true })
	post := func(key string) (*http.Response, []byte) { return h.post("/v1/messages", simpleBody, "x-api-key", key) }

	if resp, body := post("sk-limited"); resp.StatusCode != 200 {
		t.Fatalf("before the failure: status %d body %s", resp.StatusCode, body)
	}
	storedRecords(t, store, 1)
	store.down.Store(true)
	if resp, _ := post("sk-free"); resp.StatusCode != 200 {
		t.Fatalf("free key while the store starts failing: status %d", resp.StatusCode)
	}
	waitUntil(t, "the ledger to notice", led.StoreFailing)

	upstreamBefore := h.up.Count("k1")
	resp, body := post("sk-limited")
	if resp.StatusCode != 503 || gjson.GetBytes(body, "error.type").String() != "api_error" ||
		gjson.GetBytes(body, "error.message").String() != "usage ledger unavailable" {
		t.Fatalf("limited key while failing: status %d body %s", resp.StatusCode, body)
	}
	if h.up.Count("k1") != upstreamBefore {
		t.Errorf("the refused request reached the upstream")
	}
	for range 3 {
		if resp, body := post("sk-free"); resp.StatusCode != 200 {
			t.Fatalf("free key while failing: status %d body %s", resp.StatusCode, body)
		}
	}
	metrics := h.get("/metrics")
	for _, want := range []string{"subgate_ledger_store_failing 1", "subgate_ledger_pending 4", "subgate_ledger_unavailable_total 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if n := metricValue(t, metrics, "subgate_ledger_write_errors_total"); n < 1 {
		t.Errorf("subgate_ledger_write_errors_total = %d, want >= 1", n)
	}

	store.down.Store(false)
	waitUntil(t, "the ledger to recover", func() bool { return !led.StoreFailing() })
	if resp, body := post("sk-limited"); resp.StatusCode != 200 {
		t.Fatalf("limited key after recovery: status %d body %s", resp.StatusCode, body)
	}
	recs := storedRecords(t, store, 6) // 1 before, 4 free while failing, 1 after; no record of the 503
	var free int
	for _, r := range recs {
		if r.Refused || r.Status != 200 {
			t.Errorf("unexpected record %+v", r)
		}
		if r.Key == "sk-free" {
			free++
		}
	}
	if free != 4 {
		t.Errorf("%d records of the free key, want 4", free)
	}
	if led.Dropped() != 0 {
		t.Errorf("Dropped() = %d", led.Dropped())
	}
}

// get fetches a path of the gateway and returns the body.
func (h *harness) get(path string) string {
	h.t.Helper()
	resp, err := http.Get(h.url + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue returns the value of an unlabelled series.
func metricValue(t *testing.T, metrics, name string) int64 {
	t.Helper()
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("metrics lack %s", name)
	return 0
}

// TestCountTokensCountsAgainstRPM: count_tokens calls take the key's RPM
// (shared with generation) and show in /metrics, for every protocol
// that has them.
func TestCountTokensCountsAgainstRPM(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1"), geminiKey("g1", "gk1")},
		withKey(Key{Limits: ledger.Limits{RPM: 3}}),
		func(c *Config, _ *sched.Config) { c.MetricsEnabled, c.MetricsPublic = true, true })
	count := `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hello"}]}`
	for i, want := range []int{200, 200} {
		if resp, body := h.post("/v1/messages/count_tokens", count); resp.StatusCode != want {
			t.Fatalf("count_tokens %d: status %d body %s", i, resp.StatusCode, body)
		}
	}
	gemini := `{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}`
	if resp, body := h.post("/v1beta/models/gemini-2.5-pro:countTokens", gemini, "x-goog-api-key", testKey); resp.StatusCode != 200 {
		t.Fatalf("countTokens: status %d body %s", resp.StatusCode, body)
	}
	// The key's three requests of the minute are spent: on a count...
	resp, body := h.post("/v1/messages/count_tokens", count)
	if resp.StatusCode != 429 || gjson.GetBytes(body, "error.type").String() != "rate_limit_error" || resp.Header.Get("retry-after") == "" {
		t.Fatalf("4th count_tokens: status %d body %s", resp.StatusCode, body)
	}
	// ...and on generation alike.
	if resp, _ := h.post("/v1/messages", simpleBody); resp.StatusCode != 429 {
		t.Fatalf("generation after 3 counts: status %d, want 429", resp.StatusCode)
	}
	metrics := h.get("/metrics")
	for _, want := range []string{
		`subgate_count_tokens_total{protocol="anthropic",key="alice",status="200"} 2`,
		`subgate_count_tokens_total{protocol="anthropic",key="alice",status="429"} 1`,
		`subgate_count_tokens_total{protocol="gemini",key="alice",status="200"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `subgate_requests_total{protocol="anthropic",status="200"`) {
		t.Errorf("count_tokens calls counted as generation requests")
	}
}

// gateServer holds the first upstream call until open is closed; every
// call then goes on to the mock upstream at target.
type gateServer struct {
	url    string
	open   chan struct{}
	target atomic.Pointer[httputil.ReverseProxy]
}

func newGate(t *testing.T) *gateServer {
	t.Helper()
	g := &gateServer{open: make(chan struct{})}
	var first atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			<-g.open
		}
		g.target.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

func (g *gateServer) forwardTo(t *testing.T, upstream string) {
	target, err := neturl.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	g.target.Store(httputil.NewSingleHostReverseProxy(target))
}

// TestKeyConcurrencyCapsOvershoot: requests are admitted against a budget
// by their estimates, and one that costs far more (a big 1h cache write)
// passes the limit. With key concurrency 1 the others wait for the slot;
// when they get it they find the budget spent and are refused, so the
// overshoot is one request's, not one per queued request.
func TestKeyConcurrencyCapsOvershoot(t *testing.T) {
	const limit, n = 20_000, 5 // $0.02; each estimate is about $0.0031
	g := newGate(t)
	a := apiAccount("a1", "k1")
	a.Concurrency, a.BaseURL = 10, g.url
	h := newHarness(t, []Account{a}, withKey(Key{Concurrency: 1, Limits: ledger.Limits{LimitDay: limit}}))
	g.forwardTo(t, h.up.URL())
	// 100 in × $3 + 100 out × $15 + 10,000 1h writes × $6 = $0.0618 each.
	const perRequest = 300 + 1_500 + 60_000
	h.up.SetDefault(upstreamtest.OK().WithUsage(upstreamtest.Usage{InputTokens: 100, OutputTokens: 100, Ephemeral1h: 10_000}))
	body := `{"model":"claude-sonnet-4-5","max_tokens":200,"messages":[{"role":"user","content":"hi"}]}`
	if est := h.ledger.Estimate("claude-sonnet-4-5", int64(len(body)/4), 200, 1); n*est > limit {
		t.Fatalf("%d estimates of %d do not fit the limit %d: the test needs them admitted", n, est, limit)
	}

	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			resp, _ := h.post("/v1/messages", body)
			statuses <- resp.StatusCode
		})
	}
	// All admitted: one holds the key's slot at the upstream, the rest wait.
	waitUntil(t, "requests queued for the key's slot", func() bool { _, w := h.sched.Stats(); return w == n-1 })
	close(g.open)
	wg.Wait()
	close(statuses)
	served := 0
	for st := range statuses {
		if st == 200 {
			served++
		}
	}
	var spent int64
	for _, w := range h.ledger.KeyUsage("alice", ledger.Limits{LimitDay: limit}) {
		if w.Window == ledger.WindowDay {
			spent = w.Used
		}
	}
	if served != 1 || spent != perRequest {
		t.Fatalf("served %d, spent %d µUSD; want 1 served and one request's %d (limit %d)", served, spent, perRequest, limit)
	}
}
