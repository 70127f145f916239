package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamgate/streamgate/lambda/localgw"
)

// ColdStartReport is section 3: the bootstrap's cold start next to the
// floor's (a bare aws-lambda-go streaming function, scripts/benchmark/
// coldfloor), measured in the same run, interleaved.
type ColdStartReport struct {
	N                     int
	Median, Min, Max      time.Duration
	CPUMedian             time.Duration // the bootstrap's own CPU time until its first /next
	FaultsMedian          int64         // minor page faults until the first /next; -1 unknown
	Floor                 *ColdStartRun // nil: the floor was not measured
	MachineBusy           float64       // share of all CPUs busy in the second before, 0..1; -1 unknown
	HostSize, FloorSize   int64         // the host bootstrap and floor (same flags as scripts/build)
	DistSize, ZipSize     int64         // scripts/build's linux/arm64 bootstrap and lambda.zip; 0 = not measured
	Inits, FloorInits     *InitTrace    // GODEBUG=inittrace=1; nil: not measured
	HostTarget, DistNotes string
}

// ColdStartRun is one binary's cold starts.
type ColdStartRun struct {
	Median, Min, Max time.Duration
	CPUMedian        time.Duration
	FaultsMedian     int64
}

// InitTrace is what GODEBUG=inittrace=1 says of one binary's package
// initialisation, the mean over Runs starts.
type InitTrace struct {
	Runs     int
	Packages int
	Clock    time.Duration // all packages' init clock time
	Bytes    int64         // heap bytes they allocated
	Top      []PackageInit // the slowest, slowest first
}

// PackageInit is one package's init.
type PackageInit struct {
	Package string
	Clock   time.Duration
	Bytes   int64
}

// initTraceRuns is how many starts with inittrace each binary makes: the
// clock times of single inits are tens of microseconds, noisy one by one.
const initTraceRuns = 5

// initTraceTop is how many of the slowest inits the report lists.
const initTraceTop = 10

// coldSample is one cold start.
type coldSample struct {
	wall, cpu time.Duration
	faults    int64 // -1 unknown
}

