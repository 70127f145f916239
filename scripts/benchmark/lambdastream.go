package main

import (
	"strconv"

	"github.com/streamgate/streamgate/streaming/streamtest"

	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/streamgate/streamgate/streaming/emulator"
)

// LambdaStreamReport is section 6: one stream through the Lambda path, the
// way a Lambda instance serves it (one invocation per process), under
// each runtime setting, the settings interleaved round by round.
type LambdaStreamReport struct {
	Deltas int
	Rate   float64
	Rounds int
	Runs   []LambdaStreamRun // one per setting, in order
	// CancelPollingSkipped says why there is no cancel-polling setting
	// (moto is not installed, say); "" when there is one or none was asked.
	CancelPollingSkipped string
}

// LambdaStreamRun is one setting's measurement over all rounds.
type LambdaStreamRun struct {
	Setting   string
	Env       string          // what the setting adds to the environment
	CPU       []time.Duration // the bootstrap's, per round
	Latency   latencyStats    // all rounds, after each stream's first 50 deltas
	Busiest   time.Duration   // CPU of the busiest thread, summed over rounds
	Others    time.Duration   // CPU of all other threads, summed over rounds
	Wakeups   int64           // voluntary context switches, all threads, summed
	GCs       int             // garbage collections, summed over rounds
	Floor     bool            // the one-hop floor, not the bootstrap
	Model     string          // the answer streamed: timestampModel or codeModel
	AllDeltas int             // deltas over all rounds
}

// cpuPer1k is the median round's CPU per 1,000 deltas.
func (r LambdaStreamRun) cpuPer1k(deltas int) time.Duration {
	if len(r.CPU) == 0 {
		return 0
	}
	s := slices.Clone(r.CPU)
	slices.Sort(s)
	return perK(median(s), int64(deltas))
}

// minPer1k is the best round's: the least noise from the shared machine.
func (r LambdaStreamRun) minPer1k(deltas int) time.Duration {
	if len(r.CPU) == 0 {
		return 0
	}
	return perK(slices.Min(r.CPU), int64(deltas))
}

func (r LambdaStreamRun) perDelta(v int64) float64 {
	if r.AllDeltas == 0 {
		return 0
	}
	return float64(v) / float64(r.AllDeltas)
}

// lambdaSetting is one way to run the bootstrap: a binary and what its
// environment adds. The GODEBUG of cfg.LambdaGODEBUG is only in the
// settings that name it, so that its effect shows.
type lambdaSetting struct {
	name, env string
	bootstrap string   // "" → cfg.Bootstrap
	noGODEBUG bool     // leave cfg.LambdaGODEBUG out
	extra     []string // more environment, not shown in the report's Env
	// floor: instead of the bootstrap, measure httputil.ReverseProxy
	// (GOMAXPROCS=1) between an SDK client and the emulator.
	floor bool
	model string // "" → timestampModel
}

// codeSettings are the deployed setting and the floor again, on
// emulator.code-v1: an answer with code, most of whose deltas carry JSON
// escapes, where timestamp-v1's carry none.
func (c Config) codeSettings() []lambdaSetting {
	deployed := lambdaSetting{name: codeModel + ": GOMAXPROCS=1", noGODEBUG: true, model: codeModel}
	if c.LambdaGODEBUG != "" {
		deployed = lambdaSetting{name: codeModel + ": GOMAXPROCS=1, GODEBUG=" + c.LambdaGODEBUG, env: "GODEBUG=" + c.LambdaGODEBUG, model: codeModel}
	}
	floor := c.floorSetting()
	floor.name, floor.model = codeModel+": "+floor.name, codeModel
	return []lambdaSetting{deployed, floor}
}

func (c Config) lambdaSettings() []lambdaSetting {
	var s []lambdaSetting
	if c.BootstrapBefore != "" {
		label := c.BeforeLabel
		if label == "" {
			label = "an earlier build"
		}
		s = append(s, lambdaSetting{name: "before: " + label + ", GOMAXPROCS=1", bootstrap: c.BootstrapBefore, noGODEBUG: true})
		if c.LambdaGODEBUG != "" {
			// The same runtime setting as the last rows, so that what the
			// code changed shows apart from what the setting did.
			s = append(s, lambdaSetting{name: "before: " + label + ", GOMAXPROCS=1, GODEBUG=" + c.LambdaGODEBUG,
				bootstrap: c.BootstrapBefore, env: "GODEBUG=" + c.LambdaGODEBUG})
		}
	}
	s = append(s,
		lambdaSetting{name: "GOMAXPROCS=2", env: "GOMAXPROCS=2", noGODEBUG: true},
		lambdaSetting{name: "GOMAXPROCS=1 (Lambda mode's default)", noGODEBUG: true},
	)
	if c.LambdaGODEBUG != "" {
		s = append(s, lambdaSetting{name: "GOMAXPROCS=1, GODEBUG=" + c.LambdaGODEBUG, env: "GODEBUG=" + c.LambdaGODEBUG})
	}
	return s
}

