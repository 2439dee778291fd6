package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

func oauthAccount(name, access, refresh string, exp time.Time) Account {
	return Account{
		Account:     sched.Account{Name: name, Platform: "anthropic", Type: "oauth", Group: "default", Priority: 10, Concurrency: 3},
		AccessToken: access, RefreshToken: refresh, ExpiresAt: exp, FromConfig: true,
	}
}

func TestOAuthRefreshOn401RetriesSameAccount(t *testing.T) {
	a := oauthAccount("max1", "sk-ant-oat01-old", "sk-ant-ort01-seed", time.Now().Add(time.Hour))
	b := apiAccount("backup", "k2")
	b.Priority = 99
	h := newHarness(t, []Account{a, b})
	h.up.Revoke("sk-ant-oat01-old")
	h.up.AddRefreshToken("sk-ant-ort01-seed")

	resp, body := h.post("/v1/messages", simpleBody)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got, want := h.up.TokenRequests(), 1; got != want {
		t.Errorf("token requests = %d, want %d", got, want)
	}
	if h.up.Count("k2") != 0 {
		t.Errorf("a 401 on an OAuth account was failed over instead of refreshed")
	}
	reqs := h.up.Requests()
	last := reqs[len(reqs)-1]
	if !strings.HasPrefix(last.Credential, "sk-ant-oat01-") || last.Credential == "sk-ant-oat01-old" {
		t.Errorf("retry used %q, want the refreshed token", last.Credential)
	}
	// The rotated refresh token is persisted for the next start.
	tok, err := h.db.LoadToken("max1")
	if err != nil {
		t.Fatalf("rotated token not persisted: %v", err)
	}
	if tok.RefreshToken == "sk-ant-ort01-seed" || tok.AccessToken != last.Credential {
		t.Errorf("persisted token = %+v", tok)
	}
	rec := h.records(1)[0]
	if rec.Account != "max1" || rec.Status != 200 {
		t.Errorf("record %+v", rec)
	}
}

func TestOAuthRefreshAheadOfExpiry(t *testing.T) {
	a := oauthAccount("max1", "sk-ant-oat01-soon", "sk-ant-ort01-seed", time.Now().Add(2*time.Minute))
	h := newHarness(t, []Account{a})
	h.up.AddRefreshToken("sk-ant-ort01-seed")
	for i := 0; i < 3; i++ {
		if resp, body := h.post("/v1/messages", simpleBody); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
	if got, want := h.up.TokenRequests(), 1; got != want {
		t.Errorf("token requests = %d, want %d (refresh once, then reuse)", got, want)
	}
}

func TestOAuthRefreshRejectedMarksError(t *testing.T) {
	a := oauthAccount("max1", "sk-ant-oat01-old", "sk-ant-ort01-unknown", time.Now().Add(time.Hour))
	h := newHarness(t, []Account{a})
	h.up.Revoke("sk-ant-oat01-old")
	resp, body := h.post("/v1/messages", simpleBody)
	if resp.StatusCode != 502 || gjson.GetBytes(body, "error.message").String() != "upstream authentication failed" {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	st := h.status("max1")
	if st.State != sched.StateError || !strings.Contains(st.Reason, "refresh") {
		t.Errorf("state %s reason %q, want error naming the refresh", st.State, st.Reason)
	}
	if strings.Contains(st.Reason, "sk-ant-ort01") {
		t.Errorf("reason leaks the refresh token: %q", st.Reason)
	}
}

func TestSetupTokenIsNeverRefreshed(t *testing.T) {
	a := oauthAccount("setup", "sk-ant-oat01-setup", "", time.Now().Add(time.Minute))
	a.Type = "setup_token"
	h := newHarness(t, []Account{a})
	if resp, body := h.post("/v1/messages", simpleBody); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if h.up.TokenRequests() != 0 {
		t.Errorf("a setup-token was refreshed")
	}
}

func TestOAuthHeadersAndIdentity(t *testing.T) {
	a := oauthAccount("max1", "sk-ant-oat01-a", "", time.Now().Add(time.Hour))
	h := newHarness(t, []Account{a})

	// A plain SDK client: identity prepended, beta merged, bearer set.
	resp, body := h.post("/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":5,"system":"Be brief.","messages":[{"role":"user","content":"hi"}]}`,
		"anthropic-beta", "prompt-caching-2024-07-31")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := h.up.Requests()[0]
	if got.Header["authorization"] != "Bearer sk-ant-oat01-a" || got.Header["x-api-key"] != "" {
		t.Errorf("auth headers: authorization=%q x-api-key=%q", got.Header["authorization"], got.Header["x-api-key"])
	}
	if beta := got.Header["anthropic-beta"]; !strings.Contains(beta, "oauth-2025-04-20") || !strings.Contains(beta, "prompt-caching-2024-07-31") {
		t.Errorf("anthropic-beta = %q", beta)
	}
	sys := gjson.GetBytes(got.Body, "system")
	if sys.Get("0.text").String() != "You are Claude Code, Anthropic's official CLI for Claude." || sys.Get("1.text").String() != "Be brief." {
		t.Errorf("system = %s", sys.Raw)
	}

	// Claude Code itself: the body passes byte for byte.
	cc := `{"model":"claude-sonnet-4-5","max_tokens":5,"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.330;"},{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"{\"device_id\":\"d\",\"account_uuid\":\"\",\"session_id\":\"0b5c6d7e-1111-2222-3333-444455556666\"}"}}`
	if resp, body := h.post("/v1/messages?beta=true", cc, "user-agent", "claude-cli/2.1.330 (external, cli)"); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := string(h.up.Requests()[1].Body); got != cc {
		t.Errorf("Claude Code body was modified:\n got %s\nwant %s", got, cc)
	}
}

func TestModelMap(t *testing.T) {
	a := apiAccount("a1", "k1")
	a.ModelMap = map[string]string{"claude-sonnet-4-5": "claude-sonnet-4-6"}
	h := newHarness(t, []Account{a})
	resp, body := h.post("/v1/messages", simpleBody)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := gjson.GetBytes(h.up.Requests()[0].Body, "model").String(); got != "claude-sonnet-4-6" {
		t.Errorf("upstream model = %q", got)
	}
	if got := gjson.GetBytes(body, "model").String(); got != "claude-sonnet-4-5" {
		t.Errorf("client sees model %q, want the requested name", got)
	}
	_, body = h.post("/v1/messages", streamBody)
	start := sseEvents(body)[0]
	if got := gjson.Get(start[1], "message.model").String(); got != "claude-sonnet-4-5" {
		t.Errorf("stream message_start model = %q", got)
	}
	recs := h.records(2)
	if recs[0].Model != "claude-sonnet-4-5" || recs[0].UpstreamModel != "claude-sonnet-4-6" {
		t.Errorf("record models = %q → %q", recs[0].Model, recs[0].UpstreamModel)
	}
}

func TestWindowsRecorded(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	reset := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	st := upstreamtest.OK()
	for k, v := range (upstreamtest.Unified{Status: "allowed", FiveHourUtilization: 0.42, FiveHourReset: reset}).Headers() {
		st = st.WithHeader(k, v)
	}
	h.up.Script("k1", st)
	h.post("/v1/messages", simpleBody)
	ws := h.status("a1").Windows
	if len(ws) == 0 || ws[0].Name != "5h" || ws[0].Utilization != 0.42 || !ws[0].ResetAt.Equal(reset) {
		t.Fatalf("windows = %+v", ws)
	}
}
