package localgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Runtime API header and trailer names.
const (
	hdrRequestID     = "Lambda-Runtime-Aws-Request-Id"
	hdrDeadline      = "Lambda-Runtime-Deadline-Ms"
	hdrFunctionARN   = "Lambda-Runtime-Invoked-Function-Arn"
	hdrTraceID       = "Lambda-Runtime-Trace-Id"
	hdrErrorType     = "Lambda-Runtime-Function-Error-Type"
	hdrErrorBody     = "Lambda-Runtime-Function-Error-Body"
	hdrExtName       = "Lambda-Extension-Name"
	hdrExtID         = "Lambda-Extension-Identifier"
	runtimeAPIPath   = "/2018-06-01/runtime"
	extensionAPIPath = "/2020-01-01/extension"
)

const (
	shutdownGrace  = 2 * time.Second // SIGTERM → SIGKILL on Close
	initErrorGrace = time.Second     // init/error → SIGKILL if the runtime does not exit by itself
	maxBackoff     = 5 * time.Second // between restarts of a child that fails its init
)

var errGatewayClosed = errors.New("gateway closed")

// instance is one slot of the pool: a supervisor that keeps one sandbox
// (child process + Runtime API server) running, restarting it when it exits.
type instance struct {
	g   *Gateway
	idx int
}

// run supervises the instance until the gateway closes. report is called
// exactly once, with the outcome of the first initialization (nil when the
// first child made its first /next).
func (in *instance) run(report func(error)) {
	g := in.g
	reported := false
	first := func(err error) {
		if !reported {
			reported = true
			report(err)
		}
	}
	defer first(errGatewayClosed)

	var backoff time.Duration
	for gen := 1; ; gen++ {
		if backoff > 0 {
			select {
			case <-time.After(backoff):
			case <-g.closed:
				return
			}
		}
		if g.isClosed() {
			return
		}
		sb, err := g.startSandbox(in.idx, gen)
		if err != nil {
			g.log.Error("cannot start bootstrap", "instance", in.idx, "err", err)
			first(err)
			g.serveInitError(err)
			backoff = nextBackoff(backoff)
			continue
		}

		readyCh, closedCh := sb.readyCh, g.closed
	wait:
		for {
			select {
			case <-readyCh:
				readyCh = nil
				backoff = 0
				first(nil)
			case <-closedCh:
				closedCh = nil
				go sb.stop(shutdownGrace)
			case <-sb.exitCh:
				break wait
			}
		}
		sb.cleanup()
		if g.isClosed() {
			return
		}
		if err := sb.initFailure(); err != nil {
			g.log.Error("instance failed to initialize", "instance", in.idx, "pid", sb.pid, "err", err)
			first(err)
			g.serveInitError(err)
			backoff = nextBackoff(backoff)
			continue
		}
		g.log.Info("instance exited; restarting", "instance", in.idx, "pid", sb.pid, "exit", exitString(sb.exitErr))
	}
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return 100 * time.Millisecond
	}
	return min(2*d, maxBackoff)
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// serveInitError hands an initialization failure to one waiting request, as
// Lambda serves an init error in response to the invoke that triggered the
// init, so that a broken bootstrap does not leave requests hanging until
// their timeout.
func (g *Gateway) serveInitError(err error) {
	select {
	case inv := <-g.invokeCh:
		inv.fail(fmt.Errorf("function initialization failed: %w", err))
	default:
	}
}

// sandbox is one execution environment: one child process and the Runtime
// API server it talks to. A restart creates a new sandbox (new port, new
// log stream), so requests from a dead child can never reach its successor.
type sandbox struct {
	g         *Gateway
	idx       int
	gen       int
	srv       *http.Server
	cmd       *exec.Cmd
	pid       int
	lw        *lineWriter
	startedAt time.Time
	readyCh   chan struct{} // closed at the first GET /next
	exitCh    chan struct{} // closed once the child has been reaped
	exitErr   error         // set before exitCh is closed

	mu      sync.Mutex
	ready   bool
	exited  bool
	initErr error
	current *invocation // delivered by /next, cleared by the next /next or exit
}

type connKey struct{}

