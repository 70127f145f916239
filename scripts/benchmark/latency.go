package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming/emulator"
)

// LatencyReport is section 1.
type LatencyReport struct {
	Streams, Deltas int
	Rate            float64
	Rounds          int
	Paths           []LatencyPath // baseline first
}

// LatencyPath is one way from the emulator to a client.
type LatencyPath struct {
	Key      string // sdk, local, lambda
	Name     string
	Means    string
	Stats    latencyStats
	TTFB     latencyStats // request → first event, over the streams
	Streams  int          // over all rounds
	Failed   int
	FirstErr string
	Duration time.Duration
}

var latencyPathInfo = []struct{ key, name, means string }{
	{"sdk", "(a) SDK → emulator (baseline)",
		"the bedrockruntime client (streaming.ConfigureClient) reading ConverseStream events from the emulator directly; what any Go client pays, with no gateway"},
	{"local", "(b) local mode",
		"client ← SSE ← bootstrap process (local mode) ← SDK ← emulator: the gateway's own cost, plus one more loopback hop"},
	{"lambda", "(c) Lambda path (localgw)",
		"client ← localgw (API Gateway STREAM emulation) ← Runtime API response stream ← bootstrap child (Lambda mode, io.Pipe bridge) ← SDK ← emulator"},
	{"proxy", "(d) SDK → reverse proxy → emulator (one-hop floor)",
		"the SDK of (a) reading the emulator through `httputil.ReverseProxy` with `FlushInterval: -1` in a process of its own: a relay that only copies bytes, the least one more loopback hop can cost"},
}

// runLatency measures the added latency per delta on each path, one path
// after another, against one in-process emulator (timestamp-v1 at
// cfg.LatencyRate deltas/s).
func runLatency(ctx context.Context, cfg Config) (*LatencyReport, error) {
	emu, err := startInProcessEmulator(emulator.Options{TokensPerSecond: cfg.LatencyRate})
	if err != nil {
		return nil, err
	}
	defer emu.Close()

	rep := &LatencyReport{Streams: cfg.LatencyStreams, Deltas: cfg.LatencyDeltas, Rate: cfg.LatencyRate, Rounds: cfg.LatencyRounds}
	want := map[string]bool{}
	for _, p := range cfg.LatencyPaths {
		want[p] = true
	}
	var paths []int // indexes into latencyPathInfo
	for i, info := range latencyPathInfo {
		if len(want) == 0 || want[info.key] {
			paths = append(paths, i)
		}
	}
	streamTime := time.Duration(float64(cfg.LatencyDeltas)/cfg.LatencyRate*float64(time.Second)) + 30*time.Second
	results := make([][]streamResult, len(paths))
	durations := make([]time.Duration, len(paths))
	failed := make([]error, len(paths))
	// The paths take turns, each round starting one further along, so
	// that a busy moment on the shared machine, or a place in the order,
	// favours none of them.
	for round := range cfg.LatencyRounds {
		for k := range paths {
			j := (k + round) % len(paths)
			if failed[j] != nil {
				continue
			}
			info := latencyPathInfo[paths[j]]
			cfg.logf("latency: round %d of %d: %s, %d streams × %d deltas at %g/s", round+1, cfg.LatencyRounds, info.name, cfg.LatencyStreams, cfg.LatencyDeltas, cfg.LatencyRate)
			t0 := time.Now()
			pctx, cancel := context.WithTimeout(ctx, 2*streamTime+30*time.Second)
			var rs []streamResult
			var err error
			switch info.key {
			case "sdk":
				rs, err = latencySDK(pctx, cfg, emu.URL, streamTime)
			case "local":
				rs, err = latencyLocal(pctx, cfg, emu.URL, streamTime)
			case "lambda":
				rs, err = latencyLambda(pctx, cfg, emu.URL, streamTime)
			case "proxy":
				rs, err = latencyProxy(pctx, cfg, emu.URL, streamTime)
			}
			cancel()
			durations[j] += time.Since(t0)
			if err != nil {
				failed[j] = fmt.Errorf("%s: %w", info.name, err)
				continue
			}
			results[j] = append(results[j], rs...)
		}
	}
	var errs []error
	for j, i := range paths {
		info := latencyPathInfo[i]
		if failed[j] != nil {
			errs = append(errs, failed[j])
			continue
		}
		rs := results[j]
		p := LatencyPath{Key: info.key, Name: info.name, Means: info.means, Stats: summarize(allLatencies(rs)), Duration: durations[j], Streams: len(rs)}
		var ttfb []int64
		for _, r := range rs {
			if r.ttfb > 0 {
				ttfb = append(ttfb, int64(r.ttfb))
			}
		}
		p.TTFB = summarize(ttfb)
		p.Failed, p.FirstErr = failures(rs, cfg.LatencyDeltas)
		if p.Failed > 0 {
			errs = append(errs, fmt.Errorf("%s: %d of %d streams failed (first: %s)", info.name, p.Failed, len(rs), p.FirstErr))
		}
		cfg.logf("latency: %s: p50 %v p99 %v max %v (%d deltas, %d failed)", info.name, p.Stats.P50, p.Stats.P99, p.Stats.Max, p.Stats.N, p.Failed)
		rep.Paths = append(rep.Paths, p)
	}
	return rep, errors.Join(errs...)
}