func (s lambdaSetting) modelOrDefault() string {
	if s.model == "" {
		return timestampModel
	}
	return s.model
}

// floorSetting is the one-hop floor: a relay that only copies bytes, under
// the runtime setting of the last bootstrap row.
func (c Config) floorSetting() lambdaSetting {
	floor := lambdaSetting{name: "floor: httputil.ReverseProxy alone, GOMAXPROCS=1", floor: true, noGODEBUG: true}
	if c.LambdaGODEBUG != "" {
		floor.name += ", GODEBUG=" + c.LambdaGODEBUG
		floor.noGODEBUG = false
	}
	return floor
}

func runLambdaStream(ctx context.Context, cfg Config) (*LambdaStreamReport, error) {
	rep := &LambdaStreamReport{Deltas: cfg.LambdaStreamDeltas, Rate: cfg.LambdaStreamRate, Rounds: cfg.LambdaStreamRounds}
	settings := cfg.lambdaSettings()
	if cfg.CancelPolling {
		polling, stop, err := cancelPollingSetting(ctx, cfg)
		switch {
		case err != nil:
			rep.CancelPollingSkipped = err.Error()
			cfg.logf("lambdastream: no cancel-polling setting: %v", err)
		default:
			defer stop()
			settings = append(settings, polling)
		}
	}
	settings = append(settings, cfg.floorSetting())
	settings = append(settings, cfg.codeSettings()...)
	rep.Runs = make([]LambdaStreamRun, len(settings))
	emu, err := startInProcessEmulator(emulator.Options{TokensPerSecond: cfg.LambdaStreamRate})
	if err != nil {
		return nil, err
	}
	defer emu.Close()
	for round := range cfg.LambdaStreamRounds {
		for i, setting := range settings {
			run := &rep.Runs[i]
			run.Setting, run.Env, run.Floor, run.Model = setting.name, setting.env, setting.floor, setting.modelOrDefault()
			if err := lambdaStreamOnce(ctx, cfg, emu.URL, setting, run); err != nil {
				return nil, fmt.Errorf("%s: %w", setting.name, err)
			}
			cfg.logf("lambdastream: round %d, %s: %s CPU per 1,000 deltas", round+1, setting.name,
				fmtDur(perK(run.CPU[len(run.CPU)-1], int64(rep.Deltas))))
		}
	}
	return rep, nil
}

// lambdaStreamOnce measures one stream in a fresh execution environment
// and adds it to run.
func lambdaStreamOnce(ctx context.Context, cfg Config, endpoint string, setting lambdaSetting, run *LambdaStreamRun) error {
	// gctrace=1 makes the runtime print a line per collection, which is
	// how the GC count is read; it costs one write per collection.
	godebug := "gctrace=1"
	env := append([]string(nil), setting.extra...)
	settingEnv := []string{setting.env}
	if !setting.noGODEBUG {
		settingEnv = append(settingEnv, cfg.lambdaExtraEnv()...)
	}
	for _, kv := range settingEnv {
		switch {
		case kv == "":
		case strings.HasPrefix(kv, "GODEBUG="):
			godebug += "," + strings.TrimPrefix(kv, "GODEBUG=")
		default:
			env = append(env, kv)
		}
	}
	env = append(env, "GODEBUG="+godebug)
	model := setting.modelOrDefault()
	if setting.floor {
		return floorStreamOnce(ctx, cfg, endpoint, env, model, run)
	}
	gcs := &gcCounter{}
	bootstrap := setting.bootstrap
	if bootstrap == "" {
		bootstrap = cfg.Bootstrap
	}
	inst, err := startLambdaInstance(ctx, bootstrap, endpoint, 0, env, gcs)
	if err != nil {
		return err
	}
	defer inst.Close()

	client := newHTTPClient(1)
	defer client.CloseIdleConnections()
	if r := readSSE(ctx, client, inst.URL, requestBody(timestampModel, 50, 0), true, 50); !r.ok(50) {
		return fmt.Errorf("warm-up: %s\n%s", r.describe(50), inst.tail)
	}
	gc0 := gcs.count()
	err = measureStream(ctx, cfg, inst.Pid, inst.tail, run, func(ctx context.Context) streamResult {
		return readSSE(ctx, client, inst.URL, requestBody(model, cfg.LambdaStreamDeltas, 1), model == timestampModel, cfg.LambdaStreamDeltas)
	})
	run.GCs += gcs.count() - gc0
	return err
}

