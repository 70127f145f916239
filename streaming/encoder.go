package streaming

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// Format is a response encoding of the same event sequence.
type Format string

// The response formats, chosen by ?format= or the Accept header.
const (
	FormatText   Format = "text"
	FormatSSE    Format = "sse"
	FormatNDJSON Format = "ndjson"
)

// negotiateFormat picks the format: ?format= wins, then the first of the
// Accept header's media types that streamgate speaks, then text.
func negotiateFormat(r *http.Request) (Format, *Error) {
	if q, ok := r.URL.Query()["format"]; ok {
		switch f := Format(strings.ToLower(strings.Join(q, ""))); f {
		case FormatText, FormatSSE, FormatNDJSON:
			return f, nil
		default:
			return "", invalid("format must be text, sse or ndjson (got %q)", truncate(string(f), 40))
		}
	}
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "text/event-stream":
			return FormatSSE, nil
		case "application/x-ndjson", "application/ndjson", "application/jsonl":
			return FormatNDJSON, nil
		case "text/plain":
			return FormatText, nil
		}
	}
	return FormatText, nil
}

// startEvent opens an SSE or NDJSON stream: which request and model this
// is, and the output-token cap in effect after the operator's cap.
type startEvent struct {
	RequestID string `json:"requestId"`
	ModelID   string `json:"modelId"`
	MaxTokens int    `json:"maxTokens"`
}

// doneEvent closes a complete answer.
type doneEvent struct {
	StopReason string  `json:"stopReason"`
	Usage      usage   `json:"usage"`
	Timings    timings `json:"timings"`
}

type usage struct {
	InputTokens  int `json:"inputTokens"`
	OutputTokens int `json:"outputTokens"`
	TotalTokens  int `json:"totalTokens"`
}

type timings struct {
	TimeToFirstTokenMs int64 `json:"timeToFirstTokenMs"`
	DurationMs         int64 `json:"durationMs"`
	UpstreamLatencyMs  int64 `json:"upstreamLatencyMs"`
}

// errAborted tells the stream loop that the encoder cannot report an error
// in-band, so the response must be aborted instead of ended.
var errAborted = errors.New("response aborted")

// encoder writes one event at a time and flushes it before returning, so
// that each event reaches the client as soon as it exists. Every method
// returns the write error when the client has gone.
type encoder interface {
	start(startEvent) error
	// delta writes a piece of the answer's text.
	delta(text string) error
	// reasoning writes a piece of the model's reasoning (thinking) text.
	reasoning(text string) error
	// toolStart, toolInput and toolEnd follow one tool call of the model:
	// its id and name, each fragment of its input JSON, and its end (when
	// tc.input holds the whole input).
	toolStart(tc *toolCall) error
	toolInput(tc *toolCall, fragment string) error
	toolEnd(tc *toolCall) error
	keepAlive() error
	// done ends a complete answer, or one the client cancelled
	// (StopReason "cancelled").
	done(doneEvent) error
	// fail reports a mid-stream error in-band, or returns errAborted when
	// the format has no way to say it (text).
	fail(*Error) error
}

// toolCall is one tool call the model is making.
type toolCall struct {
	index    int // among this answer's tool calls, from 0 (OpenAI's tool_calls index)
	id, name string
	input    []byte // the input JSON received so far
}

// stopCancelled is the stop reason of an answer its client cancelled.
const stopCancelled = "cancelled"

// flushWriter is the shared body writer of the encoders: it writes, flushes
// and counts. buf is reused from event to event, so that encoding a delta
// does not allocate once the buffer has grown to the size of a delta.
type flushWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	buf   []byte
	bytes int64
	// writing is set while a write (and its flush) is under way, so that a
	// watchdog can tell a client that stopped reading from a silent
	// upstream.
	writing atomic.Bool
}

func newFlushWriter(w http.ResponseWriter) *flushWriter {
	return &flushWriter{w: w, rc: http.NewResponseController(w), buf: make([]byte, 0, 256)}
}

func (fw *flushWriter) emit(b []byte) error {
	fw.writing.Store(true)
	defer fw.writing.Store(false)
	n, err := fw.w.Write(b)
	fw.bytes += int64(n)
	if err != nil {
		return err
	}
	return fw.flush()
}

func (fw *flushWriter) emitString(s string) error {
	fw.buf = append(fw.buf[:0], s...)
	return fw.emit(fw.buf)
}

