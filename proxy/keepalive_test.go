package proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"google.golang.org/genai"

	"subgate/proxy/protocol"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// mockAnswer is the text of the mock's streamed reply in every format.
const mockAnswer = "Hello from mock"

// tap is an http.RoundTripper that keeps a copy of every response body
// byte its client reads, so a test can check the wire while an official
// SDK parses the same stream.
type tap struct {
	want    []byte        // bytes whose arrival closes seen (nil: never)
	seen    chan struct{} // closed once want arrived
	headers chan struct{} // closed once the response headers arrived

	mu        sync.Mutex
	body      []byte
	seenOnce  sync.Once
	headerOne sync.Once
}

func newTap(want []byte) *tap {
	return &tap{want: want, seen: make(chan struct{}), headers: make(chan struct{})}
}

func (t *tap) client() *http.Client { return &http.Client{Transport: t} }

func (t *tap) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	t.headerOne.Do(func() { close(t.headers) })
	if err != nil {
		return nil, err
	}
	resp.Body = &tapBody{ReadCloser: resp.Body, t: t}
	return resp, nil
}

// received is a copy of the body bytes read so far.
func (t *tap) received() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.body...)
}

func (t *tap) committed() bool {
	select {
	case <-t.headers:
		return true
	default:
		return false
	}
}

type tapBody struct {
	io.ReadCloser
	t *tap
}

func (b *tapBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	t := b.t
	t.mu.Lock()
	t.body = append(t.body, p[:n]...)
	got := t.want != nil && bytes.Contains(t.body, t.want)
	t.mu.Unlock()
	if got {
		t.seenOnce.Do(func() { close(t.seen) })
	}
	return n, err
}

// sdkCase is one official SDK reading one protocol's stream.
type sdkCase struct {
	name    string
	account Account
	cred    string // the account's upstream credential, for scripts
	// holderPath and holderBody make a buffered request that holds the
	// account's only slot.
	holderPath, holderBody string
	keepalive              []byte // what the protocol's keepalive looks like; nil: none
	// read streams one request with the SDK through hc and returns the
	// answer's text; the answer must also be complete by the SDK's lights.
	read func(ctx context.Context, h *harness, hc *http.Client) (string, error)
}

func sdkCases() []sdkCase {
	one := func(a Account) Account { a.Concurrency = 1; return a }
	return []sdkCase{
		{
			name: "anthropic-sdk-go messages", account: one(apiAccount("a1", "k1")), cred: "k1",
			holderPath: "/v1/messages", holderBody: uniqueBody("holder", false),
			keepalive: (&protocol.Anthropic{}).Keepalive(), read: readAnthropic,
		},
		{
			name: "openai-go responses", account: one(openaiKey("o1", "sk-oa-1")), cred: "sk-oa-1",
			holderPath: "/v1/responses", holderBody: `{"model":"gpt-5","input":"holder"}`,
			keepalive: (&protocol.OpenAI{}).Keepalive(), read: readResponses,
		},
		{
			name: "openai-go chat", account: one(openaiKey("o1", "sk-oa-1")), cred: "sk-oa-1",
			holderPath: "/v1/chat/completions", holderBody: `{"model":"gpt-5","messages":[{"role":"user","content":"holder"}]}`,
			keepalive: (&protocol.OpenAI{}).Keepalive(), read: readChat,
		},
		{
			name: "genai streamGenerateContent", account: one(geminiKey("g1", "AIza-1")), cred: "AIza-1",
			holderPath: "/v1beta/models/gemini-2.5-pro:generateContent", holderBody: `{"contents":[{"role":"user","parts":[{"text":"holder"}]}]}`,
			keepalive: nil, read: readGenai,
		},
	}
}

func readAnthropic(ctx context.Context, h *harness, hc *http.Client) (string, error) {
	c := anthropic.NewClient(aoption.WithBaseURL(h.url), aoption.WithAPIKey(testKey), aoption.WithMaxRetries(0), aoption.WithHTTPClient(hc))
	stream := c.Messages.NewStreaming(ctx, sdkParams())
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			return "", err
		}
	}
	if err := stream.Err(); err != nil {
		return "", err
	}
	var text strings.Builder
	for _, b := range msg.Content {
		text.WriteString(b.Text)
	}
	if msg.StopReason != "end_turn" {
		return text.String() + " (stop reason " + string(msg.StopReason) + ")", nil
	}
	return text.String(), nil
}

func openaiSDK(h *harness, hc *http.Client) openai.Client {
	return openai.NewClient(option.WithBaseURL(h.url+"/v1"), option.WithAPIKey(testKey), option.WithMaxRetries(0), option.WithHTTPClient(hc))
}

func readResponses(ctx context.Context, h *harness, hc *http.Client) (string, error) {
	c := openaiSDK(h, hc)
	stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "gpt-5", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	var text strings.Builder
	completed := false
	for stream.Next() {
		switch ev := stream.Current(); ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.completed":
			completed = true
		}
	}
	if err := stream.Err(); err != nil {
		return "", err
	}
	if !completed {
		return text.String() + " (no response.completed)", nil
	}
	return text.String(), nil
}

func readChat(ctx context.Context, h *harness, hc *http.Client) (string, error) {
	c := openaiSDK(h, hc)
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-5", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		return "", err
	}
	if len(acc.Choices) != 1 {
		return "", nil
	}
	if fr := acc.Choices[0].FinishReason; fr != "stop" {
		return acc.Choices[0].Message.Content + " (finish reason " + fr + ")", nil
	}
	return acc.Choices[0].Message.Content, nil
}

