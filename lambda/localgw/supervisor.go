package localgw

// Process supervision: a pool is one Lambda function's instances; each
// instance keeps one sandbox (a bootstrap child process and the Runtime API
// server it talks to) alive, restarting it when it exits, and stops it on
// Close.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

const (
	shutdownGrace  = 2 * time.Second // SIGTERM → SIGKILL on Close
	initErrorGrace = time.Second     // init/error → SIGKILL if the runtime does not exit by itself
	maxBackoff     = 5 * time.Second // between restarts of a child that fails its init
)

var errGatewayClosed = errors.New("gateway closed")

// pool is one Lambda function: the integration's function, or the
// authorizer's. Both run the same bootstrap binary; _HANDLER tells them
// apart, as the Handler property of two Lambda functions built from one zip.
type pool struct {
	g        *Gateway
	name     string        // AWS_LAMBDA_FUNCTION_NAME
	handler  string        // _HANDLER
	size     int           // instances
	timeout  time.Duration // the function's Lambda timeout (Lambda-Runtime-Deadline-Ms)
	env      []string      // appended to the parent's environment and Config.Env
	arn      string
	invokeCh chan *invocation // unbuffered: hand-off from a request to a waiting /next

	// onDisconnect is what happens to a streamed response that nobody
	// reads any more: Config.OnDisconnect for the integration's function;
	// always Drain for the authorizer, which must not stream anyway.
	onDisconnect DisconnectMode

	mu         sync.Mutex
	coldStarts []time.Duration
}

func (g *Gateway) newPool(name, handler string, size int, timeout time.Duration, env []string, onDisconnect DisconnectMode) *pool {
	return &pool{
		g:            g,
		onDisconnect: onDisconnect,
		name:         name,
		handler:      handler,
		size:         size,
		timeout:      timeout,
		env:          env,
		arn:          fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", g.region, AccountID, name),
		invokeCh:     make(chan *invocation),
	}
}

func (p *pool) recordColdStart(idx, pid int, d time.Duration) {
	p.mu.Lock()
	p.coldStarts = append(p.coldStarts, d)
	p.mu.Unlock()
	p.g.log.Info("cold start", "function", p.name, "instance", idx, "pid", pid, "duration", d, "duration_ms", float64(d.Microseconds())/1000)
}

// instance is one slot of a pool: a supervisor that keeps one sandbox
// (child process + Runtime API server) running, restarting it when it exits.
type instance struct {
	p   *pool
	idx int
}

// run supervises the instance until the gateway closes. report is called
// exactly once, with the outcome of the first initialization (nil when the
// first child made its first /next).
func (in *instance) run(report func(error)) {
	p, g := in.p, in.p.g
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
		sb, err := p.startSandbox(in.idx, gen)
		if err != nil {
			g.log.Error("cannot start bootstrap", "function", p.name, "instance", in.idx, "err", err)
			first(err)
			p.serveInitError(err)
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
			g.log.Error("instance failed to initialize", "function", p.name, "instance", in.idx, "pid", sb.pid, "err", err)
			first(err)
			p.serveInitError(err)
			backoff = nextBackoff(backoff)
			continue
		}
		g.log.Info("instance exited; restarting", "function", p.name, "instance", in.idx, "pid", sb.pid, "exit", exitString(sb.exitErr))
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
func (p *pool) serveInitError(err error) {
	select {
	case inv := <-p.invokeCh:
		inv.fail(fmt.Errorf("function initialization failed: %w", err))
	default:
	}
}

// sandbox is one execution environment: one child process and the Runtime
// API server it talks to. A restart creates a new sandbox (new port, new
// log stream), so requests from a dead child can never reach its successor.
type sandbox struct {
	p         *pool
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

func (p *pool) startSandbox(idx, gen int) (*sandbox, error) {
	g := p.g
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API listener: %w", err)
	}
	sb := &sandbox{
		p:       p,
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
	cmd.Env = p.childEnv(ln.Addr().String(), logStream)
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
	g.log.Debug("instance started", "function", p.name, "instance", idx, "generation", gen, "pid", sb.pid, "runtime_api", ln.Addr().String(), "log_stream", logStream)
	go func() {
		sb.exitErr = cmd.Wait()
		close(sb.exitCh)
	}()
	return sb, nil
}

// childEnv is the parent's environment plus Config.Env plus the pool's own
// plus what Lambda sets for a provided.al2023 function (reserved variables
// win, as they cannot be set in a real function's configuration).
func (p *pool) childEnv(runtimeAPI, logStream string) []string {
	g := p.g
	var env []string
	for _, src := range [][]string{os.Environ(), g.cfg.Env, p.env} {
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
	return append(env,
		"AWS_LAMBDA_FUNCTION_NAME="+p.name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(g.cfg.MemorySize),
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+p.name,
		"AWS_LAMBDA_LOG_STREAM_NAME="+logStream,
		"AWS_REGION="+g.region,
		"AWS_DEFAULT_REGION="+g.region,
		"LAMBDA_TASK_ROOT="+filepath.Dir(g.bootstrap),
		"_HANDLER="+p.handler,
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
			reason = fmt.Errorf("function timed out after %v", sb.p.timeout)
		}
		cur.fail(reason)
		if cur.aborted.Load() {
			// aws-lambda-go exits when its /response POST fails.
			sb.g.log.Info("instance exited after its response was aborted", "function", sb.p.name, "instance", sb.idx, "pid", sb.pid,
				"request_id", cur.apigwID, "lambda_request_id", cur.id, "exit", exitString(sb.exitErr))
		} else {
			sb.g.log.Warn("instance exited during an invocation", "function", sb.p.name, "instance", sb.idx, "pid", sb.pid,
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
