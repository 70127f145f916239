package openai

import (
	"encoding/json"
	"strconv"

	"github.com/streamgate/streamgate/streaming"
)

// responsesEncoder writes the Responses API's semantic events, each an SSE
// event named by its type and numbered by sequence_number:
// response.created and response.in_progress; for each output item
// response.output_item.added, its content events and
// response.output_item.done; then response.completed (or .incomplete), or
// error and response.failed. A text delta costs an append of its text to
// a reused buffer (the .done events need the whole text) and no
// allocation.
type responsesEncoder struct {
	*streaming.FlushWriter
	meta   responseMeta
	seq    int64
	output []json.RawMessage // the items done so far, in order

	// The open message or reasoning item: its id (as JSON), output index
	// and text so far. A tool call is open between ToolStart and ToolEnd.
	open      openKind
	openID    string
	openJSON  []byte // openID as a JSON string, for the deltas
	openIndex int
	text      []byte
	signature *string
	toolID    string
	toolIndex int
}

type openKind int

const (
	openNone openKind = iota
	openMessage
	openReasoning
)

func newResponsesEncoder(fw *streaming.FlushWriter, meta responseMeta) *responsesEncoder {
	return &responsesEncoder{FlushWriter: fw, meta: meta, text: make([]byte, 0, 1024)}
}

// head starts an event of type typ in b, up to its sequence number.
func (e *responsesEncoder) head(b []byte, typ string) []byte {
	b = append(b, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: {\"type\":\""...)
	b = append(b, typ...)
	b = append(b, `","sequence_number":`...)
	b = strconv.AppendInt(b, e.seq, 10)
	e.seq++
	return b
}

const eventEnd = "}\n\n"

// appendJSONField appends ,"name":<v as JSON>.
func appendJSONField(b []byte, name string, v any) []byte {
	raw, err := json.Marshal(v)
	if err != nil {
		raw = []byte("null")
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return append(b, raw...)
}

// itemField appends the item_id and output_index of the open item.
func (e *responsesEncoder) itemField(b []byte, idJSON []byte, index int) []byte {
	b = append(b, `,"item_id":`...)
	b = append(b, idJSON...)
	b = append(b, `,"output_index":`...)
	return strconv.AppendInt(b, int64(index), 10)
}

// responseEvent appends an event carrying the whole response.
func (e *responsesEncoder) responseEvent(b []byte, typ string, o *responseObject) []byte {
	b = e.head(b, typ)
	return append(appendJSONField(b, "response", o), eventEnd...)
}

func (e *responsesEncoder) Start(start streaming.StartEvent) error {
	e.meta.model = start.ModelID
	b := e.responseEvent(e.Buf[:0], "response.created", e.meta.object("in_progress", nil))
	b = e.responseEvent(b, "response.in_progress", e.meta.object("in_progress", nil))
	e.Buf = b
	return e.Emit(b)
}

// openItem appends the events that open a message or reasoning item.
func (e *responsesEncoder) openItem(b []byte, kind openKind) []byte {
	e.open, e.openIndex, e.text, e.signature = kind, len(e.output), e.text[:0], nil
	var item json.RawMessage
	if kind == openMessage {
		e.openID = e.meta.itemID("msg_", e.openIndex)
		item = messageJSON(e.openID, "in_progress")
	} else {
		e.openID = e.meta.itemID("rs_", e.openIndex)
		item = reasoningJSON(e.openID, nil, nil)
	}
	e.openJSON = streaming.AppendJSONString(e.openJSON[:0], e.openID)
	b = e.head(b, "response.output_item.added")
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(e.openIndex), 10)
	b = append(appendJSONField(b, "item", item), eventEnd...)
	if kind == openMessage {
		b = e.head(b, "response.content_part.added")
		b = e.itemField(b, e.openJSON, e.openIndex)
		b = append(b, `,"content_index":0`...)
		b = append(appendJSONField(b, "part", newOutputText("")), eventEnd...)
	} else {
		b = e.head(b, "response.reasoning_summary_part.added")
		b = e.itemField(b, e.openJSON, e.openIndex)
		b = append(b, `,"summary_index":0`...)
		b = append(appendJSONField(b, "part", summaryText{"summary_text", ""}), eventEnd...)
	}
	return b
}

// closeItem appends the events that end the open item, if any.
func (e *responsesEncoder) closeItem(b []byte) []byte {
	if e.open == openNone {
		return b
	}
	text := string(e.text)
	var item json.RawMessage
	switch e.open {
	case openMessage:
		part := newOutputText(text)
		b = e.head(b, "response.output_text.done")
		b = e.itemField(b, e.openJSON, e.openIndex)
		b = append(b, `,"content_index":0`...)
		b = append(appendJSONField(b, "text", text), `,"logprobs":[]`+eventEnd...)
		b = e.head(b, "response.content_part.done")
		b = e.itemField(b, e.openJSON, e.openIndex)
		b = append(b, `,"content_index":0`...)
		b = append(appendJSONField(b, "part", part), eventEnd...)
		item = messageJSON(e.openID, "completed", part)
	case openReasoning:
		summary := summaryText{"summary_text", text}
		b = e.head(b, "response.reasoning_summary_text.done")
		b = e.itemField(b, e.openJSON, e.openIndex)
		b = append(b, `,"summary_index":0`...)
		b = append(appendJSONField(b, "text", text), eventEnd...)
		b = e.head(b, "response.reasoning_summary_part.done")
		b = e.itemField(b, e.openJSON, e.openIndex)
		b = append(b, `,"summary_index":0`...)
		b = append(appendJSONField(b, "part", summary), eventEnd...)
		var enc *string
		if e.meta.includeEncrypted {
			enc = e.signature
		}
		item = reasoningJSON(e.openID, []summaryText{summary}, enc)
	}
	b = e.itemDone(b, e.openIndex, item)
	e.open = openNone
	return b
}

func (e *responsesEncoder) itemDone(b []byte, index int, item json.RawMessage) []byte {
	b = e.head(b, "response.output_item.done")
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(appendJSONField(b, "item", item), eventEnd...)
	e.output = append(e.output, item)
	return b
}

func (e *responsesEncoder) Text(text string) error {
	b := e.Buf[:0]
	if e.open != openMessage {
		b = e.openItem(e.closeItem(b), openMessage)
	}
	b = e.head(b, "response.output_text.delta")
	b = e.itemField(b, e.openJSON, e.openIndex)
	b = append(b, `,"content_index":0,"delta":`...)
	b = streaming.AppendJSONString(b, text)
	b = append(b, `,"logprobs":[]`+eventEnd...)
	e.text = append(e.text, text...)
	e.Buf = b
	return e.Emit(b)
}

func (e *responsesEncoder) Reasoning(text string) error {
	b := e.Buf[:0]
	if e.open != openReasoning {
		b = e.openItem(e.closeItem(b), openReasoning)
	}
	b = e.head(b, "response.reasoning_summary_text.delta")
	b = e.itemField(b, e.openJSON, e.openIndex)
	b = append(b, `,"summary_index":0,"delta":`...)
	b = streaming.AppendJSONString(b, text)
	b = append(b, eventEnd...)
	e.text = append(e.text, text...)
	e.Buf = b
	return e.Emit(b)
}

// ReasoningSignature ends the reasoning item: the signature is its
// encrypted_content.
func (e *responsesEncoder) ReasoningSignature(signature string) error {
	b := e.Buf[:0]
	if e.open != openReasoning {
		b = e.openItem(e.closeItem(b), openReasoning)
	}
	e.signature = &signature
	b = e.closeItem(b)
	e.Buf = b
	return e.Emit(b)
}

// RedactedReasoning is a reasoning item of its own, with no summary: the
// reasoning is encrypted, and goes back to Bedrock as it came.
func (e *responsesEncoder) RedactedReasoning(data []byte) error {
	b := e.closeItem(e.Buf[:0])
	index := len(e.output)
	id := e.meta.itemID("rs_", index)
	b = e.head(b, "response.output_item.added")
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(appendJSONField(b, "item", reasoningJSON(id, nil, nil)), eventEnd...)
	var enc *string
	if e.meta.includeEncrypted {
		s := redactedContent(data)
		enc = &s
	}
	b = e.itemDone(b, index, reasoningJSON(id, nil, enc))
	e.Buf = b
	return e.Emit(b)
}

func (e *responsesEncoder) ToolStart(tc *streaming.ToolCall) error {
	b := e.closeItem(e.Buf[:0])
	e.toolIndex = len(e.output)
	e.toolID = e.meta.itemID("fc_", e.toolIndex)
	e.openJSON = streaming.AppendJSONString(e.openJSON[:0], e.toolID)
	b = e.head(b, "response.output_item.added")
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(e.toolIndex), 10)
	b = append(appendJSONField(b, "item", functionCallJSON(e.toolID, "in_progress", tc, "")), eventEnd...)
	e.Buf = b
	return e.Emit(b)
}

