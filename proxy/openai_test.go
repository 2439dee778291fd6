package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

func openaiKey(name, key string) Account {
	return Account{Account: sched.Account{Name: name, Platform: "openai", Type: "api_key", Group: "default", Priority: 10, Concurrency: 3}, APIKey: key}
}

func codexAccount(name, access, refresh string) Account {
	return Account{
		Account:     sched.Account{Name: name, Platform: "openai", Type: "oauth", Group: "default", Priority: 10, Concurrency: 3},
		AccessToken: access, RefreshToken: refresh, ExpiresAt: time.Now().Add(time.Hour),
		IDToken: upstreamtest.IDToken(upstreamtest.MockChatGPTAccountID, "me@example.com"),
	}
}

func openaiClient(h *harness) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(h.url+"/v1"), option.WithAPIKey(testKey), option.WithMaxRetries(0))
	return &c
}

func TestOpenAIResponsesSDK(t *testing.T) {
	h := newHarness(t, []Account{openaiKey("o1", "sk-oa-1")})
	usage := upstreamtest.Usage{InputTokens: 800, CacheReadInputTokens: 200, OutputTokens: 50}
	h.up.Script("sk-oa-1", upstreamtest.OK().WithUsage(usage), upstreamtest.OK().WithUsage(usage))
	c := openaiClient(h)
	params := responses.ResponseNewParams{Model: "gpt-5", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}}
	resp, err := c.Responses.New(context.Background(), params)
	if err != nil {
		t.Fatalf("Responses.New: %v", err)
	}
	if resp.Usage.InputTokens != 1000 || resp.Usage.InputTokensDetails.CachedTokens != 200 {
		t.Fatalf("usage %+v", resp.Usage)
	}
	stream := c.Responses.NewStreaming(context.Background(), params)
	completed := false
	for stream.Next() {
		if stream.Current().Type == "response.completed" {
			completed = true
		}
	}
	if err := stream.Err(); err != nil || !completed {
		t.Fatalf("stream: %v completed=%v", err, completed)
	}
	for _, rec := range h.records(2) {
		// 800 uncached × 1.25 + 200 cached × 0.125 + 50 × 10 = 1000 + 25 + 500
		if rec.InputTokens != 800 || rec.CacheReadTokens != 200 || rec.OutputTokens != 50 || rec.CostMicros != 1525 {
			t.Errorf("record %+v", rec)
		}
	}
	if got := h.up.Requests()[0].Header["authorization"]; got != "Bearer sk-oa-1" {
		t.Errorf("upstream authorization %q", got)
	}
}

