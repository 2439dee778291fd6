package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"subgate/kv"
	"subgate/kv/kvtest"
	"subgate/ledger"
	"subgate/proxy/oauth"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

const testKey = "sk-sg-test-key"

// harness is a real gateway on a loopback port in front of the mock
// upstream, with the real scheduler, ledger and kv.
type harness struct {
	t      *testing.T
	up     *upstreamtest.Server
	srv    *Server
	sched  *sched.Scheduler
	ledger *ledger.Ledger
	db     *kv.DB
	url    string
}

type harnessOpt func(*Config, *sched.Config)

func apiAccount(name, key string) Account {
	return Account{Account: sched.Account{Name: name, Platform: "anthropic", Type: "api_key", Group: "default", Priority: 10, Concurrency: 3}, APIKey: key}
}

func newHarness(t *testing.T, accounts []Account, opts ...harnessOpt) *harness {
	t.Helper()
	return newHarnessWith(t, upstreamtest.Config{}, accounts, opts...)
}

func newHarnessWith(t *testing.T, upcfg upstreamtest.Config, accounts []Account, opts ...harnessOpt) *harness {
	t.Helper()
	up := upstreamtest.New(upcfg)
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	db := kvtest.Open(t)
	led := ledger.New(ledger.Config{Store: db, FlushInterval: time.Millisecond})
	lctx, lstop := context.WithCancel(context.Background())
	ldone := make(chan struct{})
	go func() { led.Run(lctx); close(ldone) }()

	scfg := sched.Config{Accounts: schedAccounts(accounts), Store: db}
	cfg := Config{
		Accounts:          accounts,
		Keys:              []Key{{Name: "alice", Hash: HashKey(testKey), Group: "default"}},
		AnthropicBaseURL:  up.URL(),
		OpenAIBaseURL:     up.URL() + "/v1",
		CodexBaseURL:      up.URL() + "/backend-api/codex",
		GeminiBaseURL:     up.URL(),
		CodeAssistBaseURL: up.URL(),
		WatchInterval:     20 * time.Millisecond,
		MaxBodyBytes:      1 << 20,
	}
	for _, o := range opts {
		o(&cfg, &scfg)
	}
	sch, err := sched.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sched = sch
	if cfg.Ledger == nil { // an option may bring its own (a store that fails)
		cfg.Ledger = led
	}
	if cfg.Tokens == nil { // an option may bring its own (tokens_test.go)
		cfg.Tokens = oauth.NewTokens(oauth.TokensConfig{Store: db, Endpoints: testEndpoints(up.URL())})
	}
	srv := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		sch.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		led.Close()
		lstop()
		<-ldone
		for _, st := range sch.Status() {
			if st.InFlight != 0 || st.Waiting != 0 {
				t.Errorf("account %s left with in_flight=%d waiting=%d", st.Name, st.InFlight, st.Waiting)
			}
		}
		if n := srv.up.Registered(); n != 0 {
			t.Errorf("%d upstream calls left registered", n)
		}
	})
	return &harness{t: t, up: up, srv: srv, sched: sch, ledger: cfg.Ledger, db: db, url: "http://" + ln.Addr().String()}
}

// post sends a raw request with the test key.
func (h *harness) post(path, body string, hdr ...string) (*http.Response, []byte) {
	h.t.Helper()
	resp, b, err := h.send(path, body, hdr...)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, b
}

// postBG is post for goroutines other than the test's, which must not
// call t.Fatal: a transport error is reported with t.Errorf and the
// reply is empty (status 0).
func (h *harness) postBG(path, body string, hdr ...string) (*http.Response, []byte) {
	resp, b, err := h.send(path, body, hdr...)
	if err != nil {
		h.t.Error(err)
		return &http.Response{Header: http.Header{}}, nil
	}
	return resp, b
}

func (h *harness) send(path, body string, hdr ...string) (*http.Response, []byte, error) {
	req, _ := http.NewRequest("POST", h.url+path, strings.NewReader(body))
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("content-type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b, nil
}

// records waits until the ledger holds n records and returns them oldest
// first.
func (h *harness) records(n int) []ledger.Record {
	h.t.Helper()
	var recs []ledger.Record
	waitUntil(h.t, "ledger records", func() bool {
		var err error
		recs, err = h.db.Last(n + 10)
		return err == nil && len(recs) >= n
	})
	if len(recs) != n {
		h.t.Fatalf("ledger has %d records, want %d", len(recs), n)
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs
}

func (h *harness) status(name string) sched.AccountStatus {
	for _, st := range h.sched.Status() {
		if st.Name == name {
			return st
		}
	}
	h.t.Fatalf("no account %s", name)
	return sched.AccountStatus{}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitUntilFor(t, 5*time.Second, what, cond)
}

// waitUntilFor is waitUntil with a longer patience, for tests that must
// push megabytes through socket buffers first (slow under -race).
func waitUntilFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sseEvents splits an SSE body into (event, data) pairs.
func sseEvents(b []byte) [][2]string {
	var out [][2]string
	for _, block := range bytes.Split(b, []byte("\n\n")) {
		var ev, data string
		for _, line := range strings.Split(string(block), "\n") {
			if v, ok := strings.CutPrefix(line, "event:"); ok {
				ev = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "data:"); ok {
				data = strings.TrimPrefix(v, " ")
			}
		}
		if ev != "" || data != "" {
			out = append(out, [2]string{ev, data})
		}
	}
	return out
}

const simpleBody = `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
const streamBody = `{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// translating lets the test key use accounts of other API families.
func translating(c *Config, _ *sched.Config) { c.Keys[0].Translate = true }
