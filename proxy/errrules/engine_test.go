package errrules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/sched"
)

func mustEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func body(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reply builds the Reply a protocol would hand the engine for a body,
// reading the error type the way proxy's Classify methods do.
func reply(t *testing.T, file, platform, acctType string, status int) Reply {
	b := body(t, file)
	r := Reply{Platform: platform, AccountType: acctType, Status: status, Body: b}
	switch platform {
	case "gemini":
		r.Type = gjson.GetBytes(b, "error.status").String()
		r.Overloaded = status == 503
	case "openai":
		r.Type = gjson.GetBytes(b, "error.type").String()
		r.Overloaded = status == 503
	default:
		r.Type = gjson.GetBytes(b, "error.type").String()
		r.Overloaded = r.Type == "overloaded_error"
	}
	return r
}

// TestDefaultsRealBodies is the built-in table over real providers' error
// bodies (testdata/SOURCES.md says where each comes from).
func TestDefaultsRealBodies(t *testing.T) {
	e := mustEngine(t, Config{})
	tests := []struct {
		file, platform, acct string
		status               int
		rule                 string
		relay                bool
		kind                 sched.Kind
		strike               bool
	}{
		// Anthropic
		{"anthropic-400-invalid-request.json", "anthropic", "oauth", 400, ruleRequest, true, sched.RequestError, false},
		{"anthropic-400-org-disabled.json", "anthropic", "oauth", 400, ruleCredential, false, sched.AuthFailed, false},
		{"anthropic-400-org-disabled.json", "anthropic", "api_key", 400, ruleCredential, false, sched.AuthFailed, false},
		{"anthropic-401-invalid-key.json", "anthropic", "api_key", 401, ruleCredential, false, sched.AuthFailed, false},
		{"anthropic-401-oauth-expired.json", "anthropic", "oauth", 401, ruleAuth, false, sched.AuthFailed, false},
		{"anthropic-403-oauth-org-not-allowed.json", "anthropic", "oauth", 403, ruleCredential, false, sched.AuthFailed, false},
		{"anthropic-403-permission.json", "anthropic", "api_key", 403, ruleForbiddenKey, true, sched.RequestError, true},
		{"anthropic-403-permission.json", "anthropic", "oauth", 403, ruleForbidden, false, sched.Forbidden, false},
		{"anthropic-403-request-not-allowed.json", "anthropic", "setup_token", 403, ruleForbidden, false, sched.Forbidden, false},
		{"anthropic-404-not-found.json", "anthropic", "api_key", 404, ruleRequest, true, sched.RequestError, false},
		{"anthropic-413-too-large.json", "anthropic", "oauth", 413, ruleRequest, true, sched.RequestError, false},
		{"anthropic-429-rate-limit.json", "anthropic", "oauth", 429, ruleRateLimit, false, sched.RateLimited, false},
		{"anthropic-500-api.json", "anthropic", "api_key", 500, ruleServer, false, sched.ServerError, false},
		{"anthropic-529-overloaded.json", "anthropic", "oauth", 529, ruleOverloaded, false, sched.Overloaded, false},
		// OpenAI API
		{"openai-400-context.json", "openai", "api_key", 400, ruleRequest, true, sched.RequestError, false},
		{"openai-401-invalid-key.json", "openai", "api_key", 401, ruleCredential, false, sched.AuthFailed, false},
		{"openai-401-deactivated.json", "openai", "api_key", 401, ruleCredential, false, sched.AuthFailed, false},
		{"openai-403-country.json", "openai", "api_key", 403, ruleForbiddenKey, true, sched.RequestError, true},
		{"openai-403-model-access.json", "openai", "api_key", 403, ruleForbiddenKey, true, sched.RequestError, true},
		{"openai-429-quota.json", "openai", "api_key", 429, ruleRateLimit, false, sched.RateLimited, false},
		{"openai-500-server.json", "openai", "api_key", 500, ruleServer, false, sched.ServerError, false},
		{"openai-503-overloaded.json", "openai", "api_key", 503, ruleOverloaded, false, sched.Overloaded, false},
		// Codex backend (ChatGPT OAuth)
		{"codex-401-unauthorized.json", "openai", "oauth", 401, ruleAuth, false, sched.AuthFailed, false},
		{"codex-403-cloudflare.html", "openai", "oauth", 403, ruleForbidden, false, sched.Forbidden, false},
		{"codex-429-usage-limit.json", "openai", "oauth", 429, ruleRateLimit, false, sched.RateLimited, false},
		// Gemini API
		{"gemini-400-invalid-argument.json", "gemini", "api_key", 400, ruleRequest, true, sched.RequestError, false},
		{"gemini-400-api-key-invalid.json", "gemini", "api_key", 400, ruleCredential, false, sched.AuthFailed, false},
		{"gemini-403-consumer-suspended.json", "gemini", "api_key", 403, ruleCredential, false, sched.AuthFailed, false},
		{"gemini-403-unregistered.json", "gemini", "api_key", 403, ruleForbiddenKey, true, sched.RequestError, true},
		{"gemini-404-model.json", "gemini", "api_key", 404, ruleRequest, true, sched.RequestError, false},
		{"gemini-429-quota.json", "gemini", "api_key", 429, ruleRateLimit, false, sched.RateLimited, false},
		{"gemini-500-internal.json", "gemini", "api_key", 500, ruleServer, false, sched.ServerError, false},
		{"gemini-503-overloaded.json", "gemini", "api_key", 503, ruleOverloaded, false, sched.Overloaded, false},
		// Code Assist (Google login)
		{"codeassist-403-caller-permission.json", "gemini", "oauth", 403, ruleForbidden, false, sched.Forbidden, false},
		{"codeassist-403-service-disabled.json", "gemini", "oauth", 403, ruleCredential, false, sched.AuthFailed, false},
		{"codeassist-403-tos.json", "gemini", "oauth", 403, ruleCredential, false, sched.AuthFailed, false},
		{"codeassist-429-exhausted.json", "gemini", "oauth", 429, ruleRateLimit, false, sched.RateLimited, false},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.acct, func(t *testing.T) {
			r := reply(t, tt.file, tt.platform, tt.acct, tt.status)
			d := e.Decide(r)
			if got, want := d.Rule, tt.rule; got != want {
				t.Errorf("rule = %q, want %q", got, want)
			}
			if got, want := d.Relay, tt.relay; got != want {
				t.Errorf("relay = %v, want %v", got, want)
			}
			if got, want := d.Outcome.Kind, tt.kind; got != want {
				t.Errorf("kind = %v, want %v", got, want)
			}
			if got, want := d.Strike, tt.strike; got != want {
				t.Errorf("strike = %v, want %v", got, want)
			}
			if got, want := d.Outcome.Status, tt.status; got != want {
				t.Errorf("outcome status = %d, want %d", got, want)
			}
			if d.Relay && d.Status != tt.status {
				t.Errorf("relayed status = %d, want the upstream's %d", d.Status, tt.status)
			}
			if !strings.HasPrefix(d.Outcome.Reason, "upstream ") {
				t.Errorf("reason = %q", d.Outcome.Reason)
			}
		})
	}
}

