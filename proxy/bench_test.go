package proxy

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy/reqlog"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// benchEnv is the mock upstream alone (the baseline) and two gateways in
// front of it, all on loopback, measured by the same client in one run.
// gateway runs in the default configuration (log level info: a JSON line
// per request written to a real file; metrics on); quiet is the same at
// log level warn, which writes no line per request.
type benchEnv struct {
	direct, gateway, quiet string
	client                 *fasthttp.Client
	body                   []byte
}

func newBenchEnv(b testing.TB) *benchEnv {
	b.Helper()
	up := upstreamtest.New(upstreamtest.Config{NoRecord: true})
	if _, err := up.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { up.Close() })
	// A 1 KB request, the size of a short chat turn.
	body := `{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 78) + `"}]}`
	return &benchEnv{
		direct:  up.URL(),
		gateway: benchGateway(b, up.URL(), slog.LevelInfo),
		quiet:   benchGateway(b, up.URL(), slog.LevelWarn),
		client:  &fasthttp.Client{MaxConnsPerHost: 512, ReadBufferSize: 16 << 10},
		body:    []byte(body),
	}
}

// benchGateway starts a subgate wired as cmd_serve wires it (its own kv,
// ledger, scheduler; slog and the request log sharing one writer on a log
// file) at the given log level, and returns its base URL. Options change
// its Config (accounts, keys) before it starts.
func benchGateway(b testing.TB, upstream string, level slog.Level, opts ...func(*Config)) string {
	b.Helper()
	dir := b.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "subgate.log"))
	if err != nil {
		b.Fatal(err)
	}
	rl := reqlog.New(reqlog.Config{Out: logFile, Level: level})
	log := slog.New(slog.NewJSONHandler(rl, &slog.HandlerOptions{Level: level}))
	db, err := kv.Open(filepath.Join(dir, "bench.db"), kv.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	led := ledger.New(ledger.Config{Store: db, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { led.Run(ctx); close(done) }()
	acct := apiAccount("a1", "k1")
	acct.Concurrency = 1000
	cfg := Config{
		Logger: log, RequestLog: rl, MetricsEnabled: true,
		Ledger: led, Accounts: []Account{acct},
		Keys:             []Key{{Name: "bench", Hash: HashKey(testKey), Group: "default"}},
		AnthropicBaseURL: upstream,
	}
	for _, o := range opts {
		o(&cfg)
	}
	sch, err := sched.New(sched.Config{Accounts: schedAccounts(cfg.Accounts), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	cfg.Sched = sch
	srv := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() {
		sch.Close()
		sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		srv.Shutdown(sctx)
		led.Close()
		cancel()
		<-done
		db.Close()
		rl.Close()
		logFile.Close()
	})
	return "http://" + ln.Addr().String()
}

// call sends one non-stream request and returns its latency.
func (e *benchEnv) call(b testing.TB, base string, body []byte) time.Duration {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(base + "/v1/messages")
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	key := testKey // the bare forwarder overwrites it
	if base == e.direct {
		key = "k1"
	}
	req.Header.Set("x-api-key", key)
	req.SetBodyRaw(body)
	start := time.Now()
	if err := e.client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
		b.Fatalf("%s: %v status %d %s", base, err, resp.StatusCode(), resp.Body())
	}
	return time.Since(start)
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}

// BenchmarkLatency1Client alternates direct and gateway calls (default and
// quiet configuration) from one client and reports the latency each
// gateway adds.
func BenchmarkLatency1Client(b *testing.B) {
	e := newBenchEnv(b)
	targets := [...]string{e.direct, e.gateway, e.quiet}
	for range 200 { // warm connections and pools
		for _, base := range targets {
			e.call(b, base, e.body)
		}
	}
	var lat [len(targets)][]time.Duration
	for i := range lat {
		lat[i] = make([]time.Duration, 0, b.N)
	}
	b.ResetTimer()
	for range b.N {
		for i, base := range targets {
			lat[i] = append(lat[i], e.call(b, base, e.body))
		}
	}
	b.StopTimer()
	dp50, dp99 := percentile(lat[0], 0.5), percentile(lat[0], 0.99)
	gp50, gp99 := percentile(lat[1], 0.5), percentile(lat[1], 0.99)
	qp50, qp99 := percentile(lat[2], 0.5), percentile(lat[2], 0.99)
	b.ReportMetric(float64(dp50.Microseconds()), "direct-p50-µs")
	b.ReportMetric(float64(gp50.Microseconds()), "gateway-p50-µs")
	b.ReportMetric(float64((gp50 - dp50).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((gp99 - dp99).Microseconds()), "added-p99-µs")
	b.ReportMetric(float64((qp50 - dp50).Microseconds()), "quiet-added-p50-µs")
	b.ReportMetric(float64((qp99 - dp99).Microseconds()), "quiet-added-p99-µs")
}

// BenchmarkThroughput32 runs 32 concurrent clients against each target and
// reports each gateway's throughput (default and quiet configuration) as a
// fraction of direct, and the CPU each target costs per request (process
// CPU from getrusage: client and mock included, so differences between
// targets are what counts).
func BenchmarkThroughput32(b *testing.B) {
	e := newBenchEnv(b)
	const clients = 32
	run := func(base string, n int) (wall, cpu time.Duration) {
		var wg sync.WaitGroup
		c0, _ := processCPU()
		start := time.Now()
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; i < n; i += clients {
					e.call(b, base, e.body)
				}
			}()
		}
		wg.Wait()
		wall = time.Since(start)
		c1, _ := processCPU()
		return wall, c1 - c0
	}
	targets := [...]string{e.direct, bareForwarder(b, e.direct), e.gateway, e.quiet}
	for _, base := range targets {
		run(base, 500)
	}
	// Rounds alternate between the targets so that drift in the machine's
	// state affects them alike; many short rounds average out its bursts.
	const rounds = 30
	per := max(b.N/rounds, 1000)
	var wall, cpu [len(targets)]time.Duration
	b.ResetTimer()
	for range rounds {
		for i, base := range targets {
			w, c := run(base, per)
			wall[i] += w
			cpu[i] += c
		}
	}
	b.StopTimer()
	n := float64(per * rounds)
	b.ReportMetric(n/wall[0].Seconds(), "direct-req/s")
	b.ReportMetric(n/wall[2].Seconds(), "gateway-req/s")
	b.ReportMetric(wall[0].Seconds()/wall[2].Seconds(), "ratio")
	b.ReportMetric(wall[0].Seconds()/wall[3].Seconds(), "quiet-ratio")
	b.ReportMetric(wall[0].Seconds()/wall[1].Seconds(), "bare-ratio")
	if _, ok := processCPU(); ok {
		b.ReportMetric(float64(cpu[0].Microseconds())/n, "direct-cpu-µs/req")
		b.ReportMetric(float64(cpu[1].Microseconds())/n, "bare-cpu-µs/req")
		b.ReportMetric(float64(cpu[2].Microseconds())/n, "gateway-cpu-µs/req")
		b.ReportMetric(float64(cpu[3].Microseconds())/n, "quiet-cpu-µs/req")
	}
}

// bareForwarder is a fasthttp server that only copies each request to the
// upstream and the answer back: the ceiling of any fasthttp gateway on
// this machine, where client, gateway and mock share two cores.
func bareForwarder(b testing.TB, upstream string) string {
	cl := &fasthttp.Client{MaxConnsPerHost: 512}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		ctx.Request.CopyTo(req)
		req.SetRequestURI(upstream + "/v1/messages")
		req.Header.Set("x-api-key", "k1")
		if err := cl.Do(req, resp); err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadGateway)
			return
		}
		resp.CopyTo(&ctx.Response)
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// BenchmarkSSEFirstByte measures the time to the first SSE event through
// each gateway (default and quiet configuration) against direct.
func BenchmarkSSEFirstByte(b *testing.B) {
	e := newBenchEnv(b)
	body := []byte(strings.Replace(string(e.body), `"max_tokens"`, `"stream":true,"max_tokens"`, 1))
	first := func(base string) time.Duration {
		key := "k1"
		if base != e.direct {
			key = testKey
		}
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		w := bufio.NewWriter(conn)
		w.WriteString("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-api-key: " + key +
			"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
		w.Write(body)
		w.Flush()
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				b.Fatalf("%s: %v", base, err)
			}
			if strings.HasPrefix(line, "event: message_start") {
				return time.Since(start)
			}
		}
	}
	targets := [...]string{e.direct, e.gateway, e.quiet}
	for range 50 {
		for _, base := range targets {
			first(base)
		}
	}
	var ttfb [len(targets)][]time.Duration
	for i := range ttfb {
		ttfb[i] = make([]time.Duration, 0, b.N)
	}
	b.ResetTimer()
	for range b.N {
		for i, base := range targets {
			ttfb[i] = append(ttfb[i], first(base))
		}
	}
	b.StopTimer()
	d, g, q := percentile(ttfb[0], 0.5), percentile(ttfb[1], 0.5), percentile(ttfb[2], 0.5)
	b.ReportMetric(float64(d.Microseconds()), "direct-ttfb-p50-µs")
	b.ReportMetric(float64(g.Microseconds()), "gateway-ttfb-p50-µs")
	b.ReportMetric(float64((g - d).Microseconds()), "added-ttfb-p50-µs")
	b.ReportMetric(float64((q - d).Microseconds()), "quiet-added-ttfb-p50-µs")
}
