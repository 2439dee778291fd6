package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"subgate/proxy/protocol"
	"subgate/proxy/upstream"
)

// ProbeResult is the outcome of a tiny request sent through one account.
type ProbeResult struct {
	OK      bool
	Status  int
	Latency time.Duration
	Model   string
	Message string
}

// probes are the smallest useful request per platform and protocol.
var probes = map[string]struct {
	proto func(s *Server) protocol.Protocol
	path  string
	model string
	body  string
}{
	"anthropic": {func(s *Server) protocol.Protocol { return s.anthropic }, "/v1/messages", "claude-haiku-4-5",
		`{"model":"claude-haiku-4-5","max_tokens":1,"messages":[{"role":"user","content":"ping"}]}`},
	"openai": {func(s *Server) protocol.Protocol { return s.responses }, "/v1/responses", "gpt-5-mini",
		`{"model":"gpt-5-mini","max_output_tokens":16,"input":"ping"}`},
	"gemini": {func(s *Server) protocol.Protocol { return s.gemini }, "/v1beta/models/gemini-2.5-flash:generateContent", "gemini-2.5-flash",
		`{"contents":[{"role":"user","parts":[{"text":"ping"}]}],"generationConfig":{"maxOutputTokens":1}}`},
}

// ErrUnknownAccount is returned for an account the pool does not have.
var ErrUnknownAccount = errors.New("no such account")

// Probe sends a tiny request through the named account, outside the
// scheduler (an admin's test must not wait behind users), and reports
// what came back. The account's health is not changed.
func (s *Server) Probe(ctx context.Context, name string) (ProbeResult, error) {
	a := s.pool.load().accounts[name]
	if a == nil {
		return ProbeResult{}, ErrUnknownAccount
	}
	pr := probes[a.Platform]
	proto := pr.proto(s)
	c := &protocol.Call{Proto: proto, Path: pr.path, Body: []byte(pr.body), Model: pr.model, Acct: a}
	if a.Platform == "openai" && a.OAuth() {
		c.Model = "gpt-5-codex"
		c.Body = []byte(`{"model":"gpt-5-codex","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"ping"}]}]}`)
	}
	c.UpstreamModel = mapModel(a, c.Model)
	token := a.APIKey
	if a.OAuth() {
		var err error
		if token, err = s.tokens.Token(ctx, a); err != nil {
			return ProbeResult{Message: "token: " + err.Error()}, nil
		}
	}
	if p, ok := proto.(protocol.Preparer); ok {
		if err := p.Before(ctx, c, a, token); err != nil {
			return ProbeResult{Message: err.Error()}, nil
		}
	}
	cp, err := s.up.For(a.Proxy)
	if err != nil {
		return ProbeResult{Message: err.Error()}, nil
	}
	stream := false
	if us, ok := proto.(protocol.UpstreamStreamer); ok {
		stream = us.UpstreamStream(c, a)
	}
	client := cp.Buffered
	if stream {
		client = cp.Streaming
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	if err := proto.Prepare(req, c, a, token); err != nil {
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		return ProbeResult{Message: err.Error()}, nil
	}
	start := time.Now()
	if err := s.up.Do(ctx, client, req, resp, 60*time.Second); err != nil {
		return ProbeResult{Latency: time.Since(start), Model: c.UpstreamModel, Message: err.Error()}, nil
	}
	defer upstream.Release(req, resp)
	body := upstream.ReadLimited(resp, 64<<10)
	res := ProbeResult{Status: resp.StatusCode(), Latency: time.Since(start), Model: c.UpstreamModel}
	res.OK = res.Status >= 200 && res.Status < 300
	if !res.OK {
		res.Message = s.rules.Load().Decide(proto.Classify(res.Status, &resp.Header, body, a)).Outcome.Reason
		if m := gjson.GetBytes(body, "error.message").String(); m != "" {
			res.Message += ": " + m
		}
	}
	return res, nil
}

// mapModel applies an account's model map.
func mapModel(a *Account, model string) string {
	if m, ok := a.ModelMap[model]; ok {
		return m
	}
	return model
}