// measureStream reads one stream of cfg.LambdaStreamDeltas with read and
// adds the CPU and threads of process pid over it to run.
func measureStream(ctx context.Context, cfg Config, pid string, tail fmt.Stringer, run *LambdaStreamRun, read func(context.Context) streamResult) error {
	before, err := readThreads(pid)
	if err != nil {
		return err
	}
	cpu0, err := procCPUPrecise(pid)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, time.Duration(float64(cfg.LambdaStreamDeltas)/cfg.LambdaStreamRate*float64(time.Second))+time.Minute)
	r := read(rctx)
	cancel()
	if !r.ok(cfg.LambdaStreamDeltas) {
		return fmt.Errorf("stream: %s\n%s", r.describe(cfg.LambdaStreamDeltas), tail)
	}
	cpu1, err := procCPUPrecise(pid)
	if err != nil {
		return err
	}
	after, err := readThreads(pid)
	if err != nil {
		return err
	}
	run.add(cpu1-cpu0, before, after, r.lat, cfg.LambdaStreamDeltas)
	return nil
}

// add accounts one measured stream to the run.
func (run *LambdaStreamRun) add(cpu time.Duration, before, after []threadStat, lat []int64, deltas int) {
	run.CPU = append(run.CPU, cpu)
	run.AllDeltas += deltas
	for i, t := range threadDelta(before, after) {
		if i == 0 {
			run.Busiest += t.CPU
		} else {
			run.Others += t.CPU
		}
		run.Wakeups += t.Voluntary
	}
	warm := lat
	if len(warm) > 50 {
		warm = warm[50:]
	}
	all := summarize(warm)
	// Pool the rounds' latencies by keeping the worst of each statistic:
	// a single run's tail is what a user would see.
	if run.Latency.N == 0 || all.P99 > run.Latency.P99 {
		run.Latency.P99 = all.P99
	}
	if run.Latency.N == 0 || all.P50 > run.Latency.P50 {
		run.Latency.P50 = all.P50
	}
	run.Latency.Max = max(run.Latency.Max, all.Max)
	run.Latency.N += all.N
}

// floorStreamOnce measures the same stream through a bare reverse proxy in
// a fresh process of its own, read by the SDK: the system calls and
// wake-ups any relay of one stream pays at this pace, with nothing else.
func floorStreamOnce(ctx context.Context, cfg Config, endpoint string, env []string, model string, run *LambdaStreamRun) error {
	proxy, err := startProxy(ctx, endpoint, append(env, "GOMAXPROCS=1")...)
	if err != nil {
		return err
	}
	defer proxy.stop()
	client := newSDKClient(proxy.URL)
	if r := readSDK(ctx, client, 50, 0); !r.ok(50) {
		return fmt.Errorf("warm-up: %s\n%s", r.describe(50), proxy.tail)
	}
	return measureStream(ctx, cfg, strconv.Itoa(proxy.Pid), proxy.tail, run, func(ctx context.Context) streamResult {
		return readSDKModel(ctx, client, model, cfg.LambdaStreamDeltas, 1)
	})
}

