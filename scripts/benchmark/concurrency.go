package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
)

// ConcurrencyReport is section 2.
type ConcurrencyReport struct {
	Streams    int
	Rate       float64
	Duration   time.Duration // of each stream
	Ramp       time.Duration
	WantDeltas int // per stream

	Gateway  ConcRun  // through the bootstrap in local mode
	Baseline *ConcRun // the same load read with the SDK straight from the emulator; nil if not run

	BootstrapCPU time.Duration
	PeakRSS      int64 // bootstrap VmHWM, bytes
	IdleRSS      int64 // bootstrap VmHWM before the run
	MaxThreads   int   // bootstrap, sampled every second
}

// ConcRun is one run of the concurrent load.
type ConcRun struct {
	Wall        time.Duration
	Completed   int
	Failed      int
	FirstErr    string
	Deltas      int64 // delivered, over all streams
	Latency     latencyStats
	Steady      latencyStats // deltas sent after the last stream started
	TTFB        latencyStats
	EmulatorCPU time.Duration
	ClientCPU   time.Duration // this process
	MachineBusy float64       // share of all CPUs busy during the run, 0..1; -1 unknown
}

// cpuPer1k is CPU time per 1,000 delivered deltas.
func (c *ConcRun) cpuPer1k(d time.Duration) time.Duration { return perK(d, c.Deltas) }

// runConcurrency runs cfg.ConcStreams streams of cfg.ConcDuration at
// cfg.ConcRate deltas/s through a local-mode bootstrap, with the emulator
// as its own process so that the bootstrap's CPU time is its own; then,
// for comparison, the same load read with the SDK straight from the
// emulator, without the gateway.
func runConcurrency(ctx context.Context, cfg Config) (*ConcurrencyReport, error) {
	rep := &ConcurrencyReport{
		Streams: cfg.ConcStreams, Rate: cfg.ConcRate, Duration: cfg.ConcDuration, Ramp: cfg.ConcRamp,
		WantDeltas: cfg.concDeltas(),
	}
	if soft, _, err := getNOFILE(); err == nil && soft < uint64(cfg.ConcStreams)+512 {
		return nil, fmt.Errorf("open-files limit %d is too low for %d streams (raise ulimit -n)", soft, cfg.ConcStreams)
	}
	emu, err := startChild(ctx, "emulator", cfg.EmulatorBin, []string{"-addr", "127.0.0.1:0"},
		append(inheritedEnv(), "EMULATOR_TOKENS_PER_SECOND="+strconv.FormatFloat(cfg.ConcRate, 'f', -1, 64)))
	if err != nil {
		return nil, err
	}
	defer emu.stop()
	emuPid := strconv.Itoa(emu.Pid)

	if err := concGateway(ctx, cfg, rep, emu.URL, emuPid); err != nil {
		return rep, err
	}
	if cfg.ConcBaseline {
		base, err := concBaseline(ctx, cfg, rep.WantDeltas, emu.URL, emuPid)
		rep.Baseline = base
		if err != nil {
			return rep, fmt.Errorf("baseline (SDK → emulator): %w", err)
		}
	}
	return rep, nil
}

