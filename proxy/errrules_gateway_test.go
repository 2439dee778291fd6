package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/errrules"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// withRules gives the gateway the admin's error rules.
func withRules(rules ...errrules.Rule) harnessOpt {
	return func(c *Config, _ *sched.Config) { c.ErrorRules = rules }
}

// addKeys adds client keys (name → secret) to the harness's alice.
func addKeys(pairs ...string) harnessOpt {
	return func(c *Config, _ *sched.Config) {
		for i := 0; i+1 < len(pairs); i += 2 {
			c.Keys = append(c.Keys, Key{Name: pairs[i], Hash: HashKey(pairs[i+1]), Group: "default"})
		}
	}
}

// errBody is an Anthropic error body, set raw so a test can compare the
// bytes the client gets with what the upstream sent.
func errBody(typ, msg string) string {
	return `{"type":"error","error":{"type":"` + typ + `","message":"` + msg + `"},"request_id":"req_upstream"}`
}

func errStep(status int, body string) upstreamtest.Step {
	st := upstreamtest.Error(status, "", "")
	st.Body = body
	return st
}

// TestForbiddenAPIKeyIsRelayed: a 403 on an API key that is not about the
// key goes back to the client unchanged, with no failover and no penalty
// (issue 13, "one request cannot bench a pool").
func TestForbiddenAPIKeyIsRelayed(t *testing.T) {
	h := newHarness(t, twoAccounts())
	body := errBody("permission_error", "Your API key does not have permission to use the specified resource.")
	h.up.Script("k1", errStep(403, body))
	resp, got := h.post("/v1/messages", simpleBody)
	if resp.StatusCode != 403 || string(got) != body {
		t.Fatalf("client got %d %s, want 403 %s", resp.StatusCode, got, body)
	}
	if n := h.up.Count("k2"); n != 0 {
		t.Errorf("failed over to a2 (%d requests)", n)
	}
	if st := h.status("a1"); st.State != sched.StateOK {
		t.Errorf("a1 state = %s (%s), want ok", st.State, st.Reason)
	}
	if rec := h.records(1)[0]; rec.Status != 403 || rec.Account != "a1" {
		t.Errorf("record status=%d account=%s", rec.Status, rec.Account)
	}
}

// TestDeadCredentialBenches: a reply saying the key, or the organization
// behind it, is dead puts the account in error and fails over, whatever
// its status.
func TestDeadCredentialBenches(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"403 revoked", 403, errBody("permission_error", "This API key has been revoked.")},
		{"403 organization disabled", 403, errBody("permission_error", "This organization has been disabled.")},
		{"400 organization disabled", 400, errBody("invalid_request_error", "This organization has been disabled.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, twoAccounts())
			h.up.Script("k1", errStep(tt.status, tt.body))
			if resp, b := h.post("/v1/messages", simpleBody); resp.StatusCode != 200 {
				t.Fatalf("status %d %s, want 200 from a2", resp.StatusCode, b)
			}
			if st := h.status("a1"); st.State != sched.StateError {
				t.Errorf("a1 state = %s, want error", st.State)
			}
			if rec := h.records(1)[0]; rec.Account != "a2" {
				t.Errorf("served by %s", rec.Account)
			}
		})
	}
}

