package protocol

import (
	"bufio"
	"bytes"
)

// maxLine bounds the bytes held for one SSE line. A longer line (a huge
// final event) is passed through unscanned rather than buffered.
const maxLine = 4 << 20

// SSEScanner splits an SSE byte stream into lines as it passes, lets the
// protocol read and rewrite data lines, and writes everything else
// verbatim. It holds back only an incomplete last line, so what reaches the
// client always ends on a line boundary.
type SSEScanner struct {
	call    *Call
	st      *StreamState
	pending []byte // incomplete line carried to the next chunk
	event   []byte // current event name
	skip    bool   // inside an oversized line that is passed through raw
	inEvent bool   // lines of an event were written, its blank line not yet
	dropped bool   // the current event's data line was dropped (dropEvent)
}

// NewSSEScanner returns a scanner that hands c's protocol the events of
// a stream and keeps what it learns in st.
func NewSSEScanner(c *Call, st *StreamState) *SSEScanner {
	return &SSEScanner{call: c, st: st}
}

// Feed processes one chunk from the upstream.
func (s *SSEScanner) Feed(w *bufio.Writer, b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if s.skip {
			if i < 0 {
				w.Write(b)
				return
			}
			w.Write(b[:i+1])
			s.skip = false
			b = b[i+1:]
			continue
		}
		if i < 0 {
			if len(s.pending)+len(b) > maxLine {
				w.Write(s.pending)
				w.Write(b)
				s.pending = s.pending[:0]
				s.skip = true
				return
			}
			s.pending = append(s.pending, b...)
			return
		}
		line := b[:i+1]
		if len(s.pending) > 0 {
			s.pending = append(s.pending, line...)
			line = s.pending
		}
		s.line(w, line)
		s.pending = s.pending[:0]
		b = b[i+1:]
	}
}

// line handles one complete line including its '\n'.
func (s *SSEScanner) line(w *bufio.Writer, line []byte) {
	text := bytes.TrimRight(line, "\r\n")
	switch {
	case len(text) == 0:
		s.event = s.event[:0]
		swallow := s.dropped && !s.inEvent
		s.inEvent, s.dropped = false, false
		if swallow {
			return // the end of an event none of which reached the client
		}
	case bytes.HasPrefix(text, []byte("event:")):
		s.event = append(s.event[:0], bytes.TrimSpace(text[6:])...)
	case bytes.HasPrefix(text, []byte("data:")):
		data := text[5:]
		if len(data) > 0 && data[0] == ' ' {
			data = data[1:]
		}
		if out := s.call.Proto.Event(s.event, data, s.call, s.st); out != nil {
			if len(out) == 0 {
				s.dropped = true // dropEvent
				return
			}
			w.WriteString("data: ")
			w.Write(out)
			w.Write(line[len(text):]) // keep the upstream's line ending (\n or \r\n)
			s.inEvent = true
			return
		}
	}
	if len(text) > 0 {
		s.inEvent = true
	}
	w.Write(line)
}

// MidEvent reports whether the client has been sent part of an event (a
// line or lines before its blank line), when a keepalive would corrupt it.
func (s *SSEScanner) MidEvent() bool { return s.skip || s.inEvent }

// Finish writes a last line the upstream did not terminate.
func (s *SSEScanner) Finish(w *bufio.Writer) {
	if len(s.pending) > 0 {
		s.line(w, s.pending)
		s.pending = s.pending[:0]
	}
}