func (r *Report) lambdaStream(b *strings.Builder, row func(...string), l *LambdaStreamReport) {
	fmt.Fprintf(b, "One stream of %d `emulator.timestamp-v1` deltas at %g/s through the Lambda path (the bootstrap in Lambda mode under a one-instance localgw), "+
		"and in the last two rows of `emulator.code-v1` deltas (an answer with code: most deltas carry a JSON escape, where timestamp-v1's carry none; no send stamps, so no latency), "+
		"as a Lambda instance serves it: a fresh process per stream, after one 50-delta warm-up stream. "+
		"The settings take turns, %s of each, so that a busy moment on the shared machine hits them alike. "+
		"CPU is the bootstrap's time on a CPU over the stream, all threads, from `/proc/PID/task/*/schedstat` (nanoseconds); "+
		"the median round is shown, and the best round, which has the least noise from other work on the machine. "+
		"Latency is send stamp to client read after each stream's first 50 deltas, the worst round's. "+
		"Wake-ups are voluntary context switches (`/proc/PID/task/*/status`): each is a thread going to sleep and being woken again. "+
		"The busiest thread is the one running the Go code; the others are mostly the runtime's `sysmon`.\n\n",
		l.Deltas, l.Rate, plural(l.Rounds, "round"))
	row("setting", "CPU per 1,000 deltas (median / best)", "busiest thread, per 1,000 deltas", "other threads, per 1,000 deltas", "wake-ups per delta", "GCs per 1,000 deltas", "latency p50", "latency p99", "latency max")
	row("---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:")
	for _, run := range l.Runs {
		row(run.Setting,
			fmtDur(run.cpuPer1k(l.Deltas))+" / "+fmtDur(run.minPer1k(l.Deltas)),
			fmtDur(perK(run.Busiest, int64(run.AllDeltas))),
			fmtDur(perK(run.Others, int64(run.AllDeltas))),
			fmt.Sprintf("%.2f", run.perDelta(run.Wakeups)),
			gcsPer1k(run),
			fmtLatency(run, run.Latency.P50), fmtLatency(run, run.Latency.P99), fmtLatency(run, run.Latency.Max))
	}
	b.WriteString("\n")
	if len(l.Runs) >= 2 {
		base := l.Runs[0]
		for _, run := range l.Runs[1:] {
			if run.Model == codeModel {
				continue
			}
			fmt.Fprintf(b, "- %s: %s CPU per delta than %s (median rounds; %s for the best rounds).\n", run.Setting,
				lessOrMore(base.cpuPer1k(l.Deltas), run.cpuPer1k(l.Deltas)), base.Setting, lessOrMore(base.minPer1k(l.Deltas), run.minPer1k(l.Deltas)))
		}
		b.WriteString("\n")
	}
	if f := slices.IndexFunc(l.Runs, func(r LambdaStreamRun) bool { return r.Floor }); f >= 1 {
		floor, deployed := l.Runs[f], l.Runs[f-1]
		if strings.Contains(deployed.Setting, "cancel polling") && f >= 2 {
			deployed = l.Runs[f-2]
		}
		fmt.Fprintf(b, "The floor: a bare `httputil.ReverseProxy` (`FlushInterval: -1`, in a process of its own, read by the SDK) relaying the same stream at the same pace, in the same rounds, costs %s per 1,000 deltas (best round %s) "+
			"with %.2f wake-ups a delta: the system calls and wake-ups that any relay of one paced stream pays on this machine, with no decoding, encoding or Runtime API in between. "+
			"The bootstrap as deployed (%s) costs %s (best %s): %s the floor, %s more a delta.\n\n",
			fmtDur(floor.cpuPer1k(l.Deltas)), fmtDur(floor.minPer1k(l.Deltas)), floor.perDelta(floor.Wakeups),
			deployed.Setting, fmtDur(deployed.cpuPer1k(l.Deltas)), fmtDur(deployed.minPer1k(l.Deltas)),
			ratio(deployed.cpuPer1k(l.Deltas), floor.cpuPer1k(l.Deltas)), fmtDur((deployed.cpuPer1k(l.Deltas)-floor.cpuPer1k(l.Deltas))/1000))
	}
	r.codeStream(b, l)
	if i := slices.IndexFunc(l.Runs, func(r LambdaStreamRun) bool { return strings.Contains(r.Setting, "cancel polling") }); i >= 1 {
		off, on := l.Runs[i-1], l.Runs[i]
		fmt.Fprintf(b, "Cancellation polling (issue 9): %s per 1,000 deltas with the stream polling the cancel table every second, %s without, in the same rounds "+
			"(best rounds %s and %s). The poll is one DynamoDB GetItem a second on a timer in its own goroutine, never on the delta path; "+
			"over this %s stream that is %d polls for %d deltas.\n\n",
			fmtDur(on.cpuPer1k(l.Deltas)), fmtDur(off.cpuPer1k(l.Deltas)), fmtDur(on.minPer1k(l.Deltas)), fmtDur(off.minPer1k(l.Deltas)),
			time.Duration(float64(l.Deltas)/l.Rate*float64(time.Second)).Round(time.Second), int(float64(l.Deltas)/l.Rate), l.Deltas)
	}
	if l.CancelPollingSkipped != "" {
		fmt.Fprintf(b, "Cancellation polling was not measured: %s.\n\n", l.CancelPollingSkipped)
	}
}

