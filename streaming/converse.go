package streaming

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// upstreamCall runs one call that answers only when it is done (Converse,
// InvokeModel, ListFoundationModels) within UPSTREAM_IDLE_TIMEOUT_SECONDS,
// the invocation deadline less its margin, and the server's shutdown; it
// maps a failure to what the client is told and notes it in the log line.
func (h *Handler) upstreamCall(r *http.Request, fn func(ctx context.Context) error) *Error {
	rec := logOf(r)
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	stopLimits, ok := h.limits(r, cancel)
	defer stopLimits()
	if !ok {
		return deadlineError()
	}
	timer := time.AfterFunc(h.cfg.UpstreamIdleTimeout, func() { cancel(errUpstreamIdle) })
	defer timer.Stop()
	err := fn(ctx)
	if err == nil {
		return nil
	}
	rec.cause = err.Error()
	switch {
	case r.Context().Err() != nil:
		rec.clientAborted = true
		// Nobody reads it; the log line says what happened.
		return &Error{Status: statusClientClosed, Code: "client_closed", Message: "the client went away"}
	case ctx.Err() != nil:
		return preStreamError(context.Cause(ctx), h.cfg)
	}
	return upstreamError(err)
}

// invokeJSON runs one InvokeModel call with a JSON body and answer (the
// image and embedding models), under upstreamCall's limits.
func (h *Handler) invokeJSON(r *http.Request, modelID string, body []byte) (*bedrockruntime.InvokeModelOutput, *Error) {
	var out *bedrockruntime.InvokeModelOutput
	e := h.upstreamCall(r, func(ctx context.Context) (err error) {
		out, err = h.bedrock.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
			ModelId: aws.String(modelID), Body: body,
			ContentType: aws.String("application/json"), Accept: aws.String("application/json"),
		})
		return err
	})
	return out, e
}

// statusClientClosed is nginx's status for a request whose client left
// before the answer: it appears only in log lines.
const statusClientClosed = 499

// answer is a whole answer from Converse, whatever protocol reports it.
type answer struct {
	text, reasoning string
	toolCalls       []toolCall
	stopReason      string
	usage           usage
	latencyMs       int64
}

// converse runs one Converse call (no stream: the answer comes whole) for
// the non-streaming routes. It sends nothing until Bedrock is done, so the
// whole call must fit in UPSTREAM_IDLE_TIMEOUT_SECONDS, as well as before
// the invocation deadline less its margin.
func (h *Handler) converse(r *http.Request, c *call) (*answer, *Error) {
	rec := logOf(r)
	var out *bedrockruntime.ConverseOutput
	if e := h.upstreamCall(r, func(ctx context.Context) (err error) {
		out, err = h.bedrock.Converse(ctx, c.converseInput())
		return err
	}); e != nil {
		return nil, e
	}
	a := &answer{stopReason: string(out.StopReason)}
	if u := out.Usage; u != nil {
		a.usage = usage{int(deref(u.InputTokens)), int(deref(u.OutputTokens)), int(deref(u.TotalTokens))}
	}
	if m := out.Metrics; m != nil {
		a.latencyMs = deref(m.LatencyMs)
	}
	if msg, ok := out.Output.(*types.ConverseOutputMemberMessage); ok {
		var text, reasoning strings.Builder
		for _, block := range msg.Value.Content {
			switch b := block.(type) {
			case *types.ContentBlockMemberText:
				text.WriteString(b.Value)
			case *types.ContentBlockMemberReasoningContent:
				if rt, ok := b.Value.(*types.ReasoningContentBlockMemberReasoningText); ok {
					reasoning.WriteString(deref(rt.Value.Text))
				}
			case *types.ContentBlockMemberToolUse:
				tc := toolCall{index: len(a.toolCalls), id: deref(b.Value.ToolUseId), name: deref(b.Value.Name), input: []byte("{}")}
				if b.Value.Input != nil {
					if raw, err := b.Value.Input.MarshalSmithyDocument(); err == nil {
						tc.input = raw
					}
				}
				a.toolCalls = append(a.toolCalls, tc)
			}
		}
		a.text, a.reasoning = text.String(), reasoning.String()
	}
	rec.stopReason = a.stopReason
	rec.inputTokens, rec.outputTokens = a.usage.InputTokens, a.usage.OutputTokens
	return a, nil
}
