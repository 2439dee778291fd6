package proxy

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

func twoAccounts() []Account {
	a, b := apiAccount("a1", "k1"), apiAccount("a2", "k2")
	b.Priority = 20 // a1 is always tried first
	return []Account{a, b}
}

func TestFailoverHealthTable(t *testing.T) {
	tests := []struct {
		name      string
		step      upstreamtest.Step
		wantState sched.State
	}{
		{"429", upstreamtest.RateLimited(30*time.Second, time.Time{}), sched.StateRateLimited},
		{"529", upstreamtest.Overloaded(), sched.StateOverloaded},
		{"401 api key", upstreamtest.AuthError(), sched.StateError},
		// A 403 benches an API key only when it says the key is dead (issue
		// 13); any other 403 is relayed (errrules_test.go).
		{"403 api key revoked", upstreamtest.Error(403, "permission_error", "This API key has been revoked."), sched.StateError},
		{"500", upstreamtest.ServerError(), sched.StateOK}, // one 5xx is not yet a cooldown
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, twoAccounts())
			h.up.Script("k1", tt.step)
			resp, body := h.post("/v1/messages", simpleBody)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got, want := h.up.Count("k1"), 1; got != want {
				t.Errorf("a1 requests = %d, want %d", got, want)
			}
			if got, want := h.up.Count("k2"), 1; got != want {
				t.Errorf("a2 requests = %d, want %d", got, want)
			}
			if got := h.status("a1").State; got != tt.wantState {
				t.Errorf("a1 state = %s, want %s", got, tt.wantState)
			}
			rec := h.records(1)[0]
			if rec.Account != "a2" || rec.Status != 200 {
				t.Errorf("record account=%s status=%d", rec.Account, rec.Status)
			}
		})
	}
}

func TestRequestErrorIsNotFailedOver(t *testing.T) {
	h := newHarness(t, twoAccounts())
	h.up.Script("k1", upstreamtest.InvalidRequest("messages: field required"))
	resp, body := h.post("/v1/messages", simpleBody)
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if got := gjson.GetBytes(body, "error.message").String(); got != "messages: field required" {
		t.Errorf("message = %q, want the upstream's", got)
	}
	if h.up.Count("k2") != 0 {
		t.Errorf("a 400 was failed over")
	}
	if got := h.status("a1").State; got != sched.StateOK {
		t.Errorf("a1 state = %s, want ok", got)
	}
}

// TestAllAccountsFailClientErrors: when every account fails, a client
// sees the last upstream error as it came for the classes its retry logic
// reads (429, 529, 5xx: Claude Code's gateway contract), and the safe
// message for an account's credential failure, whose wording ("invalid
// x-api-key") would make the client doubt its own key.
func TestAllAccountsFailClientErrors(t *testing.T) {
	tests := []struct {
		name       string
		step       upstreamtest.Step
		wantStatus int
		wantType   string
		wantMsg    string
		relayed    bool // the upstream's own body, request id and retry hint
	}{
		{"429", upstreamtest.RateLimited(time.Minute, time.Time{}), 429, "rate_limit_error",
			"This request would exceed your account's rate limit. Please try again later.", true},
		{"529", upstreamtest.Overloaded(), 529, "overloaded_error", "Overloaded", true},
		{"401", upstreamtest.AuthError(), 502, "upstream_error", "upstream authentication failed", false},
		{"500", upstreamtest.ServerError(), 500, "api_error", "Internal server error", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, twoAccounts())
			h.up.Script("k1", tt.step)
			h.up.Script("k2", tt.step)
			for _, body := range []string{simpleBody, streamBody} {
				resp, b := h.post("/v1/messages", body)
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
				}
				if got := gjson.GetBytes(b, "error.type").String(); got != tt.wantType {
					t.Errorf("type = %q, want %q", got, tt.wantType)
				}
				if got := gjson.GetBytes(b, "error.message").String(); got != tt.wantMsg {
					t.Errorf("message = %q, want %q", got, tt.wantMsg)
				}
				if got := gjson.GetBytes(b, "type").String(); got != "error" {
					t.Errorf("not an Anthropic error shape: %s", b)
				}
				upstreamID := gjson.GetBytes(b, "request_id").String()
				if got := upstreamID != "" && resp.Header.Get("request-id") == upstreamID; got != tt.relayed {
					t.Errorf("upstream body and request id relayed = %v, want %v: %s %v", got, tt.relayed, b, resp.Header)
				}
				if got := resp.Header.Get("x-should-retry") == "true"; got != tt.relayed {
					t.Errorf("x-should-retry relayed = %v, want %v", got, tt.relayed)
				}
				if tt.wantStatus == 429 && resp.Header.Get("retry-after") != "60" {
					t.Errorf("retry-after = %q, want the upstream's 60", resp.Header.Get("retry-after"))
				}
				if strings.Contains(string(b), "k1") || strings.Contains(string(b), "k2") || strings.Contains(string(b), "x-api-key") {
					t.Errorf("error leaks a credential: %s", b)
				}
				h.up.Script("k1", tt.step)
				h.up.Script("k2", tt.step)
				h.sched.Clear("a1")
				h.sched.Clear("a2")
			}
		})
	}
}

