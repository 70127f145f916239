package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// Config is one benchmark run. DefaultConfig is what scripts/bench runs.
type Config struct {
	Root      string          // repository root
	Sections  map[string]bool // which sections run
	GoBench   string          // go test -bench output (encoders section)
	Dist      string          // scripts/build output dir (arm64 sizes)
	Bootstrap string          // host bootstrap, the Lambda build; "" → built
	// LocalBootstrap is the host bootstrap built without -tags lambda.norpc,
	// as `go run ./lambda` builds it: the Lambda build has no local mode.
	// "" → built.
	LocalBootstrap string
	// ColdFloor is the cold-start floor (scripts/benchmark/coldfloor, built
	// as the bootstrap is); "" → built when section coldstart runs.
	ColdFloor string
	// BootstrapBefore, if set, is an earlier build of the bootstrap that
	// section lambdastream measures too, interleaved with the others;
	// BeforeLabel names it (scripts/bench -before REV sets both).
	BootstrapBefore, BeforeLabel string
	EmulatorBin                  string    // emulator binary; "" → built
	Log                          io.Writer // progress; nil → discard
	Since                        time.Time // start of the whole run; zero → start of Run

	LatencyStreams int
	LatencyRounds  int
	LatencyDeltas  int
	LatencyRate    float64  // deltas/s per stream
	LatencyPaths   []string // subset of "sdk", "local", "lambda", "proxy"; nil → all

	ConcStreams  int
	ConcRate     float64
	ConcDuration time.Duration
	ConcRamp     time.Duration
	ConcBaseline bool // also run the load SDK → emulator, without the gateway

	ColdStarts   int
	LongDuration time.Duration

	LambdaStreamDeltas int     // section lambdastream: deltas of the one stream
	LambdaStreamRate   float64 // and their rate
	LambdaStreamRounds int     // rounds of all settings, interleaved

	// LambdaGODEBUG is added to the environment of every bootstrap in
	// Lambda mode (sections cpushare and lambdastream, where it is one of
	// the settings compared); "" adds nothing.
	LambdaGODEBUG string
	// CancelPolling adds a lambdastream setting whose stream polls a
	// cancel table (moto's DynamoDB) every second, to measure what it
	// costs per delta next to the same setting without it.
	CancelPolling bool

	CPUShareSizes      []int         // memory sizes, MB
	CPUShareStep       time.Duration // stream length of each rate step
	CPUShareP99        time.Duration // the latency bound of a sustained rate
	CPUShareMaxRate    float64       // the ladder stops here
	CPUShareFullDeltas int           // deltas of the full-speed stream
	CPUSharePeriod     time.Duration // CFS period; 0 = the controller's (100 ms by default)
	CPUShareMax        time.Duration // bound on the whole section
}

// proposedGODEBUG keeps the Go runtime's sysmon thread out of its deep
// sleep. In a process that idles between deltas, sysmon otherwise goes to
// sleep on a futex whenever every P is idle and is woken by the next
// system call, then polls with 20 µs naps until the process idles again:
// two extra wake-ups per delta, measured in section 6. With schedtrace
// set, sysmon never sleeps deep and naps up to 10 ms instead (about 100
// wake-ups a second whatever the rate); the period is so long (24.8 days)
// that no trace line is ever printed. A fatal error prints the scheduler
// state once, which is harmless. The template sets the same value for the
// function (template/function.go, lambdaGODEBUG); keep the two in sync.
const proposedGODEBUG = "schedtrace=2147483647"

// coldStartEnv is what section 3 adds to both binaries' environment, as
// on a deployed stack: the function's settings in the template
// (template/function.go) that change how it starts, the GODEBUG above,
// GOMAXPROCS=1 (the runtime starts with one P instead of the bootstrap
// stopping the world to drop to one) and a CANCEL_TABLE (without one the
// bootstrap logs a warning at start); and the TZ that Lambda sets (:UTC,
// so the first log line reads no /etc/localtime). The table is never
// called during initialisation.
func (c Config) coldStartEnv() []string {
	return append(c.lambdaExtraEnv(), "GOMAXPROCS=1", "CANCEL_TABLE="+streamtest.CancelTable, "TZ=:UTC")
}

