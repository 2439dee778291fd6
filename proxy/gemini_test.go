package proxy

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"subgate/proxy/protocol"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

func geminiKey(name, key string) Account {
	return Account{Account: sched.Account{Name: name, Platform: "gemini", Type: "api_key", Group: "default", Priority: 10, Concurrency: 3}, APIKey: key}
}

func geminiOAuth(name, access, refresh string) Account {
	return Account{
		Account:     sched.Account{Name: name, Platform: "gemini", Type: "oauth", Group: "default", Priority: 10, Concurrency: 3},
		AccessToken: access, RefreshToken: refresh, ExpiresAt: time.Now().Add(time.Hour),
	}
}

func genaiClient(t *testing.T, h *harness) *genai.Client {
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: testKey, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: h.url},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var gemUsage = upstreamtest.Usage{InputTokens: 900, CacheReadInputTokens: 100, OutputTokens: 40, ThoughtsTokens: 60}

func checkGeminiRecord(t *testing.T, h *harness, n int) {
	t.Helper()
	for _, rec := range h.records(n) {
		// thoughts billed as output; cached a subset of the prompt
		if rec.InputTokens != 900 || rec.CacheReadTokens != 100 || rec.OutputTokens != 100 {
			t.Errorf("record %+v", rec.Usage)
		}
	}
}

func TestGeminiSDK(t *testing.T) {
	h := newHarness(t, []Account{geminiKey("g1", "AIza-1")})
	h.up.SetDefault(upstreamtest.OK().WithUsage(gemUsage))
	c := genaiClient(t, h)
	resp, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-pro", genai.Text("hi"), nil)
	if err != nil {
		t.Fatalf("GenerateContent: %v", err)
	}
	if resp.UsageMetadata == nil || resp.UsageMetadata.PromptTokenCount != 1000 || resp.Text() == "" {
		t.Fatalf("response %+v", resp)
	}
	chunks := 0
	for chunk, err := range c.Models.GenerateContentStream(context.Background(), "gemini-2.5-pro", genai.Text("hi"), nil) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if chunk != nil {
			chunks++
		}
	}
	if chunks < 2 {
		t.Errorf("%d chunks", chunks)
	}
	checkGeminiRecord(t, h, 2)
	if got := h.up.Requests()[0].Header["x-goog-api-key"]; got != "AIza-1" {
		t.Errorf("upstream key %q", got)
	}
}

