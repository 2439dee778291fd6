package upstreamtest

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

const testKey = "sk-ant-api03-test"

// mustStart starts a mock and closes it when the test ends.
func mustStart(t *testing.T, cfg Config) *Server {
	t.Helper()
	s := New(cfg)
	if _, err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

type reply struct {
	status int
	header map[string]string
	body   []byte
}

// post sends body to s at path with the given headers through a buffered
// fasthttp client.
func post(t *testing.T, s *Server, path, body string, headers ...string) (reply, error) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(s.URL() + path)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	req.SetBodyString(body)
	c := &fasthttp.Client{}
	if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode(), header: map[string]string{}, body: append([]byte(nil), resp.Body()...)}
	for k, v := range resp.Header.All() {
		r.header[strings.ToLower(string(k))] = string(v)
	}
	return r, nil
}

func mustPost(t *testing.T, s *Server, path, body string, headers ...string) reply {
	t.Helper()
	r, err := post(t, s, path, body, headers...)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return r
}

func TestNonStream(t *testing.T) {
	s := mustStart(t, Config{Usage: Usage{InputTokens: 7, OutputTokens: 3, Ephemeral5m: 4, Ephemeral1h: 6}})
	r := mustPost(t, s, "/v1/messages?beta=true", `{"model":"claude-x","max_tokens":5,"messages":[]}`, "x-api-key", testKey)
	if got, want := r.status, 200; got != want {
		t.Fatalf("status = %d, want %d: %s", got, want, r.body)
	}
	for path, want := range map[string]string{
		"type": "message", "role": "assistant", "model": "claude-x",
		"content.0.text": replyText, "stop_reason": "end_turn",
	} {
		if got := gjson.GetBytes(r.body, path).Str; got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	for path, want := range map[string]int64{
		"usage.input_tokens": 7, "usage.output_tokens": 3,
		"usage.cache_creation_input_tokens":              10,
		"usage.cache_creation.ephemeral_1h_input_tokens": 6,
	} {
		if got := gjson.GetBytes(r.body, path).Int(); got != want {
			t.Errorf("%s = %d, want %d", path, got, want)
		}
	}
	if !strings.HasPrefix(r.header["request-id"], "req_mock_") {
		t.Errorf("request-id = %q", r.header["request-id"])
	}
	recs := s.Requests()
	if got, want := len(recs), 1; got != want {
		t.Fatalf("recorded %d, want %d", got, want)
	}
	if got, want := recs[0].Path, "/v1/messages?beta=true"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
	if got, want := recs[0].Header["x-api-key"], testKey; got != want {
		t.Errorf("header x-api-key = %q, want %q", got, want)
	}
	if got, want := recs[0].Credential, testKey; got != want {
		t.Errorf("credential = %q, want %q", got, want)
	}
}

func TestStreamFraming(t *testing.T) {
	s := mustStart(t, Config{Unified: &Unified{Status: "allowed", FiveHourUtilization: 0.5,
		FiveHourReset: time.Unix(1900000000, 0), RepresentativeClaim: "five_hour"}})
	r := mustPost(t, s, "/v1/messages", `{"model":"claude-y","stream":true}`, "Authorization", "Bearer "+testKey)
	if got, want := r.header["content-type"], "text/event-stream; charset=utf-8"; got != want {
		t.Errorf("content-type = %q, want %q", got, want)
	}
	if got, want := r.header["anthropic-ratelimit-unified-5h-reset"], "1900000000"; got != want {
		t.Errorf("5h-reset = %q, want %q", got, want)
	}
	frames := bytes.SplitAfter(r.body, []byte("\n\n"))
	frames = frames[:len(frames)-1] // the empty tail after the last "\n\n"
	want := []string{"message_start", "content_block_start", "ping", "content_block_delta",
		"content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if got := len(frames); got != len(want) {
		t.Fatalf("%d frames, want %d:\n%s", got, len(want), r.body)
	}
	var text string
	for i, f := range frames {
		prefix := "event: " + want[i] + "\ndata: {"
		if !bytes.HasPrefix(f, []byte(prefix)) {
			t.Fatalf("frame %d = %q, want prefix %q", i, f, prefix)
		}
		data := bytes.TrimSpace(f[bytes.Index(f, []byte("data: "))+6:])
		if got := gjson.GetBytes(data, "type").Str; got != want[i] {
			t.Errorf("frame %d type = %q, want %q", i, got, want[i])
		}
		text += gjson.GetBytes(data, "delta.text").Str
	}
	if got, want := text, replyText; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	ev := ParseSSE(r.body)
	if got, want := gjson.GetBytes(ev[0].Data, "message.model").Str, "claude-y"; got != want {
		t.Errorf("model = %q, want %q", got, want)
	}
	if got, want := gjson.GetBytes(ev[0].Data, "message.usage.output_tokens").Int(), int64(1); got != want {
		t.Errorf("message_start output_tokens = %d, want %d", got, want)
	}
	if got, want := ScanUsage(r.body), DefaultUsage(); got != want {
		t.Errorf("usage = %+v, want %+v", got, want)
	}
}

func TestScripted429ThenOK(t *testing.T) {
	s := mustStart(t, Config{})
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	s.Script(testKey, RateLimited(1500*time.Millisecond, reset), OK())
	body := `{"model":"m"}`

	r := mustPost(t, s, "/v1/messages", body, "x-api-key", testKey)
	if got, want := r.status, 429; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got, want := gjson.GetBytes(r.body, "error.type").Str, "rate_limit_error"; got != want {
		t.Errorf("error.type = %q, want %q", got, want)
	}
	if got, want := gjson.GetBytes(r.body, "request_id").Str, r.header["request-id"]; got != want {
		t.Errorf("request_id = %q, want %q", got, want)
	}
	for k, want := range map[string]string{
		"retry-after":                           "2",
		"anthropic-ratelimit-unified-status":    "rejected",
		"anthropic-ratelimit-unified-5h-status": "rejected",
		"anthropic-ratelimit-unified-5h-reset":  strconv.FormatInt(reset.Unix(), 10),
	} {
		if got := r.header[k]; got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for i := range 2 {
		if got, want := mustPost(t, s, "/v1/messages", body, "x-api-key", testKey).status, 200; got != want {
			t.Fatalf("request %d: status = %d, want %d", i+2, got, want)
		}
	}
	if got, want := s.Count(testKey), 3; got != want {
		t.Errorf("count = %d, want %d", got, want)
	}
	s.Reset()
	if got, want := len(s.Requests()), 0; got != want {
		t.Errorf("after reset: %d records, want %d", got, want)
	}
}

// readStream posts a streaming request through a StreamResponseBody
// client and reads the body to its end.
func readStream(t *testing.T, s *Server) (int, []byte, error) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(s.URL() + "/v1/messages")
	req.Header.SetMethod("POST")
	req.Header.Set("x-api-key", testKey)
	req.SetBodyString(`{"model":"m","stream":true}`)
	c := &fasthttp.Client{StreamResponseBody: true}
	if err := c.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.BodyStream())
	return resp.StatusCode(), body, err
}

