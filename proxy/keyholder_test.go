package proxy

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"

	"subgate/proxy/protocol"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// rawPost sends a POST with uri exactly as given (no client-side path
// cleaning or escaping) and returns the status and body.
func (h *harness) rawPost(uri, body string, hdr ...string) (int, []byte) {
	h.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	b.WriteString("POST " + uri + " HTTP/1.1\r\nHost: subgate\r\nConnection: close\r\nContent-Type: application/json\r\n")
	for i := 0; i+1 < len(hdr); i += 2 {
		b.WriteString(hdr[i] + ": " + hdr[i+1] + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatalf("POST %s: %v", uri, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// countingWriter counts the bytes a logger writes.
type countingWriter struct {
	mu sync.Mutex
	n  int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.n += len(p)
	w.mu.Unlock()
	return len(p), nil
}

func (w *countingWriter) bytes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (h *harness) metricsSize() int {
	h.t.Helper()
	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return len(b)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestOversizedModelIsRefused: 20 requests whose model is 8 MB are each a
// 400 in the protocol's shape, and the ledger file, /metrics and the log
// keep none of it (issue 13: the model was stored twice per record, in
// the log and in metrics labels).
func TestOversizedModelIsRefused(t *testing.T) {
	logw := &countingWriter{}
	h := newHarness(t, []Account{apiAccount("a1", "k1"), openaiKey("o1", "sk-o1")}, func(c *Config, _ *sched.Config) {
		c.MaxBodyBytes = 16 << 20
		c.MetricsEnabled, c.MetricsPublic = true, true
		c.Logger = slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	// One successful request first, so the file and the metrics have
	// their steady shape before the sizes are taken.
	if resp, body := h.post("/v1/messages", simpleBody); resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	h.records(1)
	dbBefore, metricsBefore, logBefore := fileSize(t, h.db.Path()), h.metricsSize(), logw.bytes()

	huge := strings.Repeat("m", 8<<20)
	routes := []struct {
		path, body, errPath string
	}{
		{"/v1/messages", `{"model":"` + huge + `","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, "error.type"},
		{"/v1/responses", `{"model":"` + huge + `","input":"hi"}`, "error.type"},
		{"/v1/chat/completions", `{"model":"` + huge + `","messages":[{"role":"user","content":"hi"}]}`, "error.type"},
	}
	for i := range 20 {
		rt := routes[i%len(routes)]
		resp, body := h.post(rt.path, rt.body, "authorization", "Bearer "+testKey)
		if resp.StatusCode != 400 {
			t.Fatalf("%s: status %d, want 400", rt.path, resp.StatusCode)
		}
		if got := gjson.GetBytes(body, rt.errPath).String(); got != "invalid_request_error" {
			t.Fatalf("%s: error type %q in %.200s", rt.path, got, body)
		}
		if len(body) > 1024 {
			t.Fatalf("%s: error of %d bytes echoes the model", rt.path, len(body))
		}
	}
	recs := h.records(21)
	for _, r := range recs[1:] {
		if r.Status != 400 || len(r.Model) > protocol.MaxModelLen || len(r.Error) > 1024 {
			t.Errorf("record status=%d model=%d bytes error=%d bytes", r.Status, len(r.Model), len(r.Error))
		}
	}
	if got := h.up.Count("k1") + h.up.Count("sk-o1"); got != 1 {
		t.Errorf("upstream requests = %d, want 1 (none for a refused model)", got)
	}
	dbGrew, metricsGrew, logGrew := fileSize(t, h.db.Path())-dbBefore, h.metricsSize()-metricsBefore, logw.bytes()-logBefore
	t.Logf("20 requests with an 8 MB model: ledger file +%d B, /metrics +%d B, log +%d B", dbGrew, metricsGrew, logGrew)
	if dbGrew > 64<<10 { // a few bbolt pages
		t.Errorf("ledger file grew by %d bytes", dbGrew)
	}
	if metricsGrew > 4<<10 {
		t.Errorf("/metrics grew by %d bytes", metricsGrew)
	}
	if logGrew > 16<<10 { // 20 lines
		t.Errorf("log grew by %d bytes for 20 refusals", logGrew)
	}
}

// TestModelNameRules: every route refuses a model outside the model-name
// rules with a 400 in its own shape before scheduling, and accepts the
// real ids at the edges of the rules (the accounts' allow-lists claim
// every name, whatever its family, so each route's own account serves).
func TestModelNameRules(t *testing.T) {
	all := func(a Account) Account { a.Models = []string{"*", "*/*"}; return a }
	h := newHarness(t, []Account{all(apiAccount("a1", "k1")), all(openaiKey("o1", "sk-o1")), all(geminiKey("g1", "AIza-1"))})
	bad := []string{
		strings.Repeat("a", protocol.MaxModelLen+1),
		"claude sonnet",
		`claude\nsonnet`,
		`claude\"x`,
		"claude-é",
		"claude%3F",
		"claude?key=x",
		"claude#x",
	}
	good := []string{
		strings.Repeat("a", protocol.MaxModelLen),
		"claude-opus-4-6[1m]",
		"anthropic.claude-3-5-sonnet-20240620-v1:0",
		"claude-3-5-sonnet@20240620",
		"models/gemini-2.5-pro",
		"gpt-5.1-codex_mini",
	}
	bodies := map[string]func(m string) string{
		"/v1/messages": func(m string) string {
			return `{"model":"` + m + `","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
		},
		"/v1/responses":        func(m string) string { return `{"model":"` + m + `","input":"hi"}` },
		"/v1/chat/completions": func(m string) string { return `{"model":"` + m + `","messages":[{"role":"user","content":"hi"}]}` },
	}
	for path, body := range bodies {
		for _, m := range bad {
			resp, b := h.post(path, body(m), "authorization", "Bearer "+testKey)
			if resp.StatusCode != 400 || gjson.GetBytes(b, "error.type").String() != "invalid_request_error" {
				t.Errorf("%s model %.20q: status %d %.200s", path, m, resp.StatusCode, b)
			}
			if strings.Contains(string(b), m) {
				t.Errorf("%s: the error echoes the model: %.200s", path, b)
			}
		}
		for _, m := range good {
			if resp, b := h.post(path, body(m), "authorization", "Bearer "+testKey); resp.StatusCode != 200 {
				t.Errorf("%s model %.40q: status %d %s", path, m, resp.StatusCode, b)
			}
		}
	}
	n := len(h.up.Requests())
	if want := len(bodies) * len(good); n != want {
		t.Errorf("upstream requests = %d, want %d (the good models only)", n, want)
	}
	// Gemini's model comes from the path.
	gem := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	for _, m := range []string{strings.Repeat("g", protocol.MaxModelLen+1), "gemini%20pro", "gemini%0Apro", "gemini%C3%A9"} {
		status, b := h.rawPost("/v1beta/models/"+m+":generateContent", gem, "x-goog-api-key", testKey)
		if status != 400 || gjson.GetBytes(b, "error.status").String() != "INVALID_ARGUMENT" {
			t.Errorf("gemini model %.20q: status %d %s", m, status, b)
		}
	}
	if got := len(h.up.Requests()); got != n {
		t.Errorf("%d refused Gemini requests reached the upstream", got-n)
	}
}

// TestGeminiPathModelCannotMoveURL: whatever the client puts in the
// model of a Gemini path, the upstream path and query stay the gateway's
// (issue 13: x%3Fkey=INJECT reached the upstream as a query).
func TestGeminiPathModelCannotMoveURL(t *testing.T) {
	h := newHarness(t, []Account{geminiKey("g1", "AIza-1")})
	body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	for _, uri := range []string{
		"/v1beta/models/x%3Fkey=INJECT:generateContent",                                // ? → query
		"/v1beta/models/x%23INJECT:generateContent",                                    // # → fragment, path cut
		"/v1beta/models/..%252fINJECT:generateContent",                                 // .. (after the client decodes %2f)
		"/v1beta/models/%252e%252e%252f%252e%252e%252fINJECT:generateContent",          // %2e%2e
		"/v1beta/models/gemini%2FINJECT:generateContent",                               // / → a path segment
		"/v1beta/models/gemini/INJECT:generateContent",                                 // / as sent
		"/v1beta/models/%2e%2e:generateContent",                                        // a bare ..
		"/v1beta/models/x%3Fkey=INJECT:streamGenerateContent?alt=sse",                  // on the stream route too
		"/v1beta/models/gemini-2.5-flash:generateContent%3Fkey=INJECT:generateContent", // ? after the method
	} {
		status, b := h.rawPost(uri, body, "x-goog-api-key", testKey)
		if status < 400 || status > 499 {
			t.Errorf("%s: status %d, want a 4xx: %s", uri, status, b)
		}
	}
	for _, r := range h.up.Requests() {
		t.Errorf("upstream received %s %s", r.Method, r.Path)
	}
	// A valid model reaches exactly its path, with no client query.
	for uri, want := range map[string]string{
		"/v1beta/models/gemini-2.5-flash:generateContent?key=" + testKey:         "/v1beta/models/gemini-2.5-flash:generateContent",
		"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&x=INJECT": "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
	} {
		h.up.Reset()
		hdr := []string{"x-goog-api-key", testKey}
		if strings.Contains(uri, "key=") {
			hdr = nil
		}
		if status, b := h.rawPost(uri, body, hdr...); status != 200 {
			t.Fatalf("%s: status %d %s", uri, status, b)
		}
		reqs := h.up.Requests()
		if len(reqs) != 1 || reqs[0].Path != want {
			t.Errorf("%s reached the upstream as %+v, want %s", uri, reqs, want)
		}
	}
}

// TestCodeAssistEnvelopeIsBuilt: the Code Assist envelope is the
// gateway's; a body with bytes after its object or duplicate top-level
// keys is refused rather than pasted next to the envelope's model and
// project (issue 13).
func TestCodeAssistEnvelopeIsBuilt(t *testing.T) {
	h := newHarness(t, []Account{geminiOAuth("ga", "ya29.a", "")})
	const path = "/v1beta/models/gemini-2.5-flash:generateContent"
	for _, body := range []string{
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]},"project":"victim","model":"gemini-ultra"`,
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}}, "project":"victim"`,
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"contents":[]}`,
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"\u0063ontents":[]}`,
	} {
		status, b := h.rawPost(path, body, "x-goog-api-key", testKey)
		if status != 400 || gjson.GetBytes(b, "error.status").String() != "INVALID_ARGUMENT" {
			t.Errorf("body %s: status %d %s", body, status, b)
		}
	}
	for _, r := range h.up.Requests() {
		if strings.HasPrefix(r.Path, "/v1internal:generateContent") {
			t.Errorf("upstream received %s", r.Body)
		}
	}
	body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":5}}`
	if status, b := h.rawPost(path, body, "x-goog-api-key", testKey); status != 200 {
		t.Fatalf("status %d %s", status, b)
	}
	var gen *upstreamtest.Recorded
	for _, r := range h.up.Requests() {
		if r.Path == "/v1internal:generateContent" {
			gen = &r
		}
	}
	if gen == nil {
		t.Fatal("no generate call upstream")
	}
	var keys []string
	gjson.ParseBytes(gen.Body).ForEach(func(k, _ gjson.Result) bool { keys = append(keys, k.Str); return true })
	if got, want := strings.Join(keys, ","), "model,project,user_prompt_id,request"; got != want {
		t.Errorf("envelope keys %s, want %s", got, want)
	}
	if got := gjson.GetBytes(gen.Body, "request").Raw; got != body {
		t.Errorf("request = %s, want the client's body %s", got, body)
	}
	if got := gjson.GetBytes(gen.Body, "project").String(); got != upstreamtest.MockProject {
		t.Errorf("project = %q", got)
	}
}

// TestClientQueryKeyNeverForwarded: a client's ?key= (its subgate key)
// reaches no upstream on any route; Claude Code's ?beta=true still does
// (issue 13: the Anthropic route forwarded the query verbatim).
func TestClientQueryKeyNeverForwarded(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1"), openaiKey("o1", "sk-o1"), geminiKey("g1", "AIza-1")})
	tests := []struct {
		uri, body, want string
	}{
		{"/v1/messages?beta=true&key=" + testKey, simpleBody, "/v1/messages?beta=true"},
		{"/v1/messages?key=" + testKey + "&beta=true", simpleBody, "/v1/messages?beta=true"},
		{"/v1/messages?key=" + testKey, simpleBody, "/v1/messages"},
		{"/v1/messages/count_tokens?beta=true&key=" + testKey, simpleBody, "/v1/messages/count_tokens?beta=true"},
		{"/v1/responses?key=" + testKey, `{"model":"gpt-5","input":"hi"}`, "/v1/responses"},
		{"/v1/chat/completions?key=" + testKey, `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`, "/v1/chat/completions"},
		{"/v1beta/models/gemini-2.5-flash:generateContent?key=" + testKey, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, "/v1beta/models/gemini-2.5-flash:generateContent"},
	}
	for _, tt := range tests {
		h.up.Reset()
		status, b := h.rawPost(tt.uri, tt.body, "anthropic-version", "2023-06-01")
		if status != 200 {
			t.Fatalf("%s: status %d %s", tt.uri, status, b)
		}
		reqs := h.up.Requests()
		if len(reqs) != 1 {
			t.Fatalf("%s: %d upstream requests", tt.uri, len(reqs))
		}
		if got := reqs[0].Path; got != tt.want {
			t.Errorf("%s reached the upstream as %s, want %s", tt.uri, got, tt.want)
		}
		for k, v := range reqs[0].Header {
			if strings.Contains(v, testKey) {
				t.Errorf("%s: header %s carries the client key", tt.uri, k)
			}
		}
		if bytes.Contains(reqs[0].Body, []byte(testKey)) {
			t.Errorf("%s: body carries the client key", tt.uri)
		}
	}
}
