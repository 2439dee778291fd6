package protocol

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"subgate/ledger"
)

type kv2 struct{ k, raw string }

func scanKeys(s string) ([]kv2, bool) {
	var got []kv2
	ok := eachKey(s, func(k, raw string) bool {
		got = append(got, kv2{k, raw})
		return true
	})
	return got, ok
}

func gjsonKeys(s string) []kv2 {
	var got []kv2
	gjson.Parse(s).ForEach(func(k, v gjson.Result) bool {
		got = append(got, kv2{k.Str, v.Raw})
		return true
	})
	return got
}

// TestEachKey: the scanner reads well-formed objects exactly as gjson
// does and refuses what it cannot read safely, so Parse falls back.
func TestEachKey(t *testing.T) {
	tests := []struct {
		in     string
		wantOK bool
	}{
		{`{}`, true},
		{` { } `, true},
		{`{"model":"m","stream":true,"max_tokens":256}`, true},
		{`{"a":{"b":[1,2,{"c":"}]"}]},"d":"x\"y","e":-1.5e3,"f":null}`, true},
		{"{\n\t\"a\" : [ ] ,\r\n \"b\" : \"\\\\\" }", true},
		{`{"messages":[{"role":"user","content":"` + strings.Repeat(`lorem \"ipsum\" `, 50) + `"}]}`, true},
		{`{"a\"b":1}`, false},    // escaped key: gjson decodes it
		{`{"a":1 "b":2}`, false}, // missing comma
		{`{"a" 1}`, false},       // missing colon
		{`{"a":[1,2}`, false},    // mismatched bracket
		{`{"a":"unterminated}`, false},
		{`{"a":1`, false}, // truncated
		{`["not","an","object"]`, false},
		{``, false},
		{`{"a":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}`, false}, // deeper than the scanner goes
		{`{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, true},
		{`{"a":[1,,2]}`, false},
		{`{"a":{"b"}}`, false},
		{`{"a":[tru]}`, false},
	}
	for _, tt := range tests {
		got, ok := scanKeys(tt.in)
		if ok != tt.wantOK {
			t.Errorf("eachKey(%.40q) ok = %v, want %v", tt.in, ok, tt.wantOK)
			continue
		}
		if !ok {
			continue
		}
		want := gjsonKeys(tt.in)
		if len(got) != len(want) {
			t.Errorf("eachKey(%.40q) = %v, gjson %v", tt.in, got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("eachKey(%.40q)[%d] = %q, gjson %q", tt.in, i, got[i], want[i])
			}
		}
	}
}

func TestFirstContent(t *testing.T) {
	tests := []struct{ messages, want string }{
		{``, ``},
		{`[]`, ``},
		{`[{"role":"user","content":"hi"}]`, `"hi"`},
		{`[{"role":"user","content":[{"type":"text","text":"hi"}]},{"content":"later"}]`, `[{"type":"text","text":"hi"}]`},
		{`[{"role":"user"}]`, ``},
		{`["text"]`, ``},
		{`[{"content":"first","content":"second"}]`, `"first"`},
		{`[{"c\u006fntent":"escaped key"}]`, gjson.Get(`[{"c\u006fntent":"escaped key"}]`, "0.content").Raw},
	}
	for _, tt := range tests {
		if got := firstContent(tt.messages); got != tt.want {
			t.Errorf("firstContent(%q) = %q, want %q", tt.messages, got, tt.want)
		}
	}
}

// FuzzEachKey holds the scanner to gjson: whenever it accepts a body, it
// must have seen the same keys and raw values in the same order, and the
// first message content must be gjson's.
func FuzzEachKey(f *testing.F) {
	for _, s := range []string{
		`{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
		`{"a":{"b":[1,2,{"c":"}]"}]},"d":"x\"y","e":-1.5e3,"f":null,"g":true}`,
		`{"system":[{"type":"text","text":"You are Claude Code","cache_control":{"type":"ephemeral"}}],"messages":[]}`,
		`{"messages":[{"content":"a\\"}],"stream":false}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := scanKeys(s)
		if ok {
			want := gjsonKeys(s)
			if len(got) != len(want) {
				t.Fatalf("eachKey = %q, gjson %q", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("key %d: eachKey %q, gjson %q", i, got[i], want[i])
				}
			}
		}
		if gjson.Valid(s) {
			msgs := gjson.Get(s, "messages")
			if msgs.IsArray() {
				if got, want := firstContent(msgs.Raw), msgs.Get("0.content").Raw; got != want {
					t.Fatalf("firstContent = %q, gjson %q", got, want)
				}
			}
		}
	})
}

// BenchmarkTopLevelScan reads the top-level fields of a Claude Code sized
// body (system prompt, tools, a long conversation: about 200 KB) with the
// scanner and with gjson alone, the fallback.
func BenchmarkTopLevelScan(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,`)
	sb.WriteString(`"system":[{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"` + strings.Repeat(`Follow the \"rules\". `, 500) + `"}],`)
	sb.WriteString(`"tools":[`)
	for i := range 20 {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"name":"tool","description":"` + strings.Repeat("does things ", 100) + `","input_schema":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"array","items":{"type":"number"}}},"required":["a"]}}`)
	}
	sb.WriteString(`],"messages":[`)
	for i := range 100 {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"role":"user","content":[{"type":"text","text":"` + strings.Repeat("lorem ipsum dolor sit amet ", 60) + `"}]}`)
	}
	sb.WriteString(`],"metadata":{"user_id":"user_abc_account_def_session_0123456789abcdef"}}`)
	body := sb.String()
	b.Logf("body %d KB", len(body)>>10)
	b.Run("scanner", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var f anthropicFields
			if !eachKey(body, f.take) {
				b.Fatal("scanner refused the body")
			}
			firstContent(f.messages)
		}
	})
	b.Run("gjson", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var f anthropicFields
			gjson.Parse(body).ForEach(func(k, v gjson.Result) bool { return f.take(k.Str, v.Raw) })
			gjson.Get(f.messages, "0.content")
		}
	})
}

// FuzzUsage checks the scanner's reading of a reply's usage against
// gjson's, for whole replies and for stream deltas.
func FuzzUsage(f *testing.F) {
	for _, s := range []string{
		`{"id":"msg_1","type":"message","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":12,"output_tokens":34,"cache_creation_input_tokens":5,"cache_read_input_tokens":6,"cache_creation":{"ephemeral_5m_input_tokens":2,"ephemeral_1h_input_tokens":3}}}`,
		`{"usage":{"input_tokens":"7","output_tokens":1.9e2,"cache_read_input_tokens":-4},"usage":{"input_tokens":1}}`,
		`{"usage":{"output_tokens":0,"input_tokens":null,"cache_creation":[1,2]}}`,
		`{"usage":{"cache_creation":{"ephemeral_5m_input_tokens":true}},"x":[}`,
		`{"a":"\"usage\"","usage":{"output_tokens":123456789012345678}}`,
		`["usage"]`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, delta bool) {
		start := ledger.Usage{InputTokens: 9, OutputTokens: 8, CacheCreationTokens: 7, CacheReadTokens: 6, CacheCreation5m: 5, CacheCreation1h: 4}
		got, want := start, start
		anthropicUsage(topValue(s, "usage"), &got, delta)
		gjsonUsage(gjson.Get(s, "usage"), &want, delta)
		if got != want {
			t.Fatalf("usage of %q (delta %v) = %+v, gjson %+v", s, delta, got, want)
		}
	})
}
