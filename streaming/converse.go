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

// UpstreamCall runs one call that answers only when it is done (Converse,
// InvokeModel, ListFoundationModels) within UPSTREAM_IDLE_TIMEOUT_SECONDS,
// the invocation deadline less its margin, and the server's shutdown; it
// maps a failure to what the client is told and notes it in the log line.
func (h *Handler) UpstreamCall(r *http.Request, fn func(ctx context.Context) error) *Error {
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
		return preStreamError(context.Cause(ctx), &h.cfg)
	}
	return upstreamError(err)
}

// InvokeJSON runs one InvokeModel call with a JSON body and answer (the
// image and embedding models), under UpstreamCall's limits. Callers Admit
// the request first, once (a request may make several calls at once).
func (h *Handler) InvokeJSON(r *http.Request, modelID string, body []byte) (*bedrockruntime.InvokeModelOutput, *Error) {
	var out *bedrockruntime.InvokeModelOutput
	e := h.UpstreamCall(r, func(ctx context.Context) (err error) {
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

// Answer is a whole answer from Converse, whatever protocol reports it.
type Answer struct {
	ModelID         string // the Bedrock model that answered (a fallback, maybe)
	Text, Reasoning string
	// ReasoningSignature is the signature of the reasoning, and
	// RedactedReasoning the reasoning blocks the provider encrypted: a
	// client sends both back on its next turn.
	ReasoningSignature string
	RedactedReasoning  [][]byte
	ToolCalls          []ToolCall
	StopReason         string
	Usage              Usage
	LatencyMs          int64
}

// Converse runs one Converse call (no stream: the answer comes whole) for
// the non-streaming routes. It sends nothing until Bedrock is done, so the
// whole call must fit in UPSTREAM_IDLE_TIMEOUT_SECONDS, as well as before
// the invocation deadline less its margin.
func (h *Handler) Converse(r *http.Request, c *Call) (*Answer, *Error) {
	rec := logOf(r)
	rec.model = c.ModelID
	if e := h.budgets.check(r.Context(), rec); e != nil {
		return nil, e
	}
	var out *bedrockruntime.ConverseOutput
	if e := h.UpstreamCall(r, func(ctx context.Context) error {
		return h.eachModel(ctx, rec, c, func(last bool) (err error) {
			var opts []func(*bedrockruntime.Options)
			if !last {
				opts = append(opts, noRetries)
			}
			out, err = h.bedrock.Converse(ctx, h.converseInput(c), opts...)
			return err
		})
	}); e != nil {
		return nil, e
	}
	a := &Answer{ModelID: c.ModelID, StopReason: string(out.StopReason)}
	if u := out.Usage; u != nil {
		a.Usage = usageOf(u)
	}
	if m := out.Metrics; m != nil {
		a.LatencyMs = deref(m.LatencyMs)
	}
	if msg, ok := out.Output.(*types.ConverseOutputMemberMessage); ok {
		var text, reasoning strings.Builder
		for _, block := range msg.Value.Content {
			switch b := block.(type) {
			case *types.ContentBlockMemberText:
				text.WriteString(b.Value)
			case *types.ContentBlockMemberReasoningContent:
				switch rc := b.Value.(type) {
				case *types.ReasoningContentBlockMemberReasoningText:
					reasoning.WriteString(deref(rc.Value.Text))
					if sig := deref(rc.Value.Signature); sig != "" {
						a.ReasoningSignature = sig
					}
				case *types.ReasoningContentBlockMemberRedactedContent:
					a.RedactedReasoning = append(a.RedactedReasoning, rc.Value)
				}
			case *types.ContentBlockMemberToolUse:
				tc := ToolCall{Index: len(a.ToolCalls), ID: deref(b.Value.ToolUseId), Name: deref(b.Value.Name), Input: []byte("{}")}
				if b.Value.Input != nil {
					if raw, err := b.Value.Input.MarshalSmithyDocument(); err == nil {
						tc.Input = raw
					}
				}
				a.ToolCalls = append(a.ToolCalls, tc)
			}
		}
		a.Text, a.Reasoning = text.String(), reasoning.String()
	}
	rec.stopReason = a.StopReason
	rec.setUsage(a.Usage)
	if a.StopReason == StopGuardrail {
		var trace *types.GuardrailTraceAssessment
		if out.Trace != nil {
			trace = out.Trace.Guardrail
		}
		rec.guardrail = guardrailAction(trace)
	}
	return a, nil
}
