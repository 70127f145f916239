// Package emulator is a built-in, deterministic emulator of Amazon Bedrock:
// the Runtime's Converse, ConverseStream, InvokeModel,
// InvokeModelWithResponseStream and CountTokens, and the control plane's
// ListFoundationModels and ListInferenceProfiles.
//
// It exists so that nobody needs an AWS account to run, test or demo
// streamgate: local mode points the real aws-sdk-go-v2 clients at it
// through BaseEndpoint, and because it speaks the real wire format
// (application/vnd.amazon.eventstream frames written with the SDK's own
// encoder, JSON errors with X-Amzn-ErrorType, Bedrock's own validation
// messages) the gateway runs the very code path it runs against AWS.
// Clients no one here wrote (boto3, the Node AWS SDK v3 over HTTP/2) read
// it too. NewServer serves it over HTTP/1.1 and HTTP/2 without TLS.
//
// Its models (see Models, ImageModelID, EmbeddingModelID) are chosen by
// model id and reproduce the situations a streaming gateway must survive:
// steady and long streams, a slow first token, throttling, a mid-stream
// exception, a connection cut mid-frame, reasoning, tool calls, an answer
// with code whose deltas are full of JSON escapes (code-v1); and the
// image and embedding models of the InvokeModel routes. Every answer is a
// pure function of the request; Answer, Reasoning, ToolCallFor,
// ToolResultAnswer, Image and Embedding compute it for tests elsewhere, so
// that no test copies the generator.
//
// Request bodies per operation and model:
//
//   - Converse and ConverseStream: every model in Models. Image blocks are
//     validated as Bedrock validates them (format enum, base64 bytes, not
//     empty, magic bytes matching the format); toolUse and toolResult
//     blocks need a toolConfig.
//   - InvokeModel and InvokeModelWithResponseStream: text-v1 takes a Titan
//     Text body ({"inputText", "textGenerationConfig"}); the other models
//     in Models take an Anthropic Messages body ({"anthropic_version":
//     "bedrock-2023-05-31", "max_tokens", "messages", ...}) and answer as
//     Claude does (streamed: chunk events whose bytes are message_start,
//     content_block_start, content_block_delta, content_block_stop,
//     message_delta and message_stop JSON, paced like ConverseStream).
//     ImageModelID takes a Titan Image Generator v2 / Nova Canvas
//     TEXT_IMAGE body and EmbeddingModelID a Titan Text Embeddings v2 body
//     (InvokeModel only). Bodies are checked as Bedrock checks them, with
//     its "Malformed input request: #/..." wording.
//   - Both shapes: thinking blocks sent back are checked as Claude checks
//     them (thinking.go: signatures, only in assistant messages and first
//     there, and a tool loop with thinking on keeps its thinking), and
//     prompt caching (cachePoint blocks, cache_control) reports cache
//     reads of a repeated prefix and writes of a new one as Bedrock does
//     (cache.go). Converse document blocks are validated (format, name,
//     bytes, a PDF's header).
//   - CountTokens (POST /model/{modelId}/count-tokens): a converse or an
//     invokeModel input → {"inputTokens"}, for foundation model ids only.
//   - ListInferenceProfiles (GET /inference-profiles): a system-defined
//     profile ("us.emulator.fast-v1") for every chat model.
//   - ListFoundationModels (GET /foundation-models): the whole catalogue,
//     filtered by byProvider, byOutputModality, byInferenceType and
//     byCustomizationType.
//
// Guardrails: Converse and ConverseStream honour one guardrail,
// GuardrailID version GuardrailVersion, whose word filter blocks
// "forbidden": in the users' text (not tool results) it answers
// GuardrailMessage alone; in the answer it ends the text at that word,
// held back and replaced by GuardrailMessage (streamProcessingMode sync)
// or already sent (async); either way the stop reason is
// guardrail_intervened and, with trace enabled, the metadata event (or
// the Converse answer) carries the guardrail's assessment. Any other
// guardrail is a ValidationException, as an unknown one is on Bedrock.
//
// Token accounting: inputTokens is the number of whitespace-separated words
// in all text blocks of all messages plus the system prompt (Titan: of
// inputText); outputTokens is the number of deltas generated (text,
// reasoning and tool-input deltas; not the reasoning signature); maxTokens
// caps the deltas. See Answer for the text of each delta.
//
// Records keeps one Record per request (operation, model, the first
// 64 KiB of the body, protocol, outcome), so that a test can assert what
// reached "Bedrock", and that nothing did.
//
// Two client-side facts show up against a server this fast (both are SDK
// behaviour, not emulator behaviour, and both also apply against AWS):
//
//   - The SDK closes its request body as soon as response headers arrive,
//     while net/http's write loop may still probe that body for extra bytes
//     through io.WriterTo, which then fails with io.EOF; the transport closes
//     the connection under the response and the stream fails with "use of
//     closed network connection" (aws-sdk-go-v2 #2737). The emulator reads
//     every request body to the end before answering, but the race is inside
//     the client: give the SDK an HTTPClient that hides the request body's
//     WriteTo (wrap it as struct{ io.ReadCloser }), as this package's tests do.
//   - Concurrent event streams on one bedrockruntime.Client share the
//     protocol's eventstream codec, which `go test -race` reports as a data
//     race (benign today; smithy-go #714). Race-enabled tests that run
//     streams in parallel need one client per stream.
package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	smithyrand "github.com/aws/smithy-go/rand"
)

