package translate

import "strings"

// A stream is translated event by event: the upstream format's decoder
// reads each SSE event and drives the Stream's block machine (start, open a
// block, deltas, close, finish), and the client format's encoder writes
// each step as the client's events. Only one block is open at a time, as in
// every format's streams; opening another closes it.

type block uint8

const (
	blockNone block = iota
	blockText
	blockThinking
	blockTool
	blockRedacted
)

// decoder reads one upstream event.
type decoder interface {
	event(dst []byte, s *Stream, event string, data []byte) []byte
}

// encoder writes the client's side of each step.
type encoder interface {
	begin(dst []byte, s *Stream) []byte
	open(dst []byte, s *Stream) []byte
	delta(dst []byte, s *Stream, text string) []byte
	signature(dst []byte, s *Stream, v sig) []byte
	close(dst []byte, s *Stream) []byte
	finish(dst []byte, s *Stream) []byte
	fail(dst []byte, s *Stream, status int, msg string) []byte
}

// Stream translates one upstream SSE stream into the client's format. Feed
// it every upstream event in order; it appends the client's bytes to the
// buffer it is given and holds no more than the open block needs (a
// Responses client is the exception: see Config.MaxHeld).
type Stream struct {
	t   *Translator
	dec decoder
	enc encoder

	started  bool
	finished bool
	failed   string
	open     block
	index    int // the client's index of the open block (= blocks closed so far)
	callID   string
	callName string
	custom   bool
	calls    int
	redacted string
	stop     stopReason
	id       string // the reply's id, from the upstream when it has one
	created  int64
	overflow bool // the encoder held more than Config.MaxHeld
}

// Stream returns the state machine for the reply's stream.
func (t *Translator) Stream() *Stream {
	s := &Stream{t: t, created: t.cfg.Now().Unix()}
	switch t.cfg.Upstream {
	case Messages:
		s.dec = &messagesDecoder{}
	case Responses:
		s.dec = &responsesDecoder{}
	default:
		s.dec = &geminiDecoder{}
	}
	switch t.cfg.Client {
	case Messages:
		s.enc = &messagesEncoder{}
	case Responses:
		s.enc = &responsesEncoder{}
	case Chat:
		s.enc = &chatEncoder{}
	default:
		s.enc = &geminiEncoder{}
	}
	return s
}

// Event translates one upstream event (its event: name, possibly empty,
// and its data: payload) and appends what the client gets to dst. It keeps
// no reference to event or data, which the caller may reuse.
func (s *Stream) Event(dst []byte, event, data []byte) []byte {
	if s.finished {
		return dst
	}
	dst = s.dec.event(dst, s, string(event), data)
	if s.overflow && !s.finished {
		dst = s.fail(dst, 500, "the reply is too large to translate")
	}
	return dst
}

// Fail ends the stream with an error event in the client's shape (an
// interrupted upstream, a timeout, shutdown). It writes nothing once the
// stream has ended.
func (s *Stream) Fail(dst []byte, status int, msg string) []byte {
	return s.fail(dst, status, msg)
}

// Done reports whether the client got its terminal event (the reply's end
// or an error).
func (s *Stream) Done() bool { return s.finished }

// Err is the upstream's error message when the upstream ended the stream
// with an error event.
func (s *Stream) Err() string { return s.failed }

// Usage is what the upstream reported so far; final once Done.
func (s *Stream) Usage() Usage { return s.t.usage.Usage }

func (s *Stream) begin(dst []byte) []byte {
	if s.started {
		return dst
	}
	s.started = true
	if s.id == "" {
		s.id = newID()
	}
	s.id = strings.Clone(s.id)
	return s.enc.begin(dst, s)
}

// openBlock makes b the open block, closing another first. Text and
// thinking deltas continue an open block of their kind.
func (s *Stream) openBlock(dst []byte, b block) []byte {
	dst = s.begin(dst)
	if s.open == b && (b == blockText || b == blockThinking) {
		return dst
	}
	dst = s.closeBlock(dst)
	s.open = b
	return s.enc.open(dst, s)
}

func (s *Stream) closeBlock(dst []byte) []byte {
	if s.open == blockNone {
		return dst
	}
	dst = s.enc.close(dst, s)
	s.open = blockNone
	s.index++
	return dst
}

// text adds a text or thinking delta.
func (s *Stream) text(dst []byte, b block, delta string) []byte {
	if delta == "" {
		return dst
	}
	dst = s.openBlock(dst, b)
	return s.enc.delta(dst, s, delta)
}

// signature completes the open thinking block (or an empty one).
func (s *Stream) signature(dst []byte, v sig) []byte {
	if v.fam == 0 || v.val == "" {
		return dst
	}
	dst = s.openBlock(dst, blockThinking)
	return s.enc.signature(dst, s, v)
}

// toolStart opens a tool call; name is the upstream's.
func (s *Stream) toolStart(dst []byte, id, name string) []byte {
	s.closeBlockFor(&dst)
	s.callName = strings.Clone(s.t.clientName(name)) // data is the caller's buffer
	s.callID = strings.Clone(id)
	s.custom = s.t.custom[s.callName]
	s.calls++
	return s.openBlock(dst, blockTool)
}

func (s *Stream) closeBlockFor(dst *[]byte) { *dst = s.closeBlock(s.begin(*dst)) }

// args adds a delta of the open call's arguments (JSON text).
func (s *Stream) args(dst []byte, delta string) []byte {
	if s.open != blockTool || delta == "" {
		return dst
	}
	return s.enc.delta(dst, s, delta)
}

// redactedBlock adds a whole redacted thinking block.
func (s *Stream) redactedBlock(dst []byte, data string) []byte {
	s.closeBlockFor(&dst)
	s.redacted = strings.Clone(data)
	dst = s.openBlock(dst, blockRedacted)
	return s.closeBlock(dst)
}

// finish ends the reply with the stop reason and usage learned.
func (s *Stream) finish(dst []byte) []byte {
	if s.finished {
		return dst
	}
	dst = s.closeBlock(s.begin(dst))
	if s.calls > 0 && s.stop == stopEnd {
		s.stop = stopTool
	}
	s.finished = true
	return s.enc.finish(dst, s)
}

func (s *Stream) fail(dst []byte, status int, msg string) []byte {
	if s.finished {
		return dst
	}
	s.finished = true
	return s.enc.fail(dst, s, status, msg)
}

// upstreamFailed ends the stream with the upstream's own error.
func (s *Stream) upstreamFailed(dst []byte, status int, msg string) []byte {
	if msg == "" {
		msg = "upstream error"
	}
	if !s.finished {
		s.failed = strings.Clone(msg)
	}
	return s.fail(dst, status, msg)
}

// clientID gives an upstream id the prefix the client's ids have.
func clientID(prefix, id string) string {
	if strings.HasPrefix(id, prefix) {
		return id
	}
	return prefix + id
}

// appendEvent frames an SSE event with a name.
func appendEventHead(dst []byte, name string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	return append(dst, "\ndata: "...)
}
