package proxy

import (
	"strconv"
	"testing"
	"time"

	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// opusWeekly is the 429 of a subscription whose weekly Opus window is
// spent while its five-hour and weekly windows still allow.
func opusWeekly(reset time.Time) upstreamtest.Step {
	epoch := strconv.FormatInt(reset.Unix(), 10)
	return upstreamtest.Error(429, "rate_limit_error", "This request would exceed your account's rate limit. Please try again later.").
		WithHeader("anthropic-ratelimit-unified-status", "rejected").
		WithHeader("anthropic-ratelimit-unified-5h-status", "allowed").
		WithHeader("anthropic-ratelimit-unified-5h-utilization", "0.1").
		WithHeader("anthropic-ratelimit-unified-7d-status", "allowed").
		WithHeader("anthropic-ratelimit-unified-7d_opus-status", "rejected").
		WithHeader("anthropic-ratelimit-unified-7d_opus-utilization", "1.0").
		WithHeader("anthropic-ratelimit-unified-7d_opus-reset", epoch)
}

// modelBody is a request for model in session; without a session, the
// prompt (the gateway's content-hash session) is what names it.
func modelBody(model, session, prompt string) string {
	meta := ""
	if session != "" {
		meta = `"metadata":{"user_id":"user_` + session + `_account__session_` + session + `"},`
	}
	return `{"model":"` + model + `","max_tokens":10,` + meta + `"messages":[{"role":"user","content":"` + prompt + `"}]}`
}

// TestFamilyBenchThroughGateway: a weekly Opus limit on a1 benches Opus
// only. Opus requests go to a2 while Sonnet is still served by a1; a
// sticky Opus session moves to a2 once and stays; after the reset Opus
// returns to a1. The account's state shows the family and its windows.
func TestFamilyBenchThroughGateway(t *testing.T) {
	a1, a2 := apiAccount("a1", "k1"), apiAccount("a2", "k2")
	a2.Priority = 20 // a1 first
	h := newHarness(t, []Account{a1, a2})
	const session = "5e1f0c3a-9b7d-4e2f-8a61-0c4d2b9e7f13"
	opus, sonnet := "claude-opus-4-8", "claude-sonnet-4-5"
	send := func(what, model, session string) {
		t.Helper()
		if resp, b := h.post("/v1/messages", modelBody(model, session, what)); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", what, resp.StatusCode, b)
		}
	}
	served := func(what, want string) {
		t.Helper()
		reqs := h.up.Requests()
		if got := reqs[len(reqs)-1].Credential; got != want {
			t.Errorf("%s served by %s, want %s", what, got, want)
		}
	}

	send("opus session, first turn", opus, session)
	served("opus session, first turn", "k1")

	// The upstream's reset is a few seconds ahead (it has seconds only):
	// the test waits for it below.
	reset := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	h.up.Script("k1", opusWeekly(reset))
	send("opus session, a1 out of opus", opus, session)
	served("opus session, a1 out of opus", "k2")
	st := h.status("a1")
	if st.State != sched.StateOK {
		t.Errorf("a1 state %s: a family's limit benched the whole account", st.State)
	}
	fam := family(st, "opus")
	if fam == nil || fam.State != sched.StateRateLimited || !fam.Until.Equal(reset) {
		t.Fatalf("a1 opus family = %+v, want rate_limited until %v", fam, reset)
	}

	h.up.Script("k1", upstreamtest.OK().
		WithHeader("anthropic-ratelimit-unified-7d_sonnet-utilization", "0.3").
		WithHeader("anthropic-ratelimit-unified-7d_sonnet-status", "allowed"))
	send("sonnet", sonnet, "")
	served("sonnet", "k1")
	if f := family(h.status("a1"), "sonnet"); f == nil || f.State != sched.StateOK || len(f.Windows) != 1 ||
		f.Windows[0].Utilization != 0.3 || f.Windows[0].Scope != "sonnet" {
		t.Errorf("a1 sonnet family = %+v, want ok with its 7d window", f)
	}
	before := h.up.Count("k1")
	send("opus, no session", opus, "")
	served("opus, no session", "k2")
	send("opus session, next turn", opus, session)
	served("opus session, next turn", "k2")
	if got := h.up.Count("k1"); got != before {
		t.Errorf("a1 was tried for opus %d times while opus was benched there", got-before)
	}

	waitUntilFor(t, 10*time.Second, "the opus reset", func() bool { return time.Now().After(reset) })
	send("opus after the reset", opus, "")
	served("opus after the reset", "k1")
	send("opus session after the reset", opus, session)
	served("opus session after the reset", "k2") // it moved once and stays
}

func family(st sched.AccountStatus, name string) *sched.FamilyStatus {
	for i := range st.Families {
		if st.Families[i].Family == name {
			return &st.Families[i]
		}
	}
	return nil
}

// TestCodexModelBucketThroughGateway: a Codex 429 whose active limit is a
// model's own bucket (x-codex-active-limit codex_bengalfox with its
// x-codex-bengalfox-* family) benches that model on the account; other
// models are still served there.
func TestCodexModelBucketThroughGateway(t *testing.T) {
	c1, c2 := codexAccount("cx1", "tok-1", ""), codexAccount("cx2", "tok-2", "")
	c2.Priority = 20
	h := newHarness(t, []Account{c1, c2})
	spark := upstreamtest.UsageLimit(time.Hour).
		WithHeader("x-codex-active-limit", "codex_bengalfox").
		WithHeader("x-codex-bengalfox-primary-used-percent", "100").
		WithHeader("x-codex-bengalfox-limit-name", "GPT-5.3-Codex-Spark")
	h.up.Script("tok-1", spark)
	post := func(model, prompt string) string {
		t.Helper()
		body := `{"model":"` + model + `","stream":true,"store":false,"input":"` + prompt + `"}`
		resp, b := h.post("/v1/responses", body, "authorization", "Bearer "+testKey, "x-api-key", "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", model, resp.StatusCode, b)
		}
		reqs := h.up.Requests()
		return reqs[len(reqs)-1].Credential
	}
	if got := post("gpt-5.3-codex-spark", "one"); got != "tok-2" {
		t.Errorf("spark after cx1's spark 429 served by %s, want tok-2", got)
	}
	if got := post("gpt-5.5", "two"); got != "tok-1" {
		t.Errorf("gpt-5.5 served by %s, want tok-1: only spark is out on cx1", got)
	}
	if got := post("gpt-5.3-codex-spark", "three"); got != "tok-2" {
		t.Errorf("spark served by %s while benched on cx1", got)
	}
	st := h.status("cx1")
	if f := family(st, "gpt-5.3-codex-spark"); st.State != sched.StateOK || f == nil || f.State != sched.StateRateLimited {
		t.Errorf("cx1: state %s, spark family %+v", st.State, f)
	}
}
