package proxy

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// The soak test is off unless asked for:
//
//	go test -run Soak -soak -timeout 0 -v ./proxy
//	go test -run Soak -soak -soak.duration 2m -soak.conc 1000 -timeout 0 -v ./proxy
var (
	soak         = flag.Bool("soak", false, "run the soak test")
	soakDuration = flag.Duration("soak.duration", 10*time.Minute, "soak: how long the load runs")
	soakConc     = flag.Int("soak.conc", 1000, "soak: concurrent client streams")
	soakEvery    = flag.Duration("soak.every", 30*time.Second, "soak: sampling period")
)

// soakStreamDelay spaces the mock's nine SSE events so that one stream
// lasts about 1.4 s.
const soakStreamDelay = 180 * time.Millisecond

// soakSample is one row of the soak table.
type soakSample struct {
	at         time.Duration
	phase      string
	streams    int64
	failures   int64
	goroutines int
	rss, anon  int64 // VmRSS and RssAnon, bytes
	heap       uint64
}

// procStatus reads a "kB" field of /proc/self/status in bytes (0 when the
// file or field is missing: not Linux).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}

func takeSample(start time.Time, phase string, streams, failures int64) soakSample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return soakSample{at: time.Since(start).Round(time.Second), phase: phase, streams: streams, failures: failures,
		goroutines: runtime.NumGoroutine(), rss: procStatus("VmRSS"), anon: procStatus("RssAnon"), heap: ms.HeapInuse}
}

// soakEnv is the gateway with production timeouts in front of the mock,
// four API-key accounts with room for every stream, the real scheduler,
// ledger and kv.
type soakEnv struct {
	url  string
	stop func()
}

