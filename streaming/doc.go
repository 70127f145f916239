// Package streaming is the gateway itself: one http.Handler that turns an
// HTTP request into a Bedrock ConverseStream call and writes each text delta
// to the client the moment it arrives, as plain text, Server-Sent Events or
// NDJSON.
//
// The package knows nothing about Lambda. Local mode serves the Handler with
// net/http; Lambda mode bridges API Gateway events to the same Handler (see
// the lambda directory). Everything a request goes through — parsing and
// operator policy, the stream loop, encoders, error mapping, the per-request
// log line and its CloudWatch Embedded Metric Format metrics — lives here, so
// that nothing is written twice, once per mode.
//
// Reading: the SDK signs and sends each ConverseStream call and decodes an
// error answer, but the event stream of a 200 answer is read by the
// gateway itself (eventreader.go), one goroutine a stream, and a plain text
// delta is decoded without the SDK's schema-driven decoder (eventframe.go);
// every other frame still goes through the SDK's, so the events are the
// SDK's own types with the SDK's own outcomes.
//
// Flushing: every encoder writes one event and flushes it through
// http.ResponseController before it reads the next one from Bedrock, so no
// layer between Bedrock and the client holds a delta back. A text response
// that fails after its first byte is aborted (panic(http.ErrAbortHandler)),
// never ended cleanly, so that a truncated answer cannot look complete.
package streaming
