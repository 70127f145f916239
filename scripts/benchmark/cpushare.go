package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/streamgate/streamgate/streaming/emulator"
)

// CPUShareReport is section 7: the Lambda path with the bootstrap held to
// the CPU share Lambda gives each memory size.
type CPUShareReport struct {
	Skipped string // why the section could not run here ("" = it ran)
	Period  time.Duration
	Step    time.Duration // length of each rate step's stream
	Budget  time.Duration // p99 bound of a sustained rate
	Sizes   []CPUShareSize
}

// CPUShareSize is one memory size.
type CPUShareSize struct {
	MemoryMB     int
	Share        float64 // of one vCPU
	Quota        time.Duration
	Steps        []CPUShareStep // in the order they ran
	Sustained    float64        // the highest rate that passed; 0 = none
	FailedAbove  float64        // the lowest rate above Sustained that failed; 0 = none did (the ladder's top passed)
	Full         *CPUShareStep  // the answer sent as fast as the emulator can
	FailedReason string
}

// CPUShareStep is one stream at one rate.
type CPUShareStep struct {
	Rate       float64 // deltas/s the emulator sent at; 0 for full speed
	Deltas     int
	Latency    latencyStats // send stamp → client read, after the first deltas
	LateP50    time.Duration
	CPU        time.Duration // the bootstrap's, over the stream
	Throttling throttling
	Throughput float64 // deltas/s the client received, first to last
	Pass       bool
	Why        string // why it did not pass
	// Inconclusive: it failed twice, but the quota never stopped the
	// bootstrap, so the cause was outside the group (the machine is
	// shared); the step does not count against the size.
	Inconclusive bool
}

func (s CPUShareStep) cpuPer1k() time.Duration { return perK(s.CPU, int64(s.Deltas)) }

// capacity is the deltas/s the size's CPU share pays for at this step's
// CPU per delta: the most it can relay, sustained, at that cost.
func (s CPUShareSize) capacity(st *CPUShareStep) float64 {
	if st == nil || st.CPU <= 0 || st.Deltas == 0 {
		return 0
	}
	return s.Share / (st.CPU.Seconds() / float64(st.Deltas))
}

// The rates tried, in order: 50 and 200 always (the guide reports them),
// then up until one fails.
var cpuShareLadder = []float64{50, 100, 200, 400, 800, 1600, 3200, 6400}

// A step streams for CPUShareStep, but at least cpuShareMinDeltas deltas
// when that takes no longer than cpuShareMaxStep.
const (
	cpuShareMinDeltas = 400
	cpuShareMaxStep   = 8 * time.Second
)

// cpuShareSkip is the number of deltas at the start of each step that are
// not counted: the first ones of a stream pay for first-use paths.
const cpuShareSkip = 20

