package emulator

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// converseRenderer writes ConverseStream events.
type converseRenderer struct{ fw *frameWriter }

func (c converseRenderer) blockStart(i int, b *block) error {
	if b.typ != blockToolUse {
		// Bedrock starts only tool-use blocks explicitly.
		return nil
	}
	return c.fw.event("contentBlockStart", map[string]any{
		"contentBlockIndex": i,
		"start":             map[string]any{"toolUse": map[string]string{"toolUseId": b.toolUseID, "name": b.toolName}},
	})
}

func (c converseRenderer) delta(i int, b *block, text string) error {
	return c.fw.event("contentBlockDelta", converseDelta(i, b.typ, text))
}

func (c converseRenderer) blockStop(i int, b *block) error {
	if b.typ == blockReasoning && b.signature != "" {
		if err := c.fw.event("contentBlockDelta", map[string]any{
			"contentBlockIndex": i,
			"delta":             map[string]any{"reasoningContent": map[string]string{"signature": b.signature}},
		}); err != nil {
			return err
		}
	}
	return c.fw.event("contentBlockStop", map[string]int{"contentBlockIndex": i})
}

// converseDelta is one contentBlockDelta event's payload.
func converseDelta(i int, typ blockType, text string) map[string]any {
	var delta map[string]any
	switch typ {
	case blockReasoning:
		delta = map[string]any{"reasoningContent": map[string]string{"text": text}}
	case blockToolUse:
		delta = map[string]any{"toolUse": map[string]string{"input": text}}
	default:
		delta = map[string]any{"text": text}
	}
	return map[string]any{"contentBlockIndex": i, "delta": delta}
}

// startEventStream writes the 200 and the event-stream content type.
func startEventStream(w http.ResponseWriter) *frameWriter {
	rc := http.NewResponseController(w)
	// A server WriteTimeout must not cut long-v1 or slow-start-v1.
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	return &frameWriter{w: w, rc: rc, enc: eventstream.NewEncoder()}
}

// converseStream answers ConverseStream: 200 and messageStart at once, then
// the blocks on schedule, then messageStop and metadata, or the model's
// failure.
func (e *Emulator) converseStream(ctx context.Context, w http.ResponseWriter, rec *Record, p *plan, conv *conversation, start time.Time) result {
	res := result{status: http.StatusOK, inputTokens: conv.inputTokens}
	fw := startEventStream(w)
	cancelled := func() result {
		res.outcome = outcomeCancelled
		return res
	}
	if err := fw.event("messageStart", map[string]string{"role": "assistant"}); err != nil {
		return cancelled()
	}
	var err error
	res.deltas, err = generate(ctx, p, converseRenderer{fw}, e.counter(rec))
	if err != nil {
		return cancelled()
	}
	switch p.kind {
	case kindMidstreamError:
		res.outcome, res.errorType, res.errorMessage = outcomeStreamError, "modelStreamErrorException", msgModelStreamError
		if err := fw.exception("modelStreamErrorException", modelStreamErrorPayload()); err != nil {
			return cancelled()
		}
		return res
	case kindTruncated:
		b, err := fw.encode("event", ":event-type", "contentBlockDelta", converseDelta(len(p.blocks)-1, blockText, p.nextWord))
		if err != nil || cutFrame(fw, b) != nil {
			return cancelled()
		}
		res.outcome = outcomeTruncated
		return res
	}
	res.stopReason = p.stopReason
	if err := fw.event("messageStop", map[string]string{"stopReason": p.stopReason}); err != nil {
		return cancelled()
	}
	metadata := map[string]any{
		"usage":   newUsage(conv, res.deltas),
		"metrics": metrics{time.Since(start).Milliseconds()},
	}
	if p.guardrailTrace != nil && conv.guardrail.trace {
		metadata["trace"] = map[string]any{"guardrail": p.guardrailTrace}
	}
	if err := fw.event("metadata", metadata); err != nil {
		return cancelled()
	}
	res.outcome = outcomeCompleted
	return res
}

// cutFrame writes half of frame b and lets the body end cleanly: the
// event stream is cut mid-frame and no end event ever comes.
func cutFrame(fw *frameWriter, b []byte) error { return fw.write(b[:len(b)/2]) }

const msgModelStreamError = "The model encountered an error while streaming the response (emulated)."

func modelStreamErrorPayload() map[string]any {
	return map[string]any{
		"message":            msgModelStreamError,
		"originalStatusCode": 500,
		"originalMessage":    "emulated model failure",
	}
}

