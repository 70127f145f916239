// Package streaming is the core of the gateway: one http.Handler that
// applies the operator's policy to every request, calls Bedrock, and
// relays each event of the answer to the client the moment it arrives.
// It knows no client protocol. The protocols (dialects) are the packages
// beside it — native (/stream), openai, original, anthropic (Messages),
// bedrockapi (Bedrock's own, passed through) — each of which reads its
// requests into a Call and encodes the core's event sequence in its wire
// format; streaming/gateway assembles them. The map is in
// streaming/README.md.
//
// What every dialect shares lives here: the policy (Config, NewCall: the
// model allowlist, token cap, system prompt; the body limits and API keys
// of Handler), the Bedrock calls (Relay for ConverseStream, Converse,
// InvokeJSON, the image models, CountTokens, and Invoke and InvokeStream,
// the byte-for-byte relay of InvokeModel's own protocol), the one relay loop with its timers
// (heartbeat, upstream idle, invocation deadline, shutdown), the cancel
// registry and its shared store (Cancel), errors (Error, and each
// dialect's ErrorShape), and the one log line per request with its
// CloudWatch Embedded Metric Format metrics (RequestLog).
//
// The package knows nothing about Lambda either. Local mode serves the
// Handler with net/http; Lambda mode bridges API Gateway events to the
// same Handler (see the lambda directory).
//
// Reading: the SDK signs and sends each ConverseStream call and decodes an
// error answer, but the event stream of a 200 answer is read by the
// gateway itself (eventreader.go), one goroutine a stream, and a plain text
// delta is decoded without the SDK's schema-driven decoder (eventframe.go);
// every other frame still goes through the SDK's, so the events are the
// SDK's own types with the SDK's own outcomes.
//
// Flushing: every Encoder writes one event and flushes it through
// http.ResponseController (FlushWriter) before the relay reads the next
// one from Bedrock, so no layer between Bedrock and the client holds a
// delta back. A response that fails after its first byte and whose format
// cannot say so is aborted (panic(http.ErrAbortHandler)), never ended
// cleanly, so that a truncated answer cannot look complete.
package streaming