func runCPUShare(ctx context.Context, cfg Config) (*CPUShareReport, error) {
	rep := &CPUShareReport{Step: cfg.CPUShareStep, Budget: cfg.CPUShareP99}
	prefix := "streamgate-bench-"
	removeStaleGroups(cpuCgroupRoot, prefix)

	ctx, cancel := context.WithTimeout(ctx, cfg.CPUShareMax)
	defer cancel()

	upstream := &switchableEmulator{}
	upstream.set(emulator.Options{TokensPerSecond: cpuShareLadder[0]})
	emu, err := startInProcessEmulatorHandler(upstream)
	if err != nil {
		return nil, err
	}
	defer emu.Close()

	var errs []error
	for _, mb := range cfg.CPUShareSizes {
		share := float64(mb) / lambdaMBPerVCPU
		group := fmt.Sprintf("%s%d-%dmb", prefix, os.Getpid(), mb)
		limit, err := newCPULimit(cpuCgroupRoot, group, share, cfg.CPUSharePeriod)
		if err != nil {
			var no *errNoCgroup
			if errors.As(err, &no) {
				rep.Skipped = no.why
				cfg.logf("cpushare: skipped: %s", no.why)
				return rep, nil
			}
			return rep, err
		}
		rep.Period = limit.period
		size, err := cpuShareSize(ctx, cfg, upstream, emu.URL, limit, mb, share)
		if cerr := limit.close(); cerr != nil {
			cfg.logf("cpushare: %v", cerr)
		}
		rep.Sizes = append(rep.Sizes, size)
		if err != nil {
			errs = append(errs, fmt.Errorf("%d MB: %w", mb, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return rep, errors.Join(errs...)
}

// cpuShareSize measures one memory size: a fresh execution environment in
// its cgroup, the ladder of rates, one bisection step, then full speed.
func cpuShareSize(ctx context.Context, cfg Config, upstream *switchableEmulator, endpoint string, limit *cpuLimit, mb int, share float64) (CPUShareSize, error) {
	size := CPUShareSize{MemoryMB: mb, Share: share, Quota: limit.quota}
	inst, err := startLambdaInstance(ctx, cfg.Bootstrap, endpoint, mb, cfg.lambdaExtraEnv(), nil)
	if err != nil {
		return size, err
	}
	defer inst.Close()
	if err := limit.add(inst.Pid); err != nil {
		return size, fmt.Errorf("moving the bootstrap into %s: %w", limit.dir, err)
	}
	client := newHTTPClient(1)
	defer client.CloseIdleConnections()

	upstream.set(emulator.Options{TokensPerSecond: 100})
	if r := readSSE(ctx, client, inst.URL, requestBody(timestampModel, 50, 0), true, 50); !r.ok(50) {
		return size, fmt.Errorf("warm-up: %s\n%s", r.describe(50), inst.tail)
	}

	step := func(rate float64) (CPUShareStep, error) {
		// At least cpuShareMinDeltas, so that a p99 is not just the
		// worst delta or two; at most what one answer may hold.
		deltas := int(math.Round(rate * cfg.CPUShareStep.Seconds()))
		deltas = min(max(deltas, min(cpuShareMinDeltas, int(rate*cpuShareMaxStep.Seconds()))), 4000)
		for attempt := 1; ; attempt++ {
			st, err := cpuShareStep(ctx, client, upstream, inst, limit, rate, deltas, cfg.CPUShareP99)
			if err != nil {
				return st, err
			}
			cfg.logf("cpushare: %d MB at %g/s: p50 %v p99 %v, CPU %s per 1,000 deltas, throttled in %d of %d periods: %s",
				mb, rate, st.Latency.P50, st.Latency.P99, fmtDur(st.cpuPer1k()), st.Throttling.Throttled, st.Throttling.Periods, passWord(st))
			// A step that failed without the quota ever stopping the
			// bootstrap failed for a reason outside the group (the
			// machine is shared): it gets one more try.
			if !st.Pass && st.Throttling.Throttled == 0 {
				if attempt == 1 {
					st.Why += "; never throttled, so tried again"
					size.Steps = append(size.Steps, st)
					continue
				}
				st.Inconclusive = true
				st.Why += "; never throttled either: not the share's doing, not counted"
			}
			size.Steps = append(size.Steps, st)
			return st, nil
		}
	}
	var failed float64
	for _, rate := range cpuShareLadder {
		if rate > cfg.CPUShareMaxRate {
			break
		}
		st, err := step(rate)
		if err != nil {
			return size, err
		}
		if st.Pass {
			if failed == 0 {
				size.Sustained = rate
			}
			continue
		}
		if st.Inconclusive {
			continue
		}
		if failed == 0 {
			failed = rate
			size.FailedReason = st.Why
		}
		if rate >= 200 {
			break
		}
	}
	// One bisection step between the last rate that passed and the first
	// that failed, rounded to 10 deltas/s.
	if failed > 0 && size.Sustained > 0 && failed-size.Sustained > 20 {
		mid := math.Round((size.Sustained+failed)/2/10) * 10
		st, err := step(mid)
		if err != nil {
			return size, err
		}
		switch {
		case st.Pass:
			size.Sustained = mid
		case !st.Inconclusive:
			failed, size.FailedReason = mid, st.Why
		}
	}
	size.FailedAbove = failed

	// Full speed: the emulator sends as fast as it can, the function keeps
	// up as well as its share allows. CPU per delta here is the least the
	// function can spend: reads come in batches, the CPU is never idle.
	full, err := cpuShareStep(ctx, client, upstream, inst, limit, 0, cfg.CPUShareFullDeltas, 0)
	if err != nil {
		return size, err
	}
	size.Full = &full
	cfg.logf("cpushare: %d MB at full speed: %.0f deltas/s, CPU %s per 1,000 deltas", mb, full.Throughput, fmtDur(full.cpuPer1k()))
	return size, nil
}

func passWord(s CPUShareStep) string {
	switch {
	case s.Pass:
		return "sustained"
	case s.Inconclusive:
		return "inconclusive (" + s.Why + ")"
	}
	return "not sustained (" + s.Why + ")"
}

// fullSpeed is the emulator rate of the full-speed run: far above what any
// size keeps up with, so the emulator is never the limit.
const fullSpeed = 50_000

// cpuShareStep streams deltas timestamp-v1 deltas at rate (0: full speed)
// and judges them against budget (0: no judgement).
func cpuShareStep(ctx context.Context, client *http.Client, upstream *switchableEmulator, inst *lambdaInstance, limit *cpuLimit, rate float64, deltas int, budget time.Duration) (CPUShareStep, error) {
	st := CPUShareStep{Rate: rate, Deltas: deltas}
	sendRate := rate
	if rate == 0 {
		sendRate = fullSpeed
	}
	upstream.set(emulator.Options{TokensPerSecond: sendRate})
	cpu0, err := procCPUPrecise(inst.Pid)
	if err != nil {
		return st, err
	}
	th0, err := limit.stat()
	if err != nil {
		return st, err
	}
	// Generous: at 128 MB a full-speed stream may take a while.
	sctx, cancel := context.WithTimeout(ctx, time.Duration(float64(deltas)/sendRate*float64(time.Second))+2*time.Minute)
	r := readSSE(sctx, client, inst.URL, requestBody(timestampModel, deltas, int(rate)), true, deltas)
	cancel()
	if !r.ok(deltas) {
		return st, fmt.Errorf("%g deltas/s: %s\n%s", rate, r.describe(deltas), inst.tail)
	}
	cpu1, err := procCPUPrecise(inst.Pid)
	if err != nil {
		return st, err
	}
	th1, err := limit.stat()
	if err != nil {
		return st, err
	}
	st.CPU, st.Throttling = cpu1-cpu0, th1.sub(th0)
	st.Latency = summarize(r.lat[cpuShareSkip:])
	late := r.lat[len(r.lat)-len(r.lat)/10:]
	st.LateP50 = summarize(late).P50
	first, last := r.stamps[0]+r.lat[0], r.stamps[len(r.stamps)-1]+r.lat[len(r.lat)-1]
	if last > first {
		st.Throughput = float64(len(r.lat)-1) / (float64(last-first) / float64(time.Second))
	}
	switch {
	case budget == 0:
	case st.Latency.P99 >= budget:
		st.Why = "p99 " + fmtDur(st.Latency.P99)
	case st.LateP50 >= budget:
		st.Why = "queueing: the last tenth's median is " + fmtDur(st.LateP50)
	default:
		st.Pass = true
	}
	return st, nil
}

// switchableEmulator serves the emulator of the current step: the rate is
// an emulator option, and the bootstrap's endpoint stays the same.
type switchableEmulator struct {
	cur atomic.Pointer[emulator.Emulator]
}

func (s *switchableEmulator) set(opts emulator.Options) { s.cur.Store(emulator.New(opts)) }

func (s *switchableEmulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.cur.Load().ServeHTTP(w, r)
}

// guideRows are the model speeds the memory-size guide answers for.
var guideRows = []float64{50, 100, 200, 400, 800, 1600, 3200}

// smallestSizeFor is the smallest measured size that sustained rate, or 0.
func (r *CPUShareReport) smallestSizeFor(rate float64) int {
	var sizes []CPUShareSize
	sizes = append(sizes, r.Sizes...)
	slices.SortFunc(sizes, func(a, b CPUShareSize) int { return a.MemoryMB - b.MemoryMB })
	for _, s := range sizes {
		if s.Sustained >= rate {
			return s.MemoryMB
		}
	}
	return 0
}

// stepAt is the step that ran at rate, if any.
func (s CPUShareSize) stepAt(rate float64) *CPUShareStep {
	for i := range s.Steps {
		if s.Steps[i].Rate == rate {
			return &s.Steps[i]
		}
	}
	return nil
}

func fmtRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }

func (r *Report) cpuShare(b *strings.Builder, row func(...string), c *CPUShareReport) {
	if c.Skipped != "" {
		fmt.Fprintf(b, "**Skipped:** %s. This section needs Linux, root, and the cgroup v1 `cpu` controller writable at `%s`.\n\n", oneLine(c.Skipped), cpuCgroupRoot)
		return
	}
	fmt.Fprintf(b, "Lambda gives a function CPU in proportion to its memory: %d MB is one vCPU, so 128 MB is about 7%% of one. "+
		"Here the bootstrap (Lambda mode, one-instance localgw, fresh per size, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` set to the size) runs in a cgroup v1 `cpu` group "+
		"whose CFS quota is memory_MB / %d of the period (%s here): once it has used its quota in a period, the kernel stops it until the next one, as Lambda would. "+
		"Only the bootstrap is limited; the emulator, localgw and the client run outside the group. "+
		"For each size, one stream of `emulator.timestamp-v1` per rate, %s long (at least %d deltas where that takes at most %s), at rising rates (%s deltas/s, then one step halfway between the last that passed and the first that failed). "+
		"A rate is **sustained** when the added latency (send stamp → client read, after the first %d deltas) has p99 under %s and the median of the last tenth of the stream is under %s too, "+
		"so that nothing queues; a step that fails although the quota never stopped the bootstrap failed for a reason outside the group (the machine is shared) and is tried once more. "+
		"Then one stream of %d deltas sent as fast as the emulator can (full speed) gives the least CPU a delta costs (reads come in batches and the process never idles), "+
		"and so the most deltas a second the share pays for. A CFS quota does not make each delta slower: within a period the process runs at full speed until its quota is spent, "+
		"so latency only suffers once a period's work exceeds the quota. Lambda does not publish its CFS period; a shorter one would hand out the same share in smaller slices, with shorter stops.\n\n",
		lambdaMBPerVCPU, lambdaMBPerVCPU, fmtDur(c.Period), fmtTotal(c.Step), cpuShareMinDeltas, fmtTotal(cpuShareMaxStep), joinRates(cpuShareLadder), cpuShareSkip, fmtDur(c.Budget), fmtDur(c.Budget), r.Config.CPUShareFullDeltas)

	b.WriteString("**Which memory size for which model speed.** A Bedrock text delta is one or a few tokens, so a model writing N tokens a second sends at most N deltas a second.\n\n")
	row("model speed, deltas/s", "smallest size measured that keeps up", "what it means")
	row("---", "---:", "---")
	for _, rate := range guideRows {
		mb := c.smallestSizeFor(rate)
		if mb == 0 {
			row(fmtRate(rate), "none measured", "no size measured here sustained this rate")
			continue
		}
		row(fmtRate(rate), fmt.Sprintf("%d MB", mb), fmt.Sprintf("p99 under %s at %s deltas/s with no queueing", fmtDur(c.Budget), fmtRate(rate)))
	}
	b.WriteString("\n")

	row("memory", "CPU share", "quota per period", "highest sustained deltas/s", "at 50/s: p50 / p99", "at 200/s: p50 / p99", "CPU per 1,000 deltas at 200/s", "full speed: CPU per 1,000 deltas", "what the share pays for at that cost")
	row("---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:")
	for _, s := range c.Sizes {
		at := func(rate float64, f func(*CPUShareStep) string) string {
			if st := s.stepAt(rate); st != nil {
				return f(st)
			}
			return "–"
		}
		lat := func(st *CPUShareStep) string { return fmtDur(st.Latency.P50) + " / " + fmtDur(st.Latency.P99) }
		sustained := "none of those tried"
		if s.Sustained > 0 {
			sustained = fmtRate(s.Sustained)
			if s.FailedAbove > 0 {
				sustained += fmt.Sprintf(" (%s failed: %s)", fmtRate(s.FailedAbove), s.FailedReason)
			} else {
				sustained = "≥ " + sustained + " (the highest tried)"
			}
		}
		fullCPU, capacity := "–", "–"
		if s.Full != nil {
			fullCPU, capacity = fmtDur(s.Full.cpuPer1k()), fmt.Sprintf("%s deltas/s", fmtInt(int64(s.capacity(s.Full))))
		}
		row(fmt.Sprintf("%d MB", s.MemoryMB), fmt.Sprintf("%.1f%% of a vCPU", 100*s.Share), fmtDur(s.Quota),
			sustained, at(50, lat), at(200, lat), at(200, func(st *CPUShareStep) string { return fmtDur(st.cpuPer1k()) }), fullCPU, capacity)
	}
	b.WriteString("\n")

	b.WriteString("Every step, in the order it ran (throttled: CFS periods in which the bootstrap used up its quota and was stopped, of the periods in which it ran):\n\n")
	row("memory", "deltas/s", "deltas", "p50", "p99", "last tenth p50", "max", "CPU per 1,000 deltas", "throttled", "verdict")
	row("---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---")
	for _, s := range c.Sizes {
		steps := s.Steps
		if s.Full != nil {
			steps = append(slices.Clone(steps), *s.Full)
		}
		for _, st := range steps {
			rate, verdict := fmtRate(st.Rate), passWord(st)
			if st.Rate == 0 {
				rate, verdict = fmt.Sprintf("full speed (%.0f received)", st.Throughput), "–"
			}
			row(fmt.Sprintf("%d MB", s.MemoryMB), rate, fmtInt(int64(st.Deltas)), fmtDur(st.Latency.P50), fmtDur(st.Latency.P99), fmtDur(st.LateP50), fmtDur(st.Latency.Max),
				fmtDur(st.cpuPer1k()), fmt.Sprintf("%d of %d", st.Throttling.Throttled, st.Throttling.Periods), verdict)
		}
	}
	b.WriteString("\n")
}

func joinRates(rs []float64) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = fmtRate(r)
	}
	return strings.Join(s, ", ")
}
