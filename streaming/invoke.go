package streaming

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/smithy-go/eventstream"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"
)

// Invocation is one InvokeModel call relayed as it is, for Bedrock's own
// protocol (the pass-through that Claude Code's Bedrock mode speaks): the
// model's request body (an Anthropic Messages body, say) after the
// dialect applied the operator's policy to it.
type Invocation struct {
	ModelID string
	Body    []byte
	// ContentType and Accept are the body's and the answer's media types;
	// empty means application/json.
	ContentType, Accept string
}

// InvokeResult is Bedrock's whole answer to an InvokeModel call, to be
// sent back unchanged.
type InvokeResult struct {
	Body        []byte
	ContentType string
	// Header holds Bedrock's X-Amzn-Bedrock-* answer headers (token counts,
	// latency), which Bedrock's clients read.
	Header http.Header
}

// orJSON is s, or application/json when s is empty.
func orJSON(s string) string {
	if s == "" {
		return "application/json"
	}
	return s
}

// Invoke runs one InvokeModel call under UpstreamCall's limits and returns
// Bedrock's answer as it came. The log line gets the tokens Bedrock
// reports in its headers.
func (h *Handler) Invoke(r *http.Request, inv *Invocation) (*InvokeResult, *Error) {
	rec := logOf(r)
	rec.model, rec.format = inv.ModelID, "bedrock-invoke"
	if e := h.budgets.check(r.Context(), rec); e != nil {
		return nil, e
	}
	var out *bedrockruntime.InvokeModelOutput
	var hdr http.Header
	if e := h.UpstreamCall(r, func(ctx context.Context) (err error) {
		in := &bedrockruntime.InvokeModelInput{
			ModelId: aws.String(inv.ModelID), Body: inv.Body,
			ContentType: aws.String(orJSON(inv.ContentType)), Accept: aws.String(orJSON(inv.Accept)),
		}
		if g := h.cfg.Guardrail; g != nil {
			in.GuardrailIdentifier, in.GuardrailVersion = aws.String(g.ID), aws.String(g.Version)
		}
		out, err = h.bedrock.InvokeModel(ctx, in, func(o *bedrockruntime.Options) { o.HTTPClient = headerKeeper{next: o.HTTPClient, header: &hdr} })
		return err
	}); e != nil {
		return nil, e
	}
	res := &InvokeResult{Body: out.Body, ContentType: orJSON(deref(out.ContentType)), Header: http.Header{}}
	for name, values := range hdr {
		if len(name) > len(bedrockHeaderPrefix) && http.CanonicalHeaderKey(name[:len(bedrockHeaderPrefix)]) == bedrockHeaderPrefix {
			res.Header[name] = values
		}
	}
	in, errIn := strconv.Atoi(hdr.Get("X-Amzn-Bedrock-Input-Token-Count"))
	outTokens, errOut := strconv.Atoi(hdr.Get("X-Amzn-Bedrock-Output-Token-Count"))
	if errIn == nil && errOut == nil {
		rec.SetTokens(in, outTokens)
	} else {
		rec.inputEstimate = len(inv.Body)/4 + 1
	}
	return res, nil
}

const bedrockHeaderPrefix = "X-Amzn-Bedrock-"

// headerKeeper keeps the response headers of a call for its caller.
type headerKeeper struct {
	next   bedrockruntime.HTTPClient
	header *http.Header
}

func (k headerKeeper) Do(r *http.Request) (*http.Response, error) {
	resp, err := k.next.Do(r)
	if err == nil {
		*k.header = resp.Header.Clone()
	}
	return resp, err
}

// rawStreamTaker takes the body of a 200 event-stream answer away from the
// SDK, whose own reader then ends on an empty body: the pass-through
// relays the frames as they came, without decoding them into events.
type rawStreamTaker struct {
	next bedrockruntime.HTTPClient
	body *io.ReadCloser
}

func (t rawStreamTaker) Do(r *http.Request) (*http.Response, error) {
	resp, err := t.next.Do(r)
	if err == nil && resp.StatusCode == http.StatusOK && resp.Body != nil && isEventStream(resp.Header.Get("Content-Type")) {
		if *t.body != nil {
			_ = (*t.body).Close() // a retried call: only the last answer is read
		}
		*t.body, resp.Body = resp.Body, http.NoBody
	}
	return resp, err
}

