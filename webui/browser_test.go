package webui

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/valyala/fasthttp"

	"subgate/sched"
)

const chromiumPath = "/usr/bin/chromium"

// browser drives headless Chromium against a Handler served on loopback.
type browser struct {
	t         *testing.T
	ctx       context.Context
	base      string
	artifacts string
	mu        sync.Mutex
	jsErrors  []string
}

func newBrowser(t *testing.T, h *Handler) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
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
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h.Handler}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	// A fresh profile, removed after Chromium exits (t.TempDir's cleanup
	// can race with the browser's last writes).
	profile, err := os.MkdirTemp("", "subgate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
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
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: "http://" + ln.Addr().String(), artifacts: dir}
	chromedp.ListenTarget(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *log.EventEntryAdded:
			// A CSP violation or script error; missing favicons and
			// deliberate API errors are network entries.
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
	// The first Run starts the browser and binds it to ctx, so it gets
	// ctx itself; later steps run under their own timeouts.
	if err := chromedp.Run(ctx, log.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("screenshots in %s", dir)
	return b
}

func (b *browser) run(step string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.shot("failed-" + step)
		b.noJSErrors()
		b.t.Fatalf("%s: %v", step, err)
	}
}

// shot saves a full-page PNG screenshot as name.png.
func (b *browser) shot(name string) {
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
func (b *browser) noJSErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.jsErrors {
		b.t.Errorf("browser error: %s", e)
	}
	b.jsErrors = nil
}

func row(name string) string {
	return fmt.Sprintf(`//tr[.//div[@data-account=%q]]`, name)
}

func TestBrowser(t *testing.T) {
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
	b.run("login page", chromedp.Navigate(b.base+"/admin/"), chromedp.WaitVisible("#secret"), chromedp.Location(&url))
	if !strings.Contains(url, "/admin/login") {
		t.Fatalf("anonymous visit landed on %s", url)
	}
	b.shot("01-login")
	b.run("log in", chromedp.SendKeys("#secret", testToken), chromedp.Click("#login"),
		chromedp.WaitVisible("#charts svg"), chromedp.WaitVisible("#live-inflight"))
	var cards string
	b.run("dashboard", chromedp.Text("#cards", &cards))
	if !strings.Contains(cards, "In flight") || !strings.Contains(cards, "Requests") {
		t.Errorf("dashboard cards: %q", cards)
	}
	b.shot("02-dashboard")
	b.noJSErrors()

	// Create a key: the secret is shown once, with snippets.
	var secret, snippet string
	b.run("create key", chromedp.Navigate(b.base+"/admin/keys"), chromedp.WaitVisible(`[data-key="team"]`),
		chromedp.Click("#new-key"), chromedp.SendKeys(`#key-form [name=name]`, "alice"),
		chromedp.SendKeys(`#key-form [name=limit_5h_usd]`, "5"))
	b.shot("03-key-form")
	b.run("submit key", chromedp.Click("#key-submit"),
		chromedp.WaitVisible("#secret"), chromedp.WaitVisible(`[data-key="alice"]`),
		chromedp.Text("#secret-value", &secret), chromedp.Text("#snippet", &snippet))
	if !strings.HasPrefix(secret, "sk-sg-alice") || !strings.Contains(snippet, "ANTHROPIC_BASE_URL="+b.base) {
		t.Errorf("secret %q, snippet %q", secret, snippet)
	}
	if k, ok := hs.h.findKey("alice"); !ok || k.Limit5hUSD != 5 || !k.Enabled {
		t.Errorf("stored key %+v", k)
	}
	b.shot("04-key-created")
	b.run("codex snippet", chromedp.Click(`//div[@id="snippet-tabs"]/button[text()="Codex CLI"]`, chromedp.BySearch),
		chromedp.Text("#snippet", &snippet))
	if !strings.Contains(snippet, `wire_api = "responses"`) {
		t.Errorf("codex snippet %q", snippet)
	}
	b.noJSErrors()

	// Add an API-key account through the form.
	b.run("add account form", chromedp.Navigate(b.base+"/admin/accounts/new"), chromedp.WaitVisible("#paste-hint"))
	b.shot("05-add-account-oauth")
	b.run("api key form", chromedp.Click(`input[name=kind][value=api_key]`), chromedp.WaitVisible(`[name=api_key]`),
		chromedp.SendKeys(`[name=api_key]`, "sk-ant-api03-secret"),
		chromedp.SendKeys(`[name=name]`, "anthropic-key"), chromedp.SendKeys(`[name=concurrency]`, "3"),
		chromedp.SendKeys(`[name=models]`, "claude-*"))
	b.shot("06-add-account-key")
	b.run("add account", chromedp.Click("#submit"), chromedp.WaitVisible(`[data-account="anthropic-key"]`))
	if a, ok := hs.h.findAccount("anthropic-key"); !ok || a.Concurrency != 3 || a.Type != "api_key" {
		t.Errorf("stored account %+v", a)
	}
	b.noJSErrors()

	// Disable claude-1: its state changes and traffic moves to the new account.
	b.run("disable account", chromedp.Click(row("claude-1")+`//button[text()="Disable"]`, chromedp.BySearch),
		chromedp.WaitVisible(row("claude-1")+`//span[text()="disabled"]`, chromedp.BySearch))
	lease, err := hs.sched.Acquire(context.Background(), sched.Request{Platform: "anthropic", Model: "claude-sonnet-4-5"})
	if err != nil {
		t.Fatal(err)
	}
	if got := lease.Account().Name; got != "anthropic-key" {
		t.Errorf("traffic went to %s after disabling claude-1", got)
	}
	lease.Release(sched.Outcome{Kind: sched.Success})
	b.shot("07-accounts")
	b.noJSErrors()

	b.run("usage", chromedp.Navigate(b.base+"/admin/usage"), chromedp.WaitVisible("#records table"))
	b.shot("08-usage")
	b.run("sessions", chromedp.Navigate(b.base+"/admin/sessions"), chromedp.WaitVisible("#sessions table"))
	b.shot("09-sessions")
	b.noJSErrors()

	// Phone width and dark mode.
	b.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(b.base+"/admin/"), chromedp.WaitVisible("#charts svg"))
	var overflow bool
	b.run("phone width", chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &overflow))
	if overflow {
		t.Error("the dashboard is wider than a phone")
	}
	b.shot("10-phone-dashboard")
	b.run("phone accounts", chromedp.Navigate(b.base+"/admin/accounts"), chromedp.WaitVisible(row("claude-1")))
	b.shot("11-phone-accounts")
	dark := emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}})
	b.run("dark", chromedp.EmulateViewport(1280, 900), dark, chromedp.Navigate(b.base+"/admin/"), chromedp.WaitVisible("#charts svg"))
	b.shot("12-dark-dashboard")
	b.run("dark keys", chromedp.Navigate(b.base+"/admin/keys"), chromedp.WaitVisible(`[data-key="alice"]`))
	b.shot("13-dark-keys")
	b.noJSErrors()
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