func (c Config) lambdaExtraEnv() []string {
	if c.LambdaGODEBUG == "" {
		return nil
	}
	return []string{"GODEBUG=" + c.LambdaGODEBUG}
}

// DefaultConfig returns the full run (about 2–3 minutes on 2 cores).
func DefaultConfig() Config {
	return Config{
		LatencyStreams: 10,
		LatencyRounds:  4,
		LatencyDeltas:  200,
		LatencyRate:    50,
		ConcStreams:    2000,
		ConcRate:       20,
		ConcDuration:   30 * time.Second,
		ConcRamp:       5 * time.Second,
		ConcBaseline:   true,
		ColdStarts:     20,
		LongDuration:   20 * time.Second,

		LambdaStreamDeltas: 1000,
		LambdaStreamRate:   200,
		LambdaStreamRounds: 3,
		LambdaGODEBUG:      proposedGODEBUG,
		CancelPolling:      true,

		CPUShareSizes:      []int{128, 256, 512, 1024},
		CPUShareStep:       3 * time.Second,
		CPUShareP99:        20 * time.Millisecond,
		CPUShareMaxRate:    6400,
		CPUShareFullDeltas: 3000,
		CPUShareMax:        4 * time.Minute,
	}
}

// ShortConfig is DefaultConfig cut down to a smoke run of every section
// (about a minute): the numbers are not worth publishing, but every
// section runs end to end.
func ShortConfig() Config {
	c := DefaultConfig()
	c.LatencyStreams, c.LatencyDeltas, c.LatencyRounds = 4, 60, 1
	c.ConcStreams, c.ConcDuration, c.ConcRamp = 100, 5*time.Second, time.Second
	c.ColdStarts = 5
	c.LongDuration = 3 * time.Second
	c.LambdaStreamDeltas, c.LambdaStreamRounds = 300, 1
	c.CPUShareSizes, c.CPUShareStep, c.CPUShareMaxRate, c.CPUShareFullDeltas = []int{128, 1024}, time.Second, 400, 500
	return c
}

func (c Config) validate() error {
	switch {
	case c.LatencyStreams < 1 || c.LatencyStreams > 100:
		return errors.New("-latency-streams must be 1..100")
	case c.LatencyRounds < 1 || c.LatencyRounds > 20:
		return errors.New("-latency-rounds must be 1..20")
	case c.LatencyDeltas < 1 || c.LatencyDeltas > 4096:
		return errors.New("-latency-deltas must be 1..4096 (the gateway's MAX_TOKENS)")
	case c.LatencyRate <= 0 || c.LatencyRate > 1000:
		return errors.New("-latency-rate must be in (0, 1000]")
	case c.ConcStreams < 1 || c.ConcStreams > 5000:
		return errors.New("-conc-streams must be 1..5000")
	case c.ConcRate <= 0 || c.ConcRate > 1000:
		return errors.New("-conc-rate must be in (0, 1000]")
	case c.ConcDuration <= 0 || c.ConcDuration > 3*time.Minute:
		return errors.New("-conc-duration must be in (0, 3m]")
	case c.concDeltas() < 1 || c.concDeltas() > 4096:
		return errors.New("-conc-rate × -conc-duration must give 1..4096 deltas a stream")
	case c.ConcRamp < 0 || c.ConcRamp > time.Minute:
		return errors.New("-conc-ramp must be in [0, 1m]")
	case c.ColdStarts < 1 || c.ColdStarts > 200:
		return errors.New("-coldstarts must be 1..200")
	case c.LambdaStreamDeltas < 100 || c.LambdaStreamDeltas > emulator.CodeMinDeltas:
		return fmt.Errorf("-lambdastream-deltas must be 100..%d (the shortest emulator.code-v1 answer)", emulator.CodeMinDeltas)
	case c.LambdaStreamRate <= 0 || c.LambdaStreamRate > 1000:
		return errors.New("-lambdastream-rate must be above 0 and at most 1000")
	case c.LongDuration <= 0 || c.LongDuration > 2*time.Minute:
		return errors.New("-long-duration must be in (0, 2m]")
	case c.LambdaStreamRounds < 1 || c.LambdaStreamRounds > 20:
		return errors.New("-lambdastream-rounds must be 1..20")
	case strings.ContainsAny(c.LambdaGODEBUG, " \t\n"):
		return errors.New("-lambda-godebug must be a GODEBUG value without spaces (key=value,key=value)")
	case len(c.CPUShareSizes) == 0:
		return errors.New("-cpushare-sizes must name at least one memory size")
	case c.CPUShareStep < 500*time.Millisecond || c.CPUShareStep > time.Minute:
		return errors.New("-cpushare-step must be in [500ms, 1m]")
	case c.CPUShareP99 <= 0 || c.CPUShareP99 > time.Second:
		return errors.New("-cpushare-p99 must be in (0, 1s]")
	case c.CPUShareMaxRate < 50 || c.CPUShareMaxRate > 10000:
		return errors.New("-cpushare-max-rate must be 50..10000")
	case c.CPUShareFullDeltas < 200 || c.CPUShareFullDeltas > 4096:
		return errors.New("-cpushare-full-deltas must be 200..4096 (the gateway's MAX_TOKENS)")
	case c.CPUSharePeriod != 0 && (c.CPUSharePeriod < time.Millisecond || c.CPUSharePeriod > time.Second):
		return errors.New("-cpushare-period must be 0 (the controller's) or in [1ms, 1s]")
	case c.CPUShareMax < 10*time.Second || c.CPUShareMax > 8*time.Minute:
		return errors.New("-cpushare-max must be in [10s, 8m]")
	}
	if c.BootstrapBefore != "" {
		if _, err := os.Stat(c.BootstrapBefore); err != nil {
			return fmt.Errorf("-bootstrap-before: %w", err)
		}
	}
	for _, mb := range c.CPUShareSizes {
		if mb < 128 || mb > 10240 {
			return fmt.Errorf("-cpushare-sizes: %d MB is not a Lambda memory size (128..10240)", mb)
		}
	}
	return nil
}

