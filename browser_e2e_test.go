package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
)

const e2eChromium = "/usr/bin/chromium"

// e2eBrowser is headless Chromium pointed at a real server started by
// startInstance.
type e2eBrowser struct {
	t         *testing.T
	ctx       context.Context
	base      string
	artifacts string
	mu        sync.Mutex
	jsErrors  []string
}

func newE2EBrowser(t *testing.T, base string) *e2eBrowser {
	t.Helper()
	if _, err := os.Stat(e2eChromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is required under CI: %v", err)
		}
		t.Skipf("chromium not installed (%v); apt-get install chromium", err)
	}
	dir := os.Getenv("SUBGATE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A fresh profile, removed after Chromium exits (cleanups run last
	// registered first, so the browser is gone by then).
	profile, err := os.MkdirTemp("", "subgate-e2e-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(e2eChromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	b := &e2eBrowser{t: t, ctx: ctx, base: base, artifacts: dir}
	chromedp.ListenTarget(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.LevelError && e.Entry.Source != log.SourceNetwork {
				msg = string(e.Entry.Source) + ": " + e.Entry.Text
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.jsErrors = append(b.jsErrors, msg)
			b.mu.Unlock()
		}
	})
	// The first Run starts the browser and binds it to ctx.
	if err := chromedp.Run(ctx, log.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("screenshots in %s", dir)
	return b
}

// run performs one step under its own timeout; on failure it saves a
// screenshot and reports any browser errors before failing.
func (b *e2eBrowser) run(step string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.shot("e2e-failed-" + strings.ReplaceAll(step, " ", "-"))
		b.noJSErrors()
		b.t.Fatalf("%s: %v", step, err)
	}
}

// shot saves a full-page PNG screenshot as name.png.
func (b *e2eBrowser) shot(name string) {
	b.t.Helper()
	var png []byte
	if err := chromedp.Run(b.ctx, chromedp.Sleep(150*time.Millisecond), chromedp.FullScreenshot(&png, 100)); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.artifacts, name+".png"), png, 0o644); err != nil {
		b.t.Error(err)
	}
}

// noJSErrors fails the test if a page threw or violated the CSP.
func (b *e2eBrowser) noJSErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.jsErrors {
		b.t.Errorf("browser error: %s", e)
	}
	b.jsErrors = nil
}