func TestOpenAIChatStreamUsage(t *testing.T) {
	for _, clientAsks := range []bool{true, false} {
		h := newHarness(t, []Account{openaiKey("o1", "sk-oa-1")})
		h.up.Script("sk-oa-1", upstreamtest.OK().WithUsage(upstreamtest.Usage{InputTokens: 10, OutputTokens: 20}))
		params := openai.ChatCompletionNewParams{Model: "gpt-5", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
		if clientAsks {
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		c := openaiClient(h)
		stream := c.Chat.Completions.NewStreaming(context.Background(), params)
		acc := openai.ChatCompletionAccumulator{}
		usageChunks := 0
		for stream.Next() {
			ch := stream.Current()
			acc.AddChunk(ch)
			if ch.Usage.TotalTokens > 0 {
				usageChunks++
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		if want := map[bool]int{true: 1, false: 0}[clientAsks]; usageChunks != want {
			t.Errorf("client asked=%v: %d usage chunks, want %d", clientAsks, usageChunks, want)
		}
		if !gjson.GetBytes(h.up.Requests()[0].Body, "stream_options.include_usage").Bool() {
			t.Errorf("upstream request did not ask for usage")
		}
		if rec := h.records(1)[0]; rec.InputTokens != 10 || rec.OutputTokens != 20 {
			t.Errorf("record %+v", rec.Usage)
		}
	}
}

const codexReq = `{"model":"gpt-5-codex","stream":true,"store":false,"prompt_cache_key":"sess-9","input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"be brief"}]},{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}]}`

func TestCodexOAuth(t *testing.T) {
	h := newHarness(t, []Account{codexAccount("cx", "codex-access-1", "")})
	h.up.Script("codex-access-1", upstreamtest.OK().WithUsage(upstreamtest.Usage{InputTokens: 100, OutputTokens: 7}))
	resp, body := h.post("/v1/responses", codexReq, "authorization", "Bearer "+testKey, "x-api-key", "", "originator", "codex_exec", "session-id", "sess-9")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	evs := sseEvents(body)
	if last := evs[len(evs)-1][0]; last != "response.completed" {
		t.Fatalf("last event %q", last)
	}
	up := h.up.Requests()[0]
	if up.Path != "/backend-api/codex/responses" || up.Header["chatgpt-account-id"] != upstreamtest.MockChatGPTAccountID {
		t.Errorf("upstream %s account-id %q", up.Path, up.Header["chatgpt-account-id"])
	}
	if up.Header["originator"] != "codex_exec" || gjson.GetBytes(up.Body, "instructions").Type != gjson.String {
		t.Errorf("originator %q instructions %s", up.Header["originator"], gjson.GetBytes(up.Body, "instructions").Raw)
	}
	ws := h.status("cx").Windows
	if len(ws) != 2 || ws[0].Name != "primary" {
		t.Errorf("codex windows %+v", ws)
	}
	// A non-stream client is answered from the collected stream.
	h.up.Script("codex-access-1", upstreamtest.OK().WithUsage(upstreamtest.Usage{InputTokens: 30, OutputTokens: 3}))
	resp, body = h.post("/v1/responses", strings.Replace(codexReq, `"stream":true`, `"stream":false`, 1), "authorization", "Bearer "+testKey, "x-api-key", "")
	if resp.StatusCode != 200 || gjson.GetBytes(body, "object").String() != "response" || gjson.GetBytes(body, "usage.output_tokens").Int() != 3 {
		t.Fatalf("collected response: %d %s", resp.StatusCode, body)
	}
	if !gjson.GetBytes(h.up.Requests()[1].Body, "stream").Bool() {
		t.Errorf("upstream was not asked to stream")
	}
	recs := h.records(2)
	if recs[0].InputTokens != 100 || recs[1].OutputTokens != 3 {
		t.Errorf("records %+v / %+v", recs[0].Usage, recs[1].Usage)
	}
}

func TestCodexUsageLimitFailsOver(t *testing.T) {
	a, b := codexAccount("cx1", "tok-1", ""), codexAccount("cx2", "tok-2", "")
	b.Priority = 20
	h := newHarness(t, []Account{a, b})
	h.up.Script("tok-1", upstreamtest.UsageLimit(2*time.Hour))
	resp, _ := h.post("/v1/responses", codexReq, "authorization", "Bearer "+testKey, "x-api-key", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	st := h.status("cx1")
	if st.State != sched.StateRateLimited || st.Until.Before(time.Now().Add(110*time.Minute)) {
		t.Errorf("cx1 %s until %v", st.State, st.Until)
	}
}

func TestCodexRefreshRotates(t *testing.T) {
	h := newHarness(t, []Account{codexAccount("cx", "old-access", "rt-seed")})
	h.up.Revoke("old-access")
	h.up.AddRefreshToken("rt-seed")
	resp, body := h.post("/v1/responses", codexReq, "authorization", "Bearer "+testKey, "x-api-key", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	if h.up.TokenRequestsTo("/oauth/token") != 1 {
		t.Errorf("token requests %d", h.up.TokenRequestsTo("/oauth/token"))
	}
	tok, err := h.db.LoadToken("cx")
	if err != nil || tok.RefreshToken == "rt-seed" || tok.IDToken == "" {
		t.Errorf("persisted %+v %v", tok, err)
	}
}

// TestPreviousResponseSticky: a follow-up naming previous_response_id goes
// to the account that produced that response.
func TestPreviousResponseSticky(t *testing.T) {
	h := newHarness(t, []Account{openaiKey("o1", "sk-1"), openaiKey("o2", "sk-2")})
	c := openaiClient(h)
	for i := 0; i < 4; i++ {
		first, err := c.Responses.New(context.Background(), responses.ResponseNewParams{
			Model: "gpt-5", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("q" + string(rune('a'+i)))}})
		if err != nil {
			t.Fatal(err)
		}
		owner := h.up.ResponseOwner(first.ID)
		for j := 0; j < 2; j++ {
			next, err := c.Responses.New(context.Background(), responses.ResponseNewParams{
				Model: "gpt-5", PreviousResponseID: openai.String(first.ID),
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("more")}})
			if err != nil {
				t.Fatalf("follow-up: %v", err)
			}
			if got := h.up.ResponseOwner(next.ID); got != owner {
				t.Fatalf("follow-up served by %s, first by %s", got, owner)
			}
		}
	}
}

// TestChatOnCodexOnlyGroupIsClear: a key that may not translate gets a
// clear 400 for Chat Completions on a Codex-only group (with translation
// it is served: TestChatOnCodexTranslated).
func TestChatOnCodexOnlyGroupIsClear(t *testing.T) {
	h := newHarness(t, []Account{codexAccount("cx", "tok", "")})
	resp, body := h.post("/v1/chat/completions", `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`, "authorization", "Bearer "+testKey, "x-api-key", "")
	if resp.StatusCode != 400 || !strings.Contains(gjson.GetBytes(body, "error.message").String(), "translation") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if h.up.Count("tok") != 0 {
		t.Errorf("chat reached the codex backend")
	}
}

func TestOpenAIErrorShape(t *testing.T) {
	h := newHarness(t, []Account{openaiKey("o1", "sk-1")})
	h.up.Script("sk-1", upstreamtest.RateLimited(time.Minute, time.Time{}))
	_, err := openaiClient(h).Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-5", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
	// Every account failed: the client gets the upstream's own 429, as
	// OpenAI words it (type "requests", code rate_limit_exceeded).
	var apiErr *openai.Error
	if !errorsAs(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Type != "requests" || apiErr.Code != "rate_limit_exceeded" {
		t.Fatalf("err = %v", err)
	}
}
