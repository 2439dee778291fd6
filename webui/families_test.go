package webui

import (
	"context"
	"testing"
	"time"

	"subgate/sched"
)

// TestAccountFamilies: a limit on one model family shows under the
// account, which stays ok, with that family's windows; Clear ends it.
func TestAccountFamilies(t *testing.T) {
	hs := newHarness(t)
	l, err := hs.sched.Acquire(context.Background(), sched.Request{Platform: "anthropic", Model: "claude-opus-4-1"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Account().Name != "claude-1" {
		t.Fatalf("lease on %s, want claude-1", l.Account().Name)
	}
	reset := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	l.Release(sched.Outcome{Kind: sched.RateLimited, Scope: l.Family(), ResetAt: reset, Reason: "weekly opus limit",
		Windows: []sched.Window{{Name: "5h", Utilization: 0.2}, {Name: "7d", Utilization: 1, ResetAt: reset, Scope: "opus"}}})

	c := accountByName(t, hs.send("GET", "/admin/api/accounts", nil).must(t, 200), "claude-1")
	if c["state"] != "ok" || len(c["windows"].([]any)) != 1 || c["window_7d_utilization"] != nil {
		t.Errorf("claude-1 state %v windows %v 7d %v; want ok with the account's 5h window only",
			c["state"], c["windows"], c["window_7d_utilization"])
	}
	fs := c["families"].([]any)
	if len(fs) != 1 {
		t.Fatalf("families = %v, want opus", fs)
	}
	f := fs[0].(map[string]any)
	ws := f["windows"].([]any)
	if f["family"] != "opus" || f["state"] != "rate_limited" || f["until"] != reset.Format(time.RFC3339) ||
		f["reason"] != "weekly opus limit" || len(ws) != 1 || ws[0].(map[string]any)["name"] != "7d" {
		t.Errorf("opus = %v", f)
	}

	hs.send("POST", "/admin/api/accounts/claude-1/clear", nil).must(t, 200)
	c = accountByName(t, hs.send("GET", "/admin/api/accounts", nil).must(t, 200), "claude-1")
	if f := c["families"].([]any)[0].(map[string]any); f["state"] != "ok" || f["until"] != nil {
		t.Errorf("opus after clear = %v, want ok (its window stays)", f)
	}
}