// Options tunes the emulator's timing. The zero value gives the documented
// defaults, which are the ones users see in local mode.
type Options struct {
	TokensPerSecond float64       // deltas a second for the paced models; 0 → 50
	SlowStart       time.Duration // slow-start-v1's silence before its first delta; 0 → 40s
	LongDuration    time.Duration // how long long-v1's uncapped answer takes; 0 → 95s
	Logger          *slog.Logger  // one line per request, without prompts or answers; nil → discard
}

const (
	defaultTokensPerSecond = 50
	defaultSlowStart       = 40 * time.Second
	defaultLongDuration    = 95 * time.Second

	// maxRequestBytes bounds the request body the emulator reads.
	maxRequestBytes = 20 << 20
	// maxRecords bounds the memory a long-running emulator spends on
	// Records: only the most recent requests are kept.
	maxRecords = 10000
)

// Environment variables read by OptionsFromEnv.
const (
	envTokensPerSecond = "EMULATOR_TOKENS_PER_SECOND"
	envSlowStart       = "EMULATOR_SLOW_START_SECONDS"
	envLong            = "EMULATOR_LONG_SECONDS"
)

// OptionsFromEnv reads EMULATOR_TOKENS_PER_SECOND, EMULATOR_SLOW_START_SECONDS
// and EMULATOR_LONG_SECONDS (floats allowed; unset or empty keeps the
// default) so that local mode and the standalone CLI are configured the
// same way. Every value must be a finite number greater than 0; a bad value
// is reported with the variable's name, so that a misconfigured process
// fails at start. getenv is os.Getenv in production.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	var o Options
	v, err := envFloat(getenv, envTokensPerSecond)
	if err != nil {
		return Options{}, err
	}
	o.TokensPerSecond = v
	if o.SlowStart, err = envSeconds(getenv, envSlowStart); err != nil {
		return Options{}, err
	}
	if o.LongDuration, err = envSeconds(getenv, envLong); err != nil {
		return Options{}, err
	}
	return o, nil
}

func envFloat(getenv func(string) string, name string) (float64, error) {
	s := strings.TrimSpace(getenv(name))
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s=%q: not a number", name, s)
	}
	if v <= 0 {
		return 0, fmt.Errorf("%s=%q: must be greater than 0", name, s)
	}
	return v, nil
}

func envSeconds(getenv func(string) string, name string) (time.Duration, error) {
	v, err := envFloat(getenv, name)
	if err != nil || v == 0 {
		return 0, err
	}
	if v > float64(math.MaxInt64)/float64(time.Second) {
		return 0, fmt.Errorf("%s=%q: too large", name, getenv(name))
	}
	d := time.Duration(v * float64(time.Second))
	if d <= 0 {
		return 0, fmt.Errorf("%s=%q: too small", name, getenv(name))
	}
	return d, nil
}