// TestDefaultsMatchClassify checks the built-in table against today's
// classify for every status the gateway can see, on bodies that name no
// dead credential: the engine can replace classify without a change
// beyond the credential and api_key 403 rows.
func TestDefaultsMatchClassify(t *testing.T) {
	e := mustEngine(t, Config{})
	body := []byte(`{"error":{"type":"x","message":"something went wrong"}}`)
	for status := 400; status <= 599; status++ {
		for _, acct := range []string{"api_key", "oauth", "setup_token"} {
			for _, over := range []bool{false, true} {
				oauth := acct != "api_key"
				want := oldClassify(status, oauth, over)
				if status == 403 && !oauth {
					want = sched.RequestError // issue 13: relayed, counted by Strikes only
				}
				d := e.Decide(Reply{Platform: "anthropic", AccountType: acct, Status: status, Body: body, Overloaded: over})
				if d.Outcome.Kind != want {
					t.Errorf("status %d %s overloaded=%v: kind = %v, want %v", status, acct, over, d.Outcome.Kind, want)
				}
				if got := d.Relay; got != (want == sched.RequestError) {
					t.Errorf("status %d %s: relay = %v", status, acct, got)
				}
			}
		}
	}
}

// oldClassify is proxy/errors.go classify as of this package's creation,
// kept here as the reference the defaults must reproduce.
func oldClassify(status int, oauth, overloaded bool) sched.Kind {
	switch {
	case status == 400 || status == 404 || status == 413 || status == 422:
		return sched.RequestError
	case status == 401 || (status == 403 && !oauth):
		return sched.AuthFailed
	case status == 403:
		return sched.Forbidden
	case status == 429:
		return sched.RateLimited
	case status == 529 || overloaded:
		return sched.Overloaded
	}
	return sched.ServerError
}