// counter returns a callback that keeps rec.DeltasSent current while an
// answer is generated, so that Records shows progress in flight.
func (e *Emulator) counter(rec *Record) func(int) {
	return func(n int) { e.update(func() { rec.DeltasSent = n }) }
}

// generateWhole generates an answer that is sent whole (Converse,
// InvokeModel): it takes as long as the stream would, and writes nothing
// unless the model fails. ok is false when the client left first or the
// model failed (its error is then written); res is then final. stop is the
// stop reason to report: a truncated model's answer, sent whole, cannot be
// cut, so it ends as end_turn.
func (e *Emulator) generateWhole(ctx context.Context, w http.ResponseWriter, rec *Record, p *plan, conv *conversation) (res result, col *collector, stop string, ok bool) {
	res = result{inputTokens: conv.inputTokens}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	col = &collector{}
	var err error
	res.deltas, err = generate(ctx, p, col, e.counter(rec))
	if err != nil {
		res.outcome = outcomeCancelled
		return res, nil, "", false
	}
	switch p.kind {
	case kindMidstreamError:
		return modelError(w, res), nil, "", false
	case kindTruncated:
		return res, col, stopEndTurn, true
	}
	return res, col, p.stopReason, true
}

// converse answers Converse: it takes as long as the stream would take to
// generate the answer, then writes the whole message as one JSON body.
func (e *Emulator) converse(ctx context.Context, w http.ResponseWriter, rec *Record, p *plan, conv *conversation, start time.Time) result {
	res, col, stop, ok := e.generateWhole(ctx, w, rec, p, conv)
	if !ok {
		return res
	}
	content := make([]map[string]any, len(p.blocks))
	for i := range p.blocks {
		b := &p.blocks[i]
		text := col.text(i)
		switch b.typ {
		case blockReasoning:
			rt := map[string]string{"text": text}
			if b.signature != "" {
				rt["signature"] = b.signature
			}
			content[i] = map[string]any{"reasoningContent": map[string]any{"reasoningText": rt}}
		case blockToolUse:
			content[i] = map[string]any{"toolUse": map[string]any{
				"toolUseId": b.toolUseID, "name": b.toolName, "input": jsonOrEmpty(text),
			}}
		default:
			content[i] = map[string]any{"text": text}
		}
	}
	answer := map[string]any{
		"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": content}},
		"stopReason": stop,
		"usage":      newUsage(conv, res.deltas),
		"metrics":    metrics{time.Since(start).Milliseconds()},
	}
	if p.guardrailTrace != nil && conv.guardrail.trace {
		answer["trace"] = map[string]any{"guardrail": p.guardrailTrace}
	}
	return writeJSONAnswer(w, res, p, stop, answer, nil)
}

// jsonOrEmpty is s as raw JSON, or {} when s is not valid JSON (a tool
// input cut short by maxTokens).
func jsonOrEmpty(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	return json.RawMessage("{}")
}

// modelError reports midstream-error-v1's failure in a non-streaming
// operation: there is no stream to fail in, so Bedrock answers
// ModelErrorException (HTTP 424).
func modelError(w http.ResponseWriter, res result) result {
	msg := "The model encountered an error while processing the request (emulated)."
	b, _ := json.Marshal(map[string]any{"message": msg, "originalStatusCode": 500})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", "ModelErrorException")
	w.WriteHeader(http.StatusFailedDependency)
	_, _ = w.Write(b)
	res.status, res.outcome, res.errorType, res.errorMessage = http.StatusFailedDependency, outcomeError, "ModelErrorException", msg
	return res
}

// writeJSONAnswer writes a non-streaming answer: the whole body, or for
// truncated-v1 half of it under a Content-Length for all of it, so that
// the connection ends early.
func writeJSONAnswer(w http.ResponseWriter, res result, p *plan, stop string, payload any, header http.Header) result {
	b, err := json.Marshal(payload)
	if err != nil {
		res.status, res.outcome = http.StatusInternalServerError, outcomeError
		writeError(w, res.status, "InternalServerException", "The emulator could not encode its answer.")
		return res
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	res.status = http.StatusOK
	if p != nil && p.kind == kindTruncated {
		_, _ = w.Write(b[:len(b)/2])
		res.outcome = outcomeTruncated
		return res
	}
	if _, err := w.Write(b); err != nil {
		res.outcome = outcomeCancelled
		return res
	}
	res.stopReason = stop
	res.outcome = outcomeCompleted
	return res
}
