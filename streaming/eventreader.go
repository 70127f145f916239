package streaming

import (
	"io"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/eventstream"
)

// eventSource is a stream of ConverseStream events: the SDK's
// ConverseStreamEventStream, or the gateway's own frameReader.
type eventSource interface {
	// Events is closed at the end of the stream, or when it fails.
	Events() <-chan types.ConverseStreamOutput
	// Err is why the stream failed, once Events is closed; nil for an end.
	Err() error
	Close() error
}

// converseStream is one ConverseStream call's options: a protocol of its
// own (deltaFrameProtocol), and an HTTP client that takes the event stream
// body away from the SDK, so that the gateway reads it in one goroutine of
// its own (frameReader).
//
// A protocol of its own: in aws-sdk-go-v2 bedrockruntime v1.63 (smithy-go
// v1.28) a client's one restjson1.Protocol holds one event-stream Codec
// whose decoder and decode buffer are shared by every stream of that
// client, so concurrent streams are a data race (go test -race reports it;
// smithy-go issue #714, fix not released). The SDK still decodes an error
// answer with it.
//
// The body taken away: the SDK hands each event from its reader goroutine
// to a second goroutine and from there to the relay, two goroutine
// hand-offs a delta, each a trip through the scheduler that a Lambda
// function pays with its small CPU share. frameReader decodes frames with
// a deltaFrameProtocol of its own and hands each event straight to the
// relay; the SDK's own reader gets an empty body and ends at once. A
// response that is not a 200 event stream is left to the SDK.
type converseStream struct {
	protocol *deltaFrameProtocol
	body     io.ReadCloser // the event stream, once the response is in
}

func newConverseStream() *converseStream {
	return &converseStream{protocol: newDeltaFrameProtocol()}
}

// options is the per-call option for ConverseStream.
func (c *converseStream) options(o *bedrockruntime.Options) {
	o.Protocol = c.protocol
	o.HTTPClient = bodyTaker{next: o.HTTPClient, call: c}
}

// events is the call's event source: the gateway's own reader of the body
// taken, or the SDK's stream when there is none.
func (c *converseStream) events(out *bedrockruntime.ConverseStreamOutput) eventSource {
	sdk := out.GetStream()
	if c.body == nil {
		return sdk
	}
	// The SDK's reader has an empty body and ends at once, but may still
	// be using the call's protocol: the frameReader gets one of its own.
	_ = sdk.Close()
	return newFrameReader(c.body, newDeltaFrameProtocol())
}

// discard closes the body taken, if any, of a call that failed after its
// response arrived.
func (c *converseStream) discard() {
	if c.body != nil {
		_ = c.body.Close()
	}
}

// bodyTaker keeps a successful event-stream response's body for the call.
type bodyTaker struct {
	next bedrockruntime.HTTPClient
	call *converseStream
}

func (b bodyTaker) Do(r *http.Request) (*http.Response, error) {
	resp, err := b.next.Do(r)
	if err == nil && resp.StatusCode == http.StatusOK && resp.Body != nil && isEventStream(resp.Header.Get("Content-Type")) {
		if b.call.body != nil {
			_ = b.call.body.Close() // a retried call: only the last answer is read
		}
		b.call.body, resp.Body = resp.Body, http.NoBody
	}
	return resp, err
}

// frameReader reads ConverseStream events from an event-stream body in one
// goroutine and hands each to the relay as the SDK does: the same protocol
// decodes the frames, the same event types come out, and a stream that
// ends without an error (even inside a frame, as smithy-go has it) closes
// Events with Err nil.
type frameReader struct {
	body      io.ReadCloser
	protocol  *deltaFrameProtocol
	ch        chan types.ConverseStreamOutput
	done      chan struct{}
	closeOnce sync.Once
	err       error // written before ch is closed
}

func newFrameReader(body io.ReadCloser, p *deltaFrameProtocol) *frameReader {
	r := &frameReader{body: body, protocol: p, ch: make(chan types.ConverseStreamOutput), done: make(chan struct{})}
	go r.read()
	return r
}

func (r *frameReader) read() {
	defer close(r.ch)
	for {
		text, ev, err := r.protocol.decode(schemas.ConverseStreamOutput, bedrockruntime.TypeRegistry, r.body)
		if err != nil {
			select {
			case <-r.done: // closed by the relay: not the stream's failure
			default:
				if err != io.EOF {
					r.err = err
				}
			}
			return
		}
		var out types.ConverseStreamOutput
		if text != nil {
			out = &text.member // a text delta: already what the relay takes
		} else if out = converseStreamOutput(ev); out == nil {
			continue
		}
		select {
		case r.ch <- out:
		case <-r.done:
			return
		}
	}
}

func (r *frameReader) Events() <-chan types.ConverseStreamOutput { return r.ch }

// Err is only read once Events is closed, which orders it after the write.
func (r *frameReader) Err() error { return r.err }

// Close stops the reader and closes the body (which ends a read under way).
func (r *frameReader) Close() error {
	r.closeOnce.Do(func() {
		close(r.done)
		_ = r.body.Close()
	})
	return nil
}

// converseStreamOutput wraps a decoded event as the union member the SDK's
// event stream hands out (bedrockruntime's converseStreamOutputReader);
// nil for a value that is no event of this stream.
func converseStreamOutput(ev smithy.Deserializable) types.ConverseStreamOutput {
	switch v := ev.(type) {
	case *types.ContentBlockDeltaEvent:
		return &types.ConverseStreamOutputMemberContentBlockDelta{Value: *v}
	case *types.ContentBlockStartEvent:
		return &types.ConverseStreamOutputMemberContentBlockStart{Value: *v}
	case *types.ContentBlockStopEvent:
		return &types.ConverseStreamOutputMemberContentBlockStop{Value: *v}
	case *types.MessageStartEvent:
		return &types.ConverseStreamOutputMemberMessageStart{Value: *v}
	case *types.MessageStopEvent:
		return &types.ConverseStreamOutputMemberMessageStop{Value: *v}
	case *types.ConverseStreamMetadataEvent:
		return &types.ConverseStreamOutputMemberMetadata{Value: *v}
	case *eventstream.UnknownUnionMember:
		return &types.UnknownUnionMember{Tag: v.Tag, Value: v.Value}
	}
	return nil
}
