package webui

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/valyala/fasthttp"

	"subgate/sched"
	"subgate/webui/browsertest"
)

// newBrowser serves h on a loopback port and points headless Chromium at
// it; the test is skipped when Chromium is not installed.
func newBrowser(t *testing.T, h *Handler) *browsertest.Browser {
	t.Helper()
	browsertest.Require(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h.Handler}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return browsertest.New(t, "http://"+ln.Addr().String(), "")
}

var row = browsertest.AccountRow

func TestBrowser(t *testing.T) {
	browsertest.Require(t)
	hs := newHarness(t)
	seedUsage(hs, 120)
	hs.sched.Bind("", "0190-session-abc", "claude-1")
	now := time.Now()
	report(t, hs.sched, "anthropic", []sched.Window{{Name: "5h", Utilization: 0.62, ResetAt: now.Add(133 * time.Minute)},
		{Name: "7d", Utilization: 0.91, ResetAt: now.Add(70 * time.Hour)}})
	report(t, hs.sched, "openai", []sched.Window{{Name: "primary", Utilization: 0.18, ResetAt: now.Add(4 * time.Hour)},
		{Name: "secondary", Utilization: 0.4, ResetAt: now.Add(100 * time.Hour)}})
	b := newBrowser(t, hs.h)

	// Log in: the dashboard sends an anonymous visitor to the login page.
	var url string
	b.Run("login page", chromedp.Navigate(b.Base+"/admin/"), chromedp.WaitVisible("#secret"), chromedp.Location(&url))
	if !strings.Contains(url, "/admin/login") {
		t.Fatalf("anonymous visit landed on %s", url)
	}
	b.Shot("01-login")
	b.Run("log in", chromedp.SendKeys("#secret", testToken), chromedp.Click("#login"),
		chromedp.WaitVisible("#charts svg"), chromedp.WaitVisible("#live-inflight"))
	var cards string
	b.Run("dashboard", chromedp.Text("#cards", &cards))
	if !strings.Contains(cards, "In flight") || !strings.Contains(cards, "Requests") {
		t.Errorf("dashboard cards: %q", cards)
	}
	b.Shot("02-dashboard")
	b.NoJSErrors()

	// Create a key: the secret is shown once, with snippets.
	var secret, snippet string
	b.Run("create key", chromedp.Navigate(b.Base+"/admin/keys"), chromedp.WaitVisible(`[data-key="team"]`),
		chromedp.Click("#new-key"), chromedp.SendKeys(`#key-form [name=name]`, "alice"),
		chromedp.SendKeys(`#key-form [name=limit_5h_usd]`, "5"))
	b.Shot("03-key-form")
	b.Run("submit key", chromedp.Click("#key-submit"),
		chromedp.WaitVisible("#secret"), chromedp.WaitVisible(`[data-key="alice"]`),
		chromedp.Text("#secret-value", &secret), chromedp.Text("#snippet", &snippet))
	if !strings.HasPrefix(secret, "sk-sg-alice") || !strings.Contains(snippet, "ANTHROPIC_BASE_URL="+b.Base) {
		t.Errorf("secret %q, snippet %q", secret, snippet)
	}
	if k, ok := hs.h.findKey("alice"); !ok || k.Limit5hUSD != 5 || !k.Enabled {
		t.Errorf("stored key %+v", k)
	}
	b.Shot("04-key-created")
	b.Run("codex snippet", chromedp.Click(`//div[@id="snippet-tabs"]/button[text()="Codex CLI"]`, chromedp.BySearch),
		chromedp.Text("#snippet", &snippet))
	if !strings.Contains(snippet, `wire_api = "responses"`) {
		t.Errorf("codex snippet %q", snippet)
	}
	b.NoJSErrors()

	// Add an API-key account through the form.
	b.Run("add account form", chromedp.Navigate(b.Base+"/admin/accounts/new"), chromedp.WaitVisible("#paste-hint"))
	b.Shot("05-add-account-oauth")
	b.Run("api key form", chromedp.Click(`input[name=kind][value=api_key]`), chromedp.WaitVisible(`[name=api_key]`),
		chromedp.SendKeys(`[name=api_key]`, "sk-ant-api03-secret"),
		chromedp.SendKeys(`[name=name]`, "anthropic-key"), chromedp.SendKeys(`[name=concurrency]`, "3"),
		chromedp.SendKeys(`[name=models]`, "claude-*"))
	b.Shot("06-add-account-key")
	b.Run("add account", chromedp.Click("#submit"), chromedp.WaitVisible(`[data-account="anthropic-key"]`))
	if a, ok := hs.h.findAccount("anthropic-key"); !ok || a.Concurrency != 3 || a.Type != "api_key" {
		t.Errorf("stored account %+v", a)
	}
	b.NoJSErrors()

	// Disable claude-1: its state changes and traffic moves to the new account.
	b.Run("disable account", chromedp.Click(row("claude-1")+`//button[text()="Disable"]`, chromedp.BySearch),
		chromedp.WaitVisible(row("claude-1")+`//span[text()="disabled"]`, chromedp.BySearch))
	lease, err := hs.sched.Acquire(context.Background(), sched.Request{Platform: "anthropic", Model: "claude-sonnet-4-5"})
	if err != nil {
		t.Fatal(err)
	}
	if got := lease.Account().Name; got != "anthropic-key" {
		t.Errorf("traffic went to %s after disabling claude-1", got)
	}
	lease.Release(sched.Outcome{Kind: sched.Success})
	b.Shot("07-accounts")
	b.NoJSErrors()

	b.Run("usage", chromedp.Navigate(b.Base+"/admin/usage"), chromedp.WaitVisible("#records table"))
	b.Shot("08-usage")
	b.Run("sessions", chromedp.Navigate(b.Base+"/admin/sessions"), chromedp.WaitVisible("#sessions table"))
	b.Shot("09-sessions")
	b.NoJSErrors()

	// Phone width and dark mode.
	b.Run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(b.Base+"/admin/"), chromedp.WaitVisible("#charts svg"))
	var overflow bool
	b.Run("phone width", chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &overflow))
	if overflow {
		t.Error("the dashboard is wider than a phone")
	}
	b.Shot("10-phone-dashboard")
	b.Run("phone accounts", chromedp.Navigate(b.Base+"/admin/accounts"), chromedp.WaitVisible(row("claude-1")))
	b.Shot("11-phone-accounts")
	dark := emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}})
	b.Run("dark", chromedp.EmulateViewport(1280, 900), dark, chromedp.Navigate(b.Base+"/admin/"), chromedp.WaitVisible("#charts svg"))
	b.Shot("12-dark-dashboard")
	b.Run("dark keys", chromedp.Navigate(b.Base+"/admin/keys"), chromedp.WaitVisible(`[data-key="alice"]`))
	b.Shot("13-dark-keys")
	b.NoJSErrors()
}

// report sends one request through an account of platform and reports
// the usage windows its upstream answered with.
func report(t *testing.T, s *sched.Scheduler, platform string, ws []sched.Window) {
	t.Helper()
	l, err := s.Acquire(context.Background(), sched.Request{Platform: platform, Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	l.Release(sched.Outcome{Kind: sched.Success, Status: 200, Windows: ws})
}
