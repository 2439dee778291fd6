package upstreamtest

import (
	"testing"

	"github.com/tidwall/gjson"
)

var googleAuth = []string{"Authorization", "Bearer " + googleBearer}

const caGenerate = `{"model":"gemini-2.5-pro","project":"p1","user_prompt_id":"u1","request":{` + contents + `}}`

func TestCodeAssistWrapping(t *testing.T) {
	s := mustStart(t, Config{})
	r := mustPost(t, s, "/v1internal:generateContent", caGenerate, googleAuth...)
	if r.status != 200 || gjson.GetBytes(r.body, "response.candidates.0.content.parts.0.text").Str != replyText ||
		gjson.GetBytes(r.body, "traceId").Str == "" || gjson.GetBytes(r.body, "response.modelVersion").Str != "gemini-2.5-pro" ||
		gjson.GetBytes(r.body, "candidates").Exists() {
		t.Fatalf("generate = %d %s", r.status, r.body)
	}
	r = mustPost(t, s, "/v1internal:streamGenerateContent?alt=sse", caGenerate, googleAuth...)
	ev := ParseSSE(r.body)
	if len(ev) != 3 {
		t.Fatalf("%d chunks:\n%s", len(ev), r.body)
	}
	trace := gjson.GetBytes(ev[0].Data, "traceId").Str
	for i, e := range ev {
		if gjson.GetBytes(e.Data, "traceId").Str != trace || !gjson.GetBytes(e.Data, "response.candidates").Exists() {
			t.Errorf("chunk %d = %s", i, e.Data)
		}
	}
	r = mustPost(t, s, "/v1internal:countTokens", `{"request":{"model":"models/gemini-2.5-pro",`+contents+`}}`, googleAuth...)
	if r.status != 200 || gjson.GetBytes(r.body, "totalTokens").Int() <= 0 {
		t.Errorf("countTokens = %d %s", r.status, r.body)
	}
	for method, want := range map[string]int{"generateContent": 1, "streamGenerateContent": 1, "countTokens": 1, "onboardUser": 0} {
		if got := s.CodeAssistCalls(method); got != want {
			t.Errorf("calls %s = %d, want %d", method, got, want)
		}
	}
}

func TestCodeAssistChecks(t *testing.T) {
	tests := []struct {
		name     string
		freeTier bool
		body     string
		headers  []string
		status   int
	}{
		{"ok", false, caGenerate, googleAuth, 200},
		{"no bearer", false, caGenerate, nil, 401},
		{"no project", false, `{"model":"m","request":{` + contents + `}}`, googleAuth, 400},
		{"no project, free tier", true, `{"model":"m","request":{` + contents + `}}`, googleAuth, 200},
		{"unwrapped", false, `{"model":"m","project":"p",` + contents + `}`, googleAuth, 400},
		{"no model", false, `{"project":"p","request":{` + contents + `}}`, googleAuth, 400},
		{"no contents", false, `{"model":"m","project":"p","request":{}}`, googleAuth, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustStart(t, Config{CodeAssistFreeTier: tt.freeTier})
			r := mustPost(t, s, "/v1internal:generateContent", tt.body, tt.headers...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status != 200 && gjson.GetBytes(r.body, "error.status").Str == "" {
				t.Errorf("error shape: %s", r.body)
			}
		})
	}
	s := mustStart(t, Config{})
	s.Revoke(googleBearer)
	if r := mustPost(t, s, "/v1internal:loadCodeAssist", `{}`, googleAuth...); r.status != 401 ||
		gjson.GetBytes(r.body, "error.status").Str != "UNAUTHENTICATED" {
		t.Errorf("revoked = %d %s", r.status, r.body)
	}
}

func TestCodeAssistProject(t *testing.T) {
	s := mustStart(t, Config{})
	r := mustPost(t, s, "/v1internal:loadCodeAssist", `{"metadata":{"ideType":"IDE_UNSPECIFIED","pluginType":"GEMINI"}}`, googleAuth...)
	if gjson.GetBytes(r.body, "cloudaicompanionProject").Str != MockProject ||
		gjson.GetBytes(r.body, "currentTier.id").Str != "standard-tier" {
		t.Errorf("loadCodeAssist = %d %s", r.status, r.body)
	}
}

func TestCodeAssistOnboarding(t *testing.T) {
	for _, poll := range []string{"onboardUser", "getOperation"} {
		t.Run(poll, func(t *testing.T) {
			s := mustStart(t, Config{CodeAssistNeedsOnboard: true, CodeAssistProject: "proj-7"})
			load := func() gjson.Result {
				r := mustPost(t, s, "/v1internal:loadCodeAssist", `{"metadata":{}}`, googleAuth...)
				return gjson.ParseBytes(r.body)
			}
			l := load()
			if l.Get("cloudaicompanionProject").Exists() || l.Get("currentTier").Exists() ||
				l.Get("allowedTiers.#(isDefault==true).id").Str != "free-tier" {
				t.Fatalf("before onboarding: %s", l.Raw)
			}
			onboard := `{"tierId":"free-tier","metadata":{}}`
			r := mustPost(t, s, "/v1internal:onboardUser", onboard, googleAuth...)
			op := gjson.ParseBytes(r.body)
			if r.status != 200 || op.Get("done").Bool() || op.Get("name").Str == "" {
				t.Fatalf("first onboardUser = %d %s", r.status, r.body)
			}
			if poll == "onboardUser" {
				r = mustPost(t, s, "/v1internal:onboardUser", onboard, googleAuth...)
			} else {
				r = send(t, s, "GET", "/v1internal/"+op.Get("name").Str, "", googleAuth...)
			}
			if !gjson.GetBytes(r.body, "done").Bool() || gjson.GetBytes(r.body, "response.cloudaicompanionProject.id").Str != "proj-7" {
				t.Fatalf("poll = %d %s", r.status, r.body)
			}
			l = load()
			if l.Get("cloudaicompanionProject").Str != "proj-7" || l.Get("currentTier.id").Str != "free-tier" {
				t.Errorf("after onboarding: %s", l.Raw)
			}
			if got, want := s.CodeAssistCalls(poll), map[string]int{"onboardUser": 2, "getOperation": 1}[poll]; got != want {
				t.Errorf("calls %s = %d, want %d", poll, got, want)
			}
			if got := s.CodeAssistCalls("loadCodeAssist"); got != 2 {
				t.Errorf("loadCodeAssist calls = %d, want 2", got)
			}
			// Another credential still has to onboard.
			if r := mustPost(t, s, "/v1internal:loadCodeAssist", `{}`, "Authorization", "Bearer ya29.other"); gjson.GetBytes(r.body, "cloudaicompanionProject").Exists() {
				t.Errorf("other credential: %s", r.body)
			}
			if r := mustPost(t, s, "/v1internal:onboardUser", `{}`, googleAuth...); r.status != 400 {
				t.Errorf("onboardUser without tierId = %d", r.status)
			}
			if r := send(t, s, "GET", "/v1internal/operations/none", "", googleAuth...); r.status != 404 {
				t.Errorf("unknown operation = %d", r.status)
			}
		})
	}
}
