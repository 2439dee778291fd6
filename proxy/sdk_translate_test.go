package proxy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"subgate/ledger"
	"subgate/proxy/upstreamtest"
)

// The official SDKs judge the translations end to end: each asks for a
// tool, gets the call, sends the tool's result back and gets the answer,
// through subgate to an account of another family; the mock checks the
// upstream's own format on both turns, and the ledger has both turns'
// tokens under the client's model and the account's.

const (
	toolArgs   = `{"file_path":"main.go"}`
	toolResult = "package main"
	sdkModel   = "claude-sonnet-4-5" // what the clients ask for
)

// toolUsage is the first turn's usage (the second is the mock's default).
var toolUsage = upstreamtest.Usage{InputTokens: 900, CacheReadInputTokens: 100, OutputTokens: 30}

// translatedAccount is an account of another family than the client's,
// with sdkModel (or the client's model) aliased to its own.
type translatedAccount struct {
	name     string
	acct     Account
	cred     string
	upstream string
	// call scripts the account's tool call in its route's format.
	call func(tc upstreamtest.ToolCall, stream bool) upstreamtest.Step
	// check reads the second turn's upstream body: the call and its
	// result, in the account's format.
	check func(t *testing.T, body []byte, callID string)
}

func responsesCall(tc upstreamtest.ToolCall, stream bool) upstreamtest.Step {
	return tc.Responses(stream)
}
func codexCall(tc upstreamtest.ToolCall, _ bool) upstreamtest.Step { return tc.Responses(true) }
func geminiCall(tc upstreamtest.ToolCall, stream bool) upstreamtest.Step {
	return tc.Gemini(stream, false)
}
func codeAssistCall(tc upstreamtest.ToolCall, stream bool) upstreamtest.Step {
	return tc.Gemini(stream, true)
}

// checkResponsesTurn: the function_call and its output, paired by call_id.
func checkResponsesTurn(t *testing.T, body []byte, callID string) {
	t.Helper()
	in := gjson.GetBytes(body, "input")
	call := in.Get(`#(type=="function_call")`)
	out := in.Get(`#(type=="function_call_output")`)
	if call.Get("call_id").String() != callID || call.Get("name").String() != "Read" ||
		gjson.Parse(call.Get("arguments").String()).Get("file_path").String() != "main.go" ||
		out.Get("call_id").String() != callID || out.Get("output").String() != toolResult {
		t.Fatalf("second turn's input: %s", in.Raw)
	}
}

