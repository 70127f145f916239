// Package localgw emulates, on one machine, Amazon API Gateway REST with
// response streaming (Integration ResponseTransferMode STREAM, AWS_PROXY) in
// front of the AWS Lambda Runtime API, running a real Lambda `bootstrap`
// binary as child processes.
//
// Neither AWS's runtime interface emulator nor `sam local start-api` streams
// (RIE issue #175, SAM CLI issue #6501); localgw does, with the semantics
// that matter to a streaming client:
//
//   - Each HTTP request becomes an events.APIGatewayProxyRequest (REST
//     payload v1) and is handed to a free instance through the Runtime API
//     (GET /2018-06-01/runtime/invocation/next).
//   - A streamed response (Content-Type
//     application/vnd.awslambda.http-integration-response: JSON prelude, 8
//     NUL bytes, body) is forwarded chunk by chunk, flushed on arrival.
//     Any other response is read as a buffered proxy response
//     {statusCode, headers, multiValueHeaders, body, isBase64Encoded}.
//   - Errors look like API Gateway's: a function error before any byte
//     reached the client is a 502 {"message": "Internal server error"}; a
//     failure after bytes were sent aborts the client connection (the
//     chunked body is cut without its terminating chunk) so a truncated
//     stream never looks complete; the integration timeout gives 504
//     {"message": "Endpoint request timed out"} (or an abort once bytes
//     were sent); an idle stream is aborted after IdleTimeout.
//   - A client that goes away does not stop the function, as on AWS: the
//     function is not told, runs on until it ends its response or times
//     out, and localgw drains (reads and discards) what it still sends. The
//     same holds when the integration or idle timeout ends the client's
//     response. Config.OnDisconnect = Close restores the earlier model, in
//     which localgw closed the function's response connection. See Gateway
//     for both models.
//   - Each invocation's deadline (Lambda-Runtime-Deadline-Ms) is
//     FunctionTimeout from the moment its event is handed to the runtime,
//     and the function is killed then ("Task timed out"), as Lambda does.
//     _HANDLER is Config.Handler ("bootstrap" by default).
//   - With Config.Authorizer, a REQUEST Lambda authorizer (the same
//     bootstrap binary with its own _HANDLER, in its own pool) runs before
//     the integration on the routes it guards, as API Gateway does with
//     ApiKeySourceType AUTHORIZER: a missing identity source is 401
//     {"message":"Unauthorized"} without invoking it; its error
//     "Unauthorized" is 401; a Deny is 403 {"message":"User is not
//     authorized to access this resource with an explicit deny"}; a policy
//     that does not allow the method ARN is 403 {"message":"User is not
//     authorized to access this resource"}; an Allow whose
//     usageIdentifierKey is not a key of the usage plan is 403
//     {"message":"Forbidden"}; any other failure (another error, a crash, a
//     timeout, an invalid answer) is 500 {"message":null}. An Allow runs the
//     integration with requestContext.authorizer = {principalId,
//     integrationLatency, and the context's keys (as strings)} and
//     requestContext.identity.apiKey = the key. Results are cached for TTL,
//     keyed by the identity sources' values.
//
// The Gateway is an http.Handler; serve it with any http.Server (the
// `go run ./scripts/localgw` command does just that).
//
// Deliberately not emulated: TOKEN authorizers and Cognito, custom gateway
// responses, per-key throttling and quotas of usage plans, stage
// variables, binary media types (a request body that is not valid UTF-8 is
// always base64-encoded), the 2 MB/s bandwidth limits after the first 6/10
// MB, the 200 MB response cap, and Lambda scaling (each pool has a fixed
// number of instances and a request waits for a free one, within the
// integration timeout).
package localgw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Limits and defaults, as on AWS.
const (
	DefaultInstances   = 4
	DefaultTimeout     = 300 * time.Second
	MinTimeout         = 50 * time.Millisecond // API Gateway TimeoutInMillis lower bound
	MaxTimeout         = 900 * time.Second     // API Gateway STREAM upper bound, also Lambda's maximum timeout
	DefaultIdleTimeout = 5 * time.Minute       // REGIONAL endpoints
	DefaultStage       = "local"
	DefaultFunction    = "localgw"
	DefaultMemorySize  = 128 // MB, Lambda's default

	// MaxRequestBodyBytes is API Gateway's payload limit (10 MB); larger
	// requests get 413 {"message": "Request Too Long"}.
	MaxRequestBodyBytes = 10 << 20

	// MaxBufferedResponseBytes is Lambda's limit for a buffered
	// (non-streaming) response payload.
	MaxBufferedResponseBytes = 6291556

	// StreamingContentType is the Content-Type of a streamed
	// API Gateway integration response posted to the Runtime API.
	StreamingContentType = "application/vnd.awslambda.http-integration-response"

	// AccountID and APIID are the fixed identifiers used in events and ARNs.
	AccountID = "123456789012"
	APIID     = "local"
)

