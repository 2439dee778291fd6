package proxy

import (
	"bufio"
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy/upstreamtest"
	"subgate/sched"
)

// benchEnv is the mock upstream alone (the baseline) and the gateway in
// front of it, both on loopback, measured by the same client in one run.
type benchEnv struct {
	direct, gateway string
	client          *fasthttp.Client
	body            []byte
}

func newBenchEnv(b testing.TB) *benchEnv {
	b.Helper()
	up := upstreamtest.New(upstreamtest.Config{NoRecord: true})
	if _, err := up.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { up.Close() })
	db, err := kv.Open(b.TempDir()+"/bench.db", kv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	led := ledger.New(ledger.Config{Store: db})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { led.Run(ctx); close(done) }()
	acct := apiAccount("a1", "k1")
	acct.Concurrency = 1000
	sch, err := sched.New(sched.Config{Accounts: []sched.Account{acct.Account}})
	if err != nil {
		b.Fatal(err)
	}
	srv := New(Config{
		Sched: sch, Ledger: led, Accounts: []Account{acct},
		Keys:             []Key{{Name: "bench", Hash: HashKey(testKey), Group: "default"}},
		AnthropicBaseURL: up.URL(),
	})
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
	})
	// A 1 KB request, the size of a short chat turn.
	body := `{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 78) + `"}]}`
	return &benchEnv{
		direct:  up.URL(),
		gateway: "http://" + ln.Addr().String(),
		client:  &fasthttp.Client{MaxConnsPerHost: 512, ReadBufferSize: 16 << 10},
		body:    []byte(body),
	}
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

// BenchmarkLatency1Client alternates direct and gateway calls from one
// client and reports the latency the gateway adds.
func BenchmarkLatency1Client(b *testing.B) {
	e := newBenchEnv(b)
	for range 200 { // warm connections and pools
		e.call(b, e.direct, e.body)
		e.call(b, e.gateway, e.body)
	}
	direct := make([]time.Duration, 0, b.N)
	gw := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		direct = append(direct, e.call(b, e.direct, e.body))
		gw = append(gw, e.call(b, e.gateway, e.body))
	}
	b.StopTimer()
	dp50, dp99 := percentile(direct, 0.5), percentile(direct, 0.99)
	gp50, gp99 := percentile(gw, 0.5), percentile(gw, 0.99)
	b.ReportMetric(float64(dp50.Microseconds()), "direct-p50-µs")
	b.ReportMetric(float64(gp50.Microseconds()), "gateway-p50-µs")
	b.ReportMetric(float64((gp50 - dp50).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((gp99 - dp99).Microseconds()), "added-p99-µs")
}

// BenchmarkThroughput32 runs 32 concurrent clients against each target and
// reports the gateway's throughput as a fraction of direct, and the CPU
// each target costs per request (process CPU from getrusage: client and
// mock included, so differences between targets are what counts).
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
	bare := bareForwarder(b, e.direct)
	run(e.direct, 500)
	run(bare, 500)
	run(e.gateway, 500)
	// Rounds alternate between the targets so that drift in the machine's
	// state affects them alike; many short rounds average out its bursts.
	const rounds = 30
	per := max(b.N/rounds, 1000)
	var wall, cpu [3]time.Duration
	b.ResetTimer()
	for range rounds {
		for i, base := range [...]string{e.direct, bare, e.gateway} {
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
	b.ReportMetric(wall[0].Seconds()/wall[1].Seconds(), "bare-ratio")
	if _, ok := processCPU(); ok {
		b.ReportMetric(float64(cpu[0].Microseconds())/n, "direct-cpu-µs/req")
		b.ReportMetric(float64(cpu[1].Microseconds())/n, "bare-cpu-µs/req")
		b.ReportMetric(float64(cpu[2].Microseconds())/n, "gateway-cpu-µs/req")
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
// the gateway against direct.
func BenchmarkSSEFirstByte(b *testing.B) {
	e := newBenchEnv(b)
	body := []byte(strings.Replace(string(e.body), `"max_tokens"`, `"stream":true,"max_tokens"`, 1))
	first := func(base string) time.Duration {
		key := "k1"
		if base == e.gateway {
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
	for range 50 {
		first(e.direct)
		first(e.gateway)
	}
	direct := make([]time.Duration, 0, b.N)
	gw := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		direct = append(direct, first(e.direct))
		gw = append(gw, first(e.gateway))
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(direct, 0.5).Microseconds()), "direct-ttfb-p50-µs")
	b.ReportMetric(float64(percentile(gw, 0.5).Microseconds()), "gateway-ttfb-p50-µs")
	b.ReportMetric(float64((percentile(gw, 0.5) - percentile(direct, 0.5)).Microseconds()), "added-ttfb-p50-µs")
}