// checkGeminiTurn: the functionCall (with its thoughtSignature back) and
// the functionResponse.
func checkGeminiTurn(req string) func(t *testing.T, body []byte, _ string) {
	return func(t *testing.T, body []byte, _ string) {
		t.Helper()
		contents := gjson.GetBytes(body, req+"contents")
		call := contents.Get(`#.parts.#(functionCall.name=="Read")|0`)
		resp := contents.Get(`#.parts.#(functionResponse.name=="Read")|0`)
		if call.Get("thoughtSignature").String() != "c2lnLXJlYWQ=" || call.Get("functionCall.args.file_path").String() != "main.go" ||
			!gjson.Get(resp.Get("functionResponse.response").Raw, "@this").Exists() || !contains(resp.Raw, toolResult) {
			t.Fatalf("second turn's contents: %s", contents.Raw)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func otherFamilies() []translatedAccount {
	alias := func(a Account, up string) Account { return aliased(a, map[string]string{sdkModel: up}) }
	return []translatedAccount{
		{"openai key", alias(openaiKey("o1", "sk-o1"), "gpt-5.5"), "sk-o1", "gpt-5.5", responsesCall, checkResponsesTurn},
		{"codex", alias(codexAccount("cx", "tok-cx", ""), "gpt-5-codex"), "tok-cx", "gpt-5-codex", codexCall, checkResponsesTurn},
		{"gemini key", alias(geminiKey("g1", "AIza-g1"), "gemini-2.5-pro"), "AIza-g1", "gemini-2.5-pro", geminiCall, checkGeminiTurn("")},
		{"code assist", alias(geminiOAuth("ca", "ya29.ca", "1//r"), "gemini-3-pro-preview"), "ya29.ca", "gemini-3-pro-preview", codeAssistCall, checkGeminiTurn("request.")},
	}
}

// checkTurns checks the ledger's two records of a tool loop.
func checkTurns(t *testing.T, recs []ledger.Record, acct, model, upstream string) {
	t.Helper()
	def := upstreamtest.DefaultUsage()
	for i, want := range []ledger.Usage{
		{InputTokens: int64(toolUsage.InputTokens), CacheReadTokens: int64(toolUsage.CacheReadInputTokens), OutputTokens: int64(toolUsage.OutputTokens)},
		{InputTokens: int64(def.InputTokens), OutputTokens: int64(def.OutputTokens)},
	} {
		r := recs[i]
		if r.Status != 200 || r.Account != acct || r.Model != model || r.UpstreamModel != upstream || r.Usage != want || r.Estimated {
			t.Errorf("turn %d record: %+v, want usage %+v", i+1, r, want)
		}
	}
}

// TestAnthropicSDKOnOtherFamilies: anthropic-sdk-go on an OpenAI key, a
// Codex login, a Gemini key and a Code Assist login.
func TestAnthropicSDKOnOtherFamilies(t *testing.T) {
	for _, a := range otherFamilies() {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", a.name, stream), func(t *testing.T) {
				h := newHarness(t, []Account{a.acct}, translating)
				tc := upstreamtest.ToolCall{ID: "call_r1", Name: "Read", Args: toolArgs, Text: "Let me look.", Signature: "c2lnLXJlYWQ=", Usage: toolUsage}
				h.up.Script(a.cred, a.call(tc, stream))
				c := sdkClient(h)
				params := anthropic.MessageNewParams{
					Model: sdkModel, MaxTokens: 256,
					System: []anthropic.TextBlockParam{{Text: "You are terse."}},
					Tools: []anthropic.ToolUnionParam{anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
						Properties: map[string]any{"file_path": map[string]any{"type": "string"}}, Required: []string{"file_path"},
					}, "Read")},
					Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is in main.go?"))},
				}
				turn := func() anthropic.Message {
					t.Helper()
					if !stream {
						msg, err := c.Messages.New(context.Background(), params)
						if err != nil {
							t.Fatalf("Messages.New: %v", err)
						}
						return *msg
					}
					s := c.Messages.NewStreaming(context.Background(), params)
					var msg anthropic.Message
					for s.Next() {
						if err := msg.Accumulate(s.Current()); err != nil {
							t.Fatalf("accumulate: %v", err)
						}
					}
					if err := s.Err(); err != nil {
						t.Fatalf("stream: %v", err)
					}
					return msg
				}
				msg := turn()
				var id string
				var input []byte
				for _, b := range msg.Content {
					if b.Type == "tool_use" && b.Name == "Read" {
						id, input = b.ID, b.Input
					}
				}
				if msg.StopReason != "tool_use" || id == "" || gjson.GetBytes(input, "file_path").String() != "main.go" || string(msg.Model) != sdkModel {
					t.Fatalf("first turn: %+v", msg)
				}
				if msg.Usage.InputTokens != int64(toolUsage.InputTokens) || msg.Usage.CacheReadInputTokens != int64(toolUsage.CacheReadInputTokens) {
					t.Fatalf("first turn usage %+v", msg.Usage)
				}
				params.Messages = append(params.Messages, msg.ToParam(),
					anthropic.NewUserMessage(anthropic.NewToolResultBlock(id, toolResult, false)))
				msg = turn()
				if len(msg.Content) == 0 || msg.Content[0].Text != mockText || msg.StopReason != "end_turn" {
					t.Fatalf("second turn: %+v", msg)
				}
				a.check(t, h.lastUpstream().Body, "call_r1")
				checkTurns(t, h.records(2), a.acct.Name, sdkModel, a.upstream)
			})
		}
	}
}

// claudeAccounts are the Anthropic accounts other clients use: an API
// key, and a subscription (which gets Claude Code's identity block).
func claudeAccounts() []struct {
	acct Account
	cred string
} {
	return []struct {
		acct Account
		cred string
	}{
		{apiAccount("a1", "k1"), "k1"},
		{oauthAccount("max", "sk-ant-oat01-max", "sk-ant-ort01-max", timeAhead()), "sk-ant-oat01-max"},
	}
}