const warmupDeltas = 3

func latencySDK(ctx context.Context, cfg Config, endpoint string, streamTime time.Duration) ([]streamResult, error) {
	// One client per stream: concurrent event streams on one client share
	// the protocol's eventstream codec, which the race detector reports
	// (smithy-go #714, see streaming/emulator's package doc); each client
	// holds its own connection either way, as the gateway's pool would.
	clients := make([]*bedrockruntime.Client, cfg.LatencyStreams)
	for i := range clients {
		clients[i] = newSDKClient(endpoint)
	}
	warm := runStreams(ctx, cfg.LatencyStreams, 0, func(ctx context.Context, i int) streamResult {
		return readSDK(ctx, clients[i], warmupDeltas, i)
	})
	if n, first := failures(warm, warmupDeltas); n > 0 {
		return nil, fmt.Errorf("warm-up: %d streams failed (first: %s)", n, first)
	}
	return runStreams(ctx, cfg.LatencyStreams, 0, func(ctx context.Context, i int) streamResult {
		sctx, cancel := context.WithTimeout(ctx, streamTime)
		defer cancel()
		return readSDK(sctx, clients[i], cfg.LatencyDeltas, i)
	}), nil
}

func latencyProxy(ctx context.Context, cfg Config, endpoint string, streamTime time.Duration) ([]streamResult, error) {
	proxy, err := startProxy(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	defer proxy.stop()
	rs, err := latencySDK(ctx, cfg, proxy.URL, streamTime)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, proxy.tail)
	}
	return rs, nil
}

func latencyLocal(ctx context.Context, cfg Config, endpoint string, streamTime time.Duration) ([]streamResult, error) {
	bs, err := startLocal(ctx, cfg.LocalBootstrap, endpoint)
	if err != nil {
		return nil, err
	}
	defer bs.stop()
	return sseStreams(ctx, cfg, bs.URL+"/stream", streamTime, bs.tail)
}

func latencyLambda(ctx context.Context, cfg Config, endpoint string, streamTime time.Duration) ([]streamResult, error) {
	tail := newTailBuffer(40)
	gw, err := localgw.New(localgw.Config{
		Bootstrap: cfg.Bootstrap,
		Instances: cfg.LatencyStreams,
		Timeout:   5 * time.Minute,
		Env:       lambdaEnv(endpoint),
		Stderr:    tail,
	})
	if err != nil {
		return nil, err
	}
	defer gw.Close()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = gw.Start(sctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("localgw start: %w\n%s", err, tail)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	return sseStreams(ctx, cfg, "http://"+ln.Addr().String()+"/stream", streamTime, tail)
}

// sseStreams runs the warm-up and the measured streams against a
// streamgate URL.
func sseStreams(ctx context.Context, cfg Config, url string, streamTime time.Duration, tail *tailBuffer) ([]streamResult, error) {
	client := newHTTPClient(cfg.LatencyStreams)
	defer client.CloseIdleConnections()
	warm := runStreams(ctx, cfg.LatencyStreams, 0, func(ctx context.Context, i int) streamResult {
		return readSSE(ctx, client, url, requestBody(timestampModel, warmupDeltas, i), true, warmupDeltas)
	})
	if n, first := failures(warm, warmupDeltas); n > 0 {
		return nil, fmt.Errorf("warm-up: %d streams failed (first: %s)\n%s", n, first, tail)
	}
	return runStreams(ctx, cfg.LatencyStreams, 0, func(ctx context.Context, i int) streamResult {
		sctx, cancel := context.WithTimeout(ctx, streamTime)
		defer cancel()
		return readSSE(sctx, client, url, requestBody(timestampModel, cfg.LatencyDeltas, i), true, cfg.LatencyDeltas)
	}), nil
}
