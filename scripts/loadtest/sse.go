package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Event is one dispatched server-sent event.
type Event struct {
	// Type is the event field, or "message" when the event had none, as in
	// the browser's EventSource.
	Type string
	// Data is the data lines joined with "\n".
	Data string
	// ID is the last event ID seen so far (it persists across events).
	ID string
}

// ErrLineTooLong is returned by SSEReader.Next when a line exceeds
// maxSSELine: a misbehaving server must not make the load tool grow its
// memory without bound.
var ErrLineTooLong = errors.New("sse: line too long")

// maxSSELine bounds one SSE line. streamgate's events are small (a delta is
// a few words); a megabyte is far beyond any legitimate one.
const maxSSELine = 1 << 20

// SSEReader reads server-sent events from a stream that arrives in chunks of
// any size. It follows the WHATWG event-stream parsing rules that browsers
// use, so that it judges a stream the way a browser chat UI would:
//
//   - lines end with LF, CRLF or a lone CR (a CR at the end of one chunk and
//     the LF at the start of the next are one line ending);
//   - a line starting with ':' is a comment (streamgate's ": keep-alive");
//   - "field: value" strips one space after the colon, a line without a
//     colon is a field with an empty value;
//   - several data lines in one event are joined with "\n";
//   - a blank line dispatches the event, but only if it had data;
//   - an event not terminated by a blank line before the end of the stream
//     is discarded (so a stream cut in the middle of "event: done" is not
//     complete).
//
// An event is returned as soon as its terminating blank line has been read:
// the reader never waits for more bytes to decide where a line ends, which
// matters for measuring when the first delta arrived.
type SSEReader struct {
	br     *bufio.Reader
	line   []byte // a line that spans more than one buffer fill
	skipLF bool   // the previous line ended with CR: a following LF belongs to it
	first  bool   // no line read yet: a leading BOM is stripped

	evType  string
	data    []byte
	hasData bool
	lastID  string

	// Comments counts comment lines (keep-alives) read so far.
	Comments int
}

// NewSSEReader returns a reader of the events in r. The bufio.Reader it
// wraps r in is 32 KiB, enough for many events per Read of the body.
func NewSSEReader(r io.Reader) *SSEReader {
	return newSSEReaderSize(r, 32<<10)
}

// newSSEReaderSize lets tests use a tiny buffer, so that lines span fills.
func newSSEReaderSize(r io.Reader, size int) *SSEReader {
	return &SSEReader{br: bufio.NewReaderSize(r, size), first: true}
}

// Next returns the next event. At the end of the stream it returns io.EOF
// (any unterminated event is dropped); a read error of the underlying
// reader is returned as is.
func (s *SSEReader) Next() (Event, error) {
	for {
		line, err := s.readLine()
		if err != nil {
			s.evType, s.data, s.hasData = "", s.data[:0], false
			return Event{}, err
		}
		if s.first {
			s.first = false
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if len(line) == 0 {
			if !s.hasData {
				s.evType = ""
				continue
			}
			ev := Event{Type: s.evType, Data: string(s.data), ID: s.lastID}
			if ev.Type == "" {
				ev.Type = "message"
			}
			s.evType, s.data, s.hasData = "", s.data[:0], false
			return ev, nil
		}
		if line[0] == ':' {
			s.Comments++
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found {
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			s.evType = string(value)
		case "data":
			if s.hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
			s.hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				s.lastID = string(value)
			}
		default:
			// "retry" and unknown fields do not matter to a load tool.
		}
	}
}

// readLine returns the next line without its line ending. The slice is
// valid until the next call. It reads only what is already buffered, or
// blocks for at least one more byte when nothing is, so a line is returned
// as soon as its ending arrives.
func (s *SSEReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		if s.br.Buffered() == 0 {
			if _, err := s.br.Peek(1); err != nil {
				return nil, err
			}
		}
		buf, _ := s.br.Peek(s.br.Buffered())
		if s.skipLF {
			s.skipLF = false
			if buf[0] == '\n' {
				_, _ = s.br.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			if len(s.line)+len(buf) > maxSSELine {
				return nil, ErrLineTooLong
			}
			s.line = append(s.line, buf...)
			_, _ = s.br.Discard(len(buf))
			continue
		}
		if len(s.line)+i > maxSSELine {
			return nil, ErrLineTooLong
		}
		s.skipLF = buf[i] == '\r'
		var line []byte
		if len(s.line) == 0 {
			// The whole line is in the buffer: no copy. Discard does not
			// overwrite it; only the next fill does.
			line = buf[:i]
		} else {
			s.line = append(s.line, buf[:i]...)
			line = s.line
		}
		_, _ = s.br.Discard(i + 1)
		return line, nil
	}
}
