package webui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"subgate/ledger"
	"subgate/sched"
)

func TestDashboard(t *testing.T) {
	hs := newHarness(t)
	seedUsage(hs, 40) // the last 10 hours
	hs.store.seed(ledger.Record{Time: hs.clock.now().Add(-10 * 24 * time.Hour), Key: "old", Account: "claude-1",
		Model: "claude-opus-4-5", Status: 200, CostMicros: 5_000_000, ListMicros: 5_000_000})
	lease, err := hs.sched.Acquire(context.Background(), sched.Request{Platform: "openai", Model: "gpt-5"})
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(sched.Outcome{Kind: sched.Success})
	if err := hs.sched.Disable("claude-1"); err != nil {
		t.Fatal(err)
	}

	m := hs.send("GET", "/admin/api/dashboard", nil).must(t, 200).json(t)
	if got := len(m["series"].([]any)); got != 24 {
		t.Errorf("24h series has %d points", got)
	}
	totals := m["totals"].(map[string]any)
	if totals["requests"] != 40.0 || totals["refusals"] != 5.0 || totals["cost_usd"].(float64) < 0.47 {
		t.Errorf("totals = %v", totals)
	}
	live := m["live"].(map[string]any)
	if live["in_flight"] != 1.0 || live["queued"] != 0.0 {
		t.Errorf("live = %v", live)
	}
	if acc := m["accounts"].(map[string]any); acc["ok"] != 1.0 || acc["disabled"] != 1.0 {
		t.Errorf("accounts = %v", acc)
	}
	top := m["top"].(map[string]any)
	keys := top["keys"].([]any)
	if len(keys) != 2 || keys[0].(map[string]any)["name"] != "alice" {
		t.Errorf("top keys = %v", keys)
	}
	if len(top["models"].([]any)) != 2 || len(top["accounts"].([]any)) != 3 { // refusals form account ""
		t.Errorf("top = %v", top)
	}

	m = hs.send("GET", "/admin/api/dashboard?range=30d", nil).must(t, 200).json(t)
	if got := len(m["series"].([]any)); got != 30 {
		t.Errorf("30d series has %d points", got)
	}
	if k := m["top"].(map[string]any)["keys"].([]any)[0].(map[string]any); k["name"] != "old" || k["cost_usd"] != 5.0 {
		t.Errorf("30d top key = %v", k)
	}
	if f := hs.send("GET", "/admin/api/dashboard?range=1y", nil).must(t, 400).errField(t); f != "range" {
		t.Errorf("range: field %q", f)
	}
}

func TestDashboardWithoutLedger(t *testing.T) {
	hs := newHarness(t, func(c *Config) { c.Ledger = nil })
	m := hs.send("GET", "/admin/api/dashboard", nil).must(t, 200).json(t)
	if len(m["series"].([]any)) != 0 {
		t.Errorf("series = %v", m["series"])
	}
	if n := len(records(t, hs.send("GET", "/admin/api/usage", nil).must(t, 200))); n != 0 {
		t.Errorf("%d records without a ledger", n)
	}
}

func TestSessions(t *testing.T) {
	hs := newHarness(t)
	hs.sched.Bind("", "conv-123/with/slashes", "claude-1")
	m := hs.send("GET", "/admin/api/sessions", nil).must(t, 200).json(t)
	ss := m["sessions"].([]any)
	if len(ss) != 1 {
		t.Fatalf("sessions = %v", ss)
	}
	s := ss[0].(map[string]any)
	if s["session"] != sched.SessionID("conv-123/with/slashes") || s["account"] != "claude-1" || s["age_s"] == nil || s["expires"] == nil {
		t.Errorf("session = %v", s)
	}
	r := hs.send("DELETE", "/admin/api/sessions/conv-123/with/slashes", nil).must(t, 200)
	if r.json(t)["unbound"] != 1.0 {
		t.Errorf("unbind = %s", r.body)
	}
	if n := len(hs.send("GET", "/admin/api/sessions", nil).must(t, 200).json(t)["sessions"].([]any)); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}

func TestDashboardLedgerError(t *testing.T) {
	hs := newHarness(t)
	hs.stats.TopFn = func(time.Time, time.Time, string, int) ([]ledger.Group, error) {
		return nil, errors.New("rollups unreadable")
	}
	r := hs.send("GET", "/admin/api/dashboard?range=30d", nil).must(t, 500)
	if !strings.Contains(string(r.body), "rollups unreadable") {
		t.Errorf("body %s", r.body)
	}
}
