package proxy

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/proxy/protocol/translate"
	"subgate/proxy/upstreamtest"
)

const translatedKey = "sk-sg-bench-translated"

// BenchmarkTranslated1Client measures what translation adds to a request:
// the same 1 KB non-stream Messages request through one subgate, passed
// through to an Anthropic account (key testKey, group "native") and
// translated to an OpenAI Responses account (key translatedKey, group
// "translated", model_map claude-sonnet-4-5 → gpt-5.5), interleaved with
// the mock's own Messages and Responses routes called directly (the
// Responses route with the body the translator makes), from one client.
// translation-p50-µs is the translated request's added latency minus the
// passed-through one's: the translator's cost, net of the difference
// between the mock's two routes. Target: ≤ 100 µs.
func BenchmarkTranslated1Client(b *testing.B) {
	up := upstreamtest.New(upstreamtest.Config{NoRecord: true})
	if _, err := up.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { up.Close() })
	// The same 1 KB request as the other gateway benchmarks.
	body := []byte(`{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"` + strings.Repeat("lorem ipsum ", 78) + `"}]}`)
	client := &fasthttp.Client{MaxConnsPerHost: 512, ReadBufferSize: 16 << 10}
	gw := benchGateway(b, up.URL(), slog.LevelInfo, func(c *Config) {
		native := c.Accounts[0]
		native.Group = "native"
		o := openaiKey("o1", "sk-o1")
		o.Group, o.Concurrency = "translated", 1000
		o.ModelMap = map[string]string{"claude-sonnet-4-5": "gpt-5.5"}
		c.Accounts = []Account{native, o}
		c.OpenAIBaseURL = up.URL() + "/v1"
		c.Keys = []Key{
			{Name: "native", Hash: HashKey(testKey), Group: "native"},
			{Name: "translated", Hash: HashKey(translatedKey), Group: "translated", Translate: true},
		}
	})
	tr, err := translate.New(translate.Config{Client: translate.Messages, Upstream: translate.Responses,
		ClientModel: "claude-sonnet-4-5", UpstreamModel: "gpt-5.5"})
	if err != nil {
		b.Fatal(err)
	}
	respBody, err := tr.Request(body)
	if err != nil {
		b.Fatal(err)
	}
	type target struct {
		base, path, hdr, cred string
		body                  []byte
	}
	targets := [...]target{
		{up.URL(), "/v1/messages", "x-api-key", "k1", body},                    // direct Messages
		{up.URL(), "/v1/responses", "authorization", "Bearer sk-o1", respBody}, // direct Responses
		{gw, "/v1/messages", "x-api-key", testKey, body},                       // passed through
		{gw, "/v1/messages", "x-api-key", translatedKey, body},                 // translated
	}
	call := func(t target) time.Duration {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(t.base + t.path)
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.Header.Set("anthropic-version", "2023-06-01")
		req.Header.Set(t.hdr, t.cred)
		req.SetBodyRaw(t.body)
		start := time.Now()
		if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("%s%s: %v status %d %s", t.base, t.path, err, resp.StatusCode(), resp.Body())
		}
		return time.Since(start)
	}
	for range 200 { // warm connections and pools
		for _, t := range targets {
			call(t)
		}
	}
	var lat [len(targets)][]time.Duration
	for i := range lat {
		lat[i] = make([]time.Duration, 0, b.N)
	}
	b.ResetTimer()
	for range b.N {
		for i, t := range targets {
			lat[i] = append(lat[i], call(t))
		}
	}
	b.StopTimer()
	var p50 [len(targets)]time.Duration
	for i := range lat {
		p50[i] = percentile(lat[i], 0.5)
	}
	passAdded, transAdded := p50[2]-p50[0], p50[3]-p50[1]
	b.ReportMetric(float64(passAdded.Microseconds()), "passthrough-added-p50-µs")
	b.ReportMetric(float64(transAdded.Microseconds()), "translated-added-p50-µs")
	b.ReportMetric(float64((transAdded - passAdded).Microseconds()), "translation-p50-µs")
	b.ReportMetric(float64((p50[3] - p50[2]).Microseconds()), "translated-minus-passthrough-p50-µs")
}