// Emulator is an http.Handler serving the Bedrock routes listed on
// ServeHTTP. It is safe for concurrent use, and all its state
// lives in the value, so tests can run many emulators side by side.
type Emulator struct {
	interval  time.Duration // between deltas at TokensPerSecond
	slowStart time.Duration
	long      time.Duration
	log       *slog.Logger

	mu       sync.Mutex
	cache    map[[sha256.Size]byte]time.Time // prompt cache: prefix hash → expiry
	records  []*Record
	inflight int
	idle     chan struct{} // closed while inflight == 0
}

// New returns an Emulator with opts' zero fields set to their defaults.
func New(opts Options) *Emulator {
	tps := opts.TokensPerSecond
	if tps <= 0 || math.IsNaN(tps) || math.IsInf(tps, 0) {
		tps = defaultTokensPerSecond
	}
	e := &Emulator{
		interval:  time.Duration(float64(time.Second) / tps),
		slowStart: opts.SlowStart,
		long:      opts.LongDuration,
		log:       opts.Logger,
		idle:      make(chan struct{}),
	}
	if e.slowStart <= 0 {
		e.slowStart = defaultSlowStart
	}
	if e.long <= 0 {
		e.long = defaultLongDuration
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	close(e.idle)
	return e
}

// Record describes one request to a known operation that the emulator
// received (unknown routes are only logged), so that tests can check what
// reached "Bedrock": how many attempts, what exactly was sent, whether a
// cancel propagated, how many tokens were paid for.
type Record struct {
	// Operation is "ConverseStream", "Converse", "InvokeModel",
	// "InvokeModelWithResponseStream" or "ListFoundationModels".
	Operation string
	ModelID   string // as requested (decoded from the path); "" for ListFoundationModels
	// Body is a copy of the first 64 KiB of the request body, as it
	// arrived (JSON for every operation here), and BodySize the length of
	// the whole body, so that a test can check what was sent (toolConfig,
	// thinking fields, image blocks) without the emulator keeping large
	// bodies. Callers must not modify Body.
	Body     []byte
	BodySize int
	Query    string // the raw query string (ListFoundationModels' filters)
	Proto    string // "HTTP/1.1" or "HTTP/2.0"
	Status   int    // HTTP status written; 0 if the client left before one was
	// Outcome is "completed", "cancelled" (client context ended before
	// the answer finished), "error" (an error answer before any stream),
	// "stream-error" (midstream exception) or "truncated".
	Outcome string
	// DeltasSent counts the deltas written (streaming operations) or
	// generated (the others): text, reasoning and tool-input deltas, not
	// the reasoning signature; for image-v1 the images, for embed-v1 0.
	DeltasSent int
	Start, End time.Time
}

// maxRecordedBody bounds Record.Body.
const maxRecordedBody = 64 << 10

// Records returns a snapshot of the requests seen so far, in arrival order;
// a request still in flight has Outcome "" and zero End. Only the most
// recent 10000 requests are kept.
func (e *Emulator) Records() []Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Record, len(e.records))
	for i, r := range e.records {
		out[i] = *r
	}
	return out
}

// WaitIdle blocks until no request is in flight or ctx ends, so that tests
// read Records only after the handler has recorded how a request ended
// (which can be after the client has seen the end of the response).
func (e *Emulator) WaitIdle(ctx context.Context) error {
	e.mu.Lock()
	idle := e.idle
	e.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Emulator) begin(r *http.Request, op, modelID string, body []byte, start time.Time) *Record {
	rec := &Record{
		Operation: op,
		ModelID:   modelID,
		Body:      bytes.Clone(body[:min(len(body), maxRecordedBody)]),
		BodySize:  len(body),
		Query:     r.URL.RawQuery,
		Proto:     r.Proto,
		Start:     start,
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inflight == 0 {
		e.idle = make(chan struct{})
	}
	e.inflight++
	e.records = append(e.records, rec)
	if len(e.records) > 2*maxRecords {
		e.records = append([]*Record(nil), e.records[len(e.records)-maxRecords:]...)
	}
	return rec
}

func (e *Emulator) update(fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fn()
}

func (e *Emulator) end(rec *Record, status int, outcome string, deltas int) Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec.Status, rec.Outcome, rec.DeltasSent, rec.End = status, outcome, deltas, time.Now()
	e.inflight--
	if e.inflight == 0 {
		close(e.idle)
	}
	return *rec
}

