package anthropic

import (
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/streamgate/streamgate/streaming"
)

// serveMessages answers POST /v1/messages: streamed on the one relay as
// Anthropic's events when stream is true, else one message from
// Converse.
func (d *dialect) serveMessages(w http.ResponseWriter, r *http.Request) {
	rec := streaming.LogOf(r)
	w.Header().Set("Request-Id", rec.ID())
	p, e := d.readRequest(w, r, false)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	meta := messageMeta{id: idPrefix + rec.ID(), model: *p.req.Model, stopSequences: p.stopSequences}
	if p.req.Stream != nil && *p.req.Stream {
		d.h.Relay(w, r, p.call, streaming.Encoding{
			Format:      "anthropic",
			ContentType: "text/event-stream; charset=utf-8",
			NewEncoder: func(fw *streaming.FlushWriter, _ streaming.StartEvent) streaming.Encoder {
				return newEventEncoder(fw, meta)
			},
			KeepAlives: true,
		})
		return
	}
	rec.SetModel(p.call.ModelID, "anthropic-json")
	a, e := d.h.Converse(r, p.call)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	streaming.WriteJSON(w, http.StatusOK, wholeMessage(meta, a))
}

// message is Anthropic's Message object.
type message struct {
	ID           string           `json:"id"`
	Type         string           `json:"type"`
	Role         string           `json:"role"`
	Model        string           `json:"model"`
	Content      []map[string]any `json:"content"`
	StopReason   string           `json:"stop_reason"`
	StopSequence *string          `json:"stop_sequence"`
	Usage        usage            `json:"usage"`
}

// wholeMessage is the non-streaming answer: thinking first, then the
// text, then the tool calls, as Claude orders them.
func wholeMessage(meta messageMeta, a *streaming.Answer) message {
	content := []map[string]any{}
	if a.Reasoning != "" || a.ReasoningSignature != "" {
		content = append(content, map[string]any{"type": "thinking", "thinking": a.Reasoning, "signature": a.ReasoningSignature})
	}
	for _, data := range a.RedactedReasoning {
		content = append(content, map[string]any{"type": "redacted_thinking", "data": base64.StdEncoding.EncodeToString(data)})
	}
	if a.Text != "" || len(a.ToolCalls) == 0 {
		content = append(content, map[string]any{"type": "text", "text": a.Text})
	}
	for _, tc := range a.ToolCalls {
		content = append(content, map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Name, "input": json.RawMessage(tc.Input)})
	}
	stop, seq := stopReason(a.StopReason, meta.stopSequences)
	return message{ID: meta.id, Type: "message", Role: "assistant", Model: meta.model, Content: content,
		StopReason: stop, StopSequence: seq, Usage: usageOf(a.Usage)}
}

// serveCountTokens answers POST /v1/messages/count_tokens with Bedrock's
// CountTokens of the same conversation, system text, tools and thinking.
func (d *dialect) serveCountTokens(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Request-Id", streaming.LogOf(r).ID())
	p, e := d.readRequest(w, r, true)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	n, e := d.h.CountTokens(r, p.call)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	streaming.WriteJSON(w, http.StatusOK, map[string]int{"input_tokens": n})
}
