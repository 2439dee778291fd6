package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
	"subgate/webui/browsertest"
)

// e2eBody is serveBody with its own sticky session id.
func e2eBody(session string) string {
	return strings.Replace(serveBody, "serve-sess", session, 1)
}

// e2eDashboardJS reads the dashboard: the Requests card's value and the
// text of the Top keys table, or null while the page has not loaded them.
const e2eDashboardJS = `(() => {
  const card = [...document.querySelectorAll('#cards .stat')]
    .find(c => c.querySelector('.label') && c.querySelector('.label').textContent === 'Requests');
  const top = [...document.querySelectorAll('#tops h2')].find(h => h.textContent === 'Top keys');
  if (!card || !top) return null;
  return { requests: card.querySelector('.value').textContent, topKeys: top.parentElement.textContent };
})()`

// TestBrowserEndToEnd drives the real server (run()) in front of the mock
// upstream from headless Chromium: log in, see the dashboard with real
// traffic, create a key and use it, disable an account and see traffic
// move, add an API-key account and see it serve.
func TestBrowserEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browsertest.Require(t)
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	in := startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{}), addr)

	// Real traffic for the ledger: alice's requests go to a1 (priority 10).
	const sent = 4
	for i := range sent {
		if resp, body := in.message(serveKey, e2eBody(fmt.Sprintf("e2e-seed-%d", i))); resp.StatusCode != 200 {
			t.Fatalf("seed request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if n := up.Count("k1"); n != sent {
		t.Fatalf("a1 (k1) served %d of %d seed requests", n, sent)
	}
	// The ledger writes in the background; wait until it has them all.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, usage := in.admin("GET", "/admin/api/usage?limit=50", "")
		if n := len(gjson.GetBytes(usage, "records").Array()); n >= sent {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("ledger has %d of %d records: %s", n, sent, usage)
		}
		time.Sleep(20 * time.Millisecond)
	}

	b := browsertest.New(t, "http://"+addr, "e2e-")

	// 1. An anonymous visit to the dashboard lands on the login page.
	var url string
	b.Run("login page", chromedp.Navigate(b.Base+"/admin/"), chromedp.WaitVisible("#secret"), chromedp.Location(&url))
	if !strings.Contains(url, "/admin/login") {
		t.Fatalf("anonymous visit landed on %s", url)
	}
	b.Shot("01-login")
	b.Run("log in", chromedp.SendKeys("#secret", testAdminToken), chromedp.Click("#login"),
		chromedp.WaitVisible("#live-inflight"), chromedp.Location(&url))
	if !strings.HasSuffix(url, "/admin/") {
		t.Errorf("after login the browser is at %s, want the dashboard", url)
	}
	var jsCookies string
	b.Run("cookie", chromedp.Evaluate(`document.cookie`, &jsCookies))
	if jsCookies != "" {
		t.Errorf("the session cookie is readable from JavaScript: %q", jsCookies)
	}

	// 2. The dashboard shows the seed traffic: the request count and alice
	// among the top keys.
	var dash struct {
		Requests string `json:"requests"`
		TopKeys  string `json:"topKeys"`
	}
	b.Run("dashboard", chromedp.WaitVisible("#charts svg"),
		chromedp.Poll(e2eDashboardJS, &dash, chromedp.WithPollingTimeout(20*time.Second)))
	if n, err := strconv.Atoi(dash.Requests); err != nil || n != sent {
		t.Errorf("dashboard Requests card shows %q, want %d", dash.Requests, sent)
	}
	if !strings.Contains(dash.TopKeys, "alice") {
		t.Errorf("Top keys does not list alice: %q", dash.TopKeys)
	}
	b.Shot("02-dashboard")
	b.NoJSErrors()

	// 3. Create key carol through the form; its secret is shown once and
	// works for a real request.
	var secret string
	b.Run("keys page", chromedp.Navigate(b.Base+"/admin/keys"), chromedp.WaitVisible(`[data-key="alice"]`),
		chromedp.Click("#new-key"), chromedp.WaitVisible("#key-form"),
		chromedp.SendKeys(`#key-form [name=name]`, "carol"))
	b.Shot("03-key-form")
	b.Run("create key", chromedp.Click("#key-submit"),
		chromedp.WaitVisible("#secret"), chromedp.WaitVisible(`[data-key="carol"]`),
		chromedp.Text("#secret-value", &secret))
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, "sk-sg-") {
		t.Fatalf("the page shows secret %q", secret)
	}
	b.Shot("04-key-created")
	if resp, body := in.message(secret, e2eBody("e2e-carol")); resp.StatusCode != 200 {
		t.Fatalf("request with carol's key: %d %s", resp.StatusCode, body)
	}
	_, keys := in.admin("GET", "/admin/api/keys", "")
	if strings.Contains(string(keys), secret) {
		t.Errorf("the key list shows carol's secret")
	}
	b.NoJSErrors()

	// 4. Disable a1 with its button; the next request goes to a2.
	b.Run("accounts page", chromedp.Navigate(b.Base+"/admin/accounts"), chromedp.WaitVisible(browsertest.AccountRow("a1")))
	b.Run("disable a1", chromedp.Click(browsertest.AccountRow("a1")+`//button[text()="Disable"]`, chromedp.BySearch),
		chromedp.WaitVisible(browsertest.AccountRow("a1")+`//span[text()="disabled"]`, chromedp.BySearch))
	b.Shot("05-account-disabled")
	k1, k2 := up.Count("k1"), up.Count("k2")
	if resp, body := in.message(serveKey, e2eBody("e2e-after-disable")); resp.StatusCode != 200 {
		t.Fatalf("request after disabling a1: %d %s", resp.StatusCode, body)
	}
	if up.Count("k1") != k1 || up.Count("k2") != k2+1 {
		t.Errorf("after disabling a1: k1 %d→%d, k2 %d→%d; want the request on k2", k1, up.Count("k1"), k2, up.Count("k2"))
	}
	b.NoJSErrors()

	// 5. Add an API-key account a3 (priority 1) through the form; it
	// serves the next request.
	b.Run("add account form", chromedp.Click("#add-account"), chromedp.WaitVisible("#form"),
		chromedp.Click(`input[name=kind][value=api_key]`), chromedp.WaitVisible(`[name=api_key]`),
		chromedp.SetValue(`select[name=platform]`, "anthropic"),
		chromedp.SendKeys(`[name=api_key]`, "k3"),
		chromedp.SendKeys(`#form [name=name]`, "a3"),
		chromedp.SendKeys(`#form [name=priority]`, "1"))
	b.Shot("06-add-account-form")
	b.Run("add account", chromedp.Click("#submit"), chromedp.WaitVisible(browsertest.AccountRow("a3")), chromedp.Location(&url))
	if !strings.Contains(url, "/admin/accounts?saved=a3") {
		t.Errorf("after adding a3 the browser is at %s", url)
	}
	var a3Row string
	b.Run("a3 row", chromedp.Text(browsertest.AccountRow("a3"), &a3Row, chromedp.BySearch))
	if !strings.Contains(a3Row, "anthropic") || !strings.Contains(a3Row, "api key") || !strings.Contains(a3Row, "ok") {
		t.Errorf("a3 row: %q", a3Row)
	}
	b.Shot("07-account-added")
	_, accts := in.admin("GET", "/admin/api/accounts", "")
	if a3 := gjson.GetBytes(accts, `accounts.#(name=="a3")`); a3.Get("priority").Int() != 1 || a3.Get("type").String() != "api_key" ||
		a3.Get("source").String() != "ui" {
		t.Errorf("stored a3: %s", a3.Raw)
	}
	if resp, body := in.message(serveKey, e2eBody("e2e-after-add")); resp.StatusCode != 200 {
		t.Fatalf("request after adding a3: %d %s", resp.StatusCode, body)
	}
	if n := up.Count("k3"); n != 1 {
		t.Errorf("the added account a3 (k3) got %d requests, want 1", n)
	}
	// The accounts page shows a3 as used now.
	var lastUsed string
	b.Run("accounts after traffic", chromedp.Reload(), chromedp.WaitVisible(browsertest.AccountRow("a3")),
		chromedp.Text(browsertest.AccountRow("a3")+`/td[@data-label="Last used"]`, &lastUsed, chromedp.BySearch))
	if strings.TrimSpace(lastUsed) == "never" {
		t.Errorf("a3 shows last used %q after serving a request", lastUsed)
	}
	b.Shot("08-accounts-after-traffic")
	b.NoJSErrors()
}
