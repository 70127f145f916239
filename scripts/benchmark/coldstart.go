package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/streamgate/streamgate/lambda/localgw"
)

// ColdStartReport is section 3.
type ColdStartReport struct {
	N                     int
	Median, Min, Max      time.Duration
	CPUMedian             time.Duration // the bootstrap's own CPU time until its first /next
	MachineBusy           float64       // share of all CPUs busy in the second before, 0..1; -1 unknown
	HostSize              int64         // the host bootstrap (same flags as scripts/build)
	DistSize, ZipSize     int64         // scripts/build's linux/arm64 bootstrap and lambda.zip; 0 = not measured
	HostTarget, DistNotes string
}

// runColdStart starts and closes a one-instance localgw cfg.ColdStarts
// times and takes, from each, the time from exec of the bootstrap to its
// first GET /next (localgw's ColdStarts).
func runColdStart(ctx context.Context, cfg Config) (*ColdStartReport, error) {
	rep := &ColdStartReport{N: cfg.ColdStarts}
	fi, err := os.Stat(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	rep.HostSize = fi.Size()
	if cfg.Dist != "" {
		if fi, err := os.Stat(filepath.Join(cfg.Dist, "bootstrap")); err == nil {
			rep.DistSize = fi.Size()
		}
		if fi, err := os.Stat(filepath.Join(cfg.Dist, "lambda.zip")); err == nil {
			rep.ZipSize = fi.Size()
		}
	}

	// The endpoint is never called: initialisation makes no Bedrock call.
	env := lambdaEnv("http://127.0.0.1:9")
	// How busy the machine is without us: a cold start measured in wall
	// time includes waiting for a CPU, so other work shows in it.
	busy := startBusy()
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	rep.MachineBusy = busy.fraction()

	var samples, cpus []time.Duration
	for i := range cfg.ColdStarts {
		tail := newTailBuffer(40)
		pids := &pidRecorder{}
		gw, err := localgw.New(localgw.Config{Bootstrap: cfg.Bootstrap, Instances: 1, Env: env, Stderr: tail, Logger: slog.New(pids)})
		if err != nil {
			return nil, err
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = gw.Start(sctx)
		cancel()
		cs := gw.ColdStarts()
		// The bootstrap now waits in its first GET /next: what it has
		// spent so far is its initialization.
		if cpu, cerr := procCPUPrecise(pids.get()); err == nil && cerr == nil {
			cpus = append(cpus, cpu)
		}
		_ = gw.Close()
		if err != nil {
			return nil, fmt.Errorf("cold start %d: %w\n%s", i+1, err, tail)
		}
		if len(cs) == 0 {
			return nil, fmt.Errorf("cold start %d: localgw recorded none", i+1)
		}
		samples = append(samples, cs[0])
	}
	slices.Sort(samples)
	rep.Min, rep.Max = samples[0], samples[len(samples)-1]
	rep.Median = median(samples)
	if len(cpus) > 0 {
		slices.Sort(cpus)
		rep.CPUMedian = median(cpus)
	}
	cfg.logf("coldstart: median %v (min %v, max %v) over %d; bootstrap CPU until /next, median %v; machine %.0f%% busy",
		rep.Median, rep.Min, rep.Max, len(samples), rep.CPUMedian, 100*rep.MachineBusy)
	return rep, nil
}

func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
