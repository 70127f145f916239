// Package format writes an answer's events in streamgate's own wire
// formats: plain text (the answer and nothing else), Server-Sent Events
// and NDJSON. /stream speaks them (streaming/native), and so does
// /generate?stream=1 (streaming/original); the chat page, curl and
// fetch()-based UIs read them. The formats are described in the HTTP API
// reference, streaming/README.md.
//
// Every encoder writes an event with one Emit of a reused buffer, so a
// delta costs no allocation (BenchmarkEncodeDelta).
package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/streamgate/streamgate/streaming"
)

// Format is a response encoding of the same event sequence.
type Format string

// The response formats, chosen by ?format= or the Accept header.
const (
	Text   Format = "text"
	SSE    Format = "sse"
	NDJSON Format = "ndjson"
)

// Negotiate picks the format: ?format= wins, then the first of the Accept
// header's media types that streamgate speaks, then text.
func Negotiate(r *http.Request) (Format, *streaming.Error) {
	if q, ok := r.URL.Query()["format"]; ok {
		switch f := Format(strings.ToLower(strings.Join(q, ""))); f {
		case Text, SSE, NDJSON:
			return f, nil
		default:
			return "", streaming.Invalid("format must be text, sse or ndjson (got %q)", streaming.Truncate(string(f), 40))
		}
	}
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "text/event-stream":
			return SSE, nil
		case "application/x-ndjson", "application/ndjson", "application/jsonl":
			return NDJSON, nil
		case "text/plain":
			return Text, nil
		}
	}
	return Text, nil
}

// AcceptsStream reports whether an Accept header names one of the formats
// (a route that answers whole JSON by default streams for it).
func AcceptsStream(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "text/plain", "text/event-stream", "application/x-ndjson", "application/ndjson", "application/jsonl":
			return true
		}
	}
	return false
}

// Encoding is the relay's encoding for f.
func Encoding(f Format) streaming.Encoding {
	return streaming.Encoding{
		Format:      string(f),
		ContentType: ContentType(f),
		NewEncoder:  func(fw *streaming.FlushWriter, _ streaming.StartEvent) streaming.Encoder { return NewEncoder(f, fw) },
		KeepAlives:  f != Text,
	}
}

// NewEncoder is f's encoder writing to fw.
func NewEncoder(f Format, fw *streaming.FlushWriter) streaming.Encoder {
	switch f {
	case SSE:
		return &sseEncoder{fw}
	case NDJSON:
		return &ndjsonEncoder{fw}
	default:
		return &textEncoder{fw}
	}
}

// ContentType is f's Content-Type.
func ContentType(f Format) string {
	switch f {
	case SSE:
		return "text/event-stream; charset=utf-8"
	case NDJSON:
		return "application/x-ndjson; charset=utf-8"
	default:
		return "text/plain; charset=utf-8"
	}
}

// textEncoder writes the answer's text and nothing else.
type textEncoder struct{ *streaming.FlushWriter }

func (e *textEncoder) Start(streaming.StartEvent) error            { return e.Flush() }
func (e *textEncoder) Text(text string) error                      { return e.EmitString(text) }
func (e *textEncoder) Reasoning(string) error                      { return nil }
func (e *textEncoder) ReasoningSignature(string) error             { return nil }
func (e *textEncoder) RedactedReasoning([]byte) error              { return nil }
func (e *textEncoder) ToolStart(*streaming.ToolCall) error         { return nil }
func (e *textEncoder) ToolInput(*streaming.ToolCall, string) error { return nil }
func (e *textEncoder) ToolEnd(*streaming.ToolCall) error           { return nil }
func (e *textEncoder) KeepAlive() error                            { return nil }
func (e *textEncoder) Done(streaming.DoneEvent) error              { return nil }
func (e *textEncoder) Fail(*streaming.Error) error                 { return streaming.ErrAborted }