func (e *responsesEncoder) ToolInput(tc *streaming.ToolCall, fragment string) error {
	b := e.head(e.Buf[:0], "response.function_call_arguments.delta")
	b = e.itemField(b, e.openJSON, e.toolIndex)
	b = append(b, `,"delta":`...)
	b = streaming.AppendJSONString(b, fragment)
	e.Buf = append(b, eventEnd...)
	return e.Emit(e.Buf)
}

func (e *responsesEncoder) ToolEnd(tc *streaming.ToolCall) error {
	args := string(tc.Input)
	if args == "" {
		args = "{}"
	}
	b := e.head(e.Buf[:0], "response.function_call_arguments.done")
	b = e.itemField(b, e.openJSON, e.toolIndex)
	b = appendJSONField(b, "name", tc.Name)
	b = append(appendJSONField(b, "arguments", args), eventEnd...)
	b = e.itemDone(b, e.toolIndex, functionCallJSON(e.toolID, "completed", tc, args))
	e.Buf = b
	return e.Emit(b)
}

func (e *responsesEncoder) KeepAlive() error { return e.EmitString(": keep-alive\n\n") }

// Done ends the open item and the response: response.completed, or
// response.incomplete when the answer was cut (max_output_tokens, a
// content filter) or cancelled.
func (e *responsesEncoder) Done(ev streaming.DoneEvent) error {
	b := e.closeItem(e.Buf[:0])
	status, event, incomplete := ending(ev.StopReason)
	o := e.meta.object(status, e.output)
	o.IncompleteDetails = incomplete
	o.Usage = responsesUsage(ev.Usage)
	e.Buf = e.responseEvent(b, event, o)
	return e.Emit(e.Buf)
}

// Fail reports a failure after the first byte: an error event, then
// response.failed with what was done before it, then the end of the body.
func (e *responsesEncoder) Fail(apiErr *streaming.Error) error {
	b := e.head(e.Buf[:0], "error")
	b = appendJSONField(b, "code", apiErr.Code)
	b = appendJSONField(b, "message", apiErr.Message)
	b = append(b, `,"param":null`+eventEnd...)
	o := e.meta.object("failed", e.output)
	o.Error = &responseError{Code: apiErr.Code, Message: apiErr.Message}
	e.Buf = e.responseEvent(b, "response.failed", o)
	return e.Emit(e.Buf)
}
