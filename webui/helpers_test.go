package webui

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"subgate/kv"
	"subgate/ledger"
	"subgate/sched"
)

const testToken = "admin-secret-token"

// clock is an adjustable time source for sessions and rate limits.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// memStore is an in-memory ledger.Store, so the real ledger queries run.
type memStore struct {
	mu      sync.Mutex
	recs    []ledger.Record
	rollups map[string]ledger.Rollup
}

func (m *memStore) Append(recs []ledger.Record, rollups []ledger.Rollup) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, recs...)
	sort.SliceStable(m.recs, func(i, j int) bool { return m.recs[i].Time.Before(m.recs[j].Time) })
	if m.rollups == nil {
		m.rollups = make(map[string]ledger.Rollup)
	}
	for _, r := range rollups {
		k := r.Hour.String() + "\x00" + r.Key + "\x00" + r.Account + "\x00" + r.Model
		cur, ok := m.rollups[k]
		if !ok {
			cur = ledger.Rollup{Hour: r.Hour, Key: r.Key, Account: r.Account, Model: r.Model}
		}
		cur.Add(r.Counts)
		m.rollups[k] = cur
	}
	return nil
}

func (m *memStore) Scan(from, to time.Time, fn func(ledger.Record) bool) error {
	m.mu.Lock()
	var sel []ledger.Record
	for _, r := range m.recs {
		if !r.Time.Before(from) && r.Time.Before(to) {
			sel = append(sel, r)
		}
	}
	m.mu.Unlock()
	for _, r := range sel {
		if !fn(r) {
			break
		}
	}
	return nil
}

func (m *memStore) Last(n int) ([]ledger.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ledger.Record
	for i := len(m.recs) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, m.recs[i])
	}
	return out, nil
}

func (m *memStore) Rollups(from, to time.Time, fn func(ledger.Rollup) bool) error {
	m.mu.Lock()
	var sel []ledger.Rollup
	for _, r := range m.rollups {
		if !r.Hour.Before(from) && r.Hour.Before(to) {
			sel = append(sel, r)
		}
	}
	m.mu.Unlock()
	sort.Slice(sel, func(i, j int) bool { return sel[i].Hour.Before(sel[j].Hour) })
	for _, r := range sel {
		if !fn(r) {
			break
		}
	}
	return nil
}

func (m *memStore) DeleteBefore(time.Time, int) (int, error) { return 0, nil }

// seed stores records with their rollups, as the ledger's writer would.
func (m *memStore) seed(recs ...ledger.Record) {
	_ = m.Append(recs, ledger.Aggregate(recs))
}

// fakeStats is a function-field Stats; statsOver points every field at a
// real ledger over a memStore.
type fakeStats struct {
	SummaryFn func(from, to time.Time, step time.Duration) ([]ledger.Point, error)
	TopFn     func(from, to time.Time, by string, n int) ([]ledger.Group, error)
	ExportFn  func(from, to time.Time, fn func(ledger.Record) bool) error
	RecentFn  func(n int) ([]ledger.Record, error)
}

func (f *fakeStats) Summary(from, to time.Time, step time.Duration) ([]ledger.Point, error) {
	return f.SummaryFn(from, to, step)
}
func (f *fakeStats) Top(from, to time.Time, by string, n int) ([]ledger.Group, error) {
	return f.TopFn(from, to, by, n)
}
func (f *fakeStats) Export(from, to time.Time, fn func(ledger.Record) bool) error {
	return f.ExportFn(from, to, fn)
}
func (f *fakeStats) Recent(n int) ([]ledger.Record, error) { return f.RecentFn(n) }

func statsOver(m *memStore) *fakeStats {
	l := ledger.New(ledger.Config{Store: m})
	return &fakeStats{SummaryFn: l.Summary, TopFn: l.Top, ExportFn: l.Export, RecentFn: l.Recent}
}