func (g *Gateway) startSandbox(idx, gen int) (*sandbox, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API listener: %w", err)
	}
	sb := &sandbox{
		g:       g,
		idx:     idx,
		gen:     gen,
		lw:      &lineWriter{out: g.out},
		readyCh: make(chan struct{}),
		exitCh:  make(chan struct{}),
	}
	sb.srv = &http.Server{
		Handler: sb.routes(),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}

	now := time.Now()
	logStream := fmt.Sprintf("%s/[$LATEST]%s", now.UTC().Format("2006/01/02"), randomHex(16))
	cmd := exec.Command(g.bootstrap)
	cmd.Dir = filepath.Dir(g.bootstrap) // Lambda runs the bootstrap in LAMBDA_TASK_ROOT
	cmd.Env = g.childEnv(ln.Addr().String(), logStream)
	cmd.Stdout = sb.lw // same writer: one pipe, whole lines
	cmd.Stderr = sb.lw
	cmd.WaitDelay = time.Second
	setProcAttrs(cmd)
	sb.cmd = cmd
	sb.startedAt = time.Now()
	if err := cmd.Start(); err != nil {
		_ = ln.Close()
		if errors.Is(err, syscall.ENOEXEC) {
			return nil, fmt.Errorf("%w (is the bootstrap built for this machine? scripts/build makes linux/arm64; build a local one with `go build -tags lambda.norpc`)", err)
		}
		return nil, err
	}
	sb.pid = cmd.Process.Pid
	// Serve only now (the child's first connections wait in the listen
	// backlog meanwhile), so that handlers see the fields set above.
	go func() { _ = sb.srv.Serve(ln) }()
	g.log.Debug("instance started", "instance", idx, "generation", gen, "pid", sb.pid, "runtime_api", ln.Addr().String(), "log_stream", logStream)
	go func() {
		sb.exitErr = cmd.Wait()
		close(sb.exitCh)
	}()
	return sb, nil
}

// childEnv is the parent's environment plus Config.Env plus what Lambda
// sets for a provided.al2023 function (reserved variables win, as they
// cannot be set in a real function's configuration).
func (g *Gateway) childEnv(runtimeAPI, logStream string) []string {
	var env []string
	for _, src := range [][]string{os.Environ(), g.cfg.Env} {
		for _, kv := range src {
			// localgw emulates one invocation at a time per execution
			// environment; aws-lambda-go would otherwise poll /next
			// concurrently.
			if strings.HasPrefix(kv, "AWS_LAMBDA_MAX_CONCURRENCY=") {
				continue
			}
			env = append(env, kv)
		}
	}
	name := g.cfg.FunctionName
	return append(env,
		"AWS_LAMBDA_FUNCTION_NAME="+name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(g.cfg.MemorySize),
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+name,
		"AWS_LAMBDA_LOG_STREAM_NAME="+logStream,
		"AWS_REGION="+g.region,
		"AWS_DEFAULT_REGION="+g.region,
		"LAMBDA_TASK_ROOT="+filepath.Dir(g.bootstrap),
		"_HANDLER=bootstrap",
		"AWS_LAMBDA_RUNTIME_API="+runtimeAPI,
	)
}

// stop asks the child to exit (SIGTERM to its process group), then kills it
// after grace.
func (sb *sandbox) stop(grace time.Duration) {
	sb.signal(false)
	select {
	case <-sb.exitCh:
	case <-time.After(grace):
		sb.signal(true)
	}
}

// kill sends SIGKILL to the child's process group, as Lambda does on a
// function timeout.
func (sb *sandbox) kill() { sb.signal(true) }

func (sb *sandbox) signal(kill bool) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.exited {
		return
	}
	select {
	case <-sb.exitCh: // reaped: the pid may be reused
		return
	default:
	}
	if kill {
		killProc(sb.cmd.Process)
	} else {
		terminateProc(sb.cmd.Process)
	}
}

// cleanup runs after the child has been reaped: it fails the invocation in
// flight, closes the Runtime API server and flushes the child's output.
func (sb *sandbox) cleanup() {
	sb.mu.Lock()
	sb.exited = true
	cur := sb.current
	sb.current = nil
	var unfinished bool
	if cur != nil {
		cur.stopDeadline()
		unfinished = !cur.completed
	}
	sb.mu.Unlock()
	if unfinished {
		reason := fmt.Errorf("bootstrap (pid %d) exited during the invocation: %s", sb.pid, exitString(sb.exitErr))
		if cur.timedOut.Load() {
			reason = fmt.Errorf("function timed out after %v", sb.g.cfg.FunctionTimeout)
		}
		cur.fail(reason)
		if cur.aborted.Load() {
			// aws-lambda-go exits when its /response POST fails.
			sb.g.log.Info("instance exited after its response was aborted", "instance", sb.idx, "pid", sb.pid,
				"request_id", cur.apigwID, "lambda_request_id", cur.id, "exit", exitString(sb.exitErr))
		} else {
			sb.g.log.Warn("instance exited during an invocation", "instance", sb.idx, "pid", sb.pid,
				"request_id", cur.apigwID, "lambda_request_id", cur.id, "exit", exitString(sb.exitErr))
		}
	}
	_ = sb.srv.Close()
	sb.lw.flush()
}

// initFailure reports why a sandbox that never became ready failed; nil if
// it did become ready.
func (sb *sandbox) initFailure() error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.ready {
		return nil
	}
	if sb.initErr != nil {
		return sb.initErr
	}
	return fmt.Errorf("bootstrap exited before its first /next (%s)", exitString(sb.exitErr))
}

