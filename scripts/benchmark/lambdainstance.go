package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamgate/streamgate/lambda/localgw"
)

// lambdaInstance is one bootstrap in Lambda mode under a one-instance
// localgw served on a loopback port: a Lambda execution environment, which
// serves one invocation at a time.
type lambdaInstance struct {
	URL  string // the /stream endpoint
	Pid  string // the bootstrap process
	tail *tailBuffer
	gw   *localgw.Gateway
	srv  *http.Server
}

// startLambdaInstance starts bootstrap with the benchmark's Lambda
// environment plus extraEnv; memoryMB sets AWS_LAMBDA_FUNCTION_MEMORY_SIZE
// (0 → localgw's default). stderr, if set, also gets the child's output.
func startLambdaInstance(ctx context.Context, bootstrap, endpoint string, memoryMB int, extraEnv []string, stderr io.Writer) (*lambdaInstance, error) {
	env := append(lambdaEnv(endpoint), extraEnv...)
	pids := &pidRecorder{}
	tail := newTailBuffer(40)
	var out io.Writer = tail
	if stderr != nil {
		out = io.MultiWriter(tail, stderr)
	}
	gw, err := localgw.New(localgw.Config{Bootstrap: bootstrap, Instances: 1, Env: env, Stderr: out,
		Logger: slog.New(pids), MemorySize: memoryMB, Timeout: 10 * time.Minute})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = gw.Start(sctx)
	cancel()
	if err != nil {
		gw.Close()
		return nil, fmt.Errorf("localgw: %w\n%s", err, tail)
	}
	pid := pids.get()
	if _, err := strconv.Atoi(pid); err != nil {
		gw.Close()
		return nil, fmt.Errorf("localgw logged no bootstrap pid (%q)", pid)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gw.Close()
		return nil, err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &lambdaInstance{URL: "http://" + ln.Addr().String() + "/stream", Pid: pid, tail: tail, gw: gw, srv: srv}, nil
}

// Close stops the server and the bootstrap (and waits for it to exit).
func (l *lambdaInstance) Close() {
	_ = l.srv.Close()
	_ = l.gw.Close()
}

// pidRecorder is a slog handler that keeps the pid localgw logs with each
// instance's cold start: the bootstrap process to measure.
type pidRecorder struct {
	mu  sync.Mutex
	pid string
}

func (p *pidRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (p *pidRecorder) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *pidRecorder) WithGroup(string) slog.Handler            { return p }
func (p *pidRecorder) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "pid" {
			p.mu.Lock()
			p.pid = a.Value.String()
			p.mu.Unlock()
		}
		return true
	})
	return nil
}

func (p *pidRecorder) get() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// gcCounter counts the Go runtime's gctrace lines ("gc N @...") in a
// child's output.
type gcCounter struct {
	mu sync.Mutex
	n  int
}

func (g *gcCounter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for line := range strings.SplitSeq(string(p), "\n") {
		if strings.HasPrefix(line, "gc ") && strings.Contains(line, " @") {
			g.n++
		}
	}
	return len(p), nil
}

func (g *gcCounter) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}
