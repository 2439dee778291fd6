package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium is where the browser tests expect Chromium.
const Chromium = "/usr/bin/chromium"

// Browser is headless Chromium pointed at Base.
type Browser struct {
	Ctx  context.Context // the browser's context; steps run under their own timeouts
	Base string          // the server's base URL, http://host:port

	t         *testing.T
	prefix    string // of screenshot names
	artifacts string
	mu        sync.Mutex
	jsErrors  []string
}

// Require skips the test when Chromium is not installed (fails it under
// CI); call it before costly setup.
func Require(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is required under CI: %v", err)
		}
		t.Skipf("chromium not installed (%v); apt-get install chromium", err)
	}
}

// New starts Chromium for the length of the test; shots are named with
// prefix first. It skips the test when Chromium is not installed.
func New(t *testing.T, base, prefix string) *Browser {
	t.Helper()
	Require(t)
	dir := os.Getenv("SUBGATE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A fresh profile, removed after Chromium exits (cleanups run last
	// registered first, so the browser is gone by then; t.TempDir's own
	// cleanup could race with the browser's last writes).
	profile, err := os.MkdirTemp("", "subgate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium),
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
	b := &Browser{Ctx: ctx, Base: base, t: t, prefix: prefix, artifacts: dir}
	chromedp.ListenTarget(ctx, b.collect)
	// The first Run starts the browser and binds it to ctx, so it gets
	// ctx itself.
	if err := chromedp.Run(ctx, log.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("screenshots in %s", dir)
	return b
}

// collect keeps uncaught exceptions and console errors (a CSP violation,
// a script error). It runs on chromedp's goroutine.
func (b *Browser) collect(ev any) {
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
}

// Run performs one step under its own timeout; on failure it saves a
// screenshot and reports any browser errors before failing the test.
func (b *Browser) Run(step string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.Shot("failed-" + strings.ReplaceAll(step, " ", "-"))
		b.NoJSErrors()
		b.t.Fatalf("%s: %v", step, err)
	}
}

// Shot saves a full-page PNG screenshot as prefix+name.png.
func (b *Browser) Shot(name string) {
	b.t.Helper()
	var png []byte
	if err := chromedp.Run(b.Ctx, chromedp.Sleep(150*time.Millisecond), chromedp.FullScreenshot(&png, 100)); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.artifacts, b.prefix+name+".png"), png, 0o644); err != nil {
		b.t.Error(err)
	}
}

// NoJSErrors fails the test if a page threw or violated the CSP since the
// last call.
func (b *Browser) NoJSErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.jsErrors {
		b.t.Errorf("browser error: %s", e)
	}
	b.jsErrors = nil
}

// AccountRow is the XPath of the accounts table row of the named account.
func AccountRow(name string) string {
	return fmt.Sprintf(`//tr[.//div[@data-account=%q]]`, name)
}