// harness serves a Handler on an in-memory listener with fakes and a
// real scheduler.
type harness struct {
	t      *testing.T
	h      *Handler
	sched  *sched.Scheduler
	acc    *fakeAccounts
	keys   *fakeKeys
	store  *memStore
	stats  *fakeStats
	clock  *clock
	client *fasthttp.Client
	base   string
}

func newHarness(t *testing.T, edit ...func(*Config)) *harness {
	t.Helper()
	s, err := sched.New(sched.Config{Accounts: []sched.Account{
		{Name: "claude-1", Platform: "anthropic", Type: "oauth", Concurrency: 2},
		{Name: "openai-1", Platform: "openai", Type: "api_key", Concurrency: 4},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	hs := &harness{t: t, sched: s, store: &memStore{}, clock: &clock{t: time.Now()}}
	hs.acc = memAccounts(s, []kv.Account{
		{Name: "claude-1", Platform: "anthropic", Type: "oauth", FromConfig: true, Concurrency: 2,
			AccessToken: "sk-ant-oat01…", Email: "me@example.com", ExpiresAt: kv.Time{Time: time.Now().Add(5 * time.Hour)}},
		{Name: "openai-1", Platform: "openai", Type: "api_key", Concurrency: 4,
			Proxy: "socks5://user:hunter2@127.0.0.1:1080", APIKey: "sk-proj-abcd…"},
	})
	hs.keys = memKeys()
	hs.stats = statsOver(hs.store)
	cfg := Config{TokenHash: sha256.Sum256([]byte(testToken)), Sched: s, Ledger: hs.stats,
		Accounts: hs.acc, Keys: hs.keys, Now: hs.clock.now}
	for _, e := range edit {
		e(&cfg)
	}
	hs.h = New(cfg)
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: hs.h.Handler}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(); _ = ln.Close() })
	hs.client = &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	hs.base = "http://admin.test"
	return hs
}

// response is a copied-out answer.
type response struct {
	status int
	body   []byte
	header map[string]string
	err    error
}

func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// errField returns error.field of an error answer.
func (r *response) errField(t *testing.T) string {
	e, _ := r.json(t)["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

// send makes a request; body may be nil, a string (sent as is) or a value
// encoded as JSON. hdr holds header name/value pairs; "auth" "" drops the
// bearer token that is sent by default.
func (hs *harness) send(method, path string, body any, hdr ...string) *response {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(hs.base + path)
	req.Header.SetMethod(method)
	auth := "Bearer " + testToken
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "auth" {
			auth = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	switch b := body.(type) {
	case nil:
	case string:
		req.SetBodyString(b)
	default:
		enc, _ := json.Marshal(b)
		req.Header.SetContentType("application/json")
		req.SetBody(enc)
	}
	out := &response{header: map[string]string{}}
	if out.err = hs.client.Do(req, resp); out.err != nil {
		return out
	}
	out.status = resp.StatusCode()
	out.body = bytes.Clone(resp.Body())
	for k, v := range resp.Header.All() {
		if prev, ok := out.header[string(k)]; ok {
			out.header[string(k)] = prev + "\n" + string(v)
		} else {
			out.header[string(k)] = string(v)
		}
	}
	return out
}

// must fails the test unless the answer has the status.
func (r *response) must(t *testing.T, status int) *response {
	t.Helper()
	if r.err != nil {
		t.Fatalf("request failed: %v", r.err)
	}
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// login logs in through the form and returns the cookie and CSRF token.
func (hs *harness) login(t *testing.T) (cookie, csrf string) {
	t.Helper()
	r := hs.send("POST", "/admin/login", map[string]string{"secret": testToken}, "auth", "").must(t, 200)
	csrf, _ = r.json(t)["csrf"].(string)
	sc := r.header["Set-Cookie"]
	cookie, _, _ = strings.Cut(sc, ";")
	if csrf == "" || !strings.HasPrefix(cookie, cookieName+"=") {
		t.Fatalf("login: csrf %q, cookie %q", csrf, sc)
	}
	return cookie, csrf
}
