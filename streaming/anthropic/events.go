package anthropic

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/streamgate/streamgate/streaming"
)

// messageMeta is what the events of one message repeat.
type messageMeta struct {
	id, model     string // model: the name the client sent
	stopSequences []string
}

// blockKind is the kind of the content block the encoder has open.
type blockKind int

const (
	noBlock blockKind = iota
	textBlock
	thinkingBlock
	toolBlock
	redactedBlock
)

// eventEncoder writes Anthropic's streaming events: message_start, then
// each content block as content_block_start, its deltas and
// content_block_stop (the core's events carry no block boundaries: a
// block opens when an event of another kind arrives), then message_delta
// and message_stop. A text delta costs an append of its text and no
// allocation.
type eventEncoder struct {
	*streaming.FlushWriter
	meta  messageMeta
	open  blockKind
	index int // of the open block, or of the next one
}

func newEventEncoder(fw *streaming.FlushWriter, meta messageMeta) *eventEncoder {
	return &eventEncoder{FlushWriter: fw, meta: meta}
}

func (e *eventEncoder) Start(streaming.StartEvent) error {
	b := append(e.Buf[:0], "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	b = streaming.AppendJSONString(b, e.meta.id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = streaming.AppendJSONString(b, e.meta.model)
	// Bedrock reports the usage at the end: message_delta carries it.
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`+"\n\n"...)
	e.Buf = b
	return e.Emit(b)
}

// switchTo closes the open block unless it is of kind, and opens one of
// kind with start (the content_block JSON) when none of kind is open;
// it appends to e.Buf.
func (e *eventEncoder) switchTo(kind blockKind, start string) {
	if e.open == kind {
		return
	}
	e.closeBlock()
	e.Buf = append(e.Buf, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	e.Buf = strconv.AppendInt(e.Buf, int64(e.index), 10)
	e.Buf = append(e.Buf, `,"content_block":`...)
	e.Buf = append(e.Buf, start...)
	e.Buf = append(e.Buf, "}\n\n"...)
	e.open = kind
}

func (e *eventEncoder) closeBlock() {
	if e.open == noBlock {
		return
	}
	e.Buf = append(e.Buf, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	e.Buf = strconv.AppendInt(e.Buf, int64(e.index), 10)
	e.Buf = append(e.Buf, "}\n\n"...)
	e.open = noBlock
	e.index++
}

func (e *eventEncoder) delta(kind, field, value string) {
	e.Buf = append(e.Buf, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	e.Buf = strconv.AppendInt(e.Buf, int64(e.index), 10)
	e.Buf = append(e.Buf, `,"delta":{"type":"`...)
	e.Buf = append(e.Buf, kind...)
	e.Buf = append(e.Buf, `","`...)
	e.Buf = append(e.Buf, field...)
	e.Buf = append(e.Buf, `":`...)
	e.Buf = streaming.AppendJSONString(e.Buf, value)
	e.Buf = append(e.Buf, "}}\n\n"...)
}

func (e *eventEncoder) Text(text string) error {
	e.Buf = e.Buf[:0]
	e.switchTo(textBlock, `{"type":"text","text":""}`)
	e.delta("text_delta", "text", text)
	return e.Emit(e.Buf)
}

func (e *eventEncoder) Reasoning(text string) error {
	e.Buf = e.Buf[:0]
	e.switchTo(thinkingBlock, `{"type":"thinking","thinking":"","signature":""}`)
	e.delta("thinking_delta", "thinking", text)
	return e.Emit(e.Buf)
}

func (e *eventEncoder) ReasoningSignature(signature string) error {
	e.Buf = e.Buf[:0]
	e.switchTo(thinkingBlock, `{"type":"thinking","thinking":"","signature":""}`)
	e.delta("signature_delta", "signature", signature)
	return e.Emit(e.Buf)
}

// RedactedReasoning is a block of its own: data is what the client sends
// back, base64 (Bedrock's redacted content is bytes).
func (e *eventEncoder) RedactedReasoning(data []byte) error {
	e.Buf = e.Buf[:0]
	e.closeBlock()
	start := `{"type":"redacted_thinking","data":"` + base64.StdEncoding.EncodeToString(data) + `"}`
	e.switchTo(redactedBlock, start)
	e.closeBlock()
	return e.Emit(e.Buf)
}

func (e *eventEncoder) ToolStart(tc *streaming.ToolCall) error {
	e.Buf = e.Buf[:0]
	e.closeBlock()
	start := streaming.AppendJSONString([]byte(`{"type":"tool_use","id":`), tc.ID)
	start = append(start, `,"name":`...)
	start = streaming.AppendJSONString(start, tc.Name)
	start = append(start, `,"input":{}}`...)
	e.switchTo(toolBlock, string(start))
	return e.Emit(e.Buf)
}

func (e *eventEncoder) ToolInput(_ *streaming.ToolCall, fragment string) error {
	e.Buf = e.Buf[:0]
	e.delta("input_json_delta", "partial_json", fragment)
	return e.Emit(e.Buf)
}

func (e *eventEncoder) ToolEnd(*streaming.ToolCall) error {
	e.Buf = e.Buf[:0]
	e.closeBlock()
	return e.Emit(e.Buf)
}

func (e *eventEncoder) KeepAlive() error {
	return e.EmitString("event: ping\ndata: {\"type\":\"ping\"}\n\n")
}

// Done closes the open block and ends the message with its stop reason
// and usage, in one write.
func (e *eventEncoder) Done(ev streaming.DoneEvent) error {
	e.Buf = e.Buf[:0]
	e.closeBlock()
	stop, seq := stopReason(ev.StopReason, e.meta.stopSequences)
	b, _ := json.Marshal(messageDelta{
		Type:  "message_delta",
		Delta: stopDelta{StopReason: stop, StopSequence: seq},
		Usage: usageOf(ev.Usage),
	})
	e.Buf = append(e.Buf, "event: message_delta\ndata: "...)
	e.Buf = append(e.Buf, b...)
	e.Buf = append(e.Buf, "\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	return e.Emit(e.Buf)
}

// Fail writes the error as Anthropic streams one; the body then ends,
// without message_stop.
func (e *eventEncoder) Fail(apiErr *streaming.Error) error {
	_, typ := errorType(apiErr)
	b, _ := json.Marshal(errorEnvelope{Type: "error", Error: apiError{Type: typ, Message: apiErr.Message}})
	e.Buf = append(append(append(e.Buf[:0], "event: error\ndata: "...), b...), "\n\n"...)
	return e.Emit(e.Buf)
}

type messageDelta struct {
	Type  string    `json:"type"`
	Delta stopDelta `json:"delta"`
	Usage usage     `json:"usage"`
}

type stopDelta struct {
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// usage is Anthropic's usage of a message.
type usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

func usageOf(u streaming.Usage) usage {
	return usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
		CacheCreationInputTokens: u.CacheWriteInputTokens, CacheReadInputTokens: u.CacheReadInputTokens}
}

// stopReason maps Bedrock's stop reason to Anthropic's, with the stop
// sequence that ended the message when the request named just one
// (Converse does not say which one matched).
func stopReason(bedrock string, stopSequences []string) (string, *string) {
	switch bedrock {
	case "guardrail_intervened", "content_filtered":
		return "refusal", nil
	case "stop_sequence":
		if len(stopSequences) == 1 {
			return bedrock, &stopSequences[0]
		}
	case "":
		return "end_turn", nil
	}
	return bedrock, nil
}
