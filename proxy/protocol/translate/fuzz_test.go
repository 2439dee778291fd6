package translate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

var allFormats = [...]Format{Messages, Responses, Chat, Gemini}

// pair picks a client and an upstream format from two fuzzed bytes.
func pair(c, u byte) (Format, Format, bool) {
	client := allFormats[int(c)%len(allFormats)]
	upstream := [...]Format{Messages, Responses, Gemini}[int(u)%3]
	return client, upstream, client != upstream
}

func seedBodies(f *testing.F) {
	files, _ := filepath.Glob("testdata/golden/*.txt")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		for i, sec := range strings.Split(string(raw), "\n-- ") {
			if strings.HasPrefix(sec, "request --") || strings.HasPrefix(sec, "reply --") {
				body := sec[strings.IndexByte(sec, '\n')+1:]
				f.Add(byte(i), byte(i+1), []byte(body))
			}
		}
	}
}

// FuzzRequest: a decoder never panics on a client body, and what it
// accepts comes out as valid JSON for the upstream.
func FuzzRequest(f *testing.F) {
	seedBodies(f)
	f.Add(byte(0), byte(1), []byte(`{"messages":[{"role":"user","content":[{"type":"tool_result","content":null}]}]}`))
	f.Fuzz(func(t *testing.T, c, u byte, body []byte) {
		client, upstream, ok := pair(c, u)
		if !ok {
			return
		}
		tr, err := New(Config{Client: client, Upstream: upstream, UpstreamModel: "u", ClientModel: "c"})
		if err != nil {
			t.Fatal(err)
		}
		out, err := tr.Request(body)
		if err == nil && !gjson.ValidBytes(out) {
			t.Fatalf("%v→%v: invalid upstream body %s", client, upstream, out)
		}
	})
}

// FuzzResponse: a buffered reply of any shape translates without a panic
// into valid JSON.
func FuzzResponse(f *testing.F) {
	seedBodies(f)
	f.Fuzz(func(t *testing.T, c, u byte, body []byte) {
		client, upstream, ok := pair(c, u)
		if !ok {
			return
		}
		tr, _ := New(Config{Client: client, Upstream: upstream, ClientModel: "c"})
		out, err := tr.Response(body)
		if err == nil && !gjson.ValidBytes(out) {
			t.Fatalf("%v→%v: invalid client body %s", client, upstream, out)
		}
		if out := tr.Error(500, body); !gjson.ValidBytes(out) {
			t.Fatalf("%v: invalid error body %s", client, out)
		}
	})
}

// FuzzStream: the state machines never panic, every event they write is
// valid JSON, and their output stays linear in their input.
func FuzzStream(f *testing.F) {
	files, _ := filepath.Glob("testdata/sse/*.sse")
	for i, file := range files {
		raw, _ := os.ReadFile(file)
		for c := range byte(4) {
			f.Add(c, byte(i), raw)
		}
	}
	f.Fuzz(func(t *testing.T, c, u byte, transcript []byte) {
		client, upstream, ok := pair(c, u)
		if !ok {
			return
		}
		tr, _ := New(Config{Client: client, Upstream: upstream, ClientModel: "c", MaxHeld: 1 << 16})
		tr.includeUsage = c&4 != 0
		s := tr.Stream()
		var out []byte
		events := 0
		for _, block := range bytes.Split(bytes.ReplaceAll(transcript, []byte("\r\n"), []byte("\n")), []byte("\n\n")) {
			var name, data []byte
			for _, line := range bytes.Split(block, []byte("\n")) {
				if v, ok := bytes.CutPrefix(line, []byte("event:")); ok {
					name = bytes.TrimSpace(v)
				} else if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
					data = bytes.TrimPrefix(v, []byte(" "))
				}
			}
			out = s.Event(out, name, data)
			events++
		}
		out = s.Fail(out, 500, "end")
		if limit := 32*len(transcript) + 4096*(events+1); len(out) > limit {
			t.Fatalf("%v→%v: %d bytes out of %d in", upstream, client, len(out), len(transcript))
		}
		for _, ev := range parseSSE(t, out) {
			if ev.data != "[DONE]" && !gjson.Valid(ev.data) {
				t.Fatalf("%v→%v: invalid event %s %s", upstream, client, ev.name, ev.data)
			}
		}
	})
}