func (c Config) concDeltas() int {
	return int(c.ConcRate*c.ConcDuration.Seconds() + 0.5)
}

func (c Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "benchmark: "+format+"\n", args...)
	}
}

// Report is everything a run measured; Markdown renders it.
type Report struct {
	Machine      Machine
	Config       Config
	Started      time.Time // start of the whole run (scripts/bench's -since)
	RunStart     time.Time // start of this program's work
	Total        time.Duration
	Sections     []SectionTime
	Latency      *LatencyReport
	Concurrency  *ConcurrencyReport
	ColdStart    *ColdStartReport
	Memory       *MemoryReport
	LambdaStream *LambdaStreamReport
	CPUShare     *CPUShareReport
	Encoders     *EncoderReport
	Errors       map[string]error // section → why it failed
}

// SectionTime is how long one section took.
type SectionTime struct {
	Name     string
	Duration time.Duration
}

// Failures lists the sections that failed.
func (r *Report) Failures() []string {
	var out []string
	for _, name := range append([]string{"build"}, allSections...) {
		if err := r.Errors[name]; err != nil {
			out = append(out, name+": "+err.Error())
		}
	}
	return out
}

// Run runs the selected sections one after another (never concurrently:
// on 2 cores they would measure each other). A failing section is
// recorded and the others still run.
func Run(ctx context.Context, cfg Config) *Report {
	start := time.Now()
	if cfg.Since.IsZero() {
		cfg.Since = start
	}
	rep := &Report{Config: cfg, Started: cfg.Since, RunStart: start, Errors: map[string]error{}}
	rep.Machine = readMachine()
	defer func() { rep.Total = time.Since(cfg.Since) }()

	var tmp string
	defer func() {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
	}()

	section := func(name string, fn func() error) {
		if !cfg.Sections[name] {
			return
		}
		if err := ctx.Err(); err != nil {
			rep.Errors[name] = fmt.Errorf("not run: %w", err)
			return
		}
		cfg.logf("%s: start", name)
		t0 := time.Now()
		err := fn()
		d := time.Since(t0)
		rep.Sections = append(rep.Sections, SectionTime{name, d})
		if err != nil {
			rep.Errors[name] = err
			cfg.logf("%s: FAILED after %v: %v", name, d.Round(time.Millisecond), err)
			return
		}
		cfg.logf("%s: done in %v", name, d.Round(time.Millisecond))
	}

	// Build what the selected sections run, once, with the same flags as
	// scripts/build (static, stripped, -tags lambda.norpc) but for this
	// machine; local mode without the tag, as `go run ./lambda` builds it.
	needsBootstrap := cfg.Sections["latency"] || cfg.Sections["coldstart"] || cfg.Sections["lambdastream"] || cfg.Sections["cpushare"]
	needsLocal := cfg.Sections["latency"] || cfg.Sections["concurrency"] || cfg.Sections["memory"]
	needsFloor := cfg.Sections["coldstart"]
	needsEmulator := cfg.Sections["concurrency"]
	if (needsBootstrap && cfg.Bootstrap == "") || (needsLocal && cfg.LocalBootstrap == "") || (needsFloor && cfg.ColdFloor == "") || (needsEmulator && cfg.EmulatorBin == "") {
		t0 := time.Now()
		err := func() error {
			dir, err := os.MkdirTemp("", "streamgate-bench-")
			if err != nil {
				return err
			}
			tmp = dir
			if needsBootstrap && cfg.Bootstrap == "" {
				cfg.Bootstrap = filepath.Join(dir, "bootstrap")
				cfg.logf("build: host bootstrap → %s", cfg.Bootstrap)
				if err := buildBootstrap(ctx, cfg.Root, cfg.Bootstrap); err != nil {
					return err
				}
			}
			if needsLocal && cfg.LocalBootstrap == "" {
				cfg.LocalBootstrap = filepath.Join(dir, "bootstrap-local")
				cfg.logf("build: host bootstrap for local mode (without -tags lambda.norpc) → %s", cfg.LocalBootstrap)
				if err := buildLocalBootstrap(ctx, cfg.Root, cfg.LocalBootstrap); err != nil {
					return err
				}
			}
			if needsFloor && cfg.ColdFloor == "" {
				cfg.ColdFloor = filepath.Join(dir, "coldfloor")
				cfg.logf("build: cold-start floor → %s", cfg.ColdFloor)
				if err := buildColdFloor(ctx, cfg.Root, cfg.ColdFloor); err != nil {
					return err
				}
			}
			if needsEmulator && cfg.EmulatorBin == "" {
				cfg.EmulatorBin = filepath.Join(dir, "emulator")
				cfg.logf("build: emulator → %s", cfg.EmulatorBin)
				return buildEmulator(ctx, cfg.Root, cfg.EmulatorBin)
			}
			return nil
		}()
		rep.Sections = append(rep.Sections, SectionTime{"build", time.Since(t0)})
		if err != nil {
			rep.Errors["build"] = err
			for _, n := range []string{"latency", "concurrency", "coldstart", "memory", "lambdastream", "cpushare"} {
				if cfg.Sections[n] {
					rep.Errors[n] = errors.New("not run: the build failed")
					cfg.Sections[n] = false
				}
			}
		}
	}

	if cfg.Sections["concurrency"] {
		if soft, hard, err := raiseNOFILE(); err == nil {
			rep.Machine.NOFILE = fmt.Sprintf("%d (hard %d)", soft, hard)
		}
	}

	section("latency", func() (err error) { rep.Latency, err = runLatency(ctx, cfg); return err })
	section("concurrency", func() (err error) { rep.Concurrency, err = runConcurrency(ctx, cfg); return err })
	section("coldstart", func() (err error) { rep.ColdStart, err = runColdStart(ctx, cfg); return err })
	section("memory", func() (err error) { rep.Memory, err = runMemory(ctx, cfg); return err })
	section("lambdastream", func() (err error) { rep.LambdaStream, err = runLambdaStream(ctx, cfg); return err })
	section("cpushare", func() (err error) { rep.CPUShare, err = runCPUShare(ctx, cfg); return err })
	section("encoders", func() (err error) { rep.Encoders, err = readGoBench(cfg.GoBench); return err })
	return rep
}
