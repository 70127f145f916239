package streaming

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// Why a request's upstream context ended, when the gateway ended it. Each
// reason has its own honest answer to the client; a context that ends
// with none of them ended because the client went away.
var (
	errCancelled     = errors.New("the client cancelled the answer")
	errDeadline      = errors.New("the invocation deadline is near")
	errShuttingDown  = errors.New("the server is shutting down")
	errHeaderTimeout = errors.New("no response headers from Bedrock in time")
	errUpstreamIdle  = errors.New("no event from Bedrock in time")
	errClientStalled = errors.New("the client stopped reading")
)

// startStream readies a streaming call to Bedrock: the key's budget, a
// context that cancelling cancels the call (on return, on client
// disconnect, on a failed write, and for each of the gateway's own
// reasons above, which the cause tells apart), the invocation deadline and
// shutdown, and the registration a Stop finds it by. When it cannot start,
// it has answered the client and ok is false; otherwise the caller runs
// done when the stream is over.
func (h *Handler) startStream(w http.ResponseWriter, r *http.Request, rec *RequestLog) (ctx context.Context, cancel context.CancelCauseFunc, done func(), ok bool) {
	if e := h.budgets.check(r.Context(), rec); e != nil {
		writeError(w, rec, e)
		return nil, nil, nil, false
	}
	ctx, cancel = context.WithCancelCause(r.Context())
	stopLimits, ok := h.limits(r, cancel)
	if !ok {
		stopLimits()
		cancel(nil)
		writeError(w, rec, deadlineError())
		return nil, nil, nil, false
	}
	running := h.cancels.start(ctx, rec.requestID, rec.keyHash, cancel)
	return ctx, cancel, func() {
		running.finish(rec.cancelled)
		stopLimits()
		cancel(nil)
	}, true
}

// failedBeforeTheStream answers a streaming call that Bedrock did not
// take, with the error that fits why, and reports whether it was a Stop
// that came first: the caller then ends an empty answer as a cancelled one.
func (h *Handler) failedBeforeTheStream(w http.ResponseWriter, r *http.Request, ctx context.Context, err error) (stopped bool) {
	rec := logOf(r)
	cause := context.Cause(ctx)
	switch {
	case r.Context().Err() != nil:
		rec.clientAborted = true
	case errors.Is(cause, errCancelled):
		return true
	case ctx.Err() != nil:
		rec.cause = err.Error()
		writeError(w, rec, preStreamError(cause, &h.cfg))
	default:
		rec.cause = err.Error()
		writeError(w, rec, upstreamError(err))
	}
	return false
}

// Encoding is how a dialect's streaming route writes the events of an
// answer.
type Encoding struct {
	Format      string // for the log line
	ContentType string
	NewEncoder  func(fw *FlushWriter, start StartEvent) Encoder
	// KeepAlives says whether the format can say "still here" without
	// adding to the answer.
	KeepAlives bool
}

// limits arms what can end a request's upstream call besides the client:
// the invocation deadline (less the margin; counted from the start of the
// request, so it covers the wait for Bedrock's headers too) and the
// server's shutdown. It returns false when the deadline is already too
// near to start.
func (h *Handler) limits(r *http.Request, cancel context.CancelCauseFunc) (stop func(), ok bool) {
	var stops []func() bool
	if d, has := r.Context().Deadline(); has {
		left := time.Until(d) - h.cfg.DeadlineMargin
		if left <= 0 {
			return func() {}, false
		}
		stops = append(stops, time.AfterFunc(left, func() { cancel(errDeadline) }).Stop)
	}
	stops = append(stops, context.AfterFunc(h.closing, func() { cancel(errShuttingDown) }))
	return func() {
		for _, s := range stops {
			s()
		}
	}, true
}

// stream is one relayed ConverseStream call: the state of the loop that
// reads Bedrock's events and writes each one to the client.
type stream struct {
	h      *Handler
	w      http.ResponseWriter
	r      *http.Request
	rec    *RequestLog
	enc    Encoder
	fw     *FlushWriter
	ctx    context.Context
	cancel context.CancelCauseFunc

	done    DoneEvent
	sawStop bool
	tools   map[int32]*ToolCall // open tool-use blocks by content block index
	ntools  int
}

