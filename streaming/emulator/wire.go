package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// converseRequest is the part of the Converse / ConverseStream request body
// the emulator uses. Unknown fields (toolConfig, image blocks...) are
// accepted and ignored, as they would be by a model that does not use them.
type converseRequest struct {
	Messages []struct {
		Role    string         `json:"role"`
		Content []contentBlock `json:"content"`
	} `json:"messages"`
	System          []contentBlock `json:"system"`
	InferenceConfig *struct {
		MaxTokens     *int     `json:"maxTokens"`
		Temperature   *float64 `json:"temperature"`
		TopP          *float64 `json:"topP"`
		StopSequences []string `json:"stopSequences"`
	} `json:"inferenceConfig"`
}

type contentBlock struct {
	Text *string `json:"text"`
}

// parseRequest decodes and validates a request body; its errors carry
// Bedrock's own ValidationException wording where there is one.
func parseRequest(body []byte) (*converseRequest, error) {
	var req converseRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, invalidf("Malformed input request: %v, please reformat your input and try again.", err)
	}
	if dec.More() {
		return nil, invalidf("Malformed input request: trailing data after the JSON body, please reformat your input and try again.")
	}
	if len(req.Messages) == 0 || req.Messages[0].Role != "user" {
		if len(req.Messages) > 0 && req.Messages[0].Role != "assistant" {
			return nil, badRole(0, req.Messages[0].Role)
		}
		return nil, invalidf("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
	}
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, badRole(i, m.Role)
		}
		if i > 0 && m.Role == req.Messages[i-1].Role {
			return nil, invalidf("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.")
		}
		if len(m.Content) == 0 {
			return nil, invalidf("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
	}
	if ic := req.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil && *ic.MaxTokens < 1 {
			return nil, constraint(strconv.Itoa(*ic.MaxTokens), "inferenceConfig.maxTokens", "greater than or equal to 1")
		}
		for _, f := range []struct {
			name string
			v    *float64
		}{{"inferenceConfig.temperature", ic.Temperature}, {"inferenceConfig.topP", ic.TopP}} {
			switch {
			case f.v == nil:
			case *f.v < 0:
				return nil, constraint(formatFloat(*f.v), f.name, "greater than or equal to 0")
			case *f.v > 1:
				return nil, constraint(formatFloat(*f.v), f.name, "less than or equal to 1")
			}
		}
	}
	return &req, nil
}

func badRole(i int, role string) error {
	return invalidf("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]", role, i+1)
}

func constraint(value, field, rule string) error {
	return invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have value %s", value, field, rule)
}

// validationError is the message of a ValidationException, worded as
// Bedrock words it (full sentences, so not in Go's error style).
type validationError string

func (v validationError) Error() string { return string(v) }

func invalidf(format string, args ...any) error {
	return validationError(fmt.Sprintf(format, args...))
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// prompt is the text of the last user message, its text blocks joined with
// newlines.
func (r *converseRequest) prompt() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			var parts []string
			for _, c := range r.Messages[i].Content {
				if c.Text != nil {
					parts = append(parts, *c.Text)
				}
			}
			return strings.Join(parts, "\n")
		}
	}
	return ""
}

// inputTokens counts whitespace-separated words in every text block of the
// messages and the system prompt.
func (r *converseRequest) inputTokens() int {
	n := 0
	count := func(blocks []contentBlock) {
		for _, c := range blocks {
			if c.Text != nil {
				n += len(strings.Fields(*c.Text))
			}
		}
	}
	for _, m := range r.Messages {
		count(m.Content)
	}
	count(r.System)
	return n
}

// writeError writes a pre-stream error as Bedrock does: a JSON body with
// the message and the error's name in X-Amzn-ErrorType, which is what the
// SDK uses to pick the typed error.
func writeError(w http.ResponseWriter, status int, errorType, message string) {
	b, _ := json.Marshal(map[string]string{"message": message})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", errorType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

type usage struct {
	InputTokens  int `json:"inputTokens"`
	OutputTokens int `json:"outputTokens"`
	TotalTokens  int `json:"totalTokens"`
}

type metrics struct {
	LatencyMs int64 `json:"latencyMs"`
}

func newUsage(in, out int) usage { return usage{in, out, in + out} }

// frameWriter writes event stream frames and flushes each one at once, so
// the client sees every delta as it is generated.
type frameWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	enc *eventstream.Encoder
	buf bytes.Buffer
}

func (f *frameWriter) encode(messageType, typeHeader, typeValue string, payload any) ([]byte, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	var msg eventstream.Message
	msg.Headers.Set(":message-type", eventstream.StringValue(messageType))
	msg.Headers.Set(typeHeader, eventstream.StringValue(typeValue))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Payload = b
	f.buf.Reset()
	if err := f.enc.Encode(&f.buf, msg); err != nil {
		return nil, err
	}
	return f.buf.Bytes(), nil
}