// runColdStart starts and closes a one-instance localgw cfg.ColdStarts
// times for the bootstrap and as many for the floor, taking turns, and
// takes from each the time from exec of the bootstrap to its first GET
// /next (localgw's ColdStarts), its CPU time and its minor page faults
// until then; then starts each initTraceRuns times more with
// GODEBUG=inittrace=1.
func runColdStart(ctx context.Context, cfg Config) (*ColdStartReport, error) {
	rep := &ColdStartReport{N: cfg.ColdStarts, FaultsMedian: -1}
	fi, err := os.Stat(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	rep.HostSize = fi.Size()
	if cfg.ColdFloor != "" {
		fi, err := os.Stat(cfg.ColdFloor)
		if err != nil {
			return nil, err
		}
		rep.FloorSize = fi.Size()
	}
	if cfg.Dist != "" {
		if fi, err := os.Stat(filepath.Join(cfg.Dist, "bootstrap")); err == nil {
			rep.DistSize = fi.Size()
		}
		if fi, err := os.Stat(filepath.Join(cfg.Dist, "lambda.zip")); err == nil {
			rep.ZipSize = fi.Size()
		}
	}

	// The endpoint is never called: initialisation makes no Bedrock call.
	env := append(lambdaEnv("http://127.0.0.1:9"), cfg.coldStartEnv()...)
	// How busy the machine is without us: a cold start measured in wall
	// time includes waiting for a CPU, so other work shows in it.
	busy := startBusy()
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	rep.MachineBusy = busy.fraction()

	var boot, floor []coldSample
	for i := range cfg.ColdStarts {
		// Take turns, each going first every other time, so that a busy
		// moment of the machine hits both alike.
		order := []string{cfg.Bootstrap, cfg.ColdFloor}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, bin := range order {
			if bin == "" {
				continue
			}
			s, err := coldStartOnce(ctx, bin, env, nil)
			if err != nil {
				return nil, fmt.Errorf("cold start %d of %s: %w", i+1, filepath.Base(bin), err)
			}
			if bin == cfg.Bootstrap {
				boot = append(boot, s)
			} else {
				floor = append(floor, s)
			}
		}
	}
	b := summarizeCold(boot)
	rep.Median, rep.Min, rep.Max, rep.CPUMedian, rep.FaultsMedian = b.Median, b.Min, b.Max, b.CPUMedian, b.FaultsMedian
	if len(floor) > 0 {
		f := summarizeCold(floor)
		rep.Floor = &f
	}

	if rep.Inits, err = initTrace(ctx, cfg.Bootstrap, env); err != nil {
		return nil, err
	}
	if cfg.ColdFloor != "" {
		if rep.FloorInits, err = initTrace(ctx, cfg.ColdFloor, env); err != nil {
			return nil, err
		}
	}
	cfg.logf("coldstart: median %v (min %v, max %v) over %d; bootstrap CPU until /next, median %v; %d minor page faults; machine %.0f%% busy",
		rep.Median, rep.Min, rep.Max, len(boot), rep.CPUMedian, rep.FaultsMedian, 100*rep.MachineBusy)
	if f := rep.Floor; f != nil {
		cfg.logf("coldstart: floor median %v (min %v, max %v); CPU %v; %d minor page faults; bootstrap ÷ floor %s",
			f.Median, f.Min, f.Max, f.CPUMedian, f.FaultsMedian, ratio(rep.Median, f.Median))
	}
	return rep, nil
}

// coldStartOnce starts bin under a one-instance localgw, waits for its
// first /next and reads what it spent until then.
func coldStartOnce(ctx context.Context, bin string, env []string, stderr *lineCollector) (coldSample, error) {
	tail := newTailBuffer(40)
	pids := &pidRecorder{}
	gwCfg := localgw.Config{Bootstrap: bin, Instances: 1, Env: env, Stderr: tail, Logger: slog.New(pids)}
	if stderr != nil {
		gwCfg.Stderr = stderr
	}
	gw, err := localgw.New(gwCfg)
	if err != nil {
		return coldSample{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = gw.Start(sctx)
	cancel()
	cs := gw.ColdStarts()
	// The bootstrap now waits in its first GET /next: what it has spent
	// so far is its initialization.
	s := coldSample{faults: -1}
	if err == nil {
		pid := pids.get()
		if cpu, cerr := procCPUPrecise(pid); cerr == nil {
			s.cpu = cpu
		}
		if f, ferr := procMinorFaults(pid); ferr == nil {
			s.faults = f
		}
	}
	_ = gw.Close()
	if err != nil {
		return s, fmt.Errorf("%w\n%s", err, tail)
	}
	if len(cs) == 0 {
		return s, errors.New("localgw recorded no cold start")
	}
	s.wall = cs[0]
	return s, nil
}

func summarizeCold(samples []coldSample) ColdStartRun {
	var walls, cpus []time.Duration
	var faults []int64
	for _, s := range samples {
		walls = append(walls, s.wall)
		if s.cpu > 0 {
			cpus = append(cpus, s.cpu)
		}
		if s.faults >= 0 {
			faults = append(faults, s.faults)
		}
	}
	slices.Sort(walls)
	r := ColdStartRun{Min: walls[0], Max: walls[len(walls)-1], Median: median(walls), FaultsMedian: -1}
	if len(cpus) > 0 {
		slices.Sort(cpus)
		r.CPUMedian = median(cpus)
	}
	if len(faults) > 0 {
		slices.Sort(faults)
		r.FaultsMedian = faults[len(faults)/2]
	}
	return r
}

// procMinorFaults is a process's minor page faults so far, all threads
// (minflt, field 10 of /proc/PID/stat).
func procMinorFaults(pid string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatMinFlt(string(b))
}

func parseStatMinFlt(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 8 {
		return 0, errors.New("malformed /proc stat")
	}
	return strconv.ParseInt(f[7], 10, 64)
}

// initTrace starts bin initTraceRuns times with GODEBUG=inittrace=1 and
// averages what the runtime prints of each package's init.
func initTrace(ctx context.Context, bin string, env []string) (*InitTrace, error) {
	env = withGODEBUG(env, "inittrace=1")
	clock := map[string]time.Duration{}
	bytes := map[string]int64{}
	for i := range initTraceRuns {
		lines := &lineCollector{}
		if _, err := coldStartOnce(ctx, bin, env, lines); err != nil {
			return nil, fmt.Errorf("inittrace run %d of %s: %w", i+1, filepath.Base(bin), err)
		}
		n := 0
		for _, l := range lines.get() {
			p, ok := parseInitLine(l)
			if !ok {
				continue
			}
			clock[p.Package] += p.Clock
			bytes[p.Package] += p.Bytes
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("inittrace run %d of %s: no init lines on stderr", i+1, filepath.Base(bin))
		}
	}
	t := &InitTrace{Runs: initTraceRuns, Packages: len(clock)}
	for pkg, c := range clock {
		p := PackageInit{Package: pkg, Clock: c / initTraceRuns, Bytes: bytes[pkg] / initTraceRuns}
		t.Clock += p.Clock
		t.Bytes += p.Bytes
		t.Top = append(t.Top, p)
	}
	slices.SortFunc(t.Top, func(a, b PackageInit) int {
		if a.Clock != b.Clock {
			return int(b.Clock - a.Clock)
		}
		return strings.Compare(a.Package, b.Package)
	})
	t.Top = t.Top[:min(initTraceTop, len(t.Top))]
	return t, nil
}

// withGODEBUG returns env with setting added to its GODEBUG (or as a new
// one): the last of two GODEBUG entries would replace the first.
func withGODEBUG(env []string, setting string) []string {
	out := slices.Clone(env)
	for i, kv := range out {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			if v != "" {
				setting = v + "," + setting
			}
			out[i] = "GODEBUG=" + setting
			return out
		}
	}
	return append(out, "GODEBUG="+setting)
}

// parseInitLine reads one line of GODEBUG=inittrace=1:
//
//	init github.com/x/y @1.2 ms, 0.61 ms clock, 82752 bytes, 1234 allocs
func parseInitLine(line string) (PackageInit, bool) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "init" || f[5] != "ms" || f[6] != "clock," || f[8] != "bytes," {
		return PackageInit{}, false
	}
	ms, err1 := strconv.ParseFloat(f[4], 64)
	b, err2 := strconv.ParseInt(f[7], 10, 64)
	if err1 != nil || err2 != nil {
		return PackageInit{}, false
	}
	return PackageInit{Package: f[1], Clock: time.Duration(ms * float64(time.Millisecond)), Bytes: b}, true
}

// lineCollector is an io.Writer that keeps every whole line written.
type lineCollector struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (c *lineCollector) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	for {
		i := slices.Index(c.partial, '\n')
		if i < 0 {
			break
		}
		c.lines = append(c.lines, string(c.partial[:i]))
		c.partial = c.partial[i+1:]
	}
	return len(p), nil
}

func (c *lineCollector) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