// Relay runs one ConverseStream call and writes each of its events to w
// with enc as it arrives: the one relay loop of every streaming route.
// Until Bedrock accepts the call, failures are JSON errors with a status
// (in the request's ErrorShape); after it, they are the Encoder's Fail (an
// error event, or an aborted body).
func (h *Handler) Relay(w http.ResponseWriter, r *http.Request, c *Call, enc Encoding) {
	rec := logOf(r)
	rec.model, rec.format = c.ModelID, enc.Format
	ctx, cancel, done, ok := h.startStream(w, r, rec)
	if !ok {
		return
	}
	defer done()

	var out *bedrockruntime.ConverseStreamOutput
	var call *converseStream
	err := h.eachModel(ctx, rec, c, func(last bool) (err error) {
		call = newConverseStream()
		opts := []func(*bedrockruntime.Options){call.options}
		if !last {
			opts = append(opts, noRetries)
		}
		headers := time.AfterFunc(h.cfg.UpstreamHeaderTimeout, func() { cancel(errHeaderTimeout) })
		defer headers.Stop()
		out, err = h.bedrock.ConverseStream(ctx, h.streamInput(c), opts...)
		if err != nil {
			call.discard()
		}
		return err
	})
	s := &stream{h: h, w: w, r: r, rec: rec, ctx: ctx, cancel: cancel}
	defer func() {
		if s.fw != nil {
			rec.bytes = s.fw.bytes
		}
	}()
	if err != nil {
		if h.failedBeforeTheStream(w, r, ctx, err) {
			// Cancelled before Bedrock answered: the answer is empty,
			// and ends as a cancelled one does.
			s.begin(c, enc)
			s.end(context.Cause(ctx))
		}
		return
	}
	// Bedrock took the call: from here on the answer is paid for, even
	// if it is cut before Bedrock says what it cost.
	rec.inputEstimate = c.estimateInputTokens()
	events := call.events(out)
	defer events.Close()
	if !s.begin(c, enc) {
		return
	}
	s.loop(events, enc.KeepAlives)
}

// begin sends the status, the headers and the start event.
func (s *stream) begin(c *Call, enc Encoding) bool {
	hdr := s.w.Header()
	hdr.Set("Content-Type", enc.ContentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	hdr.Set("X-Content-Type-Options", "nosniff")
	s.w.WriteHeader(http.StatusOK)
	s.fw = NewFlushWriter(s.w)
	start := StartEvent{RequestID: s.rec.requestID, ModelID: c.ModelID, MaxTokens: c.MaxTokens}
	s.enc = enc.NewEncoder(s.fw, start)
	if err := s.enc.Start(start); err != nil {
		s.rec.clientAborted = true
		return false
	}
	return true
}

func (s *stream) loop(events eventSource, keepAlives bool) {
	cfg := s.h.cfg
	// The heartbeat timer is reset by every write, so a keep-alive goes
	// out only after HEARTBEAT_SECONDS of silence. Text has no way to say
	// "still here" without adding to the answer, so it has no timer.
	var heartbeat *time.Timer
	var keepAliveDue <-chan time.Time
	if keepAlives {
		heartbeat = time.NewTimer(cfg.Heartbeat)
		defer heartbeat.Stop()
		keepAliveDue = heartbeat.C
	}
	// The idle timer runs while nothing moves: no event from Bedrock, or
	// a write to the client that does not return (a client that stopped
	// reading, whose socket buffers are full). The second is cut by a past
	// write deadline, which makes the stuck write return.
	idle := time.AfterFunc(cfg.UpstreamIdleTimeout, func() {
		if s.fw.writing.Load() {
			s.cancel(errClientStalled)
			_ = s.fw.rc.SetWriteDeadline(time.Now())
			return
		}
		s.cancel(errUpstreamIdle)
	})
	defer idle.Stop()

	ch := events.Events()
	for {
		var err error
		select {
		case ev, ok := <-ch:
			if !ok {
				s.finish(events.Err())
				return
			}
			idle.Reset(cfg.UpstreamIdleTimeout)
			var wrote bool
			wrote, err = s.event(ev)
			if wrote && heartbeat != nil {
				heartbeat.Reset(cfg.Heartbeat)
			}
		case <-keepAliveDue:
			err = s.enc.KeepAlive()
			heartbeat.Reset(cfg.Heartbeat)
		case <-s.ctx.Done():
			s.end(context.Cause(s.ctx))
			return
		}
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				s.fail(e)
				return
			}
			// The client is gone (or stalled, and cut): stop reading, and
			// the deferred cancel stops Bedrock from generating tokens
			// nobody reads.
			if cause := context.Cause(s.ctx); errors.Is(cause, errClientStalled) {
				s.end(cause)
				return
			}
			s.rec.clientAborted = true
			return
		}
	}
}