// TestForbiddenStrikesNeedDifferentKeys: 403s of the relayed kind put an
// API key account in the short cooldown only when three different client
// keys got them; one key, however often, cannot.
func TestForbiddenStrikesNeedDifferentKeys(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, addKeys("bob", "sk-sg-bob", "carol", "sk-sg-carol"))
	body := errBody("permission_error", "Your API key does not have permission to use the specified resource.")
	h.up.SetDefault(errStep(403, body))
	send := func(secret string) {
		t.Helper()
		if resp, b := h.post("/v1/messages", simpleBody, "x-api-key", secret); resp.StatusCode != 403 {
			t.Fatalf("status %d %s, want the upstream's 403", resp.StatusCode, b)
		}
	}
	for range 6 {
		send(testKey)
	}
	if st := h.status("a1"); st.State != sched.StateOK {
		t.Fatalf("after 6 403s from one key: a1 state = %s, want ok", st.State)
	}
	send("sk-sg-bob")
	send("sk-sg-bob")
	if st := h.status("a1"); st.State != sched.StateOK {
		t.Fatalf("after two keys: a1 state = %s, want ok", st.State)
	}
	send("sk-sg-carol")
	if st := h.status("a1"); st.State != sched.StateCooldown {
		t.Fatalf("after three keys: a1 state = %s, want cooldown", st.State)
	}
}

// TestReal403BodiesThroughGateway: real providers' 403 bodies
// (errrules/testdata/SOURCES.md) on API key accounts, through the gateway:
// only the one that says the credential is dead benches and fails over;
// the others reach the client byte for byte.
func TestReal403BodiesThroughGateway(t *testing.T) {
	tests := []struct {
		file, platform string
		bench          bool
	}{
		{"anthropic-403-permission.json", "anthropic", false},
		{"openai-403-country.json", "openai", false},
		{"openai-403-model-access.json", "openai", false},
		{"gemini-403-unregistered.json", "gemini", false},
		{"gemini-403-consumer-suspended.json", "gemini", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("errrules", "testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var accts []Account
			path, body, hdr := "/v1/messages", simpleBody, []string(nil)
			switch tt.platform {
			case "anthropic":
				accts = twoAccounts()
			case "openai":
				accts = []Account{openaiKey("a1", "k1"), openaiKey("a2", "k2")}
				path, body, hdr = "/v1/responses", `{"model":"gpt-5","input":"hi"}`, []string{"authorization", "Bearer " + testKey}
			case "gemini":
				accts = []Account{geminiKey("a1", "k1"), geminiKey("a2", "k2")}
				path, body = "/v1beta/models/gemini-2.5-flash:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
				hdr = []string{"x-api-key", "", "x-goog-api-key", testKey}
			}
			accts[1].Priority = 20
			h := newHarness(t, accts)
			h.up.Script("k1", errStep(403, string(raw)))
			resp, got := h.post(path, body, hdr...)
			if tt.bench {
				if resp.StatusCode != 200 || h.status("a1").State != sched.StateError {
					t.Errorf("status %d, a1 %s: want a failover and a1 in error", resp.StatusCode, h.status("a1").State)
				}
				return
			}
			if resp.StatusCode != 403 || string(got) != string(raw) {
				t.Errorf("client got %d %s, want the upstream's 403 unchanged", resp.StatusCode, got)
			}
			if st := h.status("a1"); st.State != sched.StateOK || h.up.Count("k2") != 0 {
				t.Errorf("a1 %s, a2 requests %d: want no penalty and no failover", st.State, h.up.Count("k2"))
			}
		})
	}
}

