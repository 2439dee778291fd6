package proxy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"subgate/ledger"
	"subgate/proxy/upstreamtest"
)

// transcriptRoute is how a recorded upstream stream reaches the gateway:
// through which account kind, from which client request.
type transcriptRoute struct {
	name    string // transcript
	account Account
	cred    string // the account's upstream credential, for scripts
	path    string
	body    string
	stream  bool
	// relayed is the SSE body a streaming client must get for the
	// transcript t (nil: t itself, byte for byte).
	relayed func(t []byte) []byte
}

func transcriptRoutes() []transcriptRoute {
	const (
		responses   = `{"model":"gpt-5.5","stream":true,"input":"hi"}`
		codex       = `{"model":"gpt-5.5-codex","stream":true,"store":false,"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}]}`
		codexJSON   = `{"model":"gpt-5.5-codex","input":"hi"}`
		chat        = `{"model":"gpt-4.1-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
		chatNoUsage = `{"model":"gpt-4.1-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		chatPlain   = `{"model":"qwen3-coder","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		gemini      = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	)
	openaiKey, codexOAuth := openaiKey("o1", "sk-oa-1"), codexAccount("cx", "codex-access-1", "")
	gemKey, codeAssist := geminiKey("g1", "AIza-1"), geminiOAuth("ga", "ya29.a", "")
	return []transcriptRoute{
		{name: upstreamtest.TranscriptResponsesCodex, account: codexOAuth, cred: "codex-access-1", path: "/v1/responses", body: codex, stream: true},
		{name: upstreamtest.TranscriptResponsesCodex, account: codexOAuth, cred: "codex-access-1", path: "/v1/responses", body: codexJSON},
		{name: upstreamtest.TranscriptResponsesCodex, account: openaiKey, cred: "sk-oa-1", path: "/v1/responses", body: responses, stream: true},
		{name: upstreamtest.TranscriptResponsesIncomplete, account: openaiKey, cred: "sk-oa-1", path: "/v1/responses", body: responses, stream: true},
		{name: upstreamtest.TranscriptResponsesIncomplete, account: codexOAuth, cred: "codex-access-1", path: "/v1/responses", body: codexJSON},
		{name: upstreamtest.TranscriptChatUsage, account: openaiKey, cred: "sk-oa-1", path: "/v1/chat/completions", body: chat, stream: true},
		// The client did not ask for usage: the gateway asks for it
		// upstream and keeps OpenAI's usage-only chunk from the client. A
		// compatible server that puts usage in its finish chunk, beside
		// the choices, is relayed as sent.
		{
			name: upstreamtest.TranscriptChatUsage, account: openaiKey, cred: "sk-oa-1", path: "/v1/chat/completions", body: chatNoUsage, stream: true,
			relayed: dropUsageChunk,
		},
		{name: upstreamtest.TranscriptChatCompat, account: openaiKey, cred: "sk-oa-1", path: "/v1/chat/completions", body: chatPlain, stream: true},
		{name: upstreamtest.TranscriptGeminiThoughts, account: gemKey, cred: "AIza-1", path: "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", body: gemini, stream: true},
		{
			name: upstreamtest.TranscriptCodeAssist, account: codeAssist, cred: "ya29.a", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", body: gemini, stream: true,
			relayed: unwrapCodeAssist,
		},
	}
}

// dropUsageChunk is a Chat Completions stream without its usage-only
// chunk (usage set, no choices).
func dropUsageChunk(t []byte) []byte {
	var out []byte
	for _, ev := range bytes.SplitAfter(t, []byte("\n\n")) {
		d := gjson.ParseBytes(bytes.TrimSpace(bytes.TrimPrefix(ev, []byte("data:"))))
		if d.Get("usage").IsObject() && len(d.Get("choices").Array()) == 0 {
			continue
		}
		out = append(out, ev...)
	}
	return out
}

// unwrapCodeAssist is a Code Assist stream as a Gemini API client sees it:
// each event's "response" object, the envelope (traceId) gone.
func unwrapCodeAssist(t []byte) []byte {
	var out []byte
	for _, ev := range bytes.SplitAfter(t, []byte("\r\n\r\n")) {
		data, ok := bytes.CutPrefix(ev, []byte("data: "))
		if !ok {
			continue
		}
		resp := gjson.GetBytes(bytes.TrimRight(data, "\r\n"), "response").Raw
		out = append(append(append(out, "data: "...), resp...), "\r\n\r\n"...)
	}
	return out
}

// TestTranscriptsThroughGateway replays the recorded OpenAI, Gemini and
// Code Assist streams through the gateway, through the account kinds that
// serve them, and checks what the client gets and what the ledger records
// against the golden usage.
func TestTranscriptsThroughGateway(t *testing.T) {
	for _, tr := range transcriptRoutes() {
		mode := "json"
		if tr.stream {
			mode = "stream"
		}
		t.Run(tr.name+"/"+tr.account.Type+"/"+mode, func(t *testing.T) {
			h := newHarness(t, []Account{tr.account})
			transcript := upstreamtest.Transcript(tr.name)
			h.up.Script(tr.cred, upstreamtest.Replay(transcript))
			resp, body := h.post(tr.path, tr.body, "authorization", "Bearer "+testKey, "x-api-key", "")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if up := h.up.Requests(); len(up) == 0 || up[len(up)-1].Credential != tr.cred {
				t.Fatalf("upstream requests %+v, want one with %s", up, tr.cred)
			}
			if tr.stream {
				want := transcript
				if tr.relayed != nil {
					want = tr.relayed(transcript)
				}
				if !bytes.Equal(body, want) {
					t.Errorf("relayed stream differs from the upstream's:\n got %q\nwant %q", body, want)
				}
			} else {
				checkCollected(t, body, transcript)
			}
			rec := h.records(1)[0]
			if rec.Status != 200 || rec.Stream != tr.stream || rec.Account != tr.account.Name {
				t.Errorf("record %+v", rec)
			}
			if got, want := rec.Usage, goldenLedger(tr.name); got != want {
				t.Errorf("usage = %+v, want golden %+v", got, want)
			}
		})
	}
}

// checkCollected: a buffered client of a streaming upstream gets the
// stream's final response object, usage included.
func checkCollected(t *testing.T, body, transcript []byte) {
	t.Helper()
	var final gjson.Result
	for _, e := range upstreamtest.ParseSSE(transcript) {
		if typ := gjson.GetBytes(e.Data, "type").Str; typ == "response.completed" || typ == "response.incomplete" {
			final = gjson.GetBytes(e.Data, "response")
		}
	}
	if !final.Exists() {
		t.Fatal("transcript has no final response")
	}
	for _, path := range []string{"id", "status", "usage", "output"} {
		if got, want := gjson.GetBytes(body, path).Raw, final.Get(path).Raw; got != want || want == "" {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
	if strings.HasPrefix(string(body), "event:") || strings.HasPrefix(string(body), "data:") {
		t.Errorf("a buffered client got SSE: %.80q", body)
	}
}

// goldenLedger is the ledger's view of a transcript's golden usage:
// uncached input, cache reads, and output as billed (Gemini's thoughts
// included).
func goldenLedger(name string) ledger.Usage {
	g := upstreamtest.Golden(name)
	return ledger.Usage{
		InputTokens:         int64(g.InputTokens),
		OutputTokens:        int64(g.BilledOutput()),
		CacheCreationTokens: int64(g.CacheCreationInputTokens),
		CacheCreation5m:     int64(g.Ephemeral5m),
		CacheCreation1h:     int64(g.Ephemeral1h),
		CacheReadTokens:     int64(g.CacheReadInputTokens),
	}
}