// event relays one Bedrock event; wrote says whether it wrote to the
// client. A returned *Error is a failure to report in-band.
func (s *stream) event(ev types.ConverseStreamOutput) (wrote bool, err error) {
	switch v := ev.(type) {
	case *types.ConverseStreamOutputMemberContentBlockDelta:
		switch d := v.Value.Delta.(type) {
		case *types.ContentBlockDeltaMemberText:
			if d.Value == "" {
				return false, nil
			}
			s.counted()
			return true, s.enc.Text(d.Value)
		case *types.ContentBlockDeltaMemberReasoningContent:
			switch rc := d.Value.(type) {
			case *types.ReasoningContentBlockDeltaMemberText:
				if rc.Value == "" {
					return false, nil
				}
				s.counted()
				return true, s.enc.Reasoning(rc.Value)
			case *types.ReasoningContentBlockDeltaMemberSignature:
				return true, s.enc.ReasoningSignature(rc.Value)
			case *types.ReasoningContentBlockDeltaMemberRedactedContent:
				return true, s.enc.RedactedReasoning(rc.Value)
			}
			return false, nil
		case *types.ContentBlockDeltaMemberToolUse:
			tc := s.tools[deref(v.Value.ContentBlockIndex)]
			if tc == nil || d.Value.Input == nil || *d.Value.Input == "" {
				return false, nil
			}
			if len(tc.Input)+len(*d.Value.Input) > maxToolInputBytes {
				s.rec.cause = "a tool call's input exceeded the gateway's limit"
				return false, &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError,
					Message: fmt.Sprintf("the model's tool call input is larger than %d bytes", maxToolInputBytes)}
			}
			tc.Input = append(tc.Input, *d.Value.Input...)
			s.counted()
			return true, s.enc.ToolInput(tc, *d.Value.Input)
		}
	case *types.ConverseStreamOutputMemberContentBlockStart:
		if start, ok := v.Value.Start.(*types.ContentBlockStartMemberToolUse); ok {
			tc := &ToolCall{Index: s.ntools, ID: deref(start.Value.ToolUseId), Name: deref(start.Value.Name)}
			s.ntools++
			if s.tools == nil {
				s.tools = map[int32]*ToolCall{}
			}
			s.tools[deref(v.Value.ContentBlockIndex)] = tc
			return true, s.enc.ToolStart(tc)
		}
	case *types.ConverseStreamOutputMemberContentBlockStop:
		if tc := s.tools[deref(v.Value.ContentBlockIndex)]; tc != nil {
			delete(s.tools, deref(v.Value.ContentBlockIndex))
			return true, s.enc.ToolEnd(tc)
		}
	case *types.ConverseStreamOutputMemberMessageStop:
		s.sawStop = true
		s.done.StopReason = string(v.Value.StopReason)
	case *types.ConverseStreamOutputMemberMetadata:
		if u := v.Value.Usage; u != nil {
			s.done.Usage = usageOf(u)
		}
		if m := v.Value.Metrics; m != nil {
			s.done.Timings.UpstreamLatencyMs = deref(m.LatencyMs)
		}
		if s.done.StopReason == StopGuardrail {
			var trace *types.GuardrailTraceAssessment
			if v.Value.Trace != nil {
				trace = v.Value.Trace.Guardrail
			}
			s.rec.guardrail = guardrailAction(trace)
		}
	}
	return false, nil
}

// counted notes a delta that reached the client.
func (s *stream) counted() {
	if s.rec.firstToken.IsZero() {
		s.rec.firstToken = time.Now()
	}
	s.rec.deltas++
}

// finish ends a stream whose events channel closed: a clean end is one
// with Bedrock's messageStop and no error. Anything else is a failure,
// including a connection cut that the SDK reports as a plain end of stream.
func (s *stream) finish(streamErr error) {
	if s.ctx.Err() != nil {
		s.end(context.Cause(s.ctx))
		return
	}
	switch {
	case streamErr != nil:
		s.rec.cause = streamErr.Error()
		s.fail(upstreamError(streamErr))
		return
	case !s.sawStop:
		s.rec.cause = "the event stream ended without messageStop"
		s.fail(&Error{Status: http.StatusBadGateway, Code: CodeIncompleteStream, Retryable: true,
			Message: "the answer from Bedrock ended before it was complete"})
		return
	}
	s.rec.stopReason = s.done.StopReason
	s.rec.setUsage(s.done.Usage)
	s.sendDone()
}