// Operations, as Records names them.
const (
	opConverseStream                = "ConverseStream"
	opConverse                      = "Converse"
	opInvokeModel                   = "InvokeModel"
	opInvokeModelWithResponseStream = "InvokeModelWithResponseStream"
	opListFoundationModels          = "ListFoundationModels"
	opListInferenceProfiles         = "ListInferenceProfiles"
	opCountTokens                   = "CountTokens"
)

// Outcomes.
const (
	outcomeCompleted   = "completed"
	outcomeCancelled   = "cancelled"
	outcomeError       = "error"
	outcomeStreamError = "stream-error"
	outcomeTruncated   = "truncated"
)

// result is what a handler reports for the record and the log line.
type result struct {
	status       int
	outcome      string
	deltas       int
	inputTokens  int
	stopReason   string
	errorType    string
	errorMessage string
}

// ServeHTTP serves the Bedrock Runtime routes
// POST /model/{modelId}/converse-stream, /converse, /invoke and
// /invoke-with-response-stream, and the bedrock control plane's
// GET /foundation-models. The request body is always read to the end
// before anything is written: answering a fast client before its body is
// drained makes the SDK fail the stream with "use of closed network
// connection" (aws-sdk-go-v2 issue #2737).
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	_ = r.Body.Close()
	requestID := newRequestID()
	w.Header().Set("X-Amzn-RequestId", requestID)

	op, modelID, ok := parseRoute(r.Method, r.URL)
	if !ok {
		writeError(w, http.StatusNotFound, "UnknownOperationException", "The requested route does not exist.")
		e.log.LogAttrs(r.Context(), slog.LevelWarn, "bedrock emulator: unknown route",
			slog.String("request_id", requestID),
			slog.String("method", r.Method),
			slog.String("path", r.URL.EscapedPath()),
			slog.Int("status", http.StatusNotFound))
		return
	}
	rec := e.begin(r, op, modelID, body, start)
	res := e.serve(w, r, rec, op, modelID, body, readErr, start)
	final := e.end(rec, res.status, res.outcome, res.deltas)

	attrs := []slog.Attr{
		slog.String("request_id", requestID),
		slog.String("operation", op),
	}
	if modelID != "" {
		attrs = append(attrs, slog.String("model", modelID))
	}
	attrs = append(attrs,
		slog.String("proto", r.Proto),
		slog.Int("status", final.Status),
		slog.String("outcome", final.Outcome),
		slog.Int("deltas", final.DeltasSent),
		slog.Int64("duration_ms", final.End.Sub(final.Start).Milliseconds()),
	)
	if res.inputTokens > 0 {
		attrs = append(attrs, slog.Int("input_tokens", res.inputTokens), slog.Int("output_tokens", res.deltas))
	}
	if res.stopReason != "" {
		attrs = append(attrs, slog.String("stop_reason", res.stopReason))
	}
	if res.errorType != "" {
		attrs = append(attrs, slog.String("error_type", res.errorType), slog.String("error", res.errorMessage))
	}
	e.log.LogAttrs(r.Context(), slog.LevelInfo, "bedrock emulator request", attrs...)
}