// InvokeStream runs one InvokeModelWithResponseStream call and relays its
// event-stream frames to w as they arrive, each written and flushed whole
// and byte for byte as Bedrock sent it (application/vnd.amazon.eventstream),
// with the relay's limits: the upstream idle timeout, the invocation
// deadline, the server's shutdown, a Stop (Cancel: the body then ends
// after the last whole frame) and a client that went away (the Bedrock
// call is cancelled). Bedrock's own exception frames pass through like any
// other; a failure of the gateway's own after the first byte (a frame cut
// or corrupt, an idle upstream, the deadline) is told as an exception frame
// of Bedrock's kinds, so that the client's SDK reports an error rather than
// a short answer. The log line, and the key's budget, get the tokens and
// the stop reason from the chunks (Bedrock's
// amazon-bedrock-invocationMetrics). GUARDRAIL_ID applies as on Converse.
func (h *Handler) InvokeStream(w http.ResponseWriter, r *http.Request, inv *Invocation) {
	rec := logOf(r)
	rec.model, rec.format = inv.ModelID, "bedrock-eventstream"
	ctx, cancel, done, ok := h.startStream(w, r, rec)
	if !ok {
		return
	}
	defer done()

	headers := time.AfterFunc(h.cfg.UpstreamHeaderTimeout, func() { cancel(errHeaderTimeout) })
	var body io.ReadCloser
	in := &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: aws.String(inv.ModelID), Body: inv.Body,
		ContentType: aws.String(orJSON(inv.ContentType)), Accept: aws.String(orJSON(inv.Accept)),
	}
	if g := h.cfg.Guardrail; g != nil {
		in.GuardrailIdentifier, in.GuardrailVersion = aws.String(g.ID), aws.String(g.Version)
	}
	_, err := h.bedrock.InvokeModelWithResponseStream(ctx, in, func(o *bedrockruntime.Options) {
		// A protocol of the call's own: the SDK's reader still runs (on
		// an empty body), and a shared one is a data race (smithy-go #714).
		o.Protocol = restjson1.New(schemas.AmazonBedrockFrontendService)
		o.HTTPClient = rawStreamTaker{next: o.HTTPClient, body: &body}
	})
	headers.Stop()
	if err == nil && body == nil {
		err = errors.New("Bedrock answered without an event stream")
	}
	if err != nil {
		if body != nil {
			_ = body.Close()
		}
		if h.failedBeforeTheStream(w, r, ctx, err) {
			rec.cancelled, rec.stopReason = true, StopCancelled
			beginEventStream(w)
		}
		return
	}
	// Bedrock took the call: from here on the answer is paid for, even if
	// it is cut before Bedrock says what it cost.
	rec.inputEstimate = len(inv.Body)/4 + 1
	frames := newFrameCopier(body)
	defer frames.close()
	p := &passThrough{h: h, rec: rec, ctx: ctx, cancel: cancel, fw: beginEventStream(w)}
	defer func() { rec.bytes = p.fw.bytes }()
	p.loop(frames)
}