func TestNoAccountIs503(t *testing.T) {
	h := newHarness(t, nil)
	resp, body := h.post("/v1/messages", simpleBody)
	if resp.StatusCode != 503 || gjson.GetBytes(body, "error.type").String() != "api_error" {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
}

func TestMaxAccountSwitches(t *testing.T) {
	var accts []Account
	for i, k := range []string{"k1", "k2", "k3", "k4", "k5"} {
		a := apiAccount("a"+k[1:], k)
		a.Priority = i
		accts = append(accts, a)
	}
	h := newHarness(t, accts, func(c *Config, _ *sched.Config) { c.MaxAccountSwitches = 2 })
	for _, k := range []string{"k1", "k2", "k3", "k4", "k5"} {
		h.up.Script(k, upstreamtest.ServerError())
	}
	resp, _ := h.post("/v1/messages", simpleBody)
	if resp.StatusCode != 500 { // the last upstream error, as it came
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	total := 0
	for _, k := range []string{"k1", "k2", "k3", "k4", "k5"} {
		total += h.up.Count(k)
	}
	if got, want := total, 3; got != want {
		t.Errorf("upstream attempts = %d, want %d (1 + 2 switches)", got, want)
	}
}

func TestNoFailoverAfterFirstByte(t *testing.T) {
	for _, step := range []upstreamtest.Step{upstreamtest.CutStream(2), upstreamtest.CutMidChunk(2)} {
		h := newHarness(t, twoAccounts())
		h.up.Script("k1", step)
		resp, body := h.post("/v1/messages", streamBody)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		evs := sseEvents(body)
		last := evs[len(evs)-1]
		if last[0] != "error" || gjson.Get(last[1], "type").String() != "error" {
			t.Fatalf("stream did not end with an error event: %q", body)
		}
		if h.up.Count("k2") != 0 {
			t.Errorf("stream was failed over after bytes were sent")
		}
		rec := h.records(1)[0]
		if rec.Error == "" || rec.InputTokens != 25 {
			t.Errorf("cut stream record = %+v, want partial usage and an error", rec)
		}
	}
}

func TestStreamErrorEventIsRelayed(t *testing.T) {
	h := newHarness(t, twoAccounts())
	h.up.Script("k1", upstreamtest.StreamError())
	_, body := h.post("/v1/messages", streamBody)
	evs := sseEvents(body)
	if last := evs[len(evs)-1]; last[0] != "error" || gjson.Get(last[1], "error.type").String() != "overloaded_error" {
		t.Fatalf("last event %v", last)
	}
	waitUntil(t, "a1 overloaded", func() bool { return h.status("a1").State == sched.StateOverloaded })
}

// TestDisconnectFreesSlot hangs the upstream, drops the client and checks
// the slot comes back without waiting for the upstream.
func TestDisconnectFreesSlot(t *testing.T) {
	for _, body := range []string{simpleBody, streamBody} {
		h := newHarness(t, []Account{apiAccount("a1", "k1")})
		h.up.Script("k1", upstreamtest.Hang(30*time.Second))
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		req := "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + testKey +
			"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "request in flight", func() bool { return h.status("a1").InFlight == 1 })
		conn.Close()
		waitUntil(t, "slot freed", func() bool { return h.status("a1").InFlight == 0 })
		rec := h.records(1)[0]
		if rec.Status != 499 {
			t.Errorf("record status = %d, want 499", rec.Status)
		}
		if got := h.status("a1").State; got != sched.StateOK {
			t.Errorf("client cancel penalised the account: %s", got)
		}
	}
}

// TestDisconnectMidStream drops the client while the upstream streams
// slowly.
func TestDisconnectMidStream(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	h.up.Script("k1", upstreamtest.OK().WithStreamDelay(200*time.Millisecond))
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	req := "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + testKey +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(streamBody)) + "\r\n\r\n" + streamBody
	conn.Write([]byte(req))
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "event: message_start") {
			break
		}
	}
	conn.Close()
	waitUntil(t, "slot freed", func() bool { return h.status("a1").InFlight == 0 })
	rec := h.records(1)[0]
	if rec.Status != 499 || rec.InputTokens != 25 {
		t.Errorf("record = status %d input %d, want 499 with the partial usage", rec.Status, rec.InputTokens)
	}
}

