package reqlog

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lmittmann/tint"
)

// slogJSON is what slog's JSONHandler writes for e: the reference.
func slogJSON(t testing.TB, e *Entry) string {
	var buf bytes.Buffer
	if err := slog.NewJSONHandler(&buf, nil).Handle(context.Background(), e.Record()); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// tintText is what tint writes for e with the gateway's options.
func tintText(t testing.TB, e *Entry) string {
	var buf bytes.Buffer
	h := tint.NewTextHandler(&buf, &tint.Options{TimeFormat: TextTimeFormat})
	if err := h.Handle(context.Background(), e.Record()); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// awkward are strings that need every kind of escape either format has.
var awkward = []string{
	"", "plain", "/v1/messages", "claude-sonnet-4-5", "with space", "a=b", `quo"te`, `back\slash`,
	"new\nline", "tab\there", "cr\rlf", "nul\x00byte", "\x01\x1f\x7f", "<html>&amp;",
	"héllo wörld", "日本語", "emoji 🎉", "\u2028line\u2029para", "bad\xffutf8", "\xc3", "trunc\xe6\x97",
	"\ufffd", "nbsp\u00a0", "zero\u200bwidth", "upstream 529: {\"type\":\"overloaded_error\"}",
}

// ips are client addresses of every form a line may show, the unknown
// one and a zone (never written: it would be text a client chose) among
// them.
var ips = []netip.Addr{
	{}, netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::1"),
	netip.MustParseAddr("::ffff:192.0.2.1"), netip.MustParseAddr("fe80::1%eth0\"\n"), netip.MustParseAddr("::1"),
}

func sampleEntries() []Entry {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("x", -(3*3600 + 30*60))}
	var es []Entry
	for i, s := range awkward {
		es = append(es, Entry{
			Time:  time.Date(2026, 11, 22, 13, 4, 5, []int{0, 123456789, 120000000, 1000}[i%4], zones[i%3]),
			Route: "/v1/messages", Key: s, IP: ips[i%len(ips)], Acct: "acct-" + s, Model: s, Status: 200 + i,
			Stream: i%2 == 0, In: int64(i) * 1000, Out: -int64(i), CacheRead: 1 << 40, CacheWrite: 0,
			Ms: int64(i * 7), TTFTMs: 3, Failovers: i % 3, Err: s,
		})
	}
	return es
}

func TestJSONMatchesSlog(t *testing.T) {
	for _, e := range sampleEntries() {
		got, want := string(e.appendJSON(nil)), slogJSON(t, &e)
		if got != want {
			t.Errorf("model %q:\n got %s\nwant %s", e.Model, got, want)
		}
	}
}

func TestTextMatchesTint(t *testing.T) {
	for _, e := range sampleEntries() {
		got, want := string(e.appendText(nil)), tintText(t, &e)
		if got != want {
			t.Errorf("model %q:\n got %q\nwant %q", e.Model, got, want)
		}
	}
}

// TestIPField: the line names the client address, without a zone.
func TestIPField(t *testing.T) {
	tests := []struct {
		ip         netip.Addr
		json, text string
	}{
		{netip.Addr{}, `"ip":""`, "ip=" + ansiReset + `"" `},
		{netip.MustParseAddr("203.0.113.7"), `"ip":"203.0.113.7"`, "ip=" + ansiReset + "203.0.113.7 "},
		{netip.MustParseAddr("2001:db8::1"), `"ip":"2001:db8::1"`, "ip=" + ansiReset + "2001:db8::1 "},
		{netip.MustParseAddr("fe80::1%x\"y"), `"ip":"fe80::1"`, "ip=" + ansiReset + "fe80::1 "},
	}
	for _, tt := range tests {
		e := Entry{IP: tt.ip}
		if got := string(e.appendJSON(nil)); !strings.Contains(got, tt.json) {
			t.Errorf("JSON for %v: %s lacks %s", tt.ip, got, tt.json)
		}
		if got := string(e.appendText(nil)); !strings.Contains(got, tt.text) {
			t.Errorf("text for %v: %q lacks %q", tt.ip, got, tt.text)
		}
	}
}

// TestTextNeverWritesESC: where tint would pass a client's ESC bytes to
// the terminal, the line quotes them.
func TestTextNeverWritesESC(t *testing.T) {
	for _, s := range []string{"\x1b[2J", "x \x1b]0;title\x07", "\x1b"} {
		e := Entry{Model: s, Err: s}
		line := string(e.appendText(nil))
		// The line's own colour codes are the only ESC bytes left.
		stripped := strings.NewReplacer(ansiFaint, "", ansiReset, "", ansiGreen, "").Replace(line)
		if strings.ContainsRune(stripped, 0x1b) {
			t.Errorf("%q: raw ESC in %q", s, line)
		}
		if !strings.Contains(line, `\x1b`) {
			t.Errorf("%q: ESC not escaped in %q", s, line)
		}
	}
}

// FuzzJSONMatchesSlog holds the JSON encoder to slog's for any string.
func FuzzJSONMatchesSlog(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		e := Entry{Time: time.Unix(n, n).UTC(), Route: s, Key: s, Model: s, Err: s, In: n, Status: int(n)}
		if got, want := string(e.appendJSON(nil)), slogJSON(t, &e); got != want {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// FuzzTextMatchesTint holds the text encoder to tint's for any string
// without ESC (doc.go).
func FuzzTextMatchesTint(f *testing.F) {
	for _, s := range awkward {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0x1b) {
			t.Skip()
		}
		e := Entry{Time: time.Unix(1, 0), Model: s, Err: s}
		if got, want := string(e.appendText(nil)), tintText(t, &e); got != want {
			t.Fatalf("\n got %q\nwant %q", got, want)
		}
	})
}