func concGateway(ctx context.Context, cfg Config, rep *ConcurrencyReport, emuURL, emuPid string) error {
	bs, err := startLocal(ctx, cfg.LocalBootstrap, emuURL)
	if err != nil {
		return err
	}
	defer bs.stop()
	url := bs.URL + "/stream"
	client := newHTTPClient(cfg.ConcStreams)
	defer client.CloseIdleConnections()

	// Warm the bootstrap's code paths and pools with a few short streams;
	// they are not counted.
	warm := runStreams(ctx, 8, 0, func(ctx context.Context, i int) streamResult {
		return readSSE(ctx, client, url, requestBody(timestampModel, 2, i), true, 2)
	})
	if n, first := failures(warm, 2); n > 0 {
		return fmt.Errorf("warm-up: %d streams failed (first: %s)\n%s", n, first, bs.tail)
	}

	bsPid := strconv.Itoa(bs.Pid)
	if m, err := readProcStatus(bsPid); err == nil {
		rep.IdleRSS = m.HWM
	}
	cpu0, err := procCPU(bsPid)
	if err != nil {
		return fmt.Errorf("bootstrap CPU: %w", err)
	}

	// Sample threads once a second while the streams run.
	sctx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if m, err := readProcStatus(bsPid); err == nil {
				rep.MaxThreads = max(rep.MaxThreads, m.Threads)
			}
			select {
			case <-t.C:
			case <-sctx.Done():
				return
			}
		}
	})
	cfg.logf("concurrency: through local mode: %d streams × %d deltas at %g/s (%v each), started over %v",
		cfg.ConcStreams, rep.WantDeltas, cfg.ConcRate, cfg.ConcDuration, cfg.ConcRamp)
	run, rs := measureConc(ctx, cfg, "local mode", emuPid, func(ctx context.Context, i int) streamResult {
		return readSSE(ctx, client, url, requestBody(timestampModel, rep.WantDeltas, i), true, rep.WantDeltas)
	}, rep.WantDeltas)
	stopSampling()
	wg.Wait()
	rep.Gateway = run

	cpu1, err := procCPU(bsPid)
	if err != nil {
		return fmt.Errorf("bootstrap CPU: %w", err)
	}
	rep.BootstrapCPU = cpu1 - cpu0
	m, err := readProcStatus(bsPid)
	if err != nil {
		return fmt.Errorf("bootstrap memory: %w", err)
	}
	rep.PeakRSS = m.HWM
	rep.MaxThreads = max(rep.MaxThreads, m.Threads)
	cfg.logf("concurrency: local mode: %d completed, %d failed, %d deltas, p99 %v, bootstrap CPU %v, peak RSS %s",
		run.Completed, run.Failed, run.Deltas, run.Latency.P99, rep.BootstrapCPU, fmtBytes(rep.PeakRSS))
	if run.Failed > 0 {
		return fmt.Errorf("%d of %d streams failed (first: %s)", run.Failed, len(rs), run.FirstErr)
	}
	return nil
}

// concBaseline runs the same load with SDK clients reading the emulator
// directly: what this machine does with no gateway in the way.
func concBaseline(ctx context.Context, cfg Config, want int, emuURL, emuPid string) (*ConcRun, error) {
	// One client per stream (see latencySDK); each stream has its own
	// connection either way.
	clients := make([]*bedrockruntime.Client, cfg.ConcStreams)
	for i := range clients {
		clients[i] = newSDKClient(emuURL)
	}
	cfg.logf("concurrency: baseline: the same load, SDK → emulator")
	run, rs := measureConc(ctx, cfg, "baseline", emuPid, func(ctx context.Context, i int) streamResult {
		return readSDK(ctx, clients[i], want, i)
	}, want)
	cfg.logf("concurrency: baseline: %d completed, %d failed, p99 %v", run.Completed, run.Failed, run.Latency.P99)
	if run.Failed > 0 {
		return &run, fmt.Errorf("%d of %d streams failed (first: %s)", run.Failed, len(rs), run.FirstErr)
	}
	return &run, nil
}

// measureConc runs the concurrent load once and measures it.
func measureConc(ctx context.Context, cfg Config, name, emuPid string, fn func(context.Context, int) streamResult, want int) (ConcRun, []streamResult) {
	var run ConcRun
	emu0, _ := procCPU(emuPid)
	self0, _ := procCPU("self")
	busy := startBusy()
	t0 := time.Now()
	rctx, cancel := context.WithTimeout(ctx, cfg.ConcRamp+cfg.ConcDuration+90*time.Second)
	var progress sync.WaitGroup
	progress.Go(func() { logProgress(rctx, cfg, name, t0) })
	rs, lastStart := runStreamsRamp(rctx, cfg.ConcStreams, cfg.ConcRamp, fn)
	cancel()
	progress.Wait()
	run.Wall = time.Since(t0)
	run.MachineBusy = busy.fraction()
	emu1, _ := procCPU(emuPid)
	self1, _ := procCPU("self")
	run.EmulatorCPU, run.ClientCPU = emu1-emu0, self1-self0

	var ttfb []int64
	for _, r := range rs {
		run.Deltas += int64(r.deltas)
		if r.ttfb > 0 {
			ttfb = append(ttfb, int64(r.ttfb))
		}
	}
	run.Latency = summarize(allLatencies(rs))
	run.Steady = summarize(latenciesSince(rs, lastStart))
	run.TTFB = summarize(ttfb)
	run.Failed, run.FirstErr = failures(rs, want)
	run.Completed = len(rs) - run.Failed
	return run, rs
}

// logProgress prints a line every 10 s so a long run is visibly alive.
func logProgress(ctx context.Context, cfg Config, name string, t0 time.Time) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			cfg.logf("concurrency: %s: %v elapsed", name, time.Since(t0).Round(time.Second))
		case <-ctx.Done():
			return
		}
	}
}
