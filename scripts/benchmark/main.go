// Command benchmark measures streamgate end to end on this machine and
// writes the results as a markdown table (BENCHMARKS.md at the repository
// root by default; also printed on stdout). scripts/bench runs it after the
// encoder benchmarks (go test -bench ./streaming/), whose output it passes
// with -gobench; it can also run alone, for example a smoke run:
//
//	go run ./scripts/benchmark -only latency -out /tmp/b.md
//
// Sections (-only takes a comma list; default all):
//
//   - latency: added latency per delta, emulator send stamp → client read,
//     for the SDK alone (baseline), local mode, the Lambda path (localgw)
//     and the SDK through a reverse proxy (the one-hop floor);
//   - concurrency: 2,000 concurrent 30-s streams against local mode, with
//     the bootstrap's CPU time and peak RSS;
//   - coldstart: exec of the bootstrap to its first /next under localgw,
//     next to the floor (a bare aws-lambda-go streaming function), with
//     page faults, the slowest package inits, and binary and zip sizes;
//   - memory: peak RSS of a bootstrap over one emulator.long-v1 stream;
//   - lambdastream: one stream through the Lambda path per runtime setting
//     (GOMAXPROCS, GODEBUG), interleaved: CPU per delta, per thread,
//     wake-ups and GC;
//   - cpushare: the Lambda path with the bootstrap in a cgroup holding it
//     to the CPU share of each Lambda memory size (cgroup v1, as root; skipped
//     with a message elsewhere): the memory-size guide;
//   - encoders: the go test -bench results (needs -gobench FILE).
//
// -short runs every section small (about a minute), to check that all of
// it works; its numbers are not worth publishing.
//
// Every process it starts listens on 127.0.0.1 and every wait is bounded.
// Progress goes to stderr. Linux only for the CPU and memory numbers
// (/proc).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if upstream := os.Getenv(proxyEnv); upstream != "" {
		os.Exit(serveProxy(upstream, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// maxRun bounds the whole program: scripts/bench promises under 10 minutes.
const maxRun = 9 * time.Minute

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := DefaultConfig()
	if wantsShort(args) {
		cfg = ShortConfig()
	}
	fs := flag.NewFlagSet("benchmark", flag.ContinueOnError)
	fs.Bool("short", false, "a smoke run of every section, about a minute: small counts and short streams (the other flags still apply on top)")
	fs.SetOutput(stderr)
	out := fs.String("out", "", "markdown `file` to write (default BENCHMARKS.md at the repository root; - for stdout only)")
	only := fs.String("only", "", "comma `list` of sections to run: "+strings.Join(allSections, ",")+" (default all)")
	since := fs.Int64("since", 0, "`unix-nanos` when the whole run started (scripts/bench passes it, so the total includes go test)")
	fs.StringVar(&cfg.GoBench, "gobench", "", "`file` with the output of go test -bench -benchmem of the packages scripts/bench names (encoders section)")
	fs.StringVar(&cfg.Dist, "dist", "", "`dir` holding scripts/build's bootstrap and lambda.zip (sizes)")
	fs.StringVar(&cfg.Bootstrap, "bootstrap", "", "host bootstrap `binary`, the Lambda build (default: built into a temporary directory)")
	fs.StringVar(&cfg.LocalBootstrap, "local-bootstrap", "", "host bootstrap `binary` built without -tags lambda.norpc, for local mode (default: built into a temporary directory)")
	fs.StringVar(&cfg.ColdFloor, "coldfloor", "", "cold-start floor `binary` (default: ./scripts/benchmark/coldfloor built into a temporary directory)")
	fs.StringVar(&cfg.BootstrapBefore, "bootstrap-before", "", "an earlier host bootstrap `binary` for section lambdastream to compare with, interleaved (scripts/bench -before REV builds one)")
	fs.StringVar(&cfg.BeforeLabel, "before-label", "", "what to call -bootstrap-before in the table (a git revision, say)")
	fs.StringVar(&cfg.EmulatorBin, "emulator", "", "emulator `binary` (default: built into a temporary directory)")
	fs.IntVar(&cfg.LatencyStreams, "latency-streams", cfg.LatencyStreams, "concurrent streams per latency path")
	fs.IntVar(&cfg.LatencyRounds, "latency-rounds", cfg.LatencyRounds, "rounds of the latency paths, interleaved (each round starts one path further along)")
	fs.IntVar(&cfg.LatencyDeltas, "latency-deltas", cfg.LatencyDeltas, "deltas per latency stream")
	fs.Float64Var(&cfg.LatencyRate, "latency-rate", cfg.LatencyRate, "deltas per second per latency stream")
	fs.IntVar(&cfg.ConcStreams, "conc-streams", cfg.ConcStreams, "concurrent streams in the concurrency run")
	fs.Float64Var(&cfg.ConcRate, "conc-rate", cfg.ConcRate, "deltas per second per stream in the concurrency run")
	fs.DurationVar(&cfg.ConcDuration, "conc-duration", cfg.ConcDuration, "length of each stream in the concurrency run")
	fs.DurationVar(&cfg.ConcRamp, "conc-ramp", cfg.ConcRamp, "time over which the concurrency run starts its streams")
	fs.BoolVar(&cfg.ConcBaseline, "conc-baseline", cfg.ConcBaseline, "also run the concurrency load with the SDK straight from the emulator, for comparison")
	fs.IntVar(&cfg.ColdStarts, "coldstarts", cfg.ColdStarts, "cold starts to take the median of")
	fs.DurationVar(&cfg.LongDuration, "long-duration", cfg.LongDuration, "duration of the emulator.long-v1 answer in the memory run")
	fs.IntVar(&cfg.LambdaStreamDeltas, "lambdastream-deltas", cfg.LambdaStreamDeltas, "deltas of the one stream in the lambdastream run")
	fs.Float64Var(&cfg.LambdaStreamRate, "lambdastream-rate", cfg.LambdaStreamRate, "deltas/s of that stream")
	fs.IntVar(&cfg.LambdaStreamRounds, "lambdastream-rounds", cfg.LambdaStreamRounds, "rounds of the lambdastream settings, interleaved")
	fs.BoolVar(&cfg.CancelPolling, "cancel-polling", cfg.CancelPolling, "lambdastream: also measure a stream that polls a cancel table (needs moto)")
	fs.StringVar(&cfg.LambdaGODEBUG, "lambda-godebug", cfg.LambdaGODEBUG, "GODEBUG `value` for every bootstrap in Lambda mode (as the template sets it; empty for none)")
	fs.Func("cpushare-sizes", "comma `list` of memory sizes in MB for the cpushare section (default "+joinInts(cfg.CPUShareSizes)+")", func(s string) error {
		sizes, err := parseInts(s)
		cfg.CPUShareSizes = sizes
		return err
	})
	fs.DurationVar(&cfg.CPUShareStep, "cpushare-step", cfg.CPUShareStep, "stream length of each rate the cpushare section tries")
	fs.DurationVar(&cfg.CPUShareP99, "cpushare-p99", cfg.CPUShareP99, "added latency p99 a sustained rate must stay under")
	fs.Float64Var(&cfg.CPUShareMaxRate, "cpushare-max-rate", cfg.CPUShareMaxRate, "highest deltas/s the cpushare section tries")
	fs.IntVar(&cfg.CPUShareFullDeltas, "cpushare-full-deltas", cfg.CPUShareFullDeltas, "deltas of the cpushare section's full-speed stream")
	fs.DurationVar(&cfg.CPUSharePeriod, "cpushare-period", cfg.CPUSharePeriod, "CFS period of the cgroups (0: the controller's own, 100ms by default)")
	fs.DurationVar(&cfg.CPUShareMax, "cpushare-max", cfg.CPUShareMax, "time bound of the whole cpushare section")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "benchmark: unexpected arguments %q\n", fs.Args())
		return 2
	}
	sections, err := parseOnly(*only)
	if err != nil {
		fmt.Fprintln(stderr, "benchmark:", err)
		return 2
	}
	cfg.Sections = sections
	cfg.Log = stderr
	if *since > 0 {
		cfg.Since = time.Unix(0, *since)
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(stderr, "benchmark:", err)
		return 1
	}
	cfg.Root = root
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(stderr, "benchmark:", err)
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, maxRun)
	defer cancel()
	rep := Run(ctx, cfg)
	md := rep.Markdown()
	fmt.Fprint(stdout, md)

	code := 0
	if *out != "-" {
		path := *out
		if path == "" {
			path = filepath.Join(root, "BENCHMARKS.md")
		}
		if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
			fmt.Fprintln(stderr, "benchmark:", err)
			code = 1
		} else {
			fmt.Fprintf(stderr, "benchmark: wrote %s\n", path)
		}
	}
	if errs := rep.Failures(); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(stderr, "benchmark: FAILED:", e)
		}
		code = 1
	}
	return code
}