func (sb *sandbox) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimeAPIPath+"/invocation/next", sb.handleNext)
	mux.HandleFunc("POST "+runtimeAPIPath+"/invocation/{id}/response", sb.handleResponse)
	mux.HandleFunc("POST "+runtimeAPIPath+"/invocation/{id}/error", sb.handleError)
	mux.HandleFunc("POST "+runtimeAPIPath+"/init/error", sb.handleInitError)
	// Just enough of the Extensions API for an in-process extension such as
	// aws-lambda-go's lambda.WithEnableSIGTERM, which registers one so
	// that Lambda sends SIGTERM before SIGKILL at shutdown (as Close does).
	mux.HandleFunc("POST "+extensionAPIPath+"/register", sb.handleExtensionRegister)
	mux.HandleFunc("GET "+extensionAPIPath+"/event/next", sb.handleExtensionNext)
	return mux
}

// handleNext: GET /2018-06-01/runtime/invocation/next. It ends the previous
// invocation, marks the instance ready (cold start) on its first call, then
// blocks until a request hands it an event.
func (sb *sandbox) handleNext(w http.ResponseWriter, r *http.Request) {
	sb.mu.Lock()
	prev := sb.current
	sb.current = nil
	var unanswered bool
	if prev != nil {
		prev.stopDeadline()
		unanswered = !prev.responded
	}
	first := !sb.ready
	sb.ready = true
	sb.mu.Unlock()
	if unanswered {
		prev.fail(errors.New("the runtime asked for the next invocation without responding to this one"))
	}
	if first {
		sb.g.recordColdStart(sb.idx, sb.pid, time.Since(sb.startedAt))
		close(sb.readyCh)
	}

	var inv *invocation
	select {
	case inv = <-sb.g.invokeCh:
	case <-r.Context().Done():
		return
	}
	deadline, ok := sb.bind(inv)
	if !ok {
		// This child is gone: the event was never sent, so another
		// instance may take it.
		go sb.g.requeue(inv)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(hdrRequestID, inv.id)
	h.Set(hdrDeadline, strconv.FormatInt(deadline.UnixMilli(), 10))
	h.Set(hdrFunctionARN, sb.g.arn)
	h.Set(hdrTraceID, inv.lambdaTrace)
	h.Set("Content-Length", strconv.Itoa(len(inv.event)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.event)
}

// bind makes inv the sandbox's current invocation and arms its deadline.
func (sb *sandbox) bind(inv *invocation) (time.Time, bool) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.exited {
		return time.Time{}, false
	}
	select {
	case <-sb.exitCh:
		return time.Time{}, false
	default:
	}
	sb.current = inv
	inv.instance.Store(int32(sb.idx))
	timeout := sb.g.cfg.FunctionTimeout
	inv.deadlineTimer = time.AfterFunc(timeout, func() { sb.timeout(inv) })
	return time.Now().Add(timeout), true
}

// timeout kills the child if inv is still running at its deadline, as
// Lambda does ("Task timed out").
func (sb *sandbox) timeout(inv *invocation) {
	sb.mu.Lock()
	hit := sb.current == inv && !inv.completed && !sb.exited
	sb.mu.Unlock()
	if !hit {
		return
	}
	inv.timedOut.Store(true)
	sb.g.log.Warn(fmt.Sprintf("Task timed out after %.2f seconds", sb.g.cfg.FunctionTimeout.Seconds()),
		"instance", sb.idx, "pid", sb.pid, "request_id", inv.apigwID, "lambda_request_id", inv.id)
	sb.kill()
}

// claim checks that id is the current invocation and that it has not been
// answered yet; it returns the Runtime API status to send otherwise.
func (sb *sandbox) claim(id string) (*invocation, int) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	inv := sb.current
	if inv == nil || inv.id != id {
		return nil, http.StatusBadRequest
	}
	if inv.responded {
		return nil, http.StatusForbidden
	}
	inv.responded = true
	return inv, 0
}

// complete marks inv as answered (no timeout kill any more).
func (sb *sandbox) complete(inv *invocation) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	inv.completed = true
	inv.stopDeadline()
}

// deliver hands res to the request waiting for inv; false if that request
// is gone.
func deliver(inv *invocation, res *result) bool {
	select {
	case inv.resultCh <- res:
		return true
	case <-inv.clientDone:
		return false
	}
}