func newSoakEnv(t *testing.T, conc int) *soakEnv {
	t.Helper()
	up := upstreamtest.New(upstreamtest.Config{NoRecord: true})
	up.SetDefault(upstreamtest.OK().WithStreamDelay(soakStreamDelay))
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	db, err := kv.Open(t.TempDir()+"/soak.db", kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.New(ledger.Config{Store: db, FlushInterval: 5 * time.Millisecond})
	lctx, lstop := context.WithCancel(context.Background())
	ldone := make(chan struct{})
	go func() { led.Run(lctx); close(ldone) }()
	var accts []Account
	for i := range 4 {
		a := apiAccount("soak-"+strconv.Itoa(i), "sk-soak-"+strconv.Itoa(i))
		a.Concurrency = conc/2 + 1
		accts = append(accts, a)
	}
	sch, err := sched.New(sched.Config{Accounts: schedAccounts(accts), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	sctx, sstop := context.WithCancel(context.Background())
	sdone := make(chan struct{})
	go func() { sch.Run(sctx); close(sdone) }()
	srv := New(Config{Sched: sch, Ledger: led, Accounts: accts, AnthropicBaseURL: up.URL(),
		Keys: []Key{{Name: "soak", Hash: HashKey(testKey), Group: "default"}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	return &soakEnv{url: "http://" + ln.Addr().String(), stop: func() {
		sch.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		led.Close()
		lstop()
		<-ldone
		sstop()
		<-sdone
		for _, st := range sch.Status() {
			if st.InFlight != 0 || st.Waiting != 0 {
				t.Errorf("account %s left with in_flight=%d waiting=%d", st.Name, st.InFlight, st.Waiting)
			}
		}
		db.Close()
		up.Close()
	}}
}

// soakStream sends one streaming request and reads it to the end; it
// reports why the stream was not a complete one.
func soakStream(client *http.Client, url, body string) error {
	req, _ := http.NewRequest("POST", url+"/v1/messages", strings.NewReader(body))
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("content-type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	stop := false
	for sc.Scan() {
		if bytes.Equal(sc.Bytes(), []byte("event: message_stop")) {
			stop = true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if !stop {
		return fmt.Errorf("stream ended without message_stop")
	}
	return nil
}

// TestSoak runs soak.conc concurrent streams for soak.duration, sampling
// goroutines and memory, then drains and checks that goroutines return to
// the baseline and memory to the steady state. It is over 80 lines
// because it is one scenario, start to drain, read top to bottom.
func TestSoak(t *testing.T) {
	if !*soak {
		t.Skip("soak test: run with -soak (see soak_test.go)")
	}
	conc, dur := *soakConc, *soakDuration
	if dl, ok := t.Deadline(); ok && time.Until(dl) < dur+3*time.Minute {
		t.Fatalf("-timeout leaves %s for a %s soak plus drain; pass -timeout 0", time.Until(dl).Round(time.Second), dur)
	}
	env := newSoakEnv(t, conc)
	defer env.stop()
	tr := &http.Transport{MaxIdleConnsPerHost: conc, DisableCompression: true}
	client := &http.Client{Transport: tr}

	start := time.Now()
	runtime.GC()
	base := takeSample(start, "baseline", 0, 0)
	samples := []soakSample{base}
	var streams, failures atomic.Int64
	var errMu sync.Mutex
	var firstErrs []string
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A session per worker spreads the sticky bindings.
			body := `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"soak worker ` + strconv.Itoa(w) + `"}]}`
			for time.Now().Before(deadline) {
				if err := soakStream(client, env.url, body); err != nil {
					failures.Add(1)
					errMu.Lock()
					if len(firstErrs) < 5 {
						firstErrs = append(firstErrs, err.Error())
					}
					errMu.Unlock()
					continue
				}
				streams.Add(1)
			}
		}()
	}
	tick := time.NewTicker(*soakEvery)
	for now := range tick.C {
		samples = append(samples, takeSample(start, "load", streams.Load(), failures.Load()))
		if !now.Before(deadline) {
			break
		}
	}
	tick.Stop()
	wg.Wait()
	samples = append(samples, takeSample(start, "load end", streams.Load(), failures.Load()))

	// Drain: client connections close, the gateway's upstream connections
	// idle out at the mock (30 s), idle fasthttp workers exit (10 s).
	tr.CloseIdleConnections()
	const slack = 20
	drainBy := time.Now().Add(2 * time.Minute)
	for runtime.NumGoroutine() > base.goroutines+slack && time.Now().Before(drainBy) {
		time.Sleep(time.Second)
	}
	drained := takeSample(start, "drained", streams.Load(), failures.Load())
	runtime.GC() // twice: sync.Pool keeps a victim cache through one
	debug.FreeOSMemory()
	freed := takeSample(start, "drained+gc", streams.Load(), failures.Load())
	samples = append(samples, drained, freed)

	var tbl strings.Builder
	fmt.Fprintf(&tbl, "soak: %d concurrent streams for %s (mock stream ~%s)\n", conc, dur, 8*soakStreamDelay)
	fmt.Fprintf(&tbl, "%8s  %-10s  %9s  %8s  %10s  %8s  %8s  %8s\n", "t", "phase", "streams", "failures", "goroutines", "VmRSS", "RssAnon", "HeapInuse")
	for _, s := range samples {
		fmt.Fprintf(&tbl, "%8s  %-10s  %9d  %8d  %10d  %6dMB  %6dMB  %7dMB\n", s.at, s.phase, s.streams, s.failures, s.goroutines, s.rss>>20, s.anon>>20, s.heap>>20)
	}
	t.Log("\n" + tbl.String())

	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d streams failed; first: %q", n, n+streams.Load(), firstErrs)
	}
	if drained.goroutines > base.goroutines+slack {
		t.Errorf("goroutines after drain = %d, baseline %d (+%d allowed)", drained.goroutines, base.goroutines, slack)
	}
	// Steady state: the load samples after the first (warm-up) one.
	var steady []soakSample
	for _, s := range samples {
		if s.phase == "load" {
			steady = append(steady, s)
		}
	}
	if len(steady) >= 2 {
		first, peak := steady[0], steady[0]
		for _, s := range steady {
			if s.anon > peak.anon {
				peak = s
			}
		}
		if limit := first.anon + first.anon/2 + 32<<20; peak.anon > limit {
			t.Errorf("anonymous RSS grew under steady load: %dMB at %s, %dMB at %s", first.anon>>20, first.at, peak.anon>>20, peak.at)
		}
		if limit := peak.rss + peak.rss/4; freed.rss > limit {
			t.Errorf("RSS after drain %dMB exceeds the steady-state peak %dMB by more than 25%%", freed.rss>>20, peak.rss>>20)
		}
	}
}
