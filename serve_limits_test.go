package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
)

// TestServeAccountsShowFamilies: after a weekly Opus limit on a1 and a
// Sonnet reply with its own window, GET /admin/api/accounts shows a1 ok,
// its opus family rate limited until the upstream's reset, and its sonnet
// family's window.
func TestServeAccountsShowFamilies(t *testing.T) {
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	in := startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{}), addr)
	reset := time.Now().Add(2 * time.Hour).Truncate(time.Second) // within scheduler.max_cooldown
	up.Script("k1", upstreamtest.Error(429, "rate_limit_error", "rate limited").
		WithHeader("anthropic-ratelimit-unified-status", "rejected").
		WithHeader("anthropic-ratelimit-unified-7d_opus-status", "rejected").
		WithHeader("anthropic-ratelimit-unified-7d_opus-reset", strconv.FormatInt(reset.Unix(), 10)),
		upstreamtest.OK().WithHeader("anthropic-ratelimit-unified-7d_sonnet-utilization", "0.25").
			WithHeader("anthropic-ratelimit-unified-7d_sonnet-status", "allowed"))
	for _, model := range []string{"claude-opus-4-8", "claude-sonnet-4-5"} {
		body := `{"model":"` + model + `","max_tokens":5,"messages":[{"role":"user","content":"` + model + `"}]}`
		if resp, b := in.message(serveKey, body); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", model, resp.StatusCode, b)
		}
	}
	_, b := in.admin("GET", "/admin/api/accounts", "")
	a1 := gjson.GetBytes(b, `accounts.#(name=="a1")`)
	if a1.Get("state").String() != "ok" {
		t.Errorf("a1 state %s: a family's limit benched the account", a1.Get("state"))
	}
	opus := a1.Get(`families.#(family=="opus")`)
	if opus.Get("state").String() != "rate_limited" || !opus.Get("until").Time().Equal(reset) {
		t.Errorf("a1 opus family = %s, want rate_limited until %v", opus.Raw, reset)
	}
	sonnet := a1.Get(`families.#(family=="sonnet")`)
	if sonnet.Get("state").String() != "ok" || sonnet.Get("windows.0.utilization").Float() != 0.25 ||
		sonnet.Get("windows.0.scope").String() != "sonnet" {
		t.Errorf("a1 sonnet family = %s, want ok with its window", sonnet.Raw)
	}
}