func (s *stream) sendDone() {
	s.done.Timings.DurationMs = time.Since(s.rec.start).Milliseconds()
	if !s.rec.firstToken.IsZero() {
		s.done.Timings.TimeToFirstTokenMs = s.rec.firstToken.Sub(s.rec.start).Milliseconds()
	}
	if err := s.enc.Done(s.done); err != nil {
		s.rec.clientAborted = true
	}
}

// end ends the stream for the reason its context ended.
func (s *stream) end(cause error) {
	cfg := s.h.cfg
	switch {
	case errors.Is(cause, errCancelled):
		// The client asked for it: a clean end, with what is known of
		// the usage so far (Bedrock reports usage only at the end, so
		// outputTokens counts the deltas relayed).
		s.rec.cancelled = true
		s.rec.stopReason = StopCancelled
		s.done.StopReason = StopCancelled
		s.done.Usage = Usage{OutputTokens: s.rec.deltas, TotalTokens: s.rec.deltas}
		s.rec.outputTokens = s.rec.deltas
		s.sendDone()
	case errors.Is(cause, errDeadline):
		s.fail(deadlineError())
	case errors.Is(cause, errShuttingDown):
		s.fail(shuttingDownError())
	case errors.Is(cause, errClientStalled):
		s.rec.clientAborted = true
		s.rec.cause = fmt.Sprintf("the client read nothing for %v", cfg.UpstreamIdleTimeout)
	case errors.Is(cause, errUpstreamIdle):
		s.rec.cause = cause.Error()
		s.fail(&Error{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTimeout, Retryable: true,
			Message: fmt.Sprintf("Bedrock sent nothing for %v; the answer is incomplete", cfg.UpstreamIdleTimeout)})
	default:
		s.rec.clientAborted = true
	}
}

// fail reports an error after the response has begun: as an error event
// where the format has one, otherwise by aborting the response so that the
// client cannot take a truncated answer for a complete one.
func (s *stream) fail(e *Error) {
	s.rec.errorCode = e.Code
	if err := s.enc.Fail(e); err == ErrAborted {
		s.rec.aborted = true
		abortResponse(s.w, s.r)
	}
}

// abortResponse cuts a response so that the client sees an error, not an
// end. Over HTTP/1.1 and HTTP/2 the server does it for a handler that
// panics with http.ErrAbortHandler (no terminating chunk; RST_STREAM). An
// HTTP/1.0 response has no framing: its end is the connection's close, so a
// plain close would pass for a complete answer. There the connection is
// reset instead (SO_LINGER 0, then close: the client reads ECONNRESET).
func abortResponse(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			if tcp, ok := conn.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
	}
	// The deferred log line is still written: panics run defers.
	panic(http.ErrAbortHandler)
}

// preStreamError is what a client is told when the gateway itself ended
// the upstream call before Bedrock answered.
func preStreamError(cause error, cfg *Config) *Error {
	switch {
	case errors.Is(cause, errDeadline):
		return deadlineError()
	case errors.Is(cause, errShuttingDown):
		return shuttingDownError()
	case errors.Is(cause, errHeaderTimeout):
		return &Error{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTimeout, Retryable: true,
			Message: fmt.Sprintf("Bedrock did not answer within %v", cfg.UpstreamHeaderTimeout)}
	case errors.Is(cause, errUpstreamIdle):
		return &Error{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTimeout, Retryable: true,
			Message: fmt.Sprintf("Bedrock did not finish the answer within %v", cfg.UpstreamIdleTimeout)}
	}
	return &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError, Retryable: true, Message: "the call to Bedrock failed"}
}

func deadlineError() *Error {
	return &Error{Status: http.StatusGatewayTimeout, Code: CodeDeadline,
		Message: "the function's time limit is near, so the gateway ended the answer early; ask for fewer tokens or raise the timeout"}
}

func shuttingDownError() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeShuttingDown, Retryable: true,
		Message: "the server is shutting down; the answer is incomplete, retry it"}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func usageOf(u *types.TokenUsage) Usage {
	return Usage{
		InputTokens: int(deref(u.InputTokens)), OutputTokens: int(deref(u.OutputTokens)), TotalTokens: int(deref(u.TotalTokens)),
		CacheReadInputTokens: int(deref(u.CacheReadInputTokens)), CacheWriteInputTokens: int(deref(u.CacheWriteInputTokens)),
	}
}