// TestErrorRuleActions drives every action through the gateway, with
// rules matched by status, by substring and by regexp. It is over 80
// lines because of its table: one row per action and matcher.
func TestErrorRuleActions(t *testing.T) {
	serverErr := errBody("api_error", "Internal server error")
	tests := []struct {
		name  string
		rules []errrules.Rule
		step  upstreamtest.Step
		times int // requests sent (default 1)
		// what the client sees
		status   int
		wantBody string // exact, when set
		errType  string // error.type, when set
		message  string // error.message, when set
		// what happens to a1, and whether a2 served
		state    sched.State
		until    time.Duration // approximate rest, when set
		failover bool
	}{
		{name: "pass by status", rules: []errrules.Rule{{Status: []int{500}, Action: errrules.ActionPass}},
			step: errStep(500, serverErr), times: 3, status: 500, wantBody: serverErr, state: sched.StateOK},
		{name: "rewrite by substring", rules: []errrules.Rule{{Contains: "CREDIT BALANCE is too low", Action: errrules.ActionRewrite,
			RewriteStatus: 503, Message: "the pool is out of credit"}},
			step:   errStep(400, errBody("invalid_request_error", "Your credit balance is too low to access the Anthropic API.")),
			status: 503, errType: "overloaded_error", message: "the pool is out of credit", state: sched.StateOK},
		{name: "bench for a duration by regexp", rules: []errrules.Rule{{Regex: `weekly\s+\w+\s+limit`, Action: errrules.ActionBench, Cooldown: "2h"}},
			step:   errStep(429, errBody("rate_limit_error", "You have reached your weekly usage limit.")),
			status: 200, state: sched.StateRateLimited, until: 2 * time.Hour, failover: true},
		{name: "bench until reset by status", rules: []errrules.Rule{{Status: []int{503}, Action: errrules.ActionBench, Cooldown: "reset"}},
			step:   errStep(503, errBody("api_error", "Service unavailable")).WithHeader("retry-after", "3600"),
			status: 200, state: sched.StateRateLimited, until: time.Hour, failover: true},
		{name: "bench as error by substring", rules: []errrules.Rule{{Contains: "under review", Action: errrules.ActionBench, Cooldown: "error"}},
			step:   errStep(500, errBody("api_error", "This account is under review.")),
			status: 200, state: sched.StateError, failover: true},
		{name: "ignore_for_health by status", rules: []errrules.Rule{{Status: []int{529}, Action: errrules.ActionIgnoreForHealth}},
			step: upstreamtest.Overloaded(), status: 200, state: sched.StateOK, failover: true},
		{name: "ignore_for_health keeps a relay", rules: []errrules.Rule{{Status: []int{403}, Contains: "permission", Action: errrules.ActionIgnoreForHealth}},
			step:  errStep(403, errBody("permission_error", "Your API key does not have permission to use the specified resource.")),
			times: 4, status: 403, state: sched.StateOK},
		{name: "first match wins", rules: []errrules.Rule{
			{Name: "first", Status: []int{500}, Action: errrules.ActionPass},
			{Name: "second", Contains: "internal", Action: errrules.ActionBench, Cooldown: "error"}},
			step: errStep(500, serverErr), status: 500, wantBody: serverErr, state: sched.StateOK},
		{name: "first match wins, reversed", rules: []errrules.Rule{
			{Name: "second", Contains: "internal", Action: errrules.ActionBench, Cooldown: "error"},
			{Name: "first", Status: []int{500}, Action: errrules.ActionPass}},
			step: errStep(500, serverErr), status: 200, state: sched.StateError, failover: true},
		{name: "a rule for another platform does not match", rules: []errrules.Rule{{Platform: "openai", Status: []int{500}, Action: errrules.ActionPass}},
			step: errStep(500, serverErr), status: 200, state: sched.StateOK, failover: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, twoAccounts(), withRules(tt.rules...))
			times := max(tt.times, 1)
			for range times {
				h.up.Script("k1", tt.step)
			}
			start := time.Now()
			for i := range times {
				resp, b := h.post("/v1/messages", simpleBody)
				if resp.StatusCode != tt.status {
					t.Fatalf("request %d: status %d %s, want %d", i, resp.StatusCode, b, tt.status)
				}
				if tt.wantBody != "" && string(b) != tt.wantBody {
					t.Errorf("body %s, want the upstream's %s", b, tt.wantBody)
				}
				if tt.errType != "" {
					if got := gjson.GetBytes(b, "type").String(); got != "error" {
						t.Errorf("not an Anthropic error: %s", b)
					}
					if got := gjson.GetBytes(b, "error.type").String(); got != tt.errType {
						t.Errorf("error.type = %q, want %q", got, tt.errType)
					}
				}
				if tt.message != "" {
					if got := gjson.GetBytes(b, "error.message").String(); got != tt.message {
						t.Errorf("error.message = %q, want %q", got, tt.message)
					}
				}
			}
			st := h.status("a1")
			if st.State != tt.state {
				t.Errorf("a1 state = %s (%s), want %s", st.State, st.Reason, tt.state)
			}
			if tt.until > 0 {
				if d := st.Until.Sub(start); d < tt.until-time.Minute || d > tt.until+time.Minute {
					t.Errorf("a1 rests %v, want about %v", d, tt.until)
				}
			}
			if got := h.up.Count("k2") > 0; got != tt.failover {
				t.Errorf("failed over = %v, want %v", got, tt.failover)
			}
		})
	}
}