// parseRoute splits the escaped path by hand rather than through
// http.ServeMux so that ids containing '/' (ARNs, sent as %2F) and ':' are
// decoded exactly once and never path-cleaned or redirected.
func parseRoute(method string, u *url.URL) (op, modelID string, ok bool) {
	path := u.EscapedPath()
	switch path {
	case "/foundation-models":
		return opListFoundationModels, "", method == http.MethodGet
	case "/inference-profiles":
		return opListInferenceProfiles, "", method == http.MethodGet
	}
	if method != http.MethodPost {
		return "", "", false
	}
	parts := strings.Split(path, "/")
	if len(parts) != 4 || parts[0] != "" || parts[1] != "model" || parts[2] == "" {
		return "", "", false
	}
	switch parts[3] {
	case "converse-stream":
		op = opConverseStream
	case "converse":
		op = opConverse
	case "invoke":
		op = opInvokeModel
	case "invoke-with-response-stream":
		op = opInvokeModelWithResponseStream
	case "count-tokens":
		op = opCountTokens
	default:
		return "", "", false
	}
	id, err := url.PathUnescape(parts[2])
	if err != nil {
		return "", "", false
	}
	return op, id, true
}

func (e *Emulator) serve(w http.ResponseWriter, r *http.Request, rec *Record, op, modelID string, body []byte, readErr error, start time.Time) result {
	ctx := r.Context()
	fail := func(status int, typ, msg string) result {
		writeError(w, status, typ, msg)
		return result{status: status, outcome: outcomeError, errorType: typ, errorMessage: msg}
	}
	invalid := func(err error) result { return fail(http.StatusBadRequest, "ValidationException", err.Error()) }
	if readErr != nil {
		if ctx.Err() != nil {
			return result{outcome: outcomeCancelled}
		}
		var tooBig *http.MaxBytesError
		if errors.As(readErr, &tooBig) {
			return fail(http.StatusBadRequest, "ValidationException", "Input is too long for requested model.")
		}
		return fail(http.StatusBadRequest, "ValidationException", "Could not read the request body.")
	}
	// SigV4 is not verified: the emulator accepts any static credentials,
	// but an unsigned request is refused as AWS would refuse it.
	if r.Header.Get("Authorization") == "" {
		return fail(http.StatusForbidden, "AccessDeniedException", "Missing Authentication Token: the request must be signed with AWS credentials (any static keys will do for the emulator).")
	}
	switch op {
	case opListFoundationModels:
		return listFoundationModels(w, r)
	case opListInferenceProfiles:
		return listInferenceProfiles(w, r)
	}
	m := lookupModel(modelID)
	if m == nil {
		return fail(http.StatusBadRequest, "ValidationException", "The provided model identifier is invalid.")
	}
	if op == opCountTokens {
		if !m.chat() {
			return fail(http.StatusBadRequest, "ValidationException", "The provided model doesn't support counting tokens.")
		}
		return countTokens(w, m, modelID, body)
	}
	switch op {
	case opConverse, opConverseStream:
		if !m.chat() {
			return fail(http.StatusBadRequest, "ValidationException", "This action doesn't support the model that you provided. Try again with a supported text or chat model.")
		}
		conv, err := parseConverse(body, m)
		if err != nil {
			return invalid(err)
		}
		if m.kind == kindThrottle {
			return throttled(w)
		}
		e.applyCache(conv, converseCachePoints(m.id, body))
		p := e.plan(m.kind, conv)
		if op == opConverse {
			return e.converse(ctx, w, rec, &p, conv, start)
		}
		return e.converseStream(ctx, w, rec, &p, conv, start)
	case opInvokeModelWithResponseStream:
		if !m.streaming {
			return fail(http.StatusBadRequest, "ValidationException", "The model is unsupported for streaming.")
		}
	}
	return e.invoke(ctx, w, rec, op, m, body, start)
}

func throttled(w http.ResponseWriter) result {
	const msg = "Too many requests, please wait before trying again."
	writeError(w, http.StatusTooManyRequests, "ThrottlingException", msg)
	return result{status: http.StatusTooManyRequests, outcome: outcomeError, errorType: "ThrottlingException", errorMessage: msg}
}

func newRequestID() string {
	// The SDK's own UUID generator, as Bedrock's request ids are UUIDs.
	id, err := smithyrand.NewUUID(rand.Reader).GetUUID()
	if err != nil { // crypto/rand does not fail on Linux
		panic(err)
	}
	return id
}
