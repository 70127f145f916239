// Package sse reads Server-Sent Events (text/event-stream) the way a
// browser's EventSource does, from a stream that arrives in chunks of any
// size.
//
// The gateway only writes SSE (its encoders are in streaming/format and
// streaming/openai); this is the one reader of it, for the programs that
// judge what the gateway wrote: the tests (streamtest.ParseSSE), the load
// tester (scripts/loadtest) and the benchmark's latency client
// (scripts/benchmark). They need three things from it: that it judges a
// stream as a browser chat UI would, that it hands over each event the
// moment its last byte has been read (first-delta and per-delta times
// depend on it), and, for the benchmark, that it allocates nothing per
// event (Reader.NextRaw), so that the client measuring the gateway does not
// make garbage on the cores the gateway runs on.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Event is one event with its fields copied into strings, safe to keep.
type Event struct {
	// Type is the event field, empty when the event had none (a browser's
	// EventSource dispatches such an event as "message").
	Type string
	// Data is the data lines joined with "\n"; for a comment, the text after
	// the colon, less one leading space.
	Data string
	// ID is the last event ID seen so far (it persists across events).
	ID string
	// Comment is set for a comment line (": keep-alive"), which Next returns
	// only when Options.Comments asks for them.
	Comment bool
}

// RawEvent is Event without the copies: its slices point into the Reader's
// buffers and are valid only until the next call to NextRaw or Next.
type RawEvent struct {
	Type, Data, ID []byte
	Comment        bool
}

// Options change what a Reader returns; the zero value reads as a browser
// does.
type Options struct {
	// Comments makes Next return each comment line as an event with Comment
	// set, in stream order, when its line ending has been read. A browser
	// ignores comments; a test wants to see when the keep-alives came.
	Comments bool
	// Strict turns what a browser would silently ignore into a
	// *SyntaxError: a line that is not a comment nor an event, data, id or
	// retry field, and an event field whose event has no data (a browser
	// never dispatches it). For tests of a server's own output, where
	// either is a bug.
	Strict bool
	// BufferSize is the size of the read buffer; 0 means 32 KiB, enough for
	// many events per Read of an HTTP body. bufio's minimum (16) applies.
	BufferSize int
}

// ErrLineTooLong is returned by Next when a line exceeds maxLine: a
// misbehaving server must not make a client grow its memory without bound.
var ErrLineTooLong = errors.New("sse: line too long")

// ErrTruncated is returned by Next when the stream ends inside an event:
// in the middle of a line, or after fields that no blank line dispatched.
// The event is dropped, as a browser drops it; the error tells this end
// from a clean one (io.EOF).
var ErrTruncated = errors.New("sse: the stream ends inside an event")

// SyntaxError is a line that Options.Strict refuses.
type SyntaxError struct {
	Line   int    // 1-based line number in the stream
	Text   string // the line, cut to maxQuoted bytes
	Reason string
}

func (e *SyntaxError) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("sse: line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("sse: line %d: %s: %q", e.Line, e.Reason, e.Text)
}

// maxLine bounds one line. streamgate's events are small (a delta is a few
// words); a megabyte is far beyond any legitimate one.
const maxLine = 1 << 20

var bom = []byte("\uFEFF")

// maxQuoted bounds how much of a bad line an error repeats.
const maxQuoted = 100

// Reader reads events. It follows the WHATWG event-stream parsing rules
// that browsers use:
//
//   - lines end with LF, CRLF or a lone CR (a CR at the end of one chunk and
//     the LF at the start of the next are one line ending);
//   - a leading byte order mark is skipped;
//   - a line starting with ':' is a comment (streamgate's ": keep-alive");
//   - "field: value" strips one space after the colon, a line without a
//     colon is a field with an empty value;
//   - several data lines in one event are joined with "\n";
//   - a blank line dispatches the event, but only if it had data;
//   - an id field without NUL sets the last event ID, which every later
//     event carries; retry and unknown fields are ignored;
//   - an event not terminated by a blank line before the end of the stream
//     is discarded (so a stream cut in the middle of "event: done" is not
//     complete).
//
// An event is returned as soon as its terminating blank line has been read:
// the reader never waits for more bytes to decide where a line ends, and
// reads from the underlying reader only when it has used every byte it
// already has.
type Reader struct {
	br   *bufio.Reader
	opts Options
	err  error // sticky: once the stream has ended or failed, Next repeats it

	line    []byte // a line that spans more than one buffer fill
	skipLF  bool   // the previous line ended with CR: a following LF belongs to it
	first   bool   // no line read yet: a leading BOM is stripped
	lineNo  int
	pending bool // a field has been read since the last blank line

	typ     []byte
	data    []byte
	hasData bool
	id      []byte
	idStr   string // string(id), kept so that Next copies the ID once per change

	comments int
}