// checkMessagesTurn: the second Anthropic request has the tool_use and,
// first in the next user turn, its tool_result.
func checkMessagesTurn(t *testing.T, body []byte) {
	t.Helper()
	msgs := gjson.GetBytes(body, "messages")
	use := msgs.Get(`#.content.#(type=="tool_use")|0`)
	res := msgs.Get(`#.content.#(type=="tool_result")|0`)
	if use.Get("id").String() != "toolu_r1" || use.Get("input.file_path").String() != "main.go" ||
		res.Get("tool_use_id").String() != "toolu_r1" || !contains(res.Get("content").Raw, toolResult) {
		t.Fatalf("second turn's messages: %s", msgs.Raw)
	}
}

// TestOpenAIChatSDKOnClaude: openai-go Chat Completions with a tool, on a
// Claude key and subscription.
func TestOpenAIChatSDKOnClaude(t *testing.T) {
	for _, a := range claudeAccounts() {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", a.acct.Name, stream), func(t *testing.T) {
				h := newHarness(t, []Account{a.acct}, translating)
				h.up.Script(a.cred, upstreamtest.ToolCall{ID: "toolu_r1", Name: "Read", Args: toolArgs, Usage: toolUsage}.Messages(stream))
				c := openaiClient(h)
				params := openai.ChatCompletionNewParams{
					Model:    sdkModel,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("You are terse."), openai.UserMessage("What is in main.go?")},
					Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
						Name: "Read", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"file_path": map[string]any{"type": "string"}}},
					})},
				}
				if stream {
					params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				}
				turn := func() (openai.ChatCompletionMessage, string, openai.CompletionUsage) {
					t.Helper()
					if !stream {
						cc, err := c.Chat.Completions.New(context.Background(), params)
						if err != nil {
							t.Fatalf("Chat.Completions.New: %v", err)
						}
						return cc.Choices[0].Message, string(cc.Choices[0].FinishReason), cc.Usage
					}
					s := c.Chat.Completions.NewStreaming(context.Background(), params)
					var acc openai.ChatCompletionAccumulator
					for s.Next() {
						acc.AddChunk(s.Current())
					}
					if err := s.Err(); err != nil {
						t.Fatalf("stream: %v", err)
					}
					return acc.Choices[0].Message, string(acc.Choices[0].FinishReason), acc.Usage
				}
				msg, finish, usage := turn()
				if finish != "tool_calls" || len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "Read" ||
					gjson.Get(msg.ToolCalls[0].Function.Arguments, "file_path").String() != "main.go" {
					t.Fatalf("first turn: %s %+v", finish, msg)
				}
				if usage.PromptTokens != int64(toolUsage.InputTokens+toolUsage.CacheReadInputTokens) || usage.PromptTokensDetails.CachedTokens != int64(toolUsage.CacheReadInputTokens) {
					t.Fatalf("first turn usage %+v", usage)
				}
				params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage(toolResult, msg.ToolCalls[0].ID))
				msg, finish, _ = turn()
				if msg.Content != mockText || finish != "stop" {
					t.Fatalf("second turn: %s %+v", finish, msg)
				}
				body := h.lastUpstream().Body
				checkMessagesTurn(t, body)
				if got := gjson.GetBytes(body, "system.0.text").String(); a.acct.OAuth() != (got == "You are Claude Code, Anthropic's official CLI for Claude.") {
					t.Fatalf("identity block: system %s", gjson.GetBytes(body, "system").Raw)
				}
				checkTurns(t, h.records(2), a.acct.Name, sdkModel, sdkModel)
			})
		}
	}
}