// sseEncoder writes Server-Sent Events: event: start, delta, reasoning,
// tool_use, done, error, and ": keep-alive" comments that idle timeouts see
// as traffic.
type sseEncoder struct{ *streaming.FlushWriter }

func (e *sseEncoder) Start(ev streaming.StartEvent) error {
	e.Buf = append(e.Buf[:0], "event: start\ndata: "...)
	e.Buf = appendStart(e.Buf, ev)
	return e.Emit(append(e.Buf, "\n\n"...))
}

func (e *sseEncoder) Text(text string) error {
	e.Buf = append(e.Buf[:0], "event: delta\ndata: {\"text\":"...)
	e.Buf = streaming.AppendJSONString(e.Buf, text)
	return e.Emit(append(e.Buf, "}\n\n"...))
}

func (e *sseEncoder) Reasoning(text string) error {
	e.Buf = append(e.Buf[:0], "event: reasoning\ndata: {\"text\":"...)
	e.Buf = streaming.AppendJSONString(e.Buf, text)
	return e.Emit(append(e.Buf, "}\n\n"...))
}

// Signatures and redacted reasoning are for clients that send a
// conversation's reasoning back; streamgate's own formats carry none.
func (e *sseEncoder) ReasoningSignature(string) error             { return nil }
func (e *sseEncoder) RedactedReasoning([]byte) error              { return nil }
func (e *sseEncoder) ToolStart(*streaming.ToolCall) error         { return nil }
func (e *sseEncoder) ToolInput(*streaming.ToolCall, string) error { return nil }

func (e *sseEncoder) ToolEnd(tc *streaming.ToolCall) error {
	e.Buf = append(e.Buf[:0], "event: tool_use\ndata: "...)
	e.Buf = appendToolUse(e.Buf, tc)
	return e.Emit(append(e.Buf, "\n\n"...))
}

func (e *sseEncoder) KeepAlive() error { return e.EmitString(": keep-alive\n\n") }

func (e *sseEncoder) Done(ev streaming.DoneEvent) error {
	e.Buf = append(e.Buf[:0], "event: done\ndata: "...)
	e.Buf = appendDone(e.Buf, ev)
	return e.Emit(append(e.Buf, "\n\n"...))
}

func (e *sseEncoder) Fail(err *streaming.Error) error {
	e.Buf = append(e.Buf[:0], "event: error\ndata: "...)
	e.Buf = appendError(e.Buf, err)
	return e.Emit(append(e.Buf, "\n\n"...))
}

// ndjsonEncoder writes the same events as SSE, one JSON object a line with
// a "type" field; a keep-alive is {"type":"keep-alive"}.
type ndjsonEncoder struct{ *streaming.FlushWriter }

func (e *ndjsonEncoder) Start(ev streaming.StartEvent) error {
	e.Buf = appendStart(append(e.Buf[:0], `{"type":"start",`...), ev)
	return e.Emit(append(e.Buf, '\n'))
}

func (e *ndjsonEncoder) Text(text string) error {
	e.Buf = append(e.Buf[:0], `{"type":"delta","text":`...)
	e.Buf = streaming.AppendJSONString(e.Buf, text)
	return e.Emit(append(e.Buf, "}\n"...))
}

func (e *ndjsonEncoder) Reasoning(text string) error {
	e.Buf = append(e.Buf[:0], `{"type":"reasoning","text":`...)
	e.Buf = streaming.AppendJSONString(e.Buf, text)
	return e.Emit(append(e.Buf, "}\n"...))
}

func (e *ndjsonEncoder) ReasoningSignature(string) error             { return nil }
func (e *ndjsonEncoder) RedactedReasoning([]byte) error              { return nil }
func (e *ndjsonEncoder) ToolStart(*streaming.ToolCall) error         { return nil }
func (e *ndjsonEncoder) ToolInput(*streaming.ToolCall, string) error { return nil }

