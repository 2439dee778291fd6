package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

const (
	crashKey   = "sk-sg-crash-test-key"
	crashAdmin = "crash-admin-token"
	// crashMargin is how long before the kill a request must have completed
	// to be owed a ledger record: the 25ms flush_interval plus the commit
	// itself, whose fsync takes tens of milliseconds on a loaded machine
	// under -race (at 100ms the test failed about one run in four there).
	crashMargin = 400 * time.Millisecond
)

// crashProc is the built binary running as a child process.
type crashProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	out  *lockedBuffer
	done chan error
}

// startCrashProc starts bin on cfg and waits for /healthz.
func startCrashProc(t *testing.T, bin, cfg, addr string) *crashProc {
	t.Helper()
	p := &crashProc{t: t, addr: addr, out: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "serve", "-c", cfg)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("subgate exited at start: %v\n%s", err, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("subgate did not come up:\n%s", p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *crashProc) admin(path string) []byte {
	p.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+p.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+crashAdmin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		p.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// crashMessage sends one request and reads the whole reply. It returns
// the upstream request id once the client has seen a complete response:
// a 200 JSON body, or a stream through message_stop and its end.
func crashMessage(client *http.Client, addr, body string, hdr ...string) (string, error) {
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/messages", strings.NewReader(body))
	req.Header.Set("x-api-key", crashKey)
	req.Header.Set("content-type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if strings.Contains(resp.Header.Get("content-type"), "event-stream") && !bytes.Contains(b, []byte("event: message_stop")) {
		return "", errors.New("stream without message_stop")
	}
	id := resp.Header.Get("request-id")
	if id == "" {
		return "", errors.New("reply without request-id")
	}
	return id, nil
}

func writeCrashConfig(t *testing.T, dir, addr, upstream string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
[server]
listen = %q
data_dir = %q
shutdown_grace = "5s"
log_format = "json"
log_level = "warn"
[admin]
token = %q
[upstreams.anthropic]
base_url = %q
[ledger]
flush_interval = "5ms"
[[accounts]]
name = "a1"
type = "api_key"
api_key = "sk-crash-a1"
concurrency = 50
[[accounts]]
name = "a2"
type = "api_key"
api_key = "sk-crash-a2"
concurrency = 50
priority = 5
[[keys]]
name = "crash"
key = %q
`, addr, filepath.Join(dir, "data"), crashAdmin, upstream, crashKey)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// completion is a request the client saw complete, and when.
type completion struct {
	id string
	at time.Time
}

// TestCrashSafety builds the binary, runs load through it, kills it with
// SIGKILL mid-stream and restarts it on the same data directory: the
// database opens, every request completed well before the kill is in the
// ledger, no account keeps phantom in-flight slots, and the sticky binding
// and cooldown made before the kill are back. The scheduler snapshot is
// debounced (2s), so the test waits past that before the load.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash-safety test builds and kills the binary; skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "subgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	up := upstreamtest.New(upstreamtest.Config{NoRecord: true})
	up.SetDefault(upstreamtest.OK().WithStreamDelay(40 * time.Millisecond)) // a stream lasts ~320ms
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	addr := freeAddr(t)
	cfg := writeCrashConfig(t, dir, addr, up.URL())
	p := startCrashProc(t, bin, cfg, addr)
	client := &http.Client{Timeout: 30 * time.Second}

	// a2 (preferred) answers 429 with a reset two hours away: it cools down
	// and the request fails over to a1. Then a session binds to a1.
	reset := time.Now().Add(2 * time.Hour)
	up.Script("sk-crash-a2", upstreamtest.RateLimited(2*time.Hour, reset))
	simple := `{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"before the crash"}]}`
	if _, err := crashMessage(client, addr, simple); err != nil {
		t.Fatalf("failover request: %v", err)
	}
	if _, err := crashMessage(client, addr, simple, "x-claude-code-session-id", "crash-sticky"); err != nil {
		t.Fatalf("sticky request: %v", err)
	}
	if st := gjson.GetBytes(p.admin("/admin/api/accounts"), `accounts.#(name=="a2").state`).String(); st != "rate_limited" {
		t.Fatalf("a2 is %q before the crash, want rate_limited", st)
	}
	time.Sleep(2500 * time.Millisecond) // past the scheduler's snapshot debounce

	completed, streaming := crashLoad(t, client, p)
	flying, tKill := streaming(), time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	stopAt := time.Now()
	var owed []completion
	for _, c := range completed() {
		if c.at.Before(tKill.Add(-crashMargin)) {
			owed = append(owed, c)
		}
	}
	t.Logf("killed with %d streams in flight; %d completed, %d of them more than %s before the kill",
		flying, len(completed()), len(owed), crashMargin)
	if flying == 0 || len(owed) == 0 {
		t.Fatalf("the load did not overlap the kill: in flight %d, owed %d", flying, len(owed))
	}

	p = startCrashProc(t, bin, cfg, addr)
	t.Logf("restarted in %s", time.Since(stopAt).Round(time.Millisecond))
	usage := p.admin("/admin/api/usage?limit=10000")
	have := map[string]bool{}
	for _, r := range gjson.GetBytes(usage, "records").Array() {
		have[r.Get("request_id").String()] = true
	}
	missing := 0
	for _, c := range owed {
		if !have[c.id] {
			missing++
			t.Errorf("request %s completed %s before the kill but is not in the ledger", c.id, tKill.Sub(c.at).Round(time.Millisecond))
		}
	}
	t.Logf("ledger after restart: %d records, %d/%d owed ones present", len(have), len(owed)-missing, len(owed))

	accts := p.admin("/admin/api/accounts")
	for _, a := range gjson.GetBytes(accts, "accounts").Array() {
		if n := a.Get("in_flight").Int(); n != 0 {
			t.Errorf("account %s has %d phantom in-flight slots after restart", a.Get("name"), n)
		}
	}
	a2 := gjson.GetBytes(accts, `accounts.#(name=="a2")`)
	if st := a2.Get("state").String(); st != "rate_limited" {
		t.Errorf("a2 is %q after restart, want rate_limited (cooldown lost)", st)
	}
	if until := a2.Get("until").Time(); until.Before(reset.Add(-time.Minute)) {
		t.Errorf("a2 cools down until %s after restart, want about %s", until, reset)
	}
	sessions := p.admin("/admin/api/sessions")
	if acct := gjson.GetBytes(sessions, `sessions.#(session=="`+sched.SessionID("cc:crash-sticky")+`").account`).String(); acct != "a1" {
		t.Errorf("sticky binding cc:crash-sticky → %q after restart, want a1: %s", acct, sessions)
	}

	// The restarted instance serves, then exits cleanly on SIGTERM.
	if _, err := crashMessage(client, addr, simple, "x-claude-code-session-id", "crash-sticky"); err != nil {
		t.Errorf("request after restart: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, p.out.String())
		}
	case <-time.After(15 * time.Second):
		t.Errorf("subgate did not exit within 15s of SIGTERM\n%s", p.out.String())
	}
	if t.Failed() {
		t.Logf("second run's log:\n%s", p.out.String())
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// crashLoad starts a few clients, half of them streaming, and returns once
// streams are under way and enough requests have completed for the kill.
// The clients stop at their first error, which the kill provides.
func crashLoad(t *testing.T, client *http.Client, p *crashProc) (completed func() []completion, streaming func() int) {
	t.Helper()
	var mu sync.Mutex
	var done []completion
	running := 0 // streams in flight
	const workers = 8
	for w := range workers {
		stream := w%2 == 0
		go func() {
			for i := 0; ; i++ {
				body := `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":` + strconv.FormatBool(stream) +
					`,"messages":[{"role":"user","content":"load ` + strconv.Itoa(w) + "-" + strconv.Itoa(i) + `"}]}`
				mu.Lock()
				running += b2i(stream)
				mu.Unlock()
				id, err := crashMessage(client, p.addr, body)
				at := time.Now()
				mu.Lock()
				running -= b2i(stream)
				if err == nil {
					done = append(done, completion{id, at})
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	// Let several rounds of streams complete, then kill a few tens of
	// milliseconds into the next round so that it is cut mid-stream.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(done)
		mu.Unlock()
		if n >= 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("load made only %d requests in 10s:\n%s", n, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Past the margin, so that requests completed before it are owed.
	time.Sleep(crashMargin + 150*time.Millisecond)
	completed = func() []completion { mu.Lock(); defer mu.Unlock(); return append([]completion(nil), done...) }
	streaming = func() int { mu.Lock(); defer mu.Unlock(); return running }
	return completed, streaming
}