// Config configures a Gateway. The zero value of every field but Bootstrap
// has a default.
type Config struct {
	Bootstrap       string        // path to the bootstrap binary
	Handler         string        // _HANDLER of the integration's function (the Lambda function's Handler property); "" → "bootstrap"
	Instances       int           // 0 → 4
	Timeout         time.Duration // integration timeout, from the start of the integration request (after the authorizer, if any); 0 → 300s; > 900s is an error
	FunctionTimeout time.Duration // Lambda function timeout (Lambda-Runtime-Deadline-Ms, from the start of each invocation); 0 → Timeout
	IdleTimeout     time.Duration // abort a stream after this long without bytes from the function, once it has started its response; 0 → 5m
	Stage           string        // "" → "local"
	Env             []string      // extra environment for the children, appended to os.Environ() (the variables Lambda reserves, such as AWS_LAMBDA_*, _HANDLER and AWS_REGION, are set by localgw; AWS_REGION is read from here or the environment, default us-east-1)
	Stderr          io.Writer     // children's stdout/stderr; nil → os.Stderr
	Logger          *slog.Logger  // nil → discard

	FunctionName string // AWS_LAMBDA_FUNCTION_NAME and the function ARN; "" → "localgw"
	MemorySize   int    // AWS_LAMBDA_FUNCTION_MEMORY_SIZE in MB (informational only); 0 → 128

	// OnDisconnect is what localgw does with a function's streamed
	// response once nobody reads it any more (the client went away, or the
	// integration or idle timeout ended the client's response): Drain (the
	// default, what Lambda does) or Close (the old model). See Gateway.
	OnDisconnect DisconnectMode

	// Authorizer, when set, puts a REQUEST Lambda authorizer in front of
	// the integration. nil: no authorizer.
	Authorizer *AuthorizerConfig
}

// DisconnectMode is Config.OnDisconnect.
type DisconnectMode string

const (
	// Drain keeps reading (and discarding) the function's response until
	// the function ends it or is killed at its timeout. This is what
	// Lambda does: "streamed responses are not interrupted or stopped when
	// the invoking client connection is broken" (AWS Lambda developer
	// guide, "Response streaming for Lambda functions").
	Drain DisconnectMode = "drain"
	// Close closes the function's /response connection, which an
	// aws-lambda-go function notices at its next write (and then exits).
	// Lambda does not do this; it is kept for tests of a function's
	// reaction to a broken response stream.
	Close DisconnectMode = "close"
)

// DefaultHandler is the _HANDLER of the integration's function: the
// Handler property of a provided.al2023 function whose bootstrap ignores it.
const DefaultHandler = "bootstrap"

// Gateway is the emulated API Gateway stage plus its pool of Lambda
// instances (and the authorizer's, if any). It is an http.Handler.
//
// Each instance is one `bootstrap` child process with its own Runtime API
// server on a loopback port; it runs one invocation at a time. A child that
// exits is restarted (a new cold start). A child that has not answered by
// its invocation's deadline is killed, as Lambda does on timeout.
//
// What happens to a function's streamed response that nobody reads any
// more (Config.OnDisconnect) — when the client goes away, or the
// integration timeout or the idle timeout ends the client's response:
//
//   - Drain (the default) is what AWS does. Lambda does not tell a
//     streaming function that its invoker left: the function runs on, its
//     writes keep succeeding, and it is billed until it ends its response
//     or reaches its timeout. localgw therefore keeps reading the
//     function's /response body and discards it; the instance stays busy
//     (a request that needs it waits, as on Lambda where the execution
//     environment is busy), and when the function ends its response it is
//     answered 202 as usual and goes on to its next invocation. localgw
//     logs "function response abandoned; draining it until the function
//     ends it or times out" (with why: client_disconnected,
//     integration_timeout, idle_timeout, ...) when it starts, and
//     "function response drained" (with end: complete, function_error,
//     timed_out or connection_lost; bytes_discarded, the bytes of the
//     function's response that no client received; and drain_ms) when the
//     function ended it or was killed at its timeout. For a
//     gateway in front of Bedrock this means that, on Lambda, a client
//     disconnect does not cancel the Bedrock call: the answer runs to its
//     end (or maxTokens, or the deadline). Only an explicit cancel stops it.
//   - Close is the model localgw had before, kept for tests: the Gateway
//     closes the instance's /invocation/{id}/response connection. For a
//     function built on aws-lambda-go this plays out as follows. The
//     runtime's HTTP transport notices on its next attempt to send a body
//     chunk, that is when the function next writes to its response pipe
//     (that write still succeeds; the bytes are dropped). The runtime's
//     POST then fails; the runtime calls Close on the returned response,
//     which closes the pipe's reader (a Body that is an *io.PipeReader):
//     from then on the function's writes fail with io.ErrClosedPipe. Then
//     the handler's context is cancelled and the runtime exits the process
//     (log.Fatalf "unexpected error occurred when sending the function
//     functionResponse to the API"); the Gateway restarts the child (a new
//     cold start). Lambda never does this.
type Gateway struct {
	cfg        Config
	log        *slog.Logger
	bootstrap  string // absolute path
	region     string
	resourceID string
	out        *lockedWriter

	fn   *pool       // the integration's function
	auth *authorizer // nil without Config.Authorizer

	closed chan struct{}

	closeOnce sync.Once
	wg        sync.WaitGroup // supervisors

	mu      sync.Mutex
	started bool
}