// flush pushes what was written to the client. A ResponseWriter that cannot
// flush (a test recorder) is not an error: it has nothing to hold back.
func (fw *flushWriter) flush() error {
	if err := fw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

func newEncoder(f Format, fw *flushWriter) encoder {
	switch f {
	case FormatSSE:
		return &sseEncoder{fw}
	case FormatNDJSON:
		return &ndjsonEncoder{fw}
	default:
		return &textEncoder{fw}
	}
}

func contentType(f Format) string {
	switch f {
	case FormatSSE:
		return "text/event-stream; charset=utf-8"
	case FormatNDJSON:
		return "application/x-ndjson; charset=utf-8"
	default:
		return "text/plain; charset=utf-8"
	}
}

// textEncoder writes the answer's text and nothing else.
type textEncoder struct{ *flushWriter }

func (e *textEncoder) start(startEvent) error { return e.flush() }
func (e *textEncoder) delta(text string) error {
	return e.emitString(text)
}
func (e *textEncoder) reasoning(string) error            { return nil }
func (e *textEncoder) toolStart(*toolCall) error         { return nil }
func (e *textEncoder) toolInput(*toolCall, string) error { return nil }
func (e *textEncoder) toolEnd(*toolCall) error           { return nil }
func (e *textEncoder) keepAlive() error                  { return nil }
func (e *textEncoder) done(doneEvent) error              { return nil }
func (e *textEncoder) fail(*Error) error                 { return errAborted }

// sseEncoder writes Server-Sent Events: event: start, delta, done, error,
// and ": keep-alive" comments that idle timeouts see as traffic.
type sseEncoder struct{ *flushWriter }

func (e *sseEncoder) start(ev startEvent) error {
	e.buf = append(e.buf[:0], "event: start\ndata: "...)
	e.buf = appendStart(e.buf, ev)
	return e.emit(append(e.buf, "\n\n"...))
}

func (e *sseEncoder) delta(text string) error {
	e.buf = append(e.buf[:0], "event: delta\ndata: {\"text\":"...)
	e.buf = appendJSONString(e.buf, text)
	return e.emit(append(e.buf, "}\n\n"...))
}

func (e *sseEncoder) reasoning(text string) error {
	e.buf = append(e.buf[:0], "event: reasoning\ndata: {\"text\":"...)
	e.buf = appendJSONString(e.buf, text)
	return e.emit(append(e.buf, "}\n\n"...))
}

func (e *sseEncoder) toolStart(*toolCall) error         { return nil }
func (e *sseEncoder) toolInput(*toolCall, string) error { return nil }

func (e *sseEncoder) toolEnd(tc *toolCall) error {
	e.buf = append(e.buf[:0], "event: tool_use\ndata: "...)
	e.buf = appendToolUse(e.buf, tc)
	return e.emit(append(e.buf, "\n\n"...))
}

func (e *sseEncoder) keepAlive() error { return e.emitString(": keep-alive\n\n") }

func (e *sseEncoder) done(ev doneEvent) error {
	e.buf = append(e.buf[:0], "event: done\ndata: "...)
	e.buf = appendDone(e.buf, ev)
	return e.emit(append(e.buf, "\n\n"...))
}

func (e *sseEncoder) fail(err *Error) error {
	e.buf = append(e.buf[:0], "event: error\ndata: "...)
	e.buf = appendError(e.buf, err)
	return e.emit(append(e.buf, "\n\n"...))
}

// ndjsonEncoder writes the same events as SSE, one JSON object a line with
// a "type" field; a keep-alive is {"type":"keep-alive"}.
type ndjsonEncoder struct{ *flushWriter }

func (e *ndjsonEncoder) start(ev startEvent) error {
	e.buf = appendStart(append(e.buf[:0], `{"type":"start",`...), ev)
	return e.emit(append(e.buf, '\n'))
}

func (e *ndjsonEncoder) delta(text string) error {
	e.buf = append(e.buf[:0], `{"type":"delta","text":`...)
	e.buf = appendJSONString(e.buf, text)
	return e.emit(append(e.buf, "}\n"...))
}

func (e *ndjsonEncoder) reasoning(text string) error {
	e.buf = append(e.buf[:0], `{"type":"reasoning","text":`...)
	e.buf = appendJSONString(e.buf, text)
	return e.emit(append(e.buf, "}\n"...))
}

func (e *ndjsonEncoder) toolStart(*toolCall) error         { return nil }
func (e *ndjsonEncoder) toolInput(*toolCall, string) error { return nil }

func (e *ndjsonEncoder) toolEnd(tc *toolCall) error {
	e.buf = appendToolUse(append(e.buf[:0], `{"type":"tool_use",`...), tc)
	return e.emit(append(e.buf, '\n'))
}

func (e *ndjsonEncoder) keepAlive() error { return e.emitString("{\"type\":\"keep-alive\"}\n") }

func (e *ndjsonEncoder) done(ev doneEvent) error {
	e.buf = appendDone(append(e.buf[:0], `{"type":"done",`...), ev)
	return e.emit(append(e.buf, '\n'))
}

func (e *ndjsonEncoder) fail(err *Error) error {
	e.buf = appendError(append(e.buf[:0], `{"type":"error",`...), err)
	return e.emit(append(e.buf, '\n'))
}

// The append functions write the events' JSON by hand: they run once or
// per delta on every stream, and encoding/json's reflection would cost an
// allocation or more per event. A test checks them against encoding/json.
// Each expects buf to end either empty or after an opening `{...,`.

func appendStart(buf []byte, ev startEvent) []byte {
	buf = openObject(buf)
	buf = append(buf, `"requestId":`...)
	buf = appendJSONString(buf, ev.RequestID)
	buf = append(buf, `,"modelId":`...)
	buf = appendJSONString(buf, ev.ModelID)
	buf = append(buf, `,"maxTokens":`...)
	buf = strconv.AppendInt(buf, int64(ev.MaxTokens), 10)
	return append(buf, '}')
}

func appendDone(buf []byte, ev doneEvent) []byte {
	buf = openObject(buf)
	buf = append(buf, `"stopReason":`...)
	buf = appendJSONString(buf, ev.StopReason)
	buf = fmt.Appendf(buf, `,"usage":{"inputTokens":%d,"outputTokens":%d,"totalTokens":%d}`,
		ev.Usage.InputTokens, ev.Usage.OutputTokens, ev.Usage.TotalTokens)
	buf = fmt.Appendf(buf, `,"timings":{"timeToFirstTokenMs":%d,"durationMs":%d,"upstreamLatencyMs":%d}}`,
		ev.Timings.TimeToFirstTokenMs, ev.Timings.DurationMs, ev.Timings.UpstreamLatencyMs)
	return buf
}

func appendError(buf []byte, err *Error) []byte {
	buf = openObject(buf)
	buf = append(buf, `"code":`...)
	buf = appendJSONString(buf, err.Code)
	buf = append(buf, `,"message":`...)
	buf = appendJSONString(buf, err.Message)
	buf = append(buf, `,"retryable":`...)
	buf = strconv.AppendBool(buf, err.Retryable)
	return append(buf, '}')
}

// appendToolUse writes a complete tool call: {"id","name","input"}, the
// input as the JSON object the model wrote (an empty input is {}; input
// that is not a JSON object is passed as a string, never spliced in raw).
func appendToolUse(buf []byte, tc *toolCall) []byte {
	buf = openObject(buf)
	buf = append(buf, `"id":`...)
	buf = appendJSONString(buf, tc.id)
	buf = append(buf, `,"name":`...)
	buf = appendJSONString(buf, tc.name)
	buf = append(buf, `,"input":`...)
	buf = appendToolInput(buf, tc.input)
	return append(buf, '}')
}

func appendToolInput(buf, input []byte) []byte {
	trimmed := bytes.TrimSpace(input)
	if len(trimmed) == 0 {
		return append(buf, "{}"...)
	}
	// Compact, so that a model's pretty-printed JSON cannot break an SSE
	// or NDJSON line.
	var compact bytes.Buffer
	if trimmed[0] == '{' && json.Compact(&compact, trimmed) == nil {
		return append(buf, compact.Bytes()...)
	}
	return appendJSONString(buf, string(input))
}

// openObject starts a JSON object unless buf already holds an open one
// (NDJSON's `{"type":"...",` prefix).
func openObject(buf []byte) []byte {
	if len(buf) > 0 && buf[len(buf)-1] == ',' {
		return buf
	}
	return append(buf, '{')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD
// (as encoding/json does); U+2028 and U+2029 are escaped so the output is
// also safe inside a JavaScript string.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '"', '\\':
				buf = append(buf, '\\', b)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
