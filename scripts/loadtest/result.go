package main

// Why a stream is incomplete (StreamResult.Reason). The first cause wins:
// a stream that got an error event and then lost its connection is an
// "error-event".
const (
	// ReasonStatus: the response status was not 2xx (including redirects,
	// which are not followed: a load test must hit the URL it was given).
	ReasonStatus = "status"
	// ReasonTransport: no response, or the body ended with a read error
	// (connection reset, a chunked body cut without its last chunk: this is
	// how the server reports a failure in text format).
	ReasonTransport = "transport"
	// ReasonErrorEvent: the SSE stream carried an error event.
	ReasonErrorEvent = "error-event"
	// ReasonMissingDone: the SSE body ended cleanly without a done event.
	ReasonMissingDone = "missing-done"
	// ReasonProtocol: the response was not what the format promises (an SSE
	// request answered with another Content-Type, an event whose data is
	// not the expected JSON, an absurdly long line).
	ReasonProtocol = "protocol"
	// ReasonDeadline: the run's -duration expired while the stream was in
	// flight.
	ReasonDeadline = "deadline"
	// ReasonTimeout: the per-stream -timeout expired.
	ReasonTimeout = "timeout"
	// ReasonCanceled: the run was interrupted (Ctrl-C, or the caller's
	// context).
	ReasonCanceled = "canceled"
)

// StreamResult is what one stream measured. Times are from the moment the
// request was sent.
type StreamResult struct {
	// ID is the stream's index, 0 to Streams-1, in start order.
	ID int `json:"id"`
	// Start is when the stream started, from the start of the run.
	Start Millis `json:"startMs"`
	// Status is the HTTP status, 0 when there was no response.
	Status      int    `json:"status"`
	ContentType string `json:"contentType,omitempty"`
	// RequestID is the start event's requestId (SSE).
	RequestID string `json:"requestId,omitempty"`

	// Headers is the time to the response headers.
	Headers Millis `json:"headersMs,omitempty"`
	// TTFB is the time to the first body byte; zero when none arrived.
	TTFB Millis `json:"ttfbMs,omitempty"`
	// FirstDelta is the time to the first delta event (SSE); zero when none
	// arrived.
	FirstDelta Millis `json:"firstDeltaMs,omitempty"`
	// MaxGap is the longest time between two consecutive body reads that
	// returned data: the longest silence the client saw once the body had
	// started. It is what an idle timeout on the path would have to
	// survive, and what a user sees as a stall.
	MaxGap Millis `json:"maxGapMs"`
	// Duration is the time until the body ended (or failed).
	Duration Millis `json:"durationMs"`

	// Bytes is the body bytes read; Chunks the body reads that returned
	// data (the granularity at which the client saw the stream).
	Bytes  int64 `json:"bytes"`
	Chunks int   `json:"chunks"`
	// Deltas counts delta events, TextBytes the bytes of answer text (the
	// deltas' text in SSE, the whole body in text format).
	Deltas     int   `json:"deltas"`
	TextBytes  int64 `json:"textBytes"`
	KeepAlives int   `json:"keepAlives,omitempty"`

	// StopReason and OutputTokens come from the done event (SSE).
	StopReason   string `json:"stopReason,omitempty"`
	OutputTokens int    `json:"outputTokens,omitempty"`

	// Complete: SSE, a done event and then a clean end of the body; text, a
	// clean end of the chunked body.
	Complete bool `json:"complete"`
	// Reason is one of the Reason constants when not Complete.
	Reason string `json:"reason,omitempty"`
	// ErrorCode is the code of a JSON error body or of an error event.
	ErrorCode string `json:"errorCode,omitempty"`
	// Error says what went wrong, for a human.
	Error string `json:"error,omitempty"`
}

// fail records the first cause of failure and ignores later ones.
func (r *StreamResult) fail(reason, msg string) {
	if r.Reason != "" {
		return
	}
	r.Reason, r.Error = reason, msg
}

// Result is the outcome of Run, and the document -json writes.
type Result struct {
	// Config is the configuration in effect, defaults applied.
	Config  Config  `json:"config"`
	Summary Summary `json:"summary"`
	// Streams are the started streams, by ID.
	Streams []StreamResult `json:"streams"`
}