// New validates cfg and returns a Gateway. Call Start before serving (a
// request served earlier waits for an instance) and Close when done.
func New(cfg Config) (*Gateway, error) {
	if cfg.Bootstrap == "" {
		return nil, errors.New("localgw: Bootstrap (the path to the bootstrap binary) is required")
	}
	abs, err := filepath.Abs(cfg.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("localgw: bootstrap %q: %v", cfg.Bootstrap, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("localgw: bootstrap: %v", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("localgw: bootstrap %s is not a regular file", abs)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("localgw: bootstrap %s is not executable (chmod +x it)", abs)
	}

	switch {
	case cfg.Instances < 0:
		return nil, fmt.Errorf("localgw: instances must be at least 1, got %d", cfg.Instances)
	case cfg.Instances == 0:
		cfg.Instances = DefaultInstances
	}
	switch {
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultTimeout
	case cfg.Timeout > MaxTimeout:
		return nil, fmt.Errorf("localgw: timeout %v exceeds API Gateway's maximum integration timeout of %v (900000 ms)", cfg.Timeout, MaxTimeout)
	case cfg.Timeout < MinTimeout:
		return nil, fmt.Errorf("localgw: timeout %v is below API Gateway's minimum integration timeout of %v", cfg.Timeout, MinTimeout)
	}
	switch {
	case cfg.FunctionTimeout == 0:
		cfg.FunctionTimeout = cfg.Timeout
	case cfg.FunctionTimeout > MaxTimeout:
		return nil, fmt.Errorf("localgw: function timeout %v exceeds Lambda's maximum of %v", cfg.FunctionTimeout, MaxTimeout)
	case cfg.FunctionTimeout < 0:
		return nil, fmt.Errorf("localgw: function timeout must be positive, got %v", cfg.FunctionTimeout)
	}
	switch {
	case cfg.IdleTimeout == 0:
		cfg.IdleTimeout = DefaultIdleTimeout
	case cfg.IdleTimeout < 0:
		return nil, fmt.Errorf("localgw: idle timeout must be positive, got %v", cfg.IdleTimeout)
	}
	if cfg.Handler == "" {
		cfg.Handler = DefaultHandler
	}
	if err := checkHandler(cfg.Handler); err != nil {
		return nil, fmt.Errorf("localgw: handler: %w", err)
	}
	switch cfg.OnDisconnect {
	case "":
		cfg.OnDisconnect = Drain
	case Drain, Close:
	default:
		return nil, fmt.Errorf("localgw: OnDisconnect %q: want %q or %q", cfg.OnDisconnect, Drain, Close)
	}
	if cfg.Stage == "" {
		cfg.Stage = DefaultStage
	}
	if strings.ContainsAny(cfg.Stage, "/ ") {
		return nil, fmt.Errorf("localgw: stage %q must not contain '/' or spaces", cfg.Stage)
	}
	if cfg.FunctionName == "" {
		cfg.FunctionName = DefaultFunction
	}
	switch {
	case cfg.MemorySize == 0:
		cfg.MemorySize = DefaultMemorySize
	case cfg.MemorySize < 0:
		return nil, fmt.Errorf("localgw: memory size must be positive, got %d", cfg.MemorySize)
	}
	for _, kv := range cfg.Env {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("localgw: environment entry %q is not KEY=VALUE", kv)
		}
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	region := lookupEnv(cfg.Env, "AWS_REGION")
	if region == "" {
		region = lookupEnv(cfg.Env, "AWS_DEFAULT_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}

	g := &Gateway{
		cfg:        cfg,
		log:        logger.With("component", "localgw"),
		bootstrap:  abs,
		region:     region,
		resourceID: randomAlnum(6),
		out:        &lockedWriter{w: cfg.Stderr},
		closed:     make(chan struct{}),
	}
	g.fn = g.newPool(cfg.FunctionName, cfg.Handler, cfg.Instances, cfg.FunctionTimeout, nil, cfg.OnDisconnect)
	if cfg.Authorizer != nil {
		a, err := g.newAuthorizer(*cfg.Authorizer)
		if err != nil {
			return nil, fmt.Errorf("localgw: authorizer: %w", err)
		}
		g.auth = a
	}
	return g, nil
}

// lookupEnv finds key in extra (last entry wins), then in the process
// environment.
func lookupEnv(extra []string, key string) string {
	for i := len(extra) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(extra[i], "="); ok && k == key {
			return v
		}
	}
	return os.Getenv(key)
}

// checkHandler applies Lambda's rule for the Handler property: 1 to 128
// characters, no whitespace.
func checkHandler(h string) error {
	if len(h) > 128 || strings.IndexFunc(h, unicode.IsSpace) >= 0 {
		return fmt.Errorf("%q: Lambda's Handler is 1 to 128 characters without spaces", h)
	}
	return nil
}

// Start starts one Runtime API server and one bootstrap child per instance
// (of the function, and of the authorizer if there is one), and returns
// once every instance has made its first GET /next (its cold start is then
// recorded). It returns an error if a child cannot be started or fails its
// initialization (exits, or posts /runtime/init/error) before that, or
// ctx.Err() if ctx ends first; call Close in every case. ctx only bounds
// the wait: the instances keep running until Close.
func (g *Gateway) Start(ctx context.Context) error {
	g.mu.Lock()
	if g.started {
		g.mu.Unlock()
		return errors.New("localgw: Start called twice")
	}
	select {
	case <-g.closed:
		g.mu.Unlock()
		return errors.New("localgw: Start after Close")
	default:
	}
	g.started = true
	pools := []*pool{g.fn}
	if g.auth != nil {
		pools = append(pools, g.auth.fn)
	}
	type firstResult struct {
		p   *pool
		idx int
		err error
	}
	total := 0
	for _, p := range pools {
		total += p.size
	}
	results := make(chan firstResult, total)
	for _, p := range pools {
		for i := range p.size {
			in := &instance{p: p, idx: i}
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				in.run(func(err error) { results <- firstResult{p, i, err} })
			}()
		}
	}
	g.mu.Unlock()

	for range total {
		select {
		case r := <-results:
			if r.err != nil {
				if r.p != g.fn {
					return fmt.Errorf("localgw: authorizer instance %d: %w", r.idx, r.err)
				}
				return fmt.Errorf("localgw: instance %d: %w", r.idx, r.err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	attrs := []any{"instances", g.fn.size, "bootstrap", g.bootstrap, "handler", g.fn.handler, "on_disconnect", string(g.cfg.OnDisconnect)}
	if g.auth != nil {
		attrs = append(attrs, "authorizer_instances", g.auth.fn.size, "authorizer_handler", g.auth.fn.handler)
	}
	g.log.Info("instances ready", attrs...)
	return nil
}

// ColdStarts returns, for every cold start of the integration's function
// so far (including restarts), the time from exec of the child to its
// first GET /next, in order of completion. The authorizer's are not
// included.
func (g *Gateway) ColdStarts() []time.Duration {
	g.fn.mu.Lock()
	defer g.fn.mu.Unlock()
	return append([]time.Duration(nil), g.fn.coldStarts...)
}

// Close stops accepting invocations, stops the children (SIGTERM, then
// SIGKILL after a short grace) and closes the Runtime API servers. Requests
// still waiting for an instance get 503; streams in progress are aborted.
// It is safe to call more than once.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		close(g.closed)
	})
	g.wg.Wait()
	return nil
}

func (g *Gateway) isClosed() bool {
	select {
	case <-g.closed:
		return true
	default:
		return false
	}
}

// lockedWriter serializes whole lines from several children onto one
// writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) writeLine(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(p)
}

// lineWriter receives a child's stdout and stderr and forwards complete
// lines, one Write each, so that the JSON log lines of concurrent children
// stay intact.
type lineWriter struct {
	out *lockedWriter
	buf []byte
}

const maxLogLine = 1 << 20

func (lw *lineWriter) Write(p []byte) (int, error) {
	lw.buf = append(lw.buf, p...)
	start := 0
	for {
		i := bytes.IndexByte(lw.buf[start:], '\n')
		if i < 0 {
			break
		}
		lw.out.writeLine(lw.buf[start : start+i+1])
		start += i + 1
	}
	rest := copy(lw.buf, lw.buf[start:])
	lw.buf = lw.buf[:rest]
	if len(lw.buf) > maxLogLine { // a runaway line without newline
		lw.flush()
	}
	return len(p), nil
}

// flush writes what is left, newline-terminated.
func (lw *lineWriter) flush() {
	if len(lw.buf) == 0 {
		return
	}
	lw.out.writeLine(append(lw.buf, '\n'))
	lw.buf = lw.buf[:0]
}

var _ http.Handler = (*Gateway)(nil)
