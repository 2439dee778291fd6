package main

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
	"subgate/webui/browsertest"
)

// TestServeErrorRulesAdmin drives the error rules of the admin UI through
// the real server: listed after the config's, applied at once, tried
// after the config's and before the built-in defaults, edited, validated,
// kept across a restart, deleted.
func TestServeErrorRulesAdmin(t *testing.T) {
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	cfgPath := writeServeConfig(t, dir, addr, up.URL(), serveOpts{extra: `
[[error_rules]]
name = "cfg-pass"
status = 500
contains = "config wins"
action = "pass"
`})
	in := startInstance(t, cfgPath, addr)
	// a1 answers 500 with body, a2 (tried next on a failover) 200.
	fail := func(body string) (int, string) {
		t.Helper()
		up.Script("k1", upstreamtest.Error(500, "api_error", body))
		resp, b := in.message(serveKey, serveBody)
		return resp.StatusCode, gjson.GetBytes(b, "error.message").String()
	}

	_, b := in.admin("POST", "/admin/api/error-rules", `{"status":[500],"action":"rewrite","rewrite_status":503,"message":"ui says no"}`)
	id := gjson.GetBytes(b, "rule.id").String()
	if id == "" || gjson.GetBytes(b, "rule.name").String() != "ui-"+id {
		t.Fatalf("add: %s", b)
	}
	_, b = in.admin("GET", "/admin/api/error-rules", "")
	if got := gjson.GetBytes(b, "rules.#.name").Raw; got != `["cfg-pass","ui-`+id+`"]` {
		t.Errorf("rules listed %s, want the config's first", got)
	}
	if src := gjson.GetBytes(b, "rules.#.source").Raw; src != `["config","ui"]` {
		t.Errorf("sources %s", src)
	}
	for _, tt := range []struct {
		upstream   string
		status     int
		msg, notes string
	}{
		{"config wins", 500, "config wins", "the config's rule is tried first"},
		{"Internal server error", 503, "ui says no", "the UI's rule, at once, before the defaults"},
	} {
		if st, msg := fail(tt.upstream); st != tt.status || msg != tt.msg {
			t.Errorf("%s: client got %d %q, want %d %q", tt.notes, st, msg, tt.status, tt.msg)
		}
	}

	if resp, b := in.admin("PATCH", "/admin/api/error-rules/"+id, `{"message":"edited"}`); resp.StatusCode != 200 {
		t.Fatalf("patch: %d %s", resp.StatusCode, b)
	}
	if st, msg := fail("Internal server error"); st != 503 || msg != "edited" {
		t.Errorf("after the edit: %d %q", st, msg)
	}
	for _, tt := range []struct{ body, field string }{
		{`{"status":[500],"action":"explode"}`, "action"},
		{`{"regex":"(unclosed","action":"pass"}`, "regex"},
		{`{"action":"pass"}`, "rule"},
		{`{"status":[500],"action":"pass","bogus":1}`, "bogus"},
	} {
		resp, b := in.admin("POST", "/admin/api/error-rules", tt.body)
		if resp.StatusCode != 400 || gjson.GetBytes(b, "error.field").String() != tt.field {
			t.Errorf("POST %s: %d %s, want 400 naming %s", tt.body, resp.StatusCode, b, tt.field)
		}
	}
	if resp, _ := in.admin("PATCH", "/admin/api/error-rules/999", `{"message":"x"}`); resp.StatusCode != 404 {
		t.Errorf("PATCH of an unknown rule: %d", resp.StatusCode)
	}

	in.stop()
	in = startInstance(t, cfgPath, addr)
	if st, msg := fail("Internal server error"); st != 503 || msg != "edited" {
		t.Errorf("after a restart: %d %q, want the stored rule", st, msg)
	}
	if resp, b := in.admin("DELETE", "/admin/api/error-rules/"+id, ""); resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	if st, _ := fail("Internal server error"); st != 200 {
		t.Errorf("after the delete: %d, want the default (fail over to a2)", st)
	}
}

// TestBrowserErrorRules: the error rules page lists the config's rule,
// adds one through its form and edits it; the gateway applies each at
// once.
func TestBrowserErrorRules(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browsertest.Require(t)
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	in := startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{extra: `
[[error_rules]]
name = "cfg-pass"
status = 418
action = "pass"
`}), addr)
	b := browsertest.New(t, "http://"+addr, "rules-")
	b.Run("log in", chromedp.Navigate(b.Base+"/admin/"), chromedp.WaitVisible("#secret"),
		chromedp.SendKeys("#secret", testAdminToken), chromedp.Click("#login"), chromedp.WaitVisible("#live-inflight"))
	b.Run("rules page", chromedp.Navigate(b.Base+"/admin/rules"), chromedp.WaitVisible(`[data-rule="cfg-pass"]`),
		chromedp.Click("#new-rule"), chromedp.WaitVisible("#rule-form"),
		chromedp.SendKeys(`#rule-form [name=name]`, "page-rule"),
		chromedp.SendKeys(`#rule-form [name=status]`, "500"),
		chromedp.SetValue(`#rule-form [name=action]`, "rewrite"),
		chromedp.SendKeys(`#rule-form [name=rewrite_status]`, "503"),
		chromedp.SendKeys(`#rule-form [name=message]`, "from the page"))
	b.Shot("01-rule-form")
	b.Run("add rule", chromedp.Click("#rule-submit"), chromedp.WaitVisible(`[data-rule="page-rule"]`))
	b.Shot("02-rule-added")
	up.Script("k1", upstreamtest.ServerError())
	resp, body := in.message(serveKey, serveBody)
	if resp.StatusCode != 503 || gjson.GetBytes(body, "error.message").String() != "from the page" {
		t.Errorf("after adding the rule: %d %s", resp.StatusCode, body)
	}
	b.Run("edit rule", chromedp.Click(`//tr[.//strong[@data-rule="page-rule"]]//button[text()="Edit"]`, chromedp.BySearch),
		chromedp.WaitVisible("#rule-form"), chromedp.SetValue(`#rule-form [name=message]`, "edited on the page"),
		chromedp.Click("#rule-submit"), chromedp.WaitNotVisible("#rule-form"))
	_, list := in.admin("GET", "/admin/api/error-rules", "")
	if got := gjson.GetBytes(list, `rules.#(name=="page-rule").message`).String(); got != "edited on the page" {
		t.Errorf("after the edit the rule says %q: %s", got, list)
	}
	b.NoJSErrors()
}
