package proxy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"subgate/proxy/upstreamtest"
)

// The official SDK is the judge of our wire format: its parser must accept
// what the gateway relays.
func sdkClient(h *harness) *anthropic.Client {
	c := anthropic.NewClient(option.WithBaseURL(h.url), option.WithAPIKey(testKey), option.WithMaxRetries(0))
	return &c
}

func sdkParams() anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 64,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	}
}

func TestSDKNonStream(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	h.up.Script("k1", upstreamtest.OK().WithUsage(upstreamtest.Usage{InputTokens: 12, OutputTokens: 7}))
	c := sdkClient(h)
	msg, err := c.Messages.New(context.Background(), sdkParams())
	if err != nil {
		t.Fatalf("Messages.New: %v", err)
	}
	if msg.Usage.InputTokens != 12 || msg.Usage.OutputTokens != 7 || len(msg.Content) == 0 {
		t.Fatalf("message = %+v", msg)
	}
	if rec := h.records(1)[0]; rec.InputTokens != 12 || rec.OutputTokens != 7 {
		t.Errorf("ledger usage = %+v", rec.Usage)
	}
}

func TestSDKStream(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	h.up.Script("k1", upstreamtest.OK().WithUsage(upstreamtest.Usage{InputTokens: 30, OutputTokens: 15, CacheReadInputTokens: 100}))
	c := sdkClient(h)
	stream := c.Messages.NewStreaming(context.Background(), sdkParams())
	var msg anthropic.Message
	events := 0
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatalf("accumulate: %v", err)
		}
		events++
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if events < 5 || msg.Usage.OutputTokens != 15 || msg.StopReason != "end_turn" {
		t.Fatalf("events=%d message=%+v", events, msg)
	}
	rec := h.records(1)[0]
	if rec.InputTokens != 30 || rec.OutputTokens != 15 || rec.CacheReadTokens != 100 {
		t.Errorf("ledger usage = %+v", rec.Usage)
	}
}

func TestSDKStreamCutIsAnError(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	h.up.Script("k1", upstreamtest.CutStream(2))
	stream := sdkClient(h).Messages.NewStreaming(context.Background(), sdkParams())
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Fatal("a cut upstream stream reached the SDK as a clean end")
	}
}

func TestSDKCountTokens(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	res, err := sdkClient(h).Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model:    "claude-sonnet-4-5",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	})
	if err != nil {
		t.Fatalf("CountTokens: %v", err)
	}
	if res.InputTokens <= 0 {
		t.Errorf("input_tokens = %d", res.InputTokens)
	}
}

func TestSDKErrorShape(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	h.up.Script("k1", upstreamtest.RateLimited(0, time.Time{}))
	_, err := sdkClient(h).Messages.New(context.Background(), sdkParams())
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		t.Fatalf("err = %v, want a 429 anthropic.Error", err)
	}
}
