package protocol

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/sched"
)

// TestHashAdd pins the session hash: bindings are persisted, so a change
// of values silently unsticks every conversation after an upgrade.
func TestHashAdd(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, "h:243f6a8885a308d3"},
		{[]string{""}, hashString("h:", hashAdd(hashSeed, ""))},
		{[]string{"hello, world"}, "h:bff41624d5616425"},
		{[]string{strings.Repeat("lorem ipsum ", 78)}, "h:668c08829cf93dd8"},
	}
	for _, tt := range tests {
		h := uint64(hashSeed)
		for _, s := range tt.in {
			h = hashAdd(h, s)
		}
		if got := hashString("h:", h); got != tt.want {
			t.Errorf("hash(%.20q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	// Different splits and different lengths of the same bytes differ.
	seen := map[uint64]string{}
	for _, parts := range [][]string{{"ab", "c"}, {"a", "bc"}, {"abc"}, {"abc", ""}, {"abcdefgh"}, {"abcdefgh", ""}, {"abcdefg"}} {
		h := uint64(hashSeed)
		for _, p := range parts {
			h = hashAdd(h, p)
		}
		key := strings.Join(parts, "|")
		if prev, dup := seen[h]; dup {
			t.Errorf("hash(%s) == hash(%s)", key, prev)
		}
		seen[h] = key
	}
	if n := testing.AllocsPerRun(100, func() { hashAdd(hashSeed, "some text of a first message") }); n != 0 {
		t.Errorf("hashAdd allocates %v times", n)
	}
}

// TestCopyHeaders keeps allow-listed headers (names and a prefix),
// lowercases their names, drops the rest, and allocates once.
func TestCopyHeaders(t *testing.T) {
	var req fasthttp.Request
	h := &req.Header
	h.Set("Anthropic-Version", "2023-06-01")
	h.Set("X-Api-Key", "sk-secret")
	h.Set("Authorization", "Bearer sk-secret")
	h.Set("X-Stainless-Lang", "go")
	h.Set("User-Agent", "claude-cli/2.0")
	h.Set("X-Other", "x")
	got := copyHeaders(&req.Header, nil, []string{"anthropic-version", "user-agent"}, "x-stainless-")
	want := map[string]string{"anthropic-version": "2023-06-01", "x-stainless-lang": "go", "user-agent": "claude-cli/2.0"}
	if len(got) != len(want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	for _, kv := range got {
		if want[kv[0]] != kv[1] {
			t.Errorf("header %q = %q, want %q", kv[0], kv[1], want[kv[0]])
		}
	}
	dst := make([][2]string, 0, 8)
	if n := testing.AllocsPerRun(100, func() {
		copyHeaders(&req.Header, dst[:0], []string{"anthropic-version", "user-agent"}, "x-stainless-")
	}); n != 1 {
		t.Errorf("copyHeaders allocates %v times, want 1", n)
	}
	if got := copyHeaders(&req.Header, nil, []string{"accept"}, ""); len(got) != 0 {
		t.Errorf("nothing allow-listed: kept %v", got)
	}
}

// TestAnthropicWindows reads both unified windows in one pass over the
// headers, whatever their case, and ignores unrelated rate-limit headers.
func TestAnthropicWindows(t *testing.T) {
	var h fasthttp.ResponseHeader
	h.Set("Anthropic-Ratelimit-Unified-5h-Utilization", "0.25")
	h.Set("anthropic-ratelimit-unified-5h-reset", "1900000000")
	h.Set("anthropic-ratelimit-unified-7d-status", "rejected")
	h.Set("anthropic-ratelimit-unified-reset", "1900000500")
	h.Set("anthropic-ratelimit-requests-remaining", "10")
	got := (&Anthropic{}).Windows(&h)
	want := []sched.Window{
		{Name: "5h", Utilization: 0.25, ResetAt: time.Unix(1900000000, 0)},
		{Name: "7d", Status: "rejected"},
	}
	if len(got) != len(want) {
		t.Fatalf("windows = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Utilization != want[i].Utilization ||
			!got[i].ResetAt.Equal(want[i].ResetAt) || got[i].Status != want[i].Status {
			t.Errorf("window %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	var none fasthttp.ResponseHeader
	none.Set("content-type", "application/json")
	if got := (&Anthropic{}).Windows(&none); got != nil {
		t.Errorf("no unified headers: %+v", got)
	}
}

// TestCopyHeadersMany: a request with more allow-listed headers than the
// fast path holds keeps every one of them.
func TestCopyHeadersMany(t *testing.T) {
	var req fasthttp.Request
	for i := range 40 {
		req.Header.Set("X-Stainless-H"+strconv.Itoa(i), strconv.Itoa(i))
	}
	req.Header.Set("Anthropic-Beta", "late-flag")
	got := copyHeaders(&req.Header, nil, []string{"anthropic-beta"}, "x-stainless-")
	if len(got) != 41 {
		t.Fatalf("kept %d headers, want 41", len(got))
	}
	c := Call{Header: got}
	if c.header("anthropic-beta") != "late-flag" || c.header("x-stainless-h39") != "39" {
		t.Errorf("headers = %v", got)
	}
}

// TestSetHeader: the canonical names setHeader uses are the ones fasthttp
// would make, and values lose their line breaks either way.
func TestSetHeader(t *testing.T) {
	names := append(append(append([]string{"authorization", "x-api-key", "x-stainless-os"}, anthropicHeaders...), openaiHeaders...), geminiHeaders...)
	for _, name := range names {
		var fast, slow fasthttp.RequestHeader
		setHeader(&fast, name, "v\r\nInjected: 1")
		slow.Set(name, "v\r\nInjected: 1")
		if got, want := fast.String(), slow.String(); got != want {
			t.Errorf("%s: setHeader wrote\n%q\nSet writes\n%q", name, got, want)
		}
		if strings.Contains(fast.String(), "\r\nInjected") {
			t.Errorf("%s: a line break survived: %q", name, fast.String())
		}
	}
}

// TestUpstreamQuery is upstreamQuery's table: pairs re-encoded, key
// dropped, the raw string reused when nothing changed.
func TestUpstreamQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"beta=true", "beta=true"},
		{"beta=true&key=sk-sg-x", "beta=true"},
		{"key=a&key=b", ""},
		{"a=1%262&b=x%20y", "a=1%262&b=x+y"},
		{"a=%0d%0aHost:evil", "a=%0D%0AHost%3Aevil"},
		{"flag", "flag"},
	}
	for _, tt := range tests {
		var args fasthttp.Args
		args.Parse(tt.in)
		if got := upstreamQuery(&args, tt.in); got != tt.want {
			t.Errorf("upstreamQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