func (e *ndjsonEncoder) ToolEnd(tc *streaming.ToolCall) error {
	e.Buf = appendToolUse(append(e.Buf[:0], `{"type":"tool_use",`...), tc)
	return e.Emit(append(e.Buf, '\n'))
}

func (e *ndjsonEncoder) KeepAlive() error { return e.EmitString("{\"type\":\"keep-alive\"}\n") }

func (e *ndjsonEncoder) Done(ev streaming.DoneEvent) error {
	e.Buf = appendDone(append(e.Buf[:0], `{"type":"done",`...), ev)
	return e.Emit(append(e.Buf, '\n'))
}

func (e *ndjsonEncoder) Fail(err *streaming.Error) error {
	e.Buf = appendError(append(e.Buf[:0], `{"type":"error",`...), err)
	return e.Emit(append(e.Buf, '\n'))
}

// The append functions write the events' JSON by hand (a test checks them
// against encoding/json). Each expects buf to end either empty or after an
// opening `{...,`.

func appendStart(buf []byte, ev streaming.StartEvent) []byte {
	buf = openObject(buf)
	buf = append(buf, `"requestId":`...)
	buf = streaming.AppendJSONString(buf, ev.RequestID)
	buf = append(buf, `,"modelId":`...)
	buf = streaming.AppendJSONString(buf, ev.ModelID)
	buf = append(buf, `,"maxTokens":`...)
	buf = strconv.AppendInt(buf, int64(ev.MaxTokens), 10)
	return append(buf, '}')
}

func appendDone(buf []byte, ev streaming.DoneEvent) []byte {
	buf = openObject(buf)
	buf = append(buf, `"stopReason":`...)
	buf = streaming.AppendJSONString(buf, ev.StopReason)
	buf = fmt.Appendf(buf, `,"usage":{"inputTokens":%d,"outputTokens":%d,"totalTokens":%d,"cacheReadInputTokens":%d,"cacheWriteInputTokens":%d}`,
		ev.Usage.InputTokens, ev.Usage.OutputTokens, ev.Usage.TotalTokens, ev.Usage.CacheReadInputTokens, ev.Usage.CacheWriteInputTokens)
	buf = fmt.Appendf(buf, `,"timings":{"timeToFirstTokenMs":%d,"durationMs":%d,"upstreamLatencyMs":%d}}`,
		ev.Timings.TimeToFirstTokenMs, ev.Timings.DurationMs, ev.Timings.UpstreamLatencyMs)
	return buf
}

func appendError(buf []byte, err *streaming.Error) []byte {
	buf = openObject(buf)
	buf = append(buf, `"code":`...)
	buf = streaming.AppendJSONString(buf, err.Code)
	buf = append(buf, `,"message":`...)
	buf = streaming.AppendJSONString(buf, err.Message)
	buf = append(buf, `,"retryable":`...)
	buf = strconv.AppendBool(buf, err.Retryable)
	return append(buf, '}')
}

// appendToolUse writes a complete tool call: {"id","name","input"}, the
// input as the JSON object the model wrote (an empty input is {}; input
// that is not a JSON object is passed as a string, never spliced in raw).
func appendToolUse(buf []byte, tc *streaming.ToolCall) []byte {
	buf = openObject(buf)
	buf = append(buf, `"id":`...)
	buf = streaming.AppendJSONString(buf, tc.ID)
	buf = append(buf, `,"name":`...)
	buf = streaming.AppendJSONString(buf, tc.Name)
	buf = append(buf, `,"input":`...)
	buf = appendToolInput(buf, tc.Input)
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
	return streaming.AppendJSONString(buf, string(input))
}

// openObject starts a JSON object unless buf already holds an open one
// (NDJSON's `{"type":"...",` prefix).
func openObject(buf []byte) []byte {
	if len(buf) > 0 && buf[len(buf)-1] == ',' {
		return buf
	}
	return append(buf, '{')
}