func TestCutStream(t *testing.T) {
	s := mustStart(t, Config{})
	s.Script(testKey, CutStream(1), CutMidChunk(2))
	for i, wantErr := range []bool{false, true} {
		status, body, err := readStream(t, s)
		if got, want := status, 200; got != want {
			t.Fatalf("cut %d: status = %d, want %d", i, got, want)
		}
		// A cut between chunks reads as a clean EOF with fasthttp's
		// client; a cut inside a chunk is an error.
		if got := err != nil; got != wantErr {
			t.Errorf("cut %d: read error = %v, want error %v", i, err, wantErr)
		}
		var names []string
		for _, e := range ParseSSE(body) {
			if e.Name != "content_block_delta" || gjson.ValidBytes(e.Data) {
				names = append(names, e.Name)
			}
		}
		want := "message_start,content_block_start,ping" + strings.Repeat(",content_block_delta", i+1)
		if got := strings.Join(names, ","); got != want {
			t.Errorf("cut %d: events = %s, want %s", i, got, want)
		}
	}
	// After a cut the server still serves new connections.
	if status, _, err := readStream(t, s); status != 200 || err != nil {
		t.Errorf("after cut: status %d, err %v", status, err)
	}
}

func TestStreamErrorAndReplay(t *testing.T) {
	s := mustStart(t, Config{})
	s.Script(testKey, StreamError(), Replay(Transcript(TranscriptNoSpace)))
	r := mustPost(t, s, "/v1/messages", `{"model":"m","stream":true}`, "x-api-key", testKey)
	ev := ParseSSE(r.body)
	if len(ev) != 2 || ev[0].Name != "message_start" || ev[1].Name != "error" {
		t.Fatalf("events = %q", r.body)
	}
	if got, want := gjson.GetBytes(ev[1].Data, "error.type").Str, "overloaded_error"; got != want {
		t.Errorf("error.type = %q, want %q", got, want)
	}
	r = mustPost(t, s, "/v1/messages", `{"model":"m","stream":true}`, "x-api-key", testKey)
	if !bytes.Equal(r.body, Transcript(TranscriptNoSpace)) {
		t.Errorf("replayed body differs:\n%s", r.body)
	}
}

