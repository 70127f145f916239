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
//   - A client that goes away cancels the function: see Gateway.
//
// The Gateway is an http.Handler; serve it with any http.Server (the
// `go run ./scripts/localgw` command does just that).
//
// Deliberately not emulated: authorizers, stage variables, binary media
// types (a request body that is not valid UTF-8 is always base64-encoded),
// the 2 MB/s bandwidth limits after the first 6/10 MB, the 200 MB response
// cap, and Lambda scaling (the pool has a fixed number of instances and a
// request waits for a free one, within the integration timeout).
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
	Instances       int           // 0 → 4
	Timeout         time.Duration // integration timeout; 0 → 300s; > 900s is an error
	FunctionTimeout time.Duration // Lambda function timeout (Lambda-Runtime-Deadline-Ms); 0 → Timeout
	IdleTimeout     time.Duration // abort a stream after this long without bytes from the function, once it has started its response; 0 → 5m
	Stage           string        // "" → "local"
	Env             []string      // extra environment for the children, appended to os.Environ() (the variables Lambda reserves, such as AWS_LAMBDA_*, _HANDLER and AWS_REGION, are set by localgw; AWS_REGION is read from here or the environment, default us-east-1)
	Stderr          io.Writer     // children's stdout/stderr; nil → os.Stderr
	Logger          *slog.Logger  // nil → discard

	FunctionName string // AWS_LAMBDA_FUNCTION_NAME and the function ARN; "" → "localgw"
	MemorySize   int    // AWS_LAMBDA_FUNCTION_MEMORY_SIZE in MB (informational only); 0 → 128
}

// Gateway is the emulated API Gateway stage plus its pool of Lambda
// instances. It is an http.Handler.
//
// Each instance is one `bootstrap` child process with its own Runtime API
// server on a loopback port; it runs one invocation at a time. A child that
// exits is restarted (a new cold start). A child that does not come back to
// /next by its invocation's deadline is killed, as Lambda does on timeout.
//
// How a client disconnect reaches the function: when the client's request
// context ends while the function is streaming (or after it, if the function
// posts its response later), the Gateway closes the instance's
// /invocation/{id}/response connection. For a function built on
// aws-lambda-go this plays out as follows. The runtime's HTTP transport
// notices on its next attempt to send a body chunk, that is when the
// function next writes to its response pipe (that write still succeeds; the
// bytes are dropped). The runtime's POST then fails; the runtime calls
// Close on the returned response, which closes the pipe's reader (a Body
// that is an *io.PipeReader): from then on the function's writes fail with
// io.ErrClosedPipe, and that is the function's cue to cancel its upstream
// call. Then the handler's context is cancelled and the runtime exits the
// process (log.Fatalf "unexpected error occurred when sending the function
// functionResponse to the API"). Lambda would then start a new execution
// environment; the Gateway restarts the child (a new cold start).
// Because the process exits right after Close returns, a function that
// must clean up (stop an upstream stream, log) should do it in its Body's
// Close method, or from the failed write, not after its context is done;
// and a function that writes nothing never learns of the disconnect before
// its deadline.
type Gateway struct {
	cfg        Config
	log        *slog.Logger
	bootstrap  string // absolute path
	region     string
	arn        string
	resourceID string
	out        *lockedWriter

	invokeCh chan *invocation // unbuffered: hand-off from a request to a waiting /next
	closed   chan struct{}

	closeOnce sync.Once
	wg        sync.WaitGroup // supervisors

	mu         sync.Mutex
	started    bool
	instances  []*instance
	coldStarts []time.Duration
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
		arn:        fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, AccountID, cfg.FunctionName),
		resourceID: randomAlnum(6),
		out:        &lockedWriter{w: cfg.Stderr},
		invokeCh:   make(chan *invocation),
		closed:     make(chan struct{}),
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

// Start starts one Runtime API server and one bootstrap child per instance,
// and returns once every instance has made its first GET /next (its cold
// start is then recorded). It returns an error if a child cannot be started
// or fails its initialization (exits, or posts /runtime/init/error) before
// that, or ctx.Err() if ctx ends first; call Close in every case. ctx only
// bounds the wait: the instances keep running until Close.
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
	type firstResult struct {
		idx int
		err error
	}
	results := make(chan firstResult, g.cfg.Instances)
	for i := range g.cfg.Instances {
		in := &instance{g: g, idx: i}
		g.instances = append(g.instances, in)
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			in.run(func(err error) { results <- firstResult{i, err} })
		}()
	}
	g.mu.Unlock()

	for range g.cfg.Instances {
		select {
		case r := <-results:
			if r.err != nil {
				return fmt.Errorf("localgw: instance %d: %w", r.idx, r.err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.log.Info("instances ready", "instances", g.cfg.Instances, "bootstrap", g.bootstrap)
	return nil
}

// ColdStarts returns, for every cold start so far (including restarts), the
// time from exec of the child to its first GET /next, in order of
// completion.
func (g *Gateway) ColdStarts() []time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Duration(nil), g.coldStarts...)
}

func (g *Gateway) recordColdStart(idx, pid int, d time.Duration) {
	g.mu.Lock()
	g.coldStarts = append(g.coldStarts, d)
	g.mu.Unlock()
	g.log.Info("cold start", "instance", idx, "pid", pid, "duration", d, "duration_ms", float64(d.Microseconds())/1000)
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