func beginEventStream(w http.ResponseWriter) *FlushWriter {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/vnd.amazon.eventstream")
	hdr.Set("X-Amzn-Bedrock-Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fw := NewFlushWriter(w)
	_ = fw.Flush()
	return fw
}

// passThrough is one relayed InvokeModelWithResponseStream answer.
type passThrough struct {
	h      *Handler
	rec    *RequestLog
	ctx    context.Context
	cancel context.CancelCauseFunc
	fw     *FlushWriter
	dec    *eventstream.Decoder
	done   bool // Bedrock's last chunk (with its invocation metrics) or an exception went by
}

func (p *passThrough) loop(frames *frameCopier) {
	cfg := p.h.cfg
	p.dec = eventstream.NewDecoder()
	idle := time.AfterFunc(cfg.UpstreamIdleTimeout, func() {
		if p.fw.writing.Load() {
			p.cancel(errClientStalled)
			_ = p.fw.rc.SetWriteDeadline(time.Now())
			return
		}
		p.cancel(errUpstreamIdle)
	})
	defer idle.Stop()
	for {
		select {
		case frame, ok := <-frames.ch:
			if !ok {
				p.finish(frames.err)
				return
			}
			idle.Reset(cfg.UpstreamIdleTimeout)
			if err := p.frame(frame); err != nil {
				if cause := context.Cause(p.ctx); errors.Is(cause, errClientStalled) {
					p.rec.cause = fmt.Sprintf("the client read nothing for %v", cfg.UpstreamIdleTimeout)
				}
				p.rec.clientAborted = true
				return
			}
			if p.done {
				return
			}
		case <-p.ctx.Done():
			p.end(context.Cause(p.ctx))
			return
		}
	}
}

// frame checks one frame, notes what the log line needs from it, and
// sends it on unchanged.
func (p *passThrough) frame(frame []byte) error {
	msg, err := p.dec.Decode(bytes.NewReader(frame), nil)
	if err != nil {
		p.rec.cause = "a corrupt event-stream frame from Bedrock: " + Truncate(err.Error(), 200)
		return p.fail("internalServerException", CodeUpstreamError, "the answer from Bedrock was corrupt")
	}
	switch headerString(msg.Headers, ":message-type") {
	case "exception", "error":
		p.done = true
		p.rec.errorCode = CodeUpstreamError
		p.rec.cause = "Bedrock ended the stream with " + Truncate(headerString(msg.Headers, ":exception-type")+headerString(msg.Headers, ":error-code"), 100)
	case "event":
		if headerString(msg.Headers, ":event-type") == "chunk" {
			p.chunk(msg.Payload)
		}
	}
	return p.fw.Emit(frame)
}

// chunk reads what the log line reports from one chunk: Bedrock's
// invocation metrics (on the last chunk, for every model) and an
// Anthropic body's stop reason.
func (p *passThrough) chunk(payload []byte) {
	var c struct {
		Bytes []byte `json:"bytes"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return
	}
	var inner struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason string `json:"stop_reason"`
		} `json:"delta"`
		CompletionReason string `json:"completionReason"`
		Metrics          *struct {
			InputTokenCount      int `json:"inputTokenCount"`
			OutputTokenCount     int `json:"outputTokenCount"`
			CacheReadTokenCount  int `json:"cacheReadInputTokenCount"`
			CacheWriteTokenCount int `json:"cacheWriteInputTokenCount"`
		} `json:"amazon-bedrock-invocationMetrics"`
	}
	if json.Unmarshal(c.Bytes, &inner) != nil {
		return
	}
	if inner.Type == "content_block_delta" || inner.Type == "" && inner.Metrics == nil {
		if p.rec.firstToken.IsZero() {
			p.rec.firstToken = time.Now()
		}
		p.rec.deltas++
	}
	switch {
	case inner.Delta.StopReason != "":
		p.rec.stopReason = inner.Delta.StopReason
	case inner.CompletionReason != "":
		p.rec.stopReason = inner.CompletionReason
	}
	if m := inner.Metrics; m != nil {
		p.done = true
		p.rec.setUsage(Usage{InputTokens: m.InputTokenCount, OutputTokens: m.OutputTokenCount,
			CacheReadInputTokens: m.CacheReadTokenCount, CacheWriteInputTokens: m.CacheWriteTokenCount})
	}
}

func headerString(h eventstream.Headers, name string) string {
	if v := h.Get(name); v != nil {
		if s, ok := v.Get().(string); ok {
			return s
		}
	}
	return ""
}

// finish ends a stream whose body ended: cleanly after Bedrock's last
// chunk, as a failure otherwise (cut in a frame, or no last chunk).
func (p *passThrough) finish(readErr error) {
	if p.ctx.Err() != nil {
		p.end(context.Cause(p.ctx))
		return
	}
	if readErr != nil {
		p.rec.cause = readErr.Error()
	} else {
		p.rec.cause = "the event stream ended without its last chunk"
	}
	_ = p.fail("internalServerException", CodeIncompleteStream, "the answer from Bedrock ended before it was complete")
}

// end ends the stream for the reason its context ended.
func (p *passThrough) end(cause error) {
	cfg := p.h.cfg
	switch {
	case errors.Is(cause, errCancelled):
		p.rec.cancelled, p.rec.stopReason = true, StopCancelled
		p.rec.outputTokens = p.rec.deltas
	case errors.Is(cause, errDeadline):
		_ = p.fail("modelTimeoutException", CodeDeadline, deadlineError().Message)
	case errors.Is(cause, errShuttingDown):
		_ = p.fail("serviceUnavailableException", CodeShuttingDown, shuttingDownError().Message)
	case errors.Is(cause, errUpstreamIdle):
		p.rec.cause = cause.Error()
		_ = p.fail("modelTimeoutException", CodeUpstreamTimeout, fmt.Sprintf("Bedrock sent nothing for %v; the answer is incomplete", cfg.UpstreamIdleTimeout))
	case errors.Is(cause, errClientStalled):
		p.rec.clientAborted = true
		p.rec.cause = fmt.Sprintf("the client read nothing for %v", cfg.UpstreamIdleTimeout)
	default:
		p.rec.clientAborted = true
	}
}

// fail tells the client of a failure in Bedrock's own terms: an exception
// frame, as Bedrock ends a stream that fails.
func (p *passThrough) fail(exceptionType, code, message string) error {
	p.rec.errorCode = code
	p.done = true
	b, err := ExceptionFrame(exceptionType, message)
	if err != nil {
		return err
	}
	return p.fw.Emit(b)
}

// ExceptionFrame is an event-stream exception message, as Bedrock ends a
// stream that fails: headers :message-type exception, :exception-type and
// :content-type application/json, and {"message": ...} as the payload.
func ExceptionFrame(exceptionType, message string) ([]byte, error) {
	payload, err := json.Marshal(map[string]string{"message": message})
	if err != nil {
		return nil, err
	}
	var msg eventstream.Message
	msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
	msg.Headers.Set(":exception-type", eventstream.StringValue(exceptionType))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Payload = payload
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, msg); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// frameCopier reads whole event-stream frames from a body in a goroutine
// of its own, each into a buffer of its own, and hands them on: the frame
// boundaries are what lets the relay end a stream with a whole frame of
// its own.
type frameCopier struct {
	body io.ReadCloser
	ch   chan []byte
	done chan struct{}
	err  error // written before ch is closed: why the body ended inside a frame or failed; nil at a frame boundary
}

func newFrameCopier(body io.ReadCloser) *frameCopier {
	c := &frameCopier{body: body, ch: make(chan []byte), done: make(chan struct{})}
	go c.read()
	return c
}

func (c *frameCopier) read() {
	defer close(c.ch)
	var prelude [framePreludeLen]byte
	for {
		n, err := io.ReadFull(c.body, prelude[:])
		switch {
		case err == io.EOF && n == 0:
			return
		case err != nil:
			c.setErr(fmt.Errorf("the event stream was cut in a frame's prelude: %w", err))
			return
		}
		total := binary.BigEndian.Uint32(prelude[0:4])
		headers := binary.BigEndian.Uint32(prelude[4:8])
		if total < frameMinLen || total > frameMaxLen || headers > total-frameMinLen {
			c.setErr(fmt.Errorf("%w: total %d, headers %d", errFrameLength, total, headers))
			return
		}
		frame := make([]byte, total)
		copy(frame, prelude[:])
		if _, err := io.ReadFull(c.body, frame[framePreludeLen:]); err != nil {
			c.setErr(fmt.Errorf("the event stream was cut in a frame: %w", err))
			return
		}
		select {
		case c.ch <- frame:
		case <-c.done:
			return
		}
	}
}

func (c *frameCopier) setErr(err error) {
	select {
	case <-c.done: // closed by the relay: not the stream's failure
	default:
		c.err = err
	}
}

func (c *frameCopier) close() {
	select {
	case <-c.done:
	default:
		close(c.done)
		_ = c.body.Close()
	}
}
