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
	sink    EventSink
	out     []byte // the sink's output for one event, reused
}

// NewSSEScanner returns a scanner that hands c's protocol the events of
// a stream and keeps what it learns in st.
func NewSSEScanner(c *Call, st *StreamState) *SSEScanner {
	return &SSEScanner{call: c, st: st}
}

// EventSink takes the events of a stream the client does not get as they
// are: a translation into the client's API family, or a collector
// building one reply. Event appends what the client gets to dst and keeps
// no reference to event or data.
type EventSink interface {
	Event(dst, event, data []byte) []byte
}

// NewTranslatingScanner returns a scanner that hands c's protocol each
// event, as NewSSEScanner's does (usage, the terminal event and errors
// are read from the upstream's own bytes), then hands the event to sink,
// whose output alone reaches the client: the data payload the protocol
// returned when it rewrote one (Code Assist's unwrapped response), else
// the upstream's. Comments and the upstream's framing are not relayed,
// and a line longer than the scanner holds is dropped (see maxLine).
func NewTranslatingScanner(c *Call, st *StreamState, sink EventSink) *SSEScanner {
	return &SSEScanner{call: c, st: st, sink: sink}
}

// Feed processes one chunk from the upstream.
func (s *SSEScanner) Feed(w *bufio.Writer, b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if s.skip {
			if i < 0 {
				s.raw(w, b)
				return
			}
			s.raw(w, b[:i+1])
			s.skip = false
			b = b[i+1:]
			continue
		}
		if i < 0 {
			if len(s.pending)+len(b) > maxLine {
				s.raw(w, s.pending)
				s.raw(w, b)
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

// raw passes bytes of an oversized line through, unless a sink writes
// the client's bytes: a part of an upstream line would corrupt them.
func (s *SSEScanner) raw(w *bufio.Writer, b []byte) {
	if s.sink == nil {
		w.Write(b)
	}
}

// line handles one complete line including its '\n'.
func (s *SSEScanner) line(w *bufio.Writer, line []byte) {
	text := bytes.TrimRight(line, "\r\n")
	if s.sink != nil {
		s.sinkLine(w, text)
		return
	}
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
		if out := s.call.Proto.Event(s.event, sseData(text), s.call, s.st); out != nil {
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

// sinkLine reads one line for the sink: the event name, and each data
// payload, which the protocol reads first.
func (s *SSEScanner) sinkLine(w *bufio.Writer, text []byte) {
	switch {
	case len(text) == 0:
		s.event = s.event[:0]
	case bytes.HasPrefix(text, []byte("event:")):
		s.event = append(s.event[:0], bytes.TrimSpace(text[6:])...)
	case bytes.HasPrefix(text, []byte("data:")):
		data := sseData(text)
		if out := s.call.Proto.Event(s.event, data, s.call, s.st); len(out) > 0 {
			data = out
		}
		s.out = s.sink.Event(s.out[:0], s.event, data)
		w.Write(s.out)
	}
}

// MidEvent reports whether the client has been sent part of an event (a
// line or lines before its blank line), when a keepalive would corrupt it.
// A sink writes whole events.
func (s *SSEScanner) MidEvent() bool { return s.sink == nil && (s.skip || s.inEvent) }

// Finish writes a last line the upstream did not terminate.
func (s *SSEScanner) Finish(w *bufio.Writer) {
	if len(s.pending) > 0 {
		s.line(w, s.pending)
		s.pending = s.pending[:0]
	}
}

// sseData is a data line's payload, without "data:" and the one space
// the SSE format allows after it.
func sseData(text []byte) []byte {
	data := text[5:]
	if len(data) > 0 && data[0] == ' ' {
		data = data[1:]
	}
	return data
}