func TestTranscriptsGolden(t *testing.T) {
	for _, name := range Transcripts() {
		if got, want := ScanUsage(Transcript(name)), Golden(name); got != want {
			t.Errorf("%s: usage = %+v, want %+v", name, got, want)
		}
	}
}

func TestHangEndsOnClose(t *testing.T) {
	s := New(Config{})
	if _, err := s.Start(); err != nil {
		t.Fatal(err)
	}
	s.Script(testKey, Hang(time.Minute))
	errc := make(chan error, 1)
	go func() {
		_, err := post(t, s, "/v1/messages", `{"model":"m"}`, "x-api-key", testKey)
		errc <- err
	}()
	for s.Count(testKey) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-errc
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("close took %v", d)
	}
}

func TestInmemoryAndOtherRoutes(t *testing.T) {
	s := New(Config{CountTokens: 11})
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: s.Handler}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(); _ = s.Close() })
	c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	get := func(method, path, key string) (int, []byte) {
		var req fasthttp.Request
		var resp fasthttp.Response
		req.SetRequestURI("http://mock" + path)
		req.Header.SetMethod(method)
		if key != "" {
			req.Header.Set("x-api-key", key)
		}
		if err := c.Do(&req, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode(), append([]byte(nil), resp.Body()...)
	}
	if code, body := get("POST", "/v1/messages/count_tokens", testKey); code != 200 || gjson.GetBytes(body, "input_tokens").Int() != 11 {
		t.Errorf("count_tokens = %d %s", code, body)
	}
	code, body := get("GET", "/v1/models", testKey)
	if code != 200 || gjson.GetBytes(body, "data.0.type").Str != "model" || gjson.GetBytes(body, "has_more").Bool() {
		t.Errorf("models = %d %s", code, body)
	}
	if got, want := gjson.GetBytes(body, "last_id").Str, defaultModels[len(defaultModels)-1]; got != want {
		t.Errorf("last_id = %q, want %q", got, want)
	}
	if code, body := get("POST", "/v1/messages", ""); code != 401 || gjson.GetBytes(body, "error.message").Str != msgNoKey {
		t.Errorf("no key = %d %s", code, body)
	}
	s.Revoke(testKey)
	if code, _ := get("POST", "/v1/messages", testKey); code != 401 {
		t.Errorf("revoked key: status %d, want 401", code)
	}
}
