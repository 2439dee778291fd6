package upstreamtest

import (
	"strconv"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

var codexHeaders = []string{"Authorization", "Bearer " + codexToken, "chatgpt-account-id", MockChatGPTAccountID,
	"originator", "codex_cli_rs", "session_id", "0199a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b"}

func TestCodexRules(t *testing.T) {
	const ok = `{"model":"gpt-5.5-codex","stream":true,"store":false,"instructions":"","input":[]}`
	tests := []struct {
		name    string
		body    string
		headers []string
		status  int
		detail  string
	}{
		{"ok", ok, codexHeaders, 200, ""},
		{"no bearer", ok, []string{"chatgpt-account-id", "a"}, 401, "Unauthorized"},
		{"no account id", ok, []string{"Authorization", "Bearer " + codexToken}, 401, "Missing chatgpt-account-id header"},
		{"store absent", `{"model":"m","stream":true,"instructions":""}`, codexHeaders, 400, "Store must be set to false"},
		{"store true", `{"model":"m","stream":true,"store":true,"instructions":""}`, codexHeaders, 400, "Store must be set to false"},
		{"stream false", `{"model":"m","stream":false,"store":false,"instructions":""}`, codexHeaders, 400, "Stream must be set to true"},
		{"stream absent", `{"model":"m","store":false,"instructions":""}`, codexHeaders, 400, "Stream must be set to true"},
		{"no instructions", `{"model":"m","stream":true,"store":false}`, codexHeaders, 400, "Instructions are required"},
		{"bad json", `{"model"`, codexHeaders, 400, "Invalid JSON body"},
	}
	s := mustStart(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustPost(t, s, "/backend-api/codex/responses", tt.body, tt.headers...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if got := gjson.GetBytes(r.body, "detail").Str; got != tt.detail {
				t.Errorf("detail = %q, want %q", got, tt.detail)
			}
		})
	}
	// Only the valid request consumed a step.
	s.Script(codexToken, ServerError())
	if r := mustPost(t, s, "/backend-api/codex/responses", ok, codexHeaders...); r.status != 500 {
		t.Errorf("scripted step: status %d", r.status)
	}
	s.Revoke(codexToken)
	r := mustPost(t, s, "/backend-api/codex/responses", ok, codexHeaders...)
	if r.status != 401 || gjson.GetBytes(r.body, "error.code").Str != "token_expired" {
		t.Errorf("revoked = %d %s", r.status, r.body)
	}
}

func TestCodexHeadersAndStream(t *testing.T) {
	s := mustStart(t, Config{Codex: &CodexLimits{PrimaryUsedPercent: 42.5, PrimaryWindowMinutes: 300,
		PrimaryResetAfter: 2 * time.Hour, SecondaryUsedPercent: 7, SecondaryWindowMinutes: 10080, SecondaryResetAfter: 72 * time.Hour}})
	r := mustPost(t, s, "/backend-api/codex/responses", `{"model":"gpt-5.5-codex","stream":true,"store":false,"instructions":"x"}`, codexHeaders...)
	for k, want := range map[string]string{
		"x-codex-primary-used-percent":          "42.5",
		"x-codex-primary-window-minutes":        "300",
		"x-codex-primary-reset-after-seconds":   "7200",
		"x-codex-secondary-used-percent":        "7",
		"x-codex-secondary-window-minutes":      "10080",
		"x-codex-secondary-reset-after-seconds": "259200",
	} {
		if got := r.header[k]; got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !complete(FormatResponses, r.body) {
		t.Fatalf("stream:\n%s", r.body)
	}
	ev := ParseSSE(r.body)
	resp := gjson.GetBytes(ev[len(ev)-1].Data, "response")
	if resp.Get("store").Bool() || resp.Get("instructions").Str != "x" {
		t.Errorf("response = %s", resp.Raw)
	}
	if got, want := s.ResponseOwner(resp.Get("id").Str), codexToken; got != want {
		t.Errorf("owner = %q, want %q", got, want)
	}

	// The reset-at spelling.
	l := DefaultCodexLimits()
	l.ResetAt = true
	now := time.Unix(1_800_000_000, 0)
	h := l.Headers(now)
	if got, want := h["x-codex-primary-reset-at"], strconv.FormatInt(now.Add(l.PrimaryResetAfter).Unix(), 10); got != want {
		t.Errorf("reset-at = %q, want %q", got, want)
	}
	if _, ok := h["x-codex-primary-reset-after-seconds"]; ok {
		t.Error("both spellings sent")
	}
}

func TestCodexUsageLimit(t *testing.T) {
	s := mustStart(t, Config{})
	s.Script(codexToken, UsageLimit(90*time.Minute))
	before := time.Now().Unix()
	r := mustPost(t, s, "/backend-api/codex/responses", `{"model":"m","stream":true,"store":false,"instructions":""}`, codexHeaders...)
	if r.status != 429 {
		t.Fatalf("status = %d: %s", r.status, r.body)
	}
	e := gjson.GetBytes(r.body, "error")
	if e.Get("type").Str != "usage_limit_reached" || e.Get("resets_in_seconds").Int() != 5400 || e.Get("message").Str == "" {
		t.Errorf("error = %s", e.Raw)
	}
	if at := e.Get("resets_at").Int(); at < before+5400 || at > time.Now().Unix()+5400 {
		t.Errorf("resets_at = %d", at)
	}
	if r.header["x-codex-primary-used-percent"] != "100" || r.header["x-codex-primary-reset-after-seconds"] != "5400" {
		t.Errorf("headers = %v", r.header)
	}
	if r.header["x-codex-secondary-used-percent"] != "" {
		t.Error("success headers on a usage limit")
	}
}
