package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming/emulator"
)

// LambdaStreamReport is section 6: one stream through the Lambda path, the
// way a Lambda instance serves it (one invocation per process), once with
// GOMAXPROCS=2 (before) and once with Lambda mode's default of 1 (after).
type LambdaStreamReport struct {
	Deltas int
	Rate   float64
	Runs   []LambdaStreamRun
}

// LambdaStreamRun is one setting's measurement.
type LambdaStreamRun struct {
	Setting string
	CPU     time.Duration // bootstrap CPU over the stream
	Latency latencyStats  // after the first 50 deltas (warm)
}

func (r LambdaStreamRun) cpuPer1k(deltas int) time.Duration { return perK(r.CPU, int64(deltas)) }

func runLambdaStream(ctx context.Context, cfg Config) (*LambdaStreamReport, error) {
	rep := &LambdaStreamReport{Deltas: cfg.LambdaStreamDeltas, Rate: cfg.LambdaStreamRate}
	for _, setting := range []struct{ name, env string }{
		{"before: GOMAXPROCS=2", "GOMAXPROCS=2"},
		{"after: Lambda mode's default (1)", ""},
	} {
		run, err := lambdaStreamOnce(ctx, cfg, setting.env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", setting.name, err)
		}
		run.Setting = setting.name
		rep.Runs = append(rep.Runs, run)
		cfg.logf("lambdastream: %s: %s CPU per 1,000 deltas, p50 %v p99 %v", setting.name,
			fmtDur(run.cpuPer1k(rep.Deltas)), run.Latency.P50, run.Latency.P99)
	}
	return rep, nil
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

func lambdaStreamOnce(ctx context.Context, cfg Config, extraEnv string) (LambdaStreamRun, error) {
	var run LambdaStreamRun
	emu, err := startInProcessEmulator(emulator.Options{TokensPerSecond: cfg.LambdaStreamRate})
	if err != nil {
		return run, err
	}
	defer emu.Close()
	env := lambdaEnv(emu.URL)
	if extraEnv != "" {
		env = append(env, extraEnv)
	}
	pids := &pidRecorder{}
	tail := newTailBuffer(40)
	gw, err := localgw.New(localgw.Config{Bootstrap: cfg.Bootstrap, Instances: 1, Env: env, Stderr: tail, Logger: slog.New(pids)})
	if err != nil {
		return run, err
	}
	defer gw.Close()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = gw.Start(sctx)
	cancel()
	if err != nil {
		return run, fmt.Errorf("localgw: %w\n%s", err, tail)
	}
	pid := pids.get()
	if _, err := strconv.Atoi(pid); err != nil {
		return run, fmt.Errorf("localgw logged no bootstrap pid (%q)", pid)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return run, err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/stream"

	client := newHTTPClient(1)
	defer client.CloseIdleConnections()
	if r := readSSE(ctx, client, url, requestBody(timestampModel, 50, 0), true, 50); !r.ok(50) {
		return run, fmt.Errorf("warm-up: %s\n%s", r.describe(50), tail)
	}
	cpu0, err := procCPU(pid)
	if err != nil {
		return run, err
	}
	rctx, cancel := context.WithTimeout(ctx, time.Duration(float64(cfg.LambdaStreamDeltas)/cfg.LambdaStreamRate*float64(time.Second))+time.Minute)
	r := readSSE(rctx, client, url, requestBody(timestampModel, cfg.LambdaStreamDeltas, 1), true, cfg.LambdaStreamDeltas)
	cancel()
	if !r.ok(cfg.LambdaStreamDeltas) {
		return run, fmt.Errorf("stream: %s\n%s", r.describe(cfg.LambdaStreamDeltas), tail)
	}
	cpu1, err := procCPU(pid)
	if err != nil {
		return run, err
	}
	run.CPU = cpu1 - cpu0
	warm := r.lat
	if len(warm) > 50 {
		warm = warm[50:]
	}
	run.Latency = summarize(warm)
	return run, nil
}

func (r *Report) lambdaStream(b *strings.Builder, row func(...string), l *LambdaStreamReport) {
	fmt.Fprintf(b, "One stream of %d `emulator.timestamp-v1` deltas at %g/s through the Lambda path (the bootstrap in Lambda mode under a one-instance localgw), "+
		"as a Lambda instance serves it: one invocation per process. CPU is the bootstrap's utime+stime over the stream (`/proc/PID/stat`); "+
		"latency is send stamp to client read, after the first 50 deltas.\n\n", l.Deltas, l.Rate)
	row("setting", "bootstrap CPU per 1,000 deltas", "latency p50", "latency p99", "latency max", "what it means")
	row("---", "---:", "---:", "---:", "---:", "---")
	for i, run := range l.Runs {
		means := "each delta crosses goroutines (SDK event reader → handler → runtime client); with 2 Ps every hand-off wakes another thread"
		if i > 0 {
			means = "the hand-offs are goroutine switches on one thread; " + pct(int64(l.Runs[0].CPU-run.CPU), int64(l.Runs[0].CPU)) + " less CPU than before"
		}
		row(run.Setting, fmtDur(run.cpuPer1k(l.Deltas)), fmtDur(run.Latency.P50), fmtDur(run.Latency.P99), fmtDur(run.Latency.Max), means)
	}
	b.WriteString("\n")
}