func readGenai(ctx context.Context, h *harness, hc *http.Client) (string, error) {
	c, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey: testKey, Backend: genai.BackendGeminiAPI, HTTPClient: hc,
		HTTPOptions: genai.HTTPOptions{BaseURL: h.url},
	})
	if err != nil {
		return "", err
	}
	var text strings.Builder
	var finish genai.FinishReason
	for chunk, err := range c.Models.GenerateContentStream(ctx, "gemini-2.5-pro", genai.Text("hi"), nil) {
		if err != nil {
			return "", err
		}
		text.WriteString(chunk.Text())
		if len(chunk.Candidates) > 0 && chunk.Candidates[0].FinishReason != "" {
			finish = chunk.Candidates[0].FinishReason
		}
	}
	if finish != genai.FinishReasonStop {
		return text.String() + " (finish reason " + string(finish) + ")", nil
	}
	return text.String(), nil
}

// keepaliveEvery makes keepalives due after 20ms of quiet.
func keepaliveEvery(c *Config, _ *sched.Config) { c.Keepalive = 20 * time.Millisecond }

// hold sends a buffered request that holds the account's only slot until
// the returned release is called (the client hangs up, which frees the
// slot). release waits for the request to end.
func (h *harness) hold(sc sdkCase) (release func()) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, "POST", h.url+sc.holderPath, strings.NewReader(sc.holderBody))
		req.Header.Set("x-api-key", testKey)
		req.Header.Set("content-type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitUntil(h.t, "slot taken", func() bool { return h.status(sc.account.Name).InFlight == 1 })
	return func() { cancel(); <-done }
}

type sdkResult struct {
	text string
	err  error
}

// TestKeepaliveWhileQueuedSDKs: a stream that waits for a slot past the
// keepalive period is read to its end by each protocol's official SDK.
// Where the protocol has a keepalive, it is on the wire before the
// answer; where it has none (Gemini), nothing is: not even the headers
// until an account answers.
func TestKeepaliveWhileQueuedSDKs(t *testing.T) {
	for _, sc := range sdkCases() {
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t, []Account{sc.account}, keepaliveEvery)
			h.up.Script(sc.cred, upstreamtest.Hang(time.Minute), upstreamtest.OK())
			release := h.hold(sc)
			defer release()

			tp := newTap(sc.keepalive)
			res := make(chan sdkResult, 1)
			go func() {
				text, err := sc.read(context.Background(), h, tp.client())
				res <- sdkResult{text, err}
			}()
			waitUntil(t, "queued", func() bool { return h.status(sc.account.Name).Waiting == 1 })
			if sc.keepalive != nil {
				select {
				case <-tp.seen:
				case <-time.After(5 * time.Second):
					t.Fatalf("no keepalive while queued; got %q", tp.received())
				}
			} else {
				time.Sleep(10 * 20 * time.Millisecond) // ten keepalive periods
				if tp.committed() || len(tp.received()) > 0 {
					t.Fatalf("a queued stream without a keepalive was answered early: %q", tp.received())
				}
			}
			release()

			r := <-res
			if r.err != nil || r.text != mockAnswer {
				t.Fatalf("SDK read %q, err %v; want %q (wire: %q)", r.text, r.err, mockAnswer, tp.received())
			}
			body := tp.received()
			if sc.keepalive != nil && !bytes.HasPrefix(body, sc.keepalive) {
				t.Errorf("stream does not start with the keepalive: %q", body)
			}
			if sc.keepalive == nil {
				checkDataOnly(t, body)
			}
		})
	}
}

// TestKeepaliveDuringSilenceSDKs: a stream whose upstream falls silent
// past the keepalive period is read to its end by each official SDK; the
// keepalive fills the silence where the protocol has one, and nothing
// does where it has none.
func TestKeepaliveDuringSilenceSDKs(t *testing.T) {
	for _, sc := range sdkCases() {
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t, []Account{sc.account}, keepaliveEvery)
			h.up.Script(sc.cred, upstreamtest.Silence(400*time.Millisecond))
			tp := newTap(nil)
			text, err := sc.read(context.Background(), h, tp.client())
			if err != nil || text != mockAnswer {
				t.Fatalf("SDK read %q, err %v; want %q (wire: %q)", text, err, mockAnswer, tp.received())
			}
			body := tp.received()
			if sc.keepalive != nil && !bytes.HasPrefix(afterFirstEvent(body), sc.keepalive) {
				t.Errorf("no keepalive after the first event, during the silence: %q", body)
			}
			if sc.keepalive == nil {
				checkDataOnly(t, body)
			}
			if rec := h.records(1)[0]; rec.Status != 200 {
				t.Errorf("record %+v", rec)
			}
		})
	}
}

// afterFirstEvent is what follows the first SSE event of b.
func afterFirstEvent(b []byte) []byte {
	lf, crlf := bytes.Index(b, []byte("\n\n")), bytes.Index(b, []byte("\r\n\r\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return b[crlf+4:]
	case lf >= 0:
		return b[lf+2:]
	}
	return nil
}

// checkDataOnly fails unless every line of an SSE body is a data line or
// blank: what Gemini's clients accept.
func checkDataOnly(t *testing.T, body []byte) {
	t.Helper()
	if len(body) == 0 {
		t.Fatal("empty body")
	}
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line != "" && !strings.HasPrefix(line, "data:") {
			t.Fatalf("line %q in a stream whose clients read only data lines", line)
		}
	}
}