func TestGeminiQueryKeyAuth(t *testing.T) {
	h := newHarness(t, []Account{geminiKey("g1", "AIza-1")})
	resp, body := h.post("/v1beta/models/gemini-2.5-flash:generateContent?key="+testKey, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, "x-api-key", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	if q := h.up.Requests()[0].Path; q != "/v1beta/models/gemini-2.5-flash:generateContent" {
		t.Errorf("upstream path %q (the client key must not be forwarded)", q)
	}
}

func TestCodeAssist(t *testing.T) {
	for _, onboard := range []bool{false, true} {
		h := newHarness(t, []Account{geminiOAuth("ga", "ya29.a", "")})
		if onboard {
			h.up.Close()
			h = newHarnessWith(t, upstreamtest.Config{CodeAssistNeedsOnboard: true}, []Account{geminiOAuth("ga", "ya29.a", "")})
		}
		h.up.SetDefault(upstreamtest.OK().WithUsage(gemUsage))
		c := genaiClient(t, h)
		for range 2 {
			resp, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-pro", genai.Text("hi"), nil)
			if err != nil {
				t.Fatalf("onboard=%v: %v", onboard, err)
			}
			if resp.Text() == "" {
				t.Fatalf("empty response")
			}
		}
		for chunk, err := range c.Models.GenerateContentStream(context.Background(), "gemini-2.5-pro", genai.Text("hi"), nil) {
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			_ = chunk
		}
		if got := h.up.CodeAssistCalls("loadCodeAssist"); got != 1 {
			t.Errorf("loadCodeAssist calls = %d, want 1 (cached)", got)
		}
		if onboard && h.up.CodeAssistCalls("onboardUser") < 1 {
			t.Errorf("no onboarding")
		}
		var gen upstreamtest.Recorded
		for _, r := range h.up.Requests() {
			if r.Path == "/v1internal:generateContent" {
				gen = r
			}
		}
		if gjson.GetBytes(gen.Body, "project").String() != upstreamtest.MockProject || !gjson.GetBytes(gen.Body, "request.contents").Exists() {
			t.Errorf("wrapped body %s", gen.Body)
		}
		checkGeminiRecord(t, h, 3)
	}
}

func TestGeminiRateLimits(t *testing.T) {
	h := newHarness(t, []Account{geminiKey("g1", "k1"), geminiKey("g2", "k2")})
	h.up.Script("k1", upstreamtest.GeminiRateLimited(40*time.Second, false))
	h.up.Script("k2", upstreamtest.GeminiRateLimited(40*time.Second, true))
	resp, body := h.post("/v1beta/models/gemini-2.5-flash:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, "x-api-key", "", "x-goog-api-key", testKey)
	if resp.StatusCode != 429 || gjson.GetBytes(body, "error.status").String() != "RESOURCE_EXHAUSTED" || gjson.GetBytes(body, "error.code").Int() != 429 {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	// The quotas are per model (QuotaFailure names gemini-2.5-flash): the
	// model is benched on each account, the accounts stay ok.
	fam := func(name string) sched.FamilyStatus {
		st := h.status(name)
		if st.State != sched.StateOK {
			t.Errorf("%s state %s: a per-model quota benched the account", name, st.State)
		}
		for _, f := range st.Families {
			if f.Family == "gemini-2.5-flash" {
				return f
			}
		}
		t.Fatalf("%s: no gemini-2.5-flash family in %+v", name, st.Families)
		return sched.FamilyStatus{}
	}
	f1, f2 := fam("g1"), fam("g2")
	if d := time.Until(f1.Until); f1.State != sched.StateRateLimited || d < 30*time.Second || d > 50*time.Second {
		t.Errorf("g1 RetryInfo cooldown %v (%s)", d, f1.State)
	}
	// Until the next Pacific midnight, capped by max_cooldown (6h).
	want := protocol.NextPacificMidnight(time.Now())
	if cp := time.Now().Add(6 * time.Hour); cp.Before(want) {
		want = cp
	}
	if d := f2.Until.Sub(want); d < -time.Minute || d > time.Minute {
		t.Errorf("g2 per-day cooldown until %v, want %v", f2.Until, want)
	}
	// Another model is still served by g1.
	resp, body = h.post("/v1beta/models/gemini-2.5-pro:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, "x-api-key", "", "x-goog-api-key", testKey)
	if resp.StatusCode != 200 || h.up.Count("k1") != 2 {
		t.Errorf("gemini-2.5-pro: %d %s (g1 calls %d)", resp.StatusCode, body, h.up.Count("k1"))
	}
}

func TestGeminiModelsList(t *testing.T) {
	h := newHarness(t, []Account{geminiKey("g1", "k1")})
	req, _ := http.NewRequest("GET", h.url+"/v1beta/models", nil)
	req.Header.Set("x-goog-api-key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
}

func TestCodeAssistRefresh(t *testing.T) {
	h := newHarness(t, []Account{geminiOAuth("ga", "ya29.old", "1//seed")})
	h.up.Revoke("ya29.old")
	h.up.AddRefreshToken("1//seed")
	resp, body := h.post("/v1beta/models/gemini-2.5-flash:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
		"x-api-key", "", "x-goog-api-key", testKey)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	if got := h.up.TokenRequestsTo("/token"); got != 1 {
		t.Errorf("google token requests = %d", got)
	}
	tok, err := h.db.LoadToken("ga")
	if err != nil || tok.RefreshToken != "1//seed" || tok.AccessToken == "ya29.old" {
		t.Errorf("persisted %+v %v (Google keeps the refresh token)", tok, err)
	}
}

func TestGeminiSticky(t *testing.T) {
	h := newHarness(t, []Account{geminiKey("g1", "k1"), geminiKey("g2", "k2"), geminiKey("g3", "k3")})
	owner := map[string]string{}
	for round := 0; round < 3; round++ {
		for _, conv := range []string{"alpha", "beta", "gamma", "delta"} {
			body := `{"contents":[{"role":"user","parts":[{"text":"` + conv + `"}]}]}`
			if resp, b := h.post("/v1beta/models/gemini-2.5-flash:generateContent", body, "x-api-key", "", "x-goog-api-key", testKey); resp.StatusCode != 200 {
				t.Fatalf("status %d %s", resp.StatusCode, b)
			}
		}
	}
	recs := h.records(12)
	used := map[string]bool{}
	for i, r := range recs {
		conv := []string{"alpha", "beta", "gamma", "delta"}[i%4]
		if prev, ok := owner[conv]; ok && prev != r.Account {
			t.Errorf("conversation %s moved from %s to %s", conv, prev, r.Account)
		}
		owner[conv] = r.Account
		used[r.Account] = true
	}
	if len(used) < 2 {
		t.Errorf("every conversation on %v", used)
	}
}