// TestErrorRuleClassForClient: when every account fails, the client's
// error follows what the reply means (Decision.Class), not the rest a
// rule gave the account: an overload or a server error is relayed as it
// came, however a rule rested the account.
func TestErrorRuleClassForClient(t *testing.T) {
	tests := []struct {
		name    string
		rule    errrules.Rule
		step    upstreamtest.Step
		status  int
		errType string
	}{
		{"ignored overload is still an overload", errrules.Rule{Status: []int{529}, Action: errrules.ActionIgnoreForHealth},
			upstreamtest.Overloaded(), 529, "overloaded_error"},
		{"a benched 500 is still a server error", errrules.Rule{Status: []int{500}, Action: errrules.ActionBench, Cooldown: "1h"},
			upstreamtest.ServerError(), 500, "api_error"},
		{"a benched 403 is the safe message", errrules.Rule{Status: []int{403}, Action: errrules.ActionBench, Cooldown: "1h"},
			upstreamtest.PermissionError(), 502, "upstream_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, twoAccounts(), withRules(tt.rule))
			h.up.Script("k1", tt.step)
			h.up.Script("k2", tt.step)
			resp, b := h.post("/v1/messages", simpleBody)
			if resp.StatusCode != tt.status || gjson.GetBytes(b, "error.type").String() != tt.errType {
				t.Errorf("client got %d %s, want %d %s", resp.StatusCode, b, tt.status, tt.errType)
			}
		})
	}
}

// TestErrorRuleRewriteInProtocolShape: a rewrite speaks the route's own
// error shape.
func TestErrorRuleRewriteInProtocolShape(t *testing.T) {
	rule := errrules.Rule{Regex: `(?i)unsupported_country`, Action: errrules.ActionRewrite, RewriteStatus: 503, Message: "not from this region"}
	h := newHarness(t, []Account{openaiKey("o1", "sk-o1"), geminiKey("g1", "AIza-1")}, withRules(rule))
	country := upstreamtest.Error(403, "request_forbidden", "Country, region, or territory not supported")
	country.Code = "unsupported_country_region_territory"
	h.up.Script("sk-o1", country)
	resp, b := h.post("/v1/responses", `{"model":"gpt-5","input":"hi"}`, "authorization", "Bearer "+testKey)
	if resp.StatusCode != 503 || gjson.GetBytes(b, "error.message").String() != "not from this region" ||
		gjson.GetBytes(b, "error.type").String() != "server_error" {
		t.Errorf("openai: %d %s", resp.StatusCode, b)
	}
	h.up.Script("AIza-1", errStep(403, `{"error":{"code":403,"message":"User location is not supported","status":"FAILED_PRECONDITION","details":[{"reason":"UNSUPPORTED_COUNTRY"}]}}`))
	resp, b = h.post("/v1beta/models/gemini-2.5-flash:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
		"x-api-key", "", "x-goog-api-key", testKey)
	if resp.StatusCode != 503 || gjson.GetBytes(b, "error.status").String() != "UNAVAILABLE" ||
		gjson.GetBytes(b, "error.message").String() != "not from this region" || !strings.Contains(string(b), `"code":503`) {
		t.Errorf("gemini: %d %s", resp.StatusCode, b)
	}
}