// NewReader returns a reader of the events in r.
func NewReader(r io.Reader, opts Options) *Reader {
	size := opts.BufferSize
	if size == 0 {
		size = 32 << 10
	}
	return &Reader{br: bufio.NewReaderSize(r, size), opts: opts, first: true}
}

// Comments returns the number of comment lines read so far, whether Next
// returned them or not.
func (r *Reader) Comments() int { return r.comments }

// Next returns the next event. At a clean end of the stream it returns
// io.EOF, and ErrTruncated if the stream ended inside an event; a read
// error of the underlying reader is returned as is. After an error, every
// call returns it again.
func (r *Reader) Next() (Event, error) {
	raw, err := r.NextRaw()
	if err != nil {
		return Event{}, err
	}
	if string(raw.ID) != r.idStr {
		r.idStr = string(raw.ID)
	}
	return Event{Type: string(raw.Type), Data: string(raw.Data), ID: r.idStr, Comment: raw.Comment}, nil
}

// NextRaw is Next without copies: it allocates nothing once its buffers
// have grown to the largest event, and what it returns is valid until the
// next call.
func (r *Reader) NextRaw() (RawEvent, error) {
	if r.err != nil {
		return RawEvent{}, r.err
	}
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && (r.pending || r.partialLine()) {
				err = ErrTruncated
			}
			r.err = err
			return RawEvent{}, err
		}
		if r.first {
			r.first = false
			line = bytes.TrimPrefix(line, bom)
		}
		if len(line) == 0 {
			ev, ok, err := r.dispatch()
			if err != nil {
				r.err = err
				return RawEvent{}, err
			}
			if ok {
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			r.comments++
			if r.opts.Comments {
				return RawEvent{Data: bytes.TrimPrefix(line[1:], []byte(" ")), Comment: true}, nil
			}
			continue
		}
		r.pending = true
		field, value, found := bytes.Cut(line, []byte(":"))
		if found {
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			r.typ = append(r.typ[:0], value...)
		case "data":
			if r.hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			r.hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.id = append(r.id[:0], value...)
			}
		case "retry":
			// Reconnection is the caller's business.
		default:
			if r.opts.Strict {
				r.err = r.syntaxError(line, "not a comment nor an event, data, id or retry field")
				return RawEvent{}, r.err
			}
		}
	}
}

// dispatch ends the event at a blank line: it returns the event if it had
// data, and resets the fields either way.
func (r *Reader) dispatch() (RawEvent, bool, error) {
	typ, data, hasData := r.typ, r.data, r.hasData
	r.typ, r.data, r.hasData, r.pending = r.typ[:0], r.data[:0], false, false
	if !hasData {
		if r.opts.Strict && len(typ) > 0 {
			return RawEvent{}, false, r.syntaxError(nil, fmt.Sprintf("event %q has no data, so a browser never dispatches it", truncate(typ)))
		}
		return RawEvent{}, false, nil
	}
	return RawEvent{Type: typ, Data: data, ID: r.id}, true, nil
}

// partialLine says whether the stream ended in the middle of a line: readLine
// keeps the bytes after the last line ending in r.line.
func (r *Reader) partialLine() bool {
	if r.first {
		return len(bytes.TrimPrefix(r.line, bom)) > 0
	}
	return len(r.line) > 0
}

func (r *Reader) syntaxError(line []byte, reason string) *SyntaxError {
	return &SyntaxError{Line: r.lineNo, Text: truncate(line), Reason: reason}
}

func truncate(b []byte) string {
	if len(b) > maxQuoted {
		return string(b[:maxQuoted]) + "…"
	}
	return string(b)
}

// readLine returns the next line without its line ending. The slice is
// valid until the next call. It reads only what is already buffered, or
// blocks for at least one more byte when nothing is, so a line is returned
// as soon as its ending arrives.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				return nil, err
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if r.skipLF {
			r.skipLF = false
			if buf[0] == '\n' {
				_, _ = r.br.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			if len(r.line)+len(buf) > maxLine {
				return nil, ErrLineTooLong
			}
			r.line = append(r.line, buf...)
			_, _ = r.br.Discard(len(buf))
			continue
		}
		if len(r.line)+i > maxLine {
			return nil, ErrLineTooLong
		}
		r.skipLF = buf[i] == '\r'
		r.lineNo++
		var line []byte
		if len(r.line) == 0 {
			// The whole line is in the buffer: no copy. Discard does not
			// overwrite it; only the next fill does.
			line = buf[:i]
		} else {
			r.line = append(r.line, buf[:i]...)
			line = r.line
		}
		_, _ = r.br.Discard(i + 1)
		return line, nil
	}
}