func upstreamTooMany() upstreamtest.Step { return upstreamtest.RateLimited(time.Minute, time.Time{}) }

// TestBodiesReachUpstreamIntact: buffered requests send fasthttp's own
// request buffer upstream, streaming ones a copy. Many concurrent clients
// on keep-alive connections, through failovers, must each have exactly
// their own body arrive upstream.
func TestBodiesReachUpstreamIntact(t *testing.T) {
	h := newHarness(t, twoAccounts())
	// a1's first answer fails over to a2: that body is sent twice.
	h.up.Script("k1", upstreamtest.Overloaded())
	const clients, each = 8, 25
	sent := make(map[string]string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				marker := fmt.Sprintf("client-%d-request-%d-%s", g, i, strings.Repeat("x", 200*(i%5)))
				body := uniqueBody(marker, i%3 == 0)
				mu.Lock()
				sent[marker] = body
				mu.Unlock()
				if resp, got := h.postBG("/v1/messages", body); resp.StatusCode != 200 {
					t.Errorf("%s: status %d %s", marker, resp.StatusCode, got)
				}
			}
		}()
	}
	wg.Wait()
	seen := 0
	for _, rec := range h.up.Requests() {
		marker := gjson.GetBytes(rec.Body, "messages.0.content").String()
		want, ok := sent[marker]
		if !ok {
			t.Errorf("upstream got a body nobody sent: %.120s", rec.Body)
			continue
		}
		if string(rec.Body) != want {
			t.Errorf("upstream body for %.30s differs:\n got %.120s\nwant %.120s", marker, rec.Body, want)
		}
		seen++
	}
	if seen < clients*each {
		t.Errorf("upstream saw %d bodies, want at least %d", seen, clients*each)
	}
}

// TestRunsReusedCleanly: runs are reused from request to request, so
// many concurrent buffered requests from two keys for two models must
// each get their own answer and leave a ledger record with their own key
// and model, whatever run served them before.
func TestRunsReusedCleanly(t *testing.T) {
	const bobKey = "sk-sg-bob-test-key"
	h := newHarness(t, twoAccounts(), func(c *Config, _ *sched.Config) {
		c.Keys = append(c.Keys, Key{Name: "bob", Hash: HashKey(bobKey), Group: "default"})
	})
	const clients, each = 6, 30
	models := [...]string{"claude-sonnet-4-5", "claude-haiku-4-5"}
	var wg sync.WaitGroup
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key, model := testKey, models[(g+i)%2]
				if g%2 == 1 {
					key = bobKey
				}
				body := `{"model":"` + model + `","max_tokens":10,"messages":[{"role":"user","content":"c` + strconv.Itoa(g) + `-` + strconv.Itoa(i) + `"}]}`
				resp, got := h.postBG("/v1/messages", body, "x-api-key", key)
				if resp.StatusCode != 200 || gjson.GetBytes(got, "model").String() != model {
					t.Errorf("client %d request %d: status %d, model %q, want %q", g, i, resp.StatusCode, gjson.GetBytes(got, "model").String(), model)
				}
			}
		}()
	}
	wg.Wait()
	count := map[string]int{}
	for _, rec := range h.records(clients * each) {
		count[rec.Key+" "+rec.Model]++
		if rec.Status != 200 || rec.InputTokens == 0 {
			t.Errorf("record %+v", rec)
		}
	}
	for _, k := range []string{"alice", "bob"} {
		for _, m := range models {
			if got, want := count[k+" "+m], clients*each/4; got != want {
				t.Errorf("%s %s: %d records, want %d (all: %v)", k, m, got, want, count)
			}
		}
	}
}