var allSections = []string{"latency", "concurrency", "coldstart", "memory", "lambdastream", "cpushare", "encoders"}

// wantsShort says whether args ask for -short (before the other flags are
// defined, because it changes their defaults).
func wantsShort(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		switch a {
		case "-short", "--short", "-short=true", "--short=true":
			return true
		}
	}
	return false
}

func parseInts(s string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", part)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func parseOnly(s string) (map[string]bool, error) {
	out := map[string]bool{}
	if strings.TrimSpace(s) == "" {
		for _, n := range allSections {
			out[n] = true
		}
		return out, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		if part == "" {
			continue
		}
		known := false
		for _, n := range allSections {
			known = known || n == part
		}
		if !known {
			return nil, fmt.Errorf("-only: unknown section %q (want a comma list of %s)", part, strings.Join(allSections, ", "))
		}
		out[part] = true
	}
	if len(out) == 0 {
		return nil, errors.New("-only: no section named")
	}
	return out, nil
}

// repoRoot finds the module root from the working directory, so that the
// program works from the root (scripts/bench, go run) and from its own
// directory (go test).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 10 {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/streamgate/streamgate\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("run from inside the streamgate repository (no go.mod for github.com/streamgate/streamgate above the working directory)")
}

func itoa(n int) string { return strconv.Itoa(n) }