// TestOpenAIResponsesSDKOnClaude: openai-go Responses with a function
// tool, on a Claude key.
func TestOpenAIResponsesSDKOnClaude(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			h := newHarness(t, []Account{apiAccount("a1", "k1")}, translating)
			h.up.Script("k1", upstreamtest.ToolCall{ID: "toolu_r1", Name: "Read", Args: toolArgs, Usage: toolUsage}.Messages(stream))
			c := openaiClient(h)
			input := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("What is in main.go?", responses.EasyInputMessageRoleUser)}
			params := func() responses.ResponseNewParams {
				return responses.ResponseNewParams{
					Model: sdkModel, Instructions: openai.String("You are terse."),
					Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
					Tools: []responses.ToolUnionParam{responses.ToolParamOfFunction("Read",
						map[string]any{"type": "object", "properties": map[string]any{"file_path": map[string]any{"type": "string"}}}, false)},
				}
			}
			turn := func() *responses.Response {
				t.Helper()
				if !stream {
					r, err := c.Responses.New(context.Background(), params())
					if err != nil {
						t.Fatalf("Responses.New: %v", err)
					}
					return r
				}
				s := c.Responses.NewStreaming(context.Background(), params())
				var done *responses.Response
				for s.Next() {
					if ev := s.Current(); ev.Type == "response.completed" {
						r := ev.Response
						done = &r
					}
				}
				if err := s.Err(); err != nil || done == nil {
					t.Fatalf("stream: %v (completed %v)", err, done != nil)
				}
				return done
			}
			r := turn()
			var call responses.ResponseFunctionToolCall
			for _, it := range r.Output {
				if it.Type == "function_call" {
					call = it.AsFunctionCall()
				}
			}
			if call.Name != "Read" || gjson.Get(call.Arguments, "file_path").String() != "main.go" || r.Usage.InputTokens != int64(toolUsage.InputTokens+toolUsage.CacheReadInputTokens) {
				t.Fatalf("first turn: %+v", r)
			}
			out := responses.ResponseInputItemParamOfFunctionCallOutput(toolResult)
			out.OfFunctionCallOutput.CallID = openai.String(call.CallID)
			input = append(input, responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name), out)
			if r = turn(); r.OutputText() != mockText || r.Status != "completed" {
				t.Fatalf("second turn: %+v", r)
			}
			checkMessagesTurn(t, h.lastUpstream().Body)
			checkTurns(t, h.records(2), "a1", sdkModel, sdkModel)
		})
	}
}

// TestGenaiSDKOnClaude: google.golang.org/genai with a function
// declaration, on a Claude key.
func TestGenaiSDKOnClaude(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			h := newHarness(t, []Account{apiAccount("a1", "k1")}, translating)
			h.up.Script("k1", upstreamtest.ToolCall{ID: "toolu_r1", Name: "Read", Args: toolArgs, Usage: toolUsage}.Messages(stream))
			c := genaiClient(t, h)
			cfg := &genai.GenerateContentConfig{
				SystemInstruction: genai.NewContentFromText("You are terse.", genai.RoleUser),
				Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
					Name: "Read", ParametersJsonSchema: map[string]any{"type": "object", "properties": map[string]any{"file_path": map[string]any{"type": "string"}}},
				}}}},
			}
			contents := []*genai.Content{genai.NewContentFromText("What is in main.go?", genai.RoleUser)}
			turn := func() *genai.GenerateContentResponse {
				t.Helper()
				if !stream {
					r, err := c.Models.GenerateContent(context.Background(), sdkModel, contents, cfg)
					if err != nil {
						t.Fatalf("GenerateContent: %v", err)
					}
					return r
				}
				var parts []*genai.Part
				var last *genai.GenerateContentResponse
				for r, err := range c.Models.GenerateContentStream(context.Background(), sdkModel, contents, cfg) {
					if err != nil {
						t.Fatalf("stream: %v", err)
					}
					if len(r.Candidates) > 0 && r.Candidates[0].Content != nil {
						parts = append(parts, r.Candidates[0].Content.Parts...)
					}
					last = r
				}
				if last == nil || len(last.Candidates) == 0 {
					t.Fatal("empty stream")
				}
				last.Candidates[0].Content = &genai.Content{Role: genai.RoleModel, Parts: parts}
				return last
			}
			r := turn()
			calls := r.FunctionCalls()
			if len(calls) != 1 || calls[0].Name != "Read" || calls[0].Args["file_path"] != "main.go" ||
				r.UsageMetadata == nil || r.UsageMetadata.PromptTokenCount != int32(toolUsage.InputTokens+toolUsage.CacheReadInputTokens) {
				t.Fatalf("first turn: %+v calls %+v", r, calls)
			}
			resp := genai.NewPartFromFunctionResponse("Read", map[string]any{"output": toolResult})
			resp.FunctionResponse.ID = calls[0].ID
			contents = append(contents, r.Candidates[0].Content, genai.NewContentFromParts([]*genai.Part{resp}, genai.RoleUser))
			if r = turn(); r.Text() != mockText {
				t.Fatalf("second turn: %q", r.Text())
			}
			checkMessagesTurn(t, h.lastUpstream().Body)
			checkTurns(t, h.records(2), "a1", sdkModel, sdkModel)
		})
	}
}

func timeAhead() time.Time { return time.Now().Add(time.Hour) }
