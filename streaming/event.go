package streaming

import (
	"errors"
	"net/http"
	"sync/atomic"
	"unicode/utf8"
)

// The event sequence of one answer, which every dialect encodes in its own
// wire format: Start, then any number of Text, Reasoning (with its
// ReasoningSignature or RedactedReasoning) and tool calls (ToolStart,
// ToolInput…, ToolEnd), with KeepAlive in silences, then Done or Fail.

// StartEvent opens an answer: which request and model it is, and the
// output-token cap in effect after the operator's cap.
type StartEvent struct {
	RequestID string
	ModelID   string // the Bedrock model that answers
	MaxTokens int
}

// DoneEvent closes a complete answer.
type DoneEvent struct {
	StopReason string // Bedrock's stop reason, or StopCancelled
	Usage      Usage
	Timings    Timings
}

// Usage is an answer's tokens as Bedrock counts them. InputTokens are the
// tokens read from no cache; the cached ones are counted apart (prompt
// caching: written to the cache, or read from it).
type Usage struct {
	InputTokens           int `json:"inputTokens"`
	OutputTokens          int `json:"outputTokens"`
	TotalTokens           int `json:"totalTokens"`
	CacheReadInputTokens  int `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens int `json:"cacheWriteInputTokens,omitempty"`
}

// Timings are an answer's times, in milliseconds.
type Timings struct {
	TimeToFirstTokenMs int64 `json:"timeToFirstTokenMs"`
	DurationMs         int64 `json:"durationMs"`
	UpstreamLatencyMs  int64 `json:"upstreamLatencyMs"`
}

// StopCancelled is the stop reason of an answer its client cancelled.
const StopCancelled = "cancelled"

// ErrAborted is what an Encoder's Fail returns when its format cannot
// report an error in-band (plain text): the relay then aborts the
// response, so that the client cannot take a truncated answer for a
// complete one.
var ErrAborted = errors.New("response aborted")

// Encoder writes one event at a time in a dialect's wire format and
// flushes it before returning, so that each event reaches the client as
// soon as it exists. Every method returns the write error when the client
// has gone. The relay calls an Encoder from one goroutine.
type Encoder interface {
	Start(StartEvent) error
	// Text writes a piece of the answer's text.
	Text(text string) error
	// Reasoning writes a piece of the model's reasoning (thinking) text.
	Reasoning(text string) error
	// ReasoningSignature ends a reasoning block with the signature that a
	// client must send back with the block on its next turn.
	ReasoningSignature(signature string) error
	// RedactedReasoning is reasoning the model's provider encrypted: it
	// means nothing to the client, which sends it back as it came.
	RedactedReasoning(data []byte) error
	// ToolStart, ToolInput and ToolEnd follow one tool call of the model:
	// its id and name, each fragment of its input JSON, and its end (when
	// tc.Input holds the whole input).
	ToolStart(tc *ToolCall) error
	ToolInput(tc *ToolCall, fragment string) error
	ToolEnd(tc *ToolCall) error
	// KeepAlive says "still here" in a silence (HEARTBEAT_SECONDS), for
	// the encodings that can without adding to the answer.
	KeepAlive() error
	// Done ends a complete answer, or one the client cancelled
	// (StopReason StopCancelled).
	Done(DoneEvent) error
	// Fail reports an error after the first byte in-band, or returns
	// ErrAborted when the format has no way to say it.
	Fail(*Error) error
}

// ToolCall is one tool call the model is making.
type ToolCall struct {
	Index    int // among this answer's tool calls, from 0 (OpenAI's tool_calls index)
	ID, Name string
	Input    []byte // the input JSON received so far
}

// FlushWriter is the body writer an Encoder writes through: it writes,
// flushes and counts. Buf is the Encoder's to reuse from event to event,
// so that encoding a delta does not allocate once the buffer has grown to
// the size of a delta.
type FlushWriter struct {
	Buf   []byte
	w     http.ResponseWriter
	rc    *http.ResponseController
	bytes int64
	// writing is set while a write (and its flush) is under way, so that a
	// watchdog can tell a client that stopped reading from a silent
	// upstream.
	writing atomic.Bool
}

// NewFlushWriter writes to w (the relay makes one per answer; tests and
// benchmarks make their own).
func NewFlushWriter(w http.ResponseWriter) *FlushWriter {
	return &FlushWriter{w: w, rc: http.NewResponseController(w), Buf: make([]byte, 0, 256)}
}

// Emit writes b and flushes it.
func (fw *FlushWriter) Emit(b []byte) error {
	fw.writing.Store(true)
	defer fw.writing.Store(false)
	n, err := fw.w.Write(b)
	fw.bytes += int64(n)
	if err != nil {
		return err
	}
	return fw.Flush()
}

// EmitString writes s (through Buf) and flushes it.
func (fw *FlushWriter) EmitString(s string) error {
	fw.Buf = append(fw.Buf[:0], s...)
	return fw.Emit(fw.Buf)
}

// Flush pushes what was written to the client. A ResponseWriter that
// cannot flush (a test recorder) is not an error: it has nothing to hold
// back.
func (fw *FlushWriter) Flush() error {
	if err := fw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, without allocating. Invalid
// UTF-8 becomes U+FFFD (as encoding/json does); U+2028 and U+2029 are
// escaped so the output is also safe inside a JavaScript string. The
// encoders write their events by hand with it: they run once a delta on
// every stream, and encoding/json's reflection would cost an allocation
// or more per event.
func AppendJSONString(buf []byte, s string) []byte {
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
