package translate

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Golden cases live in testdata/golden/*.txt, one pair per file, in
// sections headed "-- name --":
//
//	config         the Config, as JSON (formats by name)
//	request        a client body;  want request: the upstream body,
//	               or want error: the *Error's text
//	reply          an upstream body; want reply: the client body
//	stream         an upstream SSE transcript, or "@file" under testdata/sse;
//	               want stream: the client's SSE
//	want usage     the Usage the reply or stream reported
//
// Bodies are compared as JSON, field by field; streams event by event.
// go test -run TestGolden -update rewrites the want sections.

var update = flag.Bool("update", false, "rewrite the want sections of golden cases")

type goldenCase struct {
	names    []string
	sections map[string]string
}

func readCase(t *testing.T, file string) *goldenCase {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	c := &goldenCase{sections: map[string]string{}}
	var name string
	var body []string
	flush := func() {
		if name != "" {
			c.names = append(c.names, name)
			c.sections[name] = strings.TrimSpace(strings.Join(body, "\n"))
		}
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --") {
			flush()
			name, body = strings.TrimSuffix(strings.TrimPrefix(line, "-- "), " --"), nil
			continue
		}
		body = append(body, line)
	}
	flush()
	return c
}

func (c *goldenCase) write(t *testing.T, file string) {
	t.Helper()
	var b strings.Builder
	for _, n := range c.names {
		fmt.Fprintf(&b, "-- %s --\n%s\n", n, c.sections[n])
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// set records a want section for -update, keeping the file's order.
func (c *goldenCase) set(name, value string) {
	if _, ok := c.sections[name]; !ok {
		c.names = append(c.names, name)
	}
	c.sections[name] = value
}

func (c *goldenCase) del(name string) {
	for i, n := range c.names {
		if n == name {
			c.names = append(c.names[:i], c.names[i+1:]...)
			delete(c.sections, name)
			return
		}
	}
}

var formatNames = map[string]Format{"messages": Messages, "responses": Responses, "chat": Chat, "gemini": Gemini}

func caseConfig(t *testing.T, raw string) Config {
	t.Helper()
	var c struct {
		Client, Upstream           string
		ClientModel, UpstreamModel string `json:",omitempty"`
		Stream, UpstreamStream     bool
		Codex, KeptTurn            bool
		MaxTokens                  int64
		MaxHeld                    int
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("config: %v", err)
	}
	return Config{
		Client: formatNames[c.Client], Upstream: formatNames[c.Upstream],
		ClientModel: c.ClientModel, UpstreamModel: c.UpstreamModel,
		Stream: c.Stream, UpstreamStream: c.UpstreamStream, Codex: c.Codex, KeptTurn: c.KeptTurn,
		MaxTokens: c.MaxTokens, MaxHeld: c.MaxHeld,
		Now: func() time.Time { return time.Unix(1755313000, 0) },
	}
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.txt")
	if len(files) == 0 {
		t.Fatal("no golden cases")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			c := readCase(t, file)
			runCase(t, c)
			if *update {
				c.write(t, file)
			}
		})
	}
}

func runCase(t *testing.T, c *goldenCase) {
	cfg := caseConfig(t, c.sections["config"])
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if in, ok := c.sections["request"]; ok {
		body := []byte(in)
		out, err := tr.Request(body)
		scribble(body) // the gateway's request buffer is gone by the reply
		switch {
		case *update && err != nil:
			c.del("want request")
			c.set("want error", err.Error())
		case *update:
			c.del("want error")
			c.set("want request", indent(t, out))
		case err != nil:
			if got, want := err.Error(), c.sections["want error"]; got != want {
				t.Errorf("request error = %q, want %q", got, want)
			}
		default:
			if _, ok := c.sections["want error"]; ok {
				t.Errorf("request succeeded, want error %q", c.sections["want error"])
			}
			compareJSON(t, "request", out, []byte(c.sections["want request"]))
		}
	}
	if in, ok := c.sections["reply"]; ok {
		out, err := tr.Response([]byte(in))
		if err != nil {
			t.Fatalf("reply: %v", err)
		}
		if *update {
			c.set("want reply", indent(t, out))
		} else {
			compareJSON(t, "reply", out, []byte(c.sections["want reply"]))
		}
	}
	if in, ok := c.sections["stream"]; ok {
		s := tr.Stream()
		var out, name, data []byte
		for _, ev := range parseSSE(t, loadSSE(t, in)) {
			// One buffer for every event, as the gateway's relay reuses its
			// read buffer: the stream must keep nothing that points into it.
			name, data = append(name[:0], ev.name...), append(data[:0], ev.data...)
			out = s.Event(out, name, data)
			scribble(name)
			scribble(data)
		}
		if !s.Done() {
			t.Errorf("stream not done after the transcript")
		}
		if *update {
			c.set("want stream", string(bytes.TrimSpace(out)))
		} else {
			compareSSE(t, out, []byte(c.sections["want stream"]))
		}
	}
	_, reply := c.sections["reply"]
	_, stream := c.sections["stream"]
	if _, ok := c.sections["want usage"]; ok || *update && (reply || stream) {
		got, _ := json.Marshal(tr.Usage())
		if *update {
			c.set("want usage", string(got))
		} else {
			compareJSON(t, "usage", got, []byte(c.sections["want usage"]))
		}
	}
}

func scribble(b []byte) {
	for i := range b {
		b[i] = '#'
	}
}

func loadSSE(t *testing.T, in string) []byte {
	t.Helper()
	if name, ok := strings.CutPrefix(in, "@"); ok {
		raw, err := os.ReadFile(filepath.Join("testdata/sse", name))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	return []byte(in)
}

type sseEvent struct{ name, data string }

// parseSSE splits a transcript into events (CRLF or LF, "data:" with or
// without a space), as the gateway's scanner does.
func parseSSE(t *testing.T, raw []byte) []sseEvent {
	t.Helper()
	var out []sseEvent
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	for _, block := range strings.Split(string(raw), "\n\n") {
		var ev sseEvent
		has := false
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event:"); ok {
				ev.name = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(line, "data:"); ok {
				ev.data, has = strings.TrimPrefix(v, " "), true
			}
		}
		if has {
			out = append(out, ev)
		}
	}
	return out
}

func indent(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return out.String()
}

func compareSSE(t *testing.T, got, want []byte) {
	t.Helper()
	g, w := parseSSE(t, got), parseSSE(t, want)
	for i := 0; i < len(g) || i < len(w); i++ {
		switch {
		case i >= len(g):
			t.Errorf("event %d missing, want %s %s", i, w[i].name, w[i].data)
		case i >= len(w):
			t.Errorf("event %d extra: %s %s", i, g[i].name, g[i].data)
		case g[i].name != w[i].name:
			t.Errorf("event %d = %q, want %q", i, g[i].name, w[i].name)
		case w[i].data == "[DONE]" || g[i].data == "[DONE]":
			if g[i].data != w[i].data {
				t.Errorf("event %d data = %q, want %q", i, g[i].data, w[i].data)
			}
		default:
			compareJSON(t, fmt.Sprintf("event %d (%s)", i, w[i].name), []byte(g[i].data), []byte(w[i].data))
		}
	}
}

// compareJSON reports every field where got and want differ.
func compareJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: got invalid JSON %s: %v", what, got, err)
		return
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Errorf("%s: want invalid JSON: %v", what, err)
		return
	}
	for _, d := range diffJSON("", g, w) {
		t.Errorf("%s: %s", what, d)
	}
}

func diffJSON(at string, g, w any) []string {
	switch wv := w.(type) {
	case map[string]any:
		gv, ok := g.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s = %v, want an object", at, g)}
		}
		var out []string
		keys := make([]string, 0, len(wv)+len(gv))
		for k := range wv {
			keys = append(keys, k)
		}
		for k := range gv {
			if _, ok := wv[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			gx, gok := gv[k]
			wx, wok := wv[k]
			switch {
			case !gok:
				out = append(out, fmt.Sprintf("%s.%s missing, want %v", at, k, wx))
			case !wok:
				out = append(out, fmt.Sprintf("%s.%s = %v, want no such field", at, k, gx))
			default:
				out = append(out, diffJSON(at+"."+k, gx, wx)...)
			}
		}
		return out
	case []any:
		gv, ok := g.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s = %v, want an array", at, g)}
		}
		if len(gv) != len(wv) {
			return []string{fmt.Sprintf("%s has %d elements, want %d: %v", at, len(gv), len(wv), g)}
		}
		var out []string
		for i := range wv {
			out = append(out, diffJSON(fmt.Sprintf("%s[%d]", at, i), gv[i], wv[i])...)
		}
		return out
	}
	if fmt.Sprint(g) != fmt.Sprint(w) || fmt.Sprintf("%T", g) != fmt.Sprintf("%T", w) {
		return []string{fmt.Sprintf("%s = %v, want %v", at, g, w)}
	}
	return nil
}
