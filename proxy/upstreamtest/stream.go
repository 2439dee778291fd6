package upstreamtest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// errCut ends a KindCut stream: fasthttp sees a body read error, so it
// closes the connection without writing the terminating zero chunk.
var errCut = errors.New("upstreamtest: stream cut")

// frame is one SSE event on the wire and the pause before it.
type frame struct {
	b    []byte
	wait time.Duration
}

// stream writes a 200 SSE reply for st. Streaming goes through a frameReader
// passed to SetBodyStream rather than SetBodyStreamWriter: fasthttp writes
// and flushes one chunk per Read, which gives the same per-event flushing
// without a pipe goroutine, and a Read error lets a step cut the connection
// mid-body, which a stream writer cannot do.
func (s *Server) stream(ctx *fasthttp.RequestCtx, st Step, model string, u Usage) {
	id := "msg_mock_" + strconv.FormatInt(s.seq.Add(1), 10)
	n := st.Events
	if n == 0 && st.Kind == KindOK {
		n = 3
	}
	var events [][]byte
	end := io.EOF
	switch st.Kind {
	case KindReplay:
		events = splitFrames([]byte(st.Body))
	case KindStreamError:
		start := StreamEvents(id, model, u, 0)[0]
		events = [][]byte{AppendSSE(nil, start.Name, start.Data), AppendSSE(nil, overloadedEvent.Name, overloadedEvent.Data)}
	default:
		all := StreamEvents(id, model, u, n)
		if st.Kind == KindCut {
			// message_start, content_block_start, ping, then n deltas.
			all, end = all[:min(len(all), 3+n)], errCut
		}
		for _, e := range all {
			events = append(events, AppendSSE(nil, e.Name, e.Data))
		}
	}
	s.sendFrames(ctx, st, events, end, anthropicHalf)
}

// anthropicHalf is the delta a mid-chunk cut sends half of.
var anthropicHalf = []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" cut\"}}\n\n")

// sendFrames writes events, each a framed SSE event, as a 200 stream
// paced by st (StreamDelay between events, Silence after the first), then
// ends with end: io.EOF finishes the body, errCut drops the connection.
// With st.MidChunk a cut hijacks the connection and sends half of half.
func (s *Server) sendFrames(ctx *fasthttp.RequestCtx, st Step, events [][]byte, end error, half []byte) {
	frames := make([]frame, len(events))
	for i, e := range events {
		frames[i].b = e
		if i > 0 {
			frames[i].wait = st.StreamDelay
		}
		if i == 1 {
			frames[i].wait += st.Silence
		}
	}
	ctx.SetStatusCode(200)
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	if end == errCut && st.MidChunk {
		s.hijackCut(ctx, st, frames, half)
		return
	}
	ctx.Response.ImmediateHeaderFlush = true
	ctx.SetBodyStream(&frameReader{s: s, frames: frames, end: end}, -1)
}

// hijackCut writes the response itself on the hijacked connection: the
// frames as chunks, then a chunk header announcing a last frame of which
// only half follows, then it closes. Clients see an unexpected EOF inside
// a chunk, where a cut between chunks may read as a clean end of body.
func (s *Server) hijackCut(ctx *fasthttp.RequestCtx, st Step, frames []frame, half []byte) {
	for k, v := range st.Headers {
		ctx.Response.Header.Set(k, v)
	}
	ctx.Response.Header.SetContentLength(-1)
	ctx.Response.Header.SetConnectionClose()
	head := append([]byte(nil), ctx.Response.Header.Header()...)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		if _, err := c.Write(head); err != nil {
			return
		}
		for _, f := range frames {
			if !s.wait(f.wait) {
				return
			}
			if _, err := c.Write(appendChunk(nil, f.b)); err != nil {
				return
			}
		}
		if !s.wait(st.StreamDelay) {
			return
		}
		b := strconv.AppendInt(nil, int64(len(half)), 16)
		b = append(append(b, "\r\n"...), half[:len(half)/2]...)
		_, _ = c.Write(b) // the connection closes when this returns
	})
}

// appendChunk frames b as one HTTP/1.1 chunk.
func appendChunk(dst, b []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(b)), 16)
	dst = append(dst, "\r\n"...)
	dst = append(dst, b...)
	return append(dst, "\r\n"...)
}

// splitFrames cuts raw SSE bytes after each blank line, so that each
// event becomes its own flushed chunk. Both LF and CRLF are honoured.
func splitFrames(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\n\n"))
		j := bytes.Index(b, []byte("\r\n\r\n"))
		switch {
		case j >= 0 && (i < 0 || j < i):
			i = j + 4
		case i >= 0:
			i += 2
		default:
			i = len(b)
		}
		out = append(out, b[:i])
		b = b[i:]
	}
	return out
}

// frameReader yields frames one per Read (splitting only frames larger
// than the caller's buffer), sleeping before each, then returns end.
// fasthttp calls Read from the connection's goroutine after the handler
// returned, so it holds no *RequestCtx.
type frameReader struct {
	s      *Server
	frames []frame
	off    int // bytes of frames[0] already returned
	end    error
}

func (r *frameReader) Read(p []byte) (int, error) {
	if len(r.frames) == 0 {
		return 0, r.end
	}
	f := &r.frames[0]
	if r.off == 0 && !r.s.wait(f.wait) {
		return 0, errClosed
	}
	n := copy(p, f.b[r.off:])
	r.off += n
	if r.off == len(f.b) {
		r.frames, r.off = r.frames[1:], 0
	}
	return n, nil
}
