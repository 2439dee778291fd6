package reqlog

import (
	"log/slog"
	"net/netip"
	"strconv"
	"subgate/proxy/internal/jsonstr"
	"time"
	"unicode"
	"unicode/utf8"
)

// Entry is one finished request, as its log line shows it. Strings are
// written escaped; none may hold a secret.
type Entry struct {
	Time       time.Time // when the request was recorded; zero means now
	Route      string
	Key        string     // client key name
	IP         netip.Addr // client address (the forwarded client's behind a trusted proxy); zero when unknown
	Acct       string     // account that served it, or ""
	Model      string
	Status     int
	Stream     bool
	In, Out    int64 // tokens
	CacheRead  int64
	CacheWrite int64
	Ms         int64 // duration
	TTFTMs     int64 // time to first token
	Failovers  int
	Err        string
}

// Msg is the message of every request line.
const Msg = "request"

// Record is the slog record the line stands for: the definition of the
// format, used when no Writer is configured and by the tests that hold
// the hand encoders to it.
func (e *Entry) Record() slog.Record {
	r := slog.NewRecord(e.when(), slog.LevelInfo, Msg, 0)
	r.AddAttrs(
		slog.String("route", e.Route), slog.String("key", e.Key), slog.String("ip", e.ip()),
		slog.String("acct", e.Acct),
		slog.String("model", e.Model), slog.Int("status", e.Status), slog.Bool("stream", e.Stream),
		slog.Int64("in", e.In), slog.Int64("out", e.Out),
		slog.Int64("cache_read", e.CacheRead), slog.Int64("cache_write", e.CacheWrite),
		slog.Int64("ms", e.Ms), slog.Int64("ttft_ms", e.TTFTMs),
		slog.Int("failovers", e.Failovers), slog.String("err", e.Err))
	return r
}

// ip is the address as the line shows it: no zone (a zone would be text
// a client chose), "" when unknown.
func (e *Entry) ip() string {
	if !e.IP.IsValid() {
		return ""
	}
	return e.IP.WithZone("").String()
}

func (e *Entry) when() time.Time {
	if e.Time.IsZero() {
		return time.Now()
	}
	return e.Time
}

// appendJSON appends the line slog.JSONHandler writes for e.Record().
func (e *Entry) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.when().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","route":`...)
	b = jsonstr.Append(b, e.Route)
	b = append(b, `,"key":`...)
	b = jsonstr.Append(b, e.Key)
	b = append(b, `,"ip":"`...)
	if e.IP.IsValid() {
		b = e.IP.WithZone("").AppendTo(b) // digits, dots, colons: nothing to escape
	}
	b = append(b, `","acct":`...)
	b = jsonstr.Append(b, e.Acct)
	b = append(b, `,"model":`...)
	b = jsonstr.Append(b, e.Model)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, e.Stream)
	b = append(b, `,"in":`...)
	b = strconv.AppendInt(b, e.In, 10)
	b = append(b, `,"out":`...)
	b = strconv.AppendInt(b, e.Out, 10)
	b = append(b, `,"cache_read":`...)
	b = strconv.AppendInt(b, e.CacheRead, 10)
	b = append(b, `,"cache_write":`...)
	b = strconv.AppendInt(b, e.CacheWrite, 10)
	b = append(b, `,"ms":`...)
	b = strconv.AppendInt(b, e.Ms, 10)
	b = append(b, `,"ttft_ms":`...)
	b = strconv.AppendInt(b, e.TTFTMs, 10)
	b = append(b, `,"failovers":`...)
	b = strconv.AppendInt(b, int64(e.Failovers), 10)
	b = append(b, `,"err":`...)
	b = jsonstr.Append(b, e.Err)
	return append(b, "}\n"...)
}

// ANSI sequences of tint's line.
const (
	ansiFaint  = "\x1b[2m"
	ansiReset  = "\x1b[0m"
	ansiGreen  = "\x1b[92m"
	textPrefix = ansiReset + " " + ansiGreen + "INF" + ansiReset + " " + Msg
)

// appendText appends the line tint's handler (colours on, TimeFormat
// TextTimeFormat) writes for e.Record(), but for ESC in strings (doc.go).
func (e *Entry) appendText(b []byte) []byte {
	b = append(b, ansiFaint...)
	b = e.when().AppendFormat(b, TextTimeFormat)
	b = append(b, textPrefix...)
	b = appendTextString(append(b, " "+ansiFaint+"route="+ansiReset...), e.Route)
	b = appendTextString(append(b, " "+ansiFaint+"key="+ansiReset...), e.Key)
	b = append(b, " "+ansiFaint+"ip="+ansiReset...)
	if e.IP.IsValid() {
		b = e.IP.WithZone("").AppendTo(b) // never needs quoting
	} else {
		b = append(b, `""`...)
	}
	b = appendTextString(append(b, " "+ansiFaint+"acct="+ansiReset...), e.Acct)
	b = appendTextString(append(b, " "+ansiFaint+"model="+ansiReset...), e.Model)
	b = strconv.AppendInt(append(b, " "+ansiFaint+"status="+ansiReset...), int64(e.Status), 10)
	b = strconv.AppendBool(append(b, " "+ansiFaint+"stream="+ansiReset...), e.Stream)
	b = strconv.AppendInt(append(b, " "+ansiFaint+"in="+ansiReset...), e.In, 10)
	b = strconv.AppendInt(append(b, " "+ansiFaint+"out="+ansiReset...), e.Out, 10)
	b = strconv.AppendInt(append(b, " "+ansiFaint+"cache_read="+ansiReset...), e.CacheRead, 10)
	b = strconv.AppendInt(append(b, " "+ansiFaint+"cache_write="+ansiReset...), e.CacheWrite, 10)
	b = strconv.AppendInt(append(b, " "+ansiFaint+"ms="+ansiReset...), e.Ms, 10)
	b = strconv.AppendInt(append(b, " "+ansiFaint+"ttft_ms="+ansiReset...), e.TTFTMs, 10)
	b = strconv.AppendInt(append(b, " "+ansiFaint+"failovers="+ansiReset...), int64(e.Failovers), 10)
	b = appendTextString(append(b, " "+ansiFaint+"err="+ansiReset...), e.Err)
	return append(b, '\n')
}

// appendTextString appends s bare when it reads unambiguously, else
// Go-quoted, as tint does: quoted when empty or holding a space, '=', '"',
// a control character, invalid UTF-8, or a non-printing or space rune.
// Unlike tint, ESC counts as a control character.
func appendTextString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == ' ' || c == '=' || c == '"' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
