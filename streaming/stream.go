package streaming

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"
)

// serveStream answers POST /stream: validate, call ConverseStream, and
// relay each text delta to the client as it arrives.
func (h *Handler) serveStream(w http.ResponseWriter, r *http.Request) {
	rec := logOf(r)
	format, apiErr := negotiateFormat(r)
	if apiErr == nil {
		var c *call
		if c, apiErr = h.cfg.readRequest(w, r); apiErr == nil {
			rec.model, rec.format = c.modelID, string(format)
			h.relay(w, r, rec, format, c)
			return
		}
	}
	writeError(w, rec, apiErr)
}

// relay runs one ConverseStream call. Until Bedrock accepts the call,
// failures are JSON errors with a status; after it, they are error events
// (SSE, NDJSON) or an aborted body (text).
func (h *Handler) relay(w http.ResponseWriter, r *http.Request, rec *requestLog, format Format, c *call) {
	// Cancelling ctx cancels the Bedrock call: on return, on client
	// disconnect (r.Context ends), and on a failed write.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	var deadline <-chan time.Time
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d) - h.cfg.DeadlineMargin
		if left <= 0 {
			writeError(w, rec, deadlineError())
			return
		}
		timer := time.NewTimer(left)
		defer timer.Stop()
		deadline = timer.C
	}

	out, err := h.bedrock.ConverseStream(ctx, c.input, ownEventStreamCodec)
	if err != nil {
		if r.Context().Err() != nil {
			rec.clientAborted = true
			return
		}
		rec.cause = err.Error()
		writeError(w, rec, upstreamError(err))
		return
	}
	stream := out.GetStream()
	defer stream.Close()

	hdr := w.Header()
	hdr.Set("Content-Type", contentType(format))
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rec.status = http.StatusOK

	fw := newFlushWriter(w)
	defer func() { rec.bytes = fw.bytes }()
	enc := newEncoder(format, fw)
	if err := enc.start(startEvent{RequestID: rec.requestID, ModelID: c.modelID, MaxTokens: c.maxTokens}); err != nil {
		rec.clientAborted = true
		return
	}

	// The heartbeat timer is reset by every write, so a keep-alive goes
	// out only after HEARTBEAT_SECONDS of silence. Text has no way to say
	// "still here" without adding to the answer, so it has no timer.
	var heartbeat *time.Timer
	var keepAliveDue <-chan time.Time
	if format != FormatText {
		heartbeat = time.NewTimer(h.cfg.Heartbeat)
		defer heartbeat.Stop()
		keepAliveDue = heartbeat.C
	}

	var (
		sawStop bool
		done    doneEvent
		events  = stream.Events()
	)
	for {
		var writeErr error
		select {
		case ev, ok := <-events:
			if !ok {
				h.finish(w, r, rec, enc, stream.Err(), sawStop, done)
				return
			}
			switch v := ev.(type) {
			case *types.ConverseStreamOutputMemberContentBlockDelta:
				text, isText := v.Value.Delta.(*types.ContentBlockDeltaMemberText)
				if !isText || text.Value == "" {
					continue
				}
				if rec.firstToken.IsZero() {
					rec.firstToken = time.Now()
				}
				rec.deltas++
				writeErr = enc.delta(text.Value)
				if heartbeat != nil {
					heartbeat.Reset(h.cfg.Heartbeat)
				}
			case *types.ConverseStreamOutputMemberMessageStop:
				sawStop = true
				done.StopReason = string(v.Value.StopReason)
			case *types.ConverseStreamOutputMemberMetadata:
				if u := v.Value.Usage; u != nil {
					done.Usage = usage{int(deref(u.InputTokens)), int(deref(u.OutputTokens)), int(deref(u.TotalTokens))}
				}
				if m := v.Value.Metrics; m != nil {
					done.Timings.UpstreamLatencyMs = deref(m.LatencyMs)
				}
			}
		case <-keepAliveDue:
			writeErr = enc.keepAlive()
			heartbeat.Reset(h.cfg.Heartbeat)
		case <-deadline:
			h.failMidStream(w, rec, enc, deadlineError())
			return
		case <-h.closing:
			h.failMidStream(w, rec, enc, &Error{Status: http.StatusServiceUnavailable, Code: CodeShuttingDown, Retryable: true,
				Message: "the server is shutting down; the answer is incomplete, retry it"})
			return
		case <-r.Context().Done():
			rec.clientAborted = true
			return
		}
		if writeErr != nil {
			// The client is gone: stop reading, and the deferred cancel
			// stops Bedrock from generating tokens nobody reads.
			rec.clientAborted = true
			return
		}
	}
}

// finish ends a stream whose events channel closed: a clean end is one
// with Bedrock's messageStop and no error. Anything else is a failure,
// including a connection cut that the SDK reports as a plain end of stream.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, rec *requestLog, enc encoder, streamErr error, sawStop bool, done doneEvent) {
	if r.Context().Err() != nil {
		rec.clientAborted = true
		return
	}
	switch {
	case streamErr != nil:
		rec.cause = streamErr.Error()
		h.failMidStream(w, rec, enc, upstreamError(streamErr))
		return
	case !sawStop:
		rec.cause = "the event stream ended without messageStop"
		h.failMidStream(w, rec, enc, &Error{Status: http.StatusBadGateway, Code: CodeIncompleteStream, Retryable: true,
			Message: "the answer from Bedrock ended before it was complete"})
		return
	}
	rec.stopReason = done.StopReason
	rec.inputTokens, rec.outputTokens = done.Usage.InputTokens, done.Usage.OutputTokens
	done.Timings.DurationMs = time.Since(rec.start).Milliseconds()
	if !rec.firstToken.IsZero() {
		done.Timings.TimeToFirstTokenMs = rec.firstToken.Sub(rec.start).Milliseconds()
	}
	if err := enc.done(done); err != nil {
		rec.clientAborted = true
	}
}

// failMidStream reports an error after the response has begun: as an
// error event where the format has one, otherwise by aborting the response
// so that the client cannot take a truncated answer for a complete one.
func (h *Handler) failMidStream(w http.ResponseWriter, rec *requestLog, enc encoder, e *Error) {
	rec.errorCode = e.Code
	if err := enc.fail(e); err == errAborted {
		rec.aborted = true
		// The deferred log line is still written: panics run defers.
		panic(http.ErrAbortHandler)
	}
}

// ownEventStreamCodec gives each ConverseStream call a protocol of its own.
// In aws-sdk-go-v2 bedrockruntime v1.63 (smithy-go v1.28) a client's one
// restjson1.Protocol holds one event-stream Codec whose decoder and decode
// buffer are shared by every stream of that client, so concurrent streams
// are a data race (go test -race reports it; smithy-go issue #714, fix not
// released). No mixed-up text was seen in 640 concurrent streams without
// this, but a data race has no safe outcome; a protocol per call costs two
// small allocations per stream, not per delta.
func ownEventStreamCodec(o *bedrockruntime.Options) {
	o.Protocol = restjson1.New(schemas.AmazonBedrockFrontendService)
}

func deadlineError() *Error {
	return &Error{Status: http.StatusGatewayTimeout, Code: CodeDeadline,
		Message: "the function's time limit is near, so the gateway ended the answer early; ask for fewer tokens or raise the timeout"}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