// e2eAccountRow is the accounts table row of the named account.
func e2eAccountRow(name string) string {
	return fmt.Sprintf(`//tr[.//div[@data-account=%q]]`, name)
}

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
	up := upstreamtest.New(upstreamtest.Config{})
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer up.Close()
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

	b := newE2EBrowser(t, "http://"+addr)

	// 1. An anonymous visit to the dashboard lands on the login page.
	var url string
	b.run("login page", chromedp.Navigate(b.base+"/admin/"), chromedp.WaitVisible("#secret"), chromedp.Location(&url))
	if !strings.Contains(url, "/admin/login") {
		t.Fatalf("anonymous visit landed on %s", url)
	}
	b.shot("e2e-01-login")
	b.run("log in", chromedp.SendKeys("#secret", testAdminToken), chromedp.Click("#login"),
		chromedp.WaitVisible("#live-inflight"), chromedp.Location(&url))
	if !strings.HasSuffix(url, "/admin/") {
		t.Errorf("after login the browser is at %s, want the dashboard", url)
	}
	var jsCookies string
	b.run("cookie", chromedp.Evaluate(`document.cookie`, &jsCookies))
	if jsCookies != "" {
		t.Errorf("the session cookie is readable from JavaScript: %q", jsCookies)
	}

	// 2. The dashboard shows the seed traffic: the request count and alice
	// among the top keys.
	var dash struct {
		Requests string `json:"requests"`
		TopKeys  string `json:"topKeys"`
	}
	b.run("dashboard", chromedp.WaitVisible("#charts svg"),
		chromedp.Poll(e2eDashboardJS, &dash, chromedp.WithPollingTimeout(20*time.Second)))
	if n, err := strconv.Atoi(dash.Requests); err != nil || n != sent {
		t.Errorf("dashboard Requests card shows %q, want %d", dash.Requests, sent)
	}
	if !strings.Contains(dash.TopKeys, "alice") {
		t.Errorf("Top keys does not list alice: %q", dash.TopKeys)
	}
	b.shot("e2e-02-dashboard")
	b.noJSErrors()

	// 3. Create key carol through the form; its secret is shown once and
	// works for a real request.
	var secret string
	b.run("keys page", chromedp.Navigate(b.base+"/admin/keys"), chromedp.WaitVisible(`[data-key="alice"]`),
		chromedp.Click("#new-key"), chromedp.WaitVisible("#key-form"),
		chromedp.SendKeys(`#key-form [name=name]`, "carol"))
	b.shot("e2e-03-key-form")
	b.run("create key", chromedp.Click("#key-submit"),
		chromedp.WaitVisible("#secret"), chromedp.WaitVisible(`[data-key="carol"]`),
		chromedp.Text("#secret-value", &secret))
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, "sk-sg-") {
		t.Fatalf("the page shows secret %q", secret)
	}
	b.shot("e2e-04-key-created")
	if resp, body := in.message(secret, e2eBody("e2e-carol")); resp.StatusCode != 200 {
		t.Fatalf("request with carol's key: %d %s", resp.StatusCode, body)
	}
	_, keys := in.admin("GET", "/admin/api/keys", "")
	if strings.Contains(string(keys), secret) {
		t.Errorf("the key list shows carol's secret")
	}
	b.noJSErrors()

	// 4. Disable a1 with its button; the next request goes to a2.
	b.run("accounts page", chromedp.Navigate(b.base+"/admin/accounts"), chromedp.WaitVisible(e2eAccountRow("a1")))
	b.run("disable a1", chromedp.Click(e2eAccountRow("a1")+`//button[text()="Disable"]`, chromedp.BySearch),
		chromedp.WaitVisible(e2eAccountRow("a1")+`//span[text()="disabled"]`, chromedp.BySearch))
	b.shot("e2e-05-account-disabled")
	k1, k2 := up.Count("k1"), up.Count("k2")
	if resp, body := in.message(serveKey, e2eBody("e2e-after-disable")); resp.StatusCode != 200 {
		t.Fatalf("request after disabling a1: %d %s", resp.StatusCode, body)
	}
	if up.Count("k1") != k1 || up.Count("k2") != k2+1 {
		t.Errorf("after disabling a1: k1 %d→%d, k2 %d→%d; want the request on k2", k1, up.Count("k1"), k2, up.Count("k2"))
	}
	b.noJSErrors()

	// 5. Add an API-key account a3 (priority 1) through the form; it
	// serves the next request.
	b.run("add account form", chromedp.Click("#add-account"), chromedp.WaitVisible("#form"),
		chromedp.Click(`input[name=kind][value=api_key]`), chromedp.WaitVisible(`[name=api_key]`),
		chromedp.SetValue(`select[name=platform]`, "anthropic"),
		chromedp.SendKeys(`[name=api_key]`, "k3"),
		chromedp.SendKeys(`#form [name=name]`, "a3"),
		chromedp.SendKeys(`#form [name=priority]`, "1"))
	b.shot("e2e-06-add-account-form")
	b.run("add account", chromedp.Click("#submit"), chromedp.WaitVisible(e2eAccountRow("a3")), chromedp.Location(&url))
	if !strings.Contains(url, "/admin/accounts?saved=a3") {
		t.Errorf("after adding a3 the browser is at %s", url)
	}
	var a3Row string
	b.run("a3 row", chromedp.Text(e2eAccountRow("a3"), &a3Row, chromedp.BySearch))
	if !strings.Contains(a3Row, "anthropic") || !strings.Contains(a3Row, "api key") || !strings.Contains(a3Row, "ok") {
		t.Errorf("a3 row: %q", a3Row)
	}
	b.shot("e2e-07-account-added")
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
	b.run("accounts after traffic", chromedp.Reload(), chromedp.WaitVisible(e2eAccountRow("a3")),
		chromedp.Text(e2eAccountRow("a3")+`/td[@data-label="Last used"]`, &lastUsed, chromedp.BySearch))
	if strings.TrimSpace(lastUsed) == "never" {
		t.Errorf("a3 shows last used %q after serving a request", lastUsed)
	}
	b.shot("e2e-08-accounts-after-traffic")
	b.noJSErrors()
}