// codeStream compares the code-v1 rows with their floor and with the
// same setting on plain words.
func (r *Report) codeStream(b *strings.Builder, l *LambdaStreamReport) {
	code := slices.IndexFunc(l.Runs, func(r LambdaStreamRun) bool { return r.Model == codeModel && !r.Floor })
	codeFloor := slices.IndexFunc(l.Runs, func(r LambdaStreamRun) bool { return r.Model == codeModel && r.Floor })
	if code < 0 || codeFloor < 0 {
		return
	}
	c, f := l.Runs[code], l.Runs[codeFloor]
	fmt.Fprintf(b, "On `emulator.code-v1` the bootstrap as deployed costs %s per 1,000 deltas (best %s) against the floor's %s (best %s) on the same answer: %s the floor",
		fmtDur(c.cpuPer1k(l.Deltas)), fmtDur(c.minPer1k(l.Deltas)), fmtDur(f.cpuPer1k(l.Deltas)), fmtDur(f.minPer1k(l.Deltas)),
		ratio(c.cpuPer1k(l.Deltas), f.cpuPer1k(l.Deltas)))
	words := slices.IndexFunc(l.Runs, func(r LambdaStreamRun) bool {
		return r.Model != codeModel && !r.Floor && r.Env == c.Env && !strings.Contains(r.Setting, "cancel polling") && !strings.HasPrefix(r.Setting, "before")
	})
	if words >= 0 {
		w := l.Runs[words]
		fmt.Fprintf(b, "; the same setting on plain words costs %s, so an answer full of escapes costs %s the plain one",
			fmtDur(w.cpuPer1k(l.Deltas)), ratio(c.cpuPer1k(l.Deltas), w.cpuPer1k(l.Deltas)))
	}
	b.WriteString(".\n\n")
}

// fmtLatency is a latency cell: – for a run without send stamps.
func fmtLatency(run LambdaStreamRun, d time.Duration) string {
	if run.Latency.N == 0 {
		return "–"
	}
	return fmtDur(d)
}

func gcsPer1k(run LambdaStreamRun) string {
	if run.Floor {
		return "–"
	}
	return fmt.Sprintf("%.2f", 1000*run.perDelta(int64(run.GCs)))
}

// lessOrMore says how much less (or more) v is than base, in percent.
func lessOrMore(base, v time.Duration) string {
	if base <= 0 {
		return "–"
	}
	if v <= base {
		return pct(int64(base-v), int64(base)) + " less"
	}
	return pct(int64(v-base), int64(base)) + " more"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return itoa(n) + " " + word + "s"
}

// cancelPollingSetting is the Lambda mode default (GOMAXPROCS=1 and the
// template's GODEBUG) plus a shared cancel table that the stream polls
// every second, as on a deployed stack: a DynamoDB API (moto, a separate
// process whose CPU is not the bootstrap's) with the stack's table. Next
// to the same setting without it, it shows what cancellation polling costs
// per delta.
func cancelPollingSetting(ctx context.Context, cfg Config) (lambdaSetting, func(), error) {
	moto, err := streamtest.StartMoto(ctx)
	if err != nil {
		return lambdaSetting{}, nil, err
	}
	if _, err := streamtest.CreateCancelTable(ctx, moto.URL); err != nil {
		moto.Stop()
		return lambdaSetting{}, nil, err
	}
	table := streamtest.CancelTable
	name := "GOMAXPROCS=1, cancel polling every 1 s (CANCEL_TABLE)"
	env := ""
	if cfg.LambdaGODEBUG != "" {
		name = "GOMAXPROCS=1, GODEBUG=" + cfg.LambdaGODEBUG + ", cancel polling every 1 s (CANCEL_TABLE)"
		env = "GODEBUG=" + cfg.LambdaGODEBUG
	}
	return lambdaSetting{name: name, env: env,
		extra: []string{"CANCEL_TABLE=" + table, "DYNAMODB_ENDPOINT=" + moto.URL, "CANCEL_POLL_SECONDS=1"}}, moto.Stop, nil
}