// handleResponse: POST /2018-06-01/runtime/invocation/{id}/response.
func (sb *sandbox) handleResponse(w http.ResponseWriter, r *http.Request) {
	inv, code := sb.claim(r.PathValue("id"))
	if inv == nil {
		runtimeError(w, code)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == StreamingContentType {
		sb.streamResponse(w, r, inv)
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBufferedResponseBytes+1))
	if err != nil {
		deliver(inv, &result{kind: resultError, errType: "Runtime.ExitError",
			errMsg: fmt.Sprintf("reading the function's response: %v", err)})
		return
	}
	if len(body) > MaxBufferedResponseBytes {
		sb.complete(inv)
		deliver(inv, &result{kind: resultError, errType: "Function.ResponseSizeTooLarge",
			errMsg: fmt.Sprintf("response payload size exceeded maximum allowed payload size (%d bytes)", MaxBufferedResponseBytes)})
		runtimeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{
			"errorMessage": fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", MaxBufferedResponseBytes),
			"errorType":    "RequestEntityTooLarge",
		})
		return
	}
	res := &result{kind: resultBuffered, body: body}
	if t, msg := trailerError(r.Trailer); t != "" {
		res = &result{kind: resultError, errType: t, errMsg: msg}
	}
	sb.complete(inv)
	deliver(inv, res)
	accepted(w)
}

// streamResponse hands the streamed body to the waiting request, which reads
// it and forwards it; it answers 202 when the request says so, and otherwise
// leaves the connection closed (aborted) so that the function's POST fails.
func (sb *sandbox) streamResponse(w http.ResponseWriter, r *http.Request, inv *invocation) {
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	res := &result{kind: resultStream, req: r, conn: conn, done: make(chan bool, 1)}
	if !deliver(inv, res) {
		inv.aborted.Store(true)
		sb.g.log.Info("aborting the function's response: the client is gone",
			"instance", sb.idx, "request_id", inv.apigwID, "lambda_request_id", inv.id)
		abortConn(conn)
		return
	}
	if ok := <-res.done; ok {
		sb.complete(inv)
		accepted(w)
		return
	}
	inv.aborted.Store(true)
	abortConn(conn)
}

// abortConn closes a Runtime API connection under a handler's feet; closing
// a net.Conn is safe from any goroutine and unblocks a pending body Read.
func abortConn(c net.Conn) {
	if c == nil {
		panic(http.ErrAbortHandler)
	}
	_ = c.Close()
}

// handleError: POST /2018-06-01/runtime/invocation/{id}/error.
func (sb *sandbox) handleError(w http.ResponseWriter, r *http.Request) {
	inv, code := sb.claim(r.PathValue("id"))
	if inv == nil {
		runtimeError(w, code)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	t, msg := parseFunctionError(r.Header.Get(hdrErrorType), body)
	sb.complete(inv)
	deliver(inv, &result{kind: resultError, errType: t, errMsg: msg})
	accepted(w)
}

// handleInitError: POST /2018-06-01/runtime/init/error. The instance is
// marked failed; the runtime is expected to exit (and is killed if it does
// not), and the supervisor restarts it.
func (sb *sandbox) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	t, msg := parseFunctionError(r.Header.Get(hdrErrorType), body)
	sb.mu.Lock()
	if sb.ready {
		sb.mu.Unlock()
		runtimeJSON(w, http.StatusForbidden, map[string]string{
			"errorMessage": "init/error is only valid during initialization",
			"errorType":    "InvalidStateTransition",
		})
		return
	}
	if t == "" {
		t = "Runtime.Unknown"
	}
	sb.initErr = fmt.Errorf("init error %s: %s", t, msg)
	sb.mu.Unlock()
	sb.g.log.Error("function init error", "instance", sb.idx, "pid", sb.pid, "error_type", t, "error_message", msg)
	accepted(w)
	go func() {
		select {
		case <-sb.exitCh:
		case <-time.After(initErrorGrace):
			sb.kill()
		}
	}()
}

func (sb *sandbox) handleExtensionRegister(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	sb.g.log.Debug("extension registered", "instance", sb.idx, "name", r.Header.Get(hdrExtName))
	w.Header().Set(hdrExtID, newUUID())
	runtimeJSON(w, http.StatusOK, map[string]string{
		"functionName":    sb.g.cfg.FunctionName,
		"functionVersion": "$LATEST",
		"handler":         "bootstrap",
	})
}

// handleExtensionNext blocks: no extension events are emitted (an internal
// extension registered for none, as aws-lambda-go's is, never gets one).
func (sb *sandbox) handleExtensionNext(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
}

func accepted(w http.ResponseWriter) {
	runtimeJSON(w, http.StatusAccepted, map[string]string{"status": "OK"})
}

func runtimeError(w http.ResponseWriter, code int) {
	if code == http.StatusForbidden {
		runtimeJSON(w, code, map[string]string{
			"errorMessage": "the invocation has already been responded to",
			"errorType":    "InvalidStateTransition",
		})
		return
	}
	runtimeJSON(w, http.StatusBadRequest, map[string]string{
		"errorMessage": "Invalid request ID",
		"errorType":    "InvalidRequestID",
	})
}

func runtimeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
