package upstreamtest

import (
	"bytes"
	"testing"
)

// TestGoogleTranscriptsUseCRLF: the Gemini and Code Assist recordings are
// framed as Google frames them, and as the mock's own streams are: every
// line ends with CRLF and every event with a blank CRLF line.
func TestGoogleTranscriptsUseCRLF(t *testing.T) {
	for _, f := range []Format{FormatGemini, FormatCodeAssist} {
		for _, name := range TranscriptsOf(f) {
			b := Transcript(name)
			if n := bytes.Count(b, []byte("\n")); n == 0 || n != bytes.Count(b, []byte("\r\n")) {
				t.Errorf("%s: %d line feeds, %d of them after a CR", name, n, bytes.Count(b, []byte("\r\n")))
			}
			if !bytes.HasSuffix(b, []byte(geminiSep)) {
				t.Errorf("%s does not end its last event with %q", name, geminiSep)
			}
			for _, ev := range bytes.SplitAfter(b, []byte(geminiSep)) {
				if len(ev) > 0 && !bytes.HasPrefix(ev, []byte("data: ")) {
					t.Errorf("%s: event %.40q is not a data line", name, ev)
				}
			}
		}
	}
}