func TestRateLimitReset(t *testing.T) {
	e := mustEngine(t, Config{})
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	calls := 0
	r := reply(t, "codex-429-usage-limit.json", "openai", "oauth", 429)
	r.Reset = func() time.Time { calls++; return at }
	d := e.Decide(r)
	if got, want := d.Outcome.ResetAt, at; !got.Equal(want) {
		t.Errorf("reset = %v, want %v", got, want)
	}
	r.Status = 500
	e.Decide(r)
	if got, want := calls, 1; got != want {
		t.Errorf("Reset called %d times, want %d (only for the 429)", got, want)
	}
}

// TestBodyBounded: a match past MaxInspect is not seen, and a huge body
// is handled (the default table still decides).
func TestBodyBounded(t *testing.T) {
	e := mustEngine(t, Config{Rules: []Rule{{Name: "deep", Contains: "needle", Action: ActionPass}}})
	pad := strings.Repeat("x", MaxInspect)
	d := e.Decide(Reply{Platform: "openai", AccountType: "api_key", Status: 500, Body: []byte(pad + "needle")})
	if got, want := d.Rule, ruleServer; got != want {
		t.Errorf("rule = %q, want %q: a match beyond MaxInspect must not count", got, want)
	}
	d = e.Decide(Reply{Platform: "openai", AccountType: "api_key", Status: 500, Body: []byte("needle" + pad)})
	if got, want := d.Rule, "deep"; got != want {
		t.Errorf("rule = %q, want %q", got, want)
	}
}

func TestCredentialPatternNarrow(t *testing.T) {
	for _, msg := range []string{
		`{"error":{"message":"thinking is disabled for this model"}}`,
		`{"error":{"message":"The tool 'web_search' is disabled for this organization's workspace settings? no"}}`,
		`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`,
		`{"error":{"message":"Your API key does not have permission to use the specified resource."}}`,
	} {
		if credentialDead.MatchString(msg) {
			t.Errorf("credential pattern matched %s", msg)
		}
	}
	for _, msg := range []string{
		`{"error":{"message":"This API key has been revoked."}}`,
		`{"error":{"message":"Your account has been suspended due to a violation"}}`,
		`{"error":{"message":"organization org-123 has been deactivated"}}`,
	} {
		if !credentialDead.MatchString(msg) {
			t.Errorf("credential pattern missed %s", msg)
		}
	}
}

// TestScopedRateLimit: a rate limit of one model family rests that family
// (Outcome.Scope) when the account rests until the upstream's reset; a
// fixed bench rests the whole account, as the admin asked.
func TestScopedRateLimit(t *testing.T) {
	reset := time.Unix(1900000000, 0)
	rep := Reply{Platform: "anthropic", AccountType: "oauth", Status: 429, Type: "rate_limit_error", Scope: "opus",
		Reset: func() time.Time { return reset }}
	tests := []struct {
		name  string
		rules []Rule
		scope string
	}{
		{"default", nil, "opus"},
		{"bench until the reset", []Rule{{Status: Statuses{429}, Action: ActionBench, Cooldown: "reset"}}, "opus"},
		{"bench for a duration", []Rule{{Status: Statuses{429}, Action: ActionBench, Cooldown: "2h"}}, ""},
		{"bench as error", []Rule{{Status: Statuses{429}, Action: ActionBench, Cooldown: "error"}}, ""},
	}
	for _, tt := range tests {
		d := mustEngine(t, Config{Rules: tt.rules}).Decide(rep)
		if d.Outcome.Scope != tt.scope {
			t.Errorf("%s: outcome scope %q, want %q", tt.name, d.Outcome.Scope, tt.scope)
		}
	}
}