func (f *frameWriter) write(b []byte) error {
	if _, err := f.w.Write(b); err != nil {
		return err
	}
	if err := f.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

func (f *frameWriter) event(eventType string, payload any) error {
	b, err := f.encode("event", ":event-type", eventType, payload)
	if err != nil {
		return err
	}
	return f.write(b)
}

func (f *frameWriter) exception(exceptionType string, payload any) error {
	b, err := f.encode("exception", ":exception-type", exceptionType, payload)
	if err != nil {
		return err
	}
	return f.write(b)
}

type deltaEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
	Delta             struct {
		Text string `json:"text"`
	} `json:"delta"`
}

func newDelta(text string) deltaEvent {
	var d deltaEvent
	d.Delta.Text = text
	return d
}

// converseStream answers ConverseStream: 200 and messageStart at once, then
// the deltas on schedule, then contentBlockStop, messageStop and metadata,
// or the model's failure.
func (e *Emulator) converseStream(ctx context.Context, w http.ResponseWriter, rec *Record, p plan, req *converseRequest, start time.Time) result {
	res := result{status: http.StatusOK, inputTokens: req.inputTokens()}
	rc := http.NewResponseController(w)
	// A server WriteTimeout must not cut long-v1 or slow-start-v1.
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	fw := &frameWriter{w: w, rc: rc, enc: eventstream.NewEncoder()}

	cancelled := func() result {
		res.outcome = outcomeCancelled
		return res
	}
	if err := fw.event("messageStart", map[string]string{"role": "assistant"}); err != nil {
		return cancelled()
	}
	sent := 0
	var err error
	res.deltas, err = generate(ctx, p, func(text string) error {
		if err := fw.event("contentBlockDelta", newDelta(text)); err != nil {
			return err
		}
		sent++
		e.update(func() { rec.DeltasSent = sent })
		return nil
	})
	if err != nil {
		return cancelled()
	}

	switch p.kind {
	case kindMidstreamError:
		msg := "The model encountered an error while streaming the response (emulated)."
		res.outcome, res.errorType, res.errorMessage = outcomeStreamError, "modelStreamErrorException", msg
		if err := fw.exception("modelStreamErrorException", map[string]any{
			"message":            msg,
			"originalStatusCode": 500,
			"originalMessage":    "emulated model failure",
		}); err != nil {
			return cancelled()
		}
		return res
	case kindTruncated:
		// Half a frame, then a clean end of the HTTP body: the event
		// stream is cut mid-frame and no messageStop ever comes.
		b, err := fw.encode("event", ":event-type", "contentBlockDelta", newDelta(p.nextWord))
		if err != nil {
			return cancelled()
		}
		if err := fw.write(b[:len(b)/2]); err != nil {
			return cancelled()
		}
		res.outcome = outcomeTruncated
		return res
	}

	res.stopReason = p.stopReason
	if err := fw.event("contentBlockStop", map[string]int{"contentBlockIndex": 0}); err != nil {
		return cancelled()
	}
	if err := fw.event("messageStop", map[string]string{"stopReason": p.stopReason}); err != nil {
		return cancelled()
	}
	if err := fw.event("metadata", map[string]any{
		"usage":   newUsage(res.inputTokens, res.deltas),
		"metrics": metrics{time.Since(start).Milliseconds()},
	}); err != nil {
		return cancelled()
	}
	res.outcome = outcomeCompleted
	return res
}

// converse answers Converse: it takes as long as the stream would take to
// generate the answer, then writes the whole message as one JSON body.
func (e *Emulator) converse(ctx context.Context, w http.ResponseWriter, rec *Record, p plan, req *converseRequest, start time.Time) result {
	res := result{inputTokens: req.inputTokens()}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	var text strings.Builder
	sent := 0
	var err error
	res.deltas, err = generate(ctx, p, func(t string) error {
		text.WriteString(t)
		sent++
		e.update(func() { rec.DeltasSent = sent })
		return nil
	})
	if err != nil {
		res.outcome = outcomeCancelled
		return res
	}
	if p.kind == kindMidstreamError {
		// Converse has no stream to fail in: the model's failure is
		// reported as ModelErrorException (HTTP 424), as Bedrock does.
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

	stop := p.stopReason
	if p.kind == kindTruncated {
		stop = stopEndTurn
	}
	b, err := json.Marshal(map[string]any{
		"output": map[string]any{"message": map[string]any{
			"role":    "assistant",
			"content": []map[string]string{{"text": text.String()}},
		}},
		"stopReason": stop,
		"usage":      newUsage(res.inputTokens, res.deltas),
		"metrics":    metrics{time.Since(start).Milliseconds()},
	})
	if err != nil {
		res.status, res.outcome = http.StatusInternalServerError, outcomeError
		writeError(w, res.status, "InternalServerException", "The emulator could not encode its answer.")
		return res
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	res.status = http.StatusOK
	if p.kind == kindTruncated {
		// Declare the whole body, send half: the connection ends early.
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
