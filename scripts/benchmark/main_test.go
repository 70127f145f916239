package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestMain lets this test binary stand in for the benchmark binary as the
// reverse proxy of latency path (d), which runs the binary itself again.
func TestMain(m *testing.M) {
	if upstream := os.Getenv(proxyEnv); upstream != "" {
		os.Exit(serveProxy(upstream, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestTinyRun runs a tiny version of the latency section end to end: the
// real bootstrap (built for this machine) in local mode and the SDK
// baseline, 2 streams × 20 deltas each, then renders the markdown.
func TestTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bootstrap")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	gobench := filepath.Join(t.TempDir(), "gobench.txt")
	if err := os.WriteFile(gobench, []byte(sampleGoBench), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Root = root
	cfg.Sections = map[string]bool{"latency": true, "encoders": true}
	cfg.LatencyStreams, cfg.LatencyDeltas, cfg.LatencyRate, cfg.LatencyRounds = 2, 20, 100, 2
	cfg.LatencyPaths = []string{"sdk", "local", "proxy"}
	cfg.GoBench = gobench
	rep := mustRun(t, cfg)
	if rep.Latency == nil || len(rep.Latency.Paths) != 3 {
		t.Fatalf("latency report = %+v", rep.Latency)
	}
	for _, p := range rep.Latency.Paths {
		// Two rounds of two streams, pooled.
		if p.Stats.N != 2*2*20 || p.Streams != 4 || p.Failed != 0 {
			t.Errorf("%s: %d deltas in %d streams, %d failed; want 80 in 4, 0", p.Name, p.Stats.N, p.Streams, p.Failed)
		}
		// Same machine, one clock: a latency is positive and, on
		// loopback, far below a second even under the race detector.
		if p.Stats.Min <= 0 || p.Stats.Max > time.Second || p.Stats.P50 > p.Stats.P99 {
			t.Errorf("%s: implausible latencies %+v", p.Name, p.Stats)
		}
	}
	md := rep.Markdown()
	for _, want := range []string{
		"# streamgate benchmarks", "## Machine", "| CPUs (`nproc`) |",
		"## 1. Added latency per delta", "| (a) SDK → emulator (baseline) | 80 |", "| (b) local mode | 80 |",
		"| (d) SDK → reverse proxy → emulator (one-hop floor) | 80 |", "take turns for 2 rounds", "| 0 of 4 |", "| 1.00× | 1.00× |", "p50 ÷ (d) | p99 ÷ (d)",
		"## 5. Go benchmarks", "| `EncodeDelta/sse` | 52.3 | 0 | 0 | 52.3 | 0 | 0 |", "| `ReadRequest` | 4,012 | 2,512 | 41 | – | – | – |",
		"| `Stream/gateway-sse` | 2,250,395 | 502,609 | 7,780 | 26,795 | 5,983 | 92.6 |",
		"## Run time", "| latency |", "| **total** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	for _, absent := range []string{"## 2.", "## 3.", "## 4.", "(c) Lambda path", "Failed"} {
		if strings.Contains(md, absent) {
			t.Errorf("markdown has %q for a section that did not run:\n%s", absent, md)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

const sampleGoBench = `goos: linux
goarch: amd64
pkg: github.com/streamgate/streamgate/streaming
cpu: AMD EPYC
BenchmarkEncodeDelta/text-2         	31563208	        37.61 ns/op	       0 B/op	       0 allocs/op
BenchmarkEncodeDelta/sse-2          	22573450	        52.3 ns/op	       0 B/op	       0 allocs/op
BenchmarkEncodeDelta/ndjson-2       	20012345	        60.00 ns/op	       8 B/op	       1 allocs/op
BenchmarkReadRequest-2              	  300000	      4012 ns/op	    2512 B/op	      41 allocs/op
BenchmarkStream/gateway-sse-2       	     525	   2250395 ns/op	      5983 B/delta	        92.63 allocs/delta	     26795 ns/delta	  502609 B/op	    7780 allocs/op
PASS
ok  	github.com/streamgate/streamgate/streaming	6.123s
`

func TestParseGoBench(t *testing.T) {
	rep, err := parseGoBench(bufio.NewScanner(strings.NewReader(sampleGoBench)))
	if err != nil {
		t.Fatal(err)
	}
	if rep.CPU != "AMD EPYC" || len(rep.Results) != 5 {
		t.Fatalf("got %+v", rep)
	}
	want := GoBench{Name: "ReadRequest", Iterations: 300000, NsPerOp: 4012, BytesPerOp: 2512, AllocsPerOp: 41,
		NsPerDelta: -1, BytesPerDelta: -1, AllocsPerDelta: -1}
	if rep.Results[3] != want {
		t.Errorf("ReadRequest = %+v, want %+v", rep.Results[3], want)
	}
	want = GoBench{Name: "Stream/gateway-sse", Iterations: 525, NsPerOp: 2250395, BytesPerOp: 502609, AllocsPerOp: 7780,
		NsPerDelta: 26795, BytesPerDelta: 5983, AllocsPerDelta: 92.63}
	if rep.Results[4] != want {
		t.Errorf("Stream = %+v, want %+v", rep.Results[4], want)
	}
	if r := rep.Results[0]; r.Name != "EncodeDelta/text" || r.NsPerOp != 37.61 || r.NsPerDelta != 37.61 || r.AllocsPerDelta != 0 {
		t.Errorf("first = %+v", rep.Results[0])
	}
	if _, err := parseGoBench(bufio.NewScanner(strings.NewReader("FAIL\n"))); err == nil {
		t.Error("no results: want an error")
	}
}

// TestEncodersGoalTwo: with the Lambda path's per-delta results on plain
// words and on code-v1, section 5 says how many times the allocations the
// answer with escapes costs.
func TestEncodersGoalTwo(t *testing.T) {
	rep, err := parseGoBench(bufio.NewScanner(strings.NewReader(`cpu: AMD EPYC
BenchmarkLambdaRelay/lambda-sse-2  	     400	   8422150 ns/op	       247.1 B/delta	         3.604 allocs/delta	     16845 ns/delta	  123533 B/op	    1801 allocs/op
BenchmarkLambdaRelay/lambda-sse-code-2         	     282	   9421704 ns/op	       242.1 B/delta	         5.406 allocs/delta	     18845 ns/delta	  121067 B/op	    1806 allocs/op
`)))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	(&Report{}).encoders(&b, func(...string) {}, rep)
	if want := "costs 5.4 allocations and 18,845 ns, a delta of plain words 3.6 and 16,845 ns: **1.50×** the allocations"; !strings.Contains(b.String(), want) {
		t.Errorf("section 5 lacks %q:\n%s", want, b.String())
	}
}

func TestProcParsing(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (boot strap) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 0 0"
	d, err := parseStatCPU(stat, 100)
	if err != nil || d != 3250*time.Millisecond {
		t.Errorf("parseStatCPU = %v, %v; want 3.25s", d, err)
	}
	if _, err := parseStatCPU("garbage", 100); err == nil {
		t.Error("garbage stat: want an error")
	}
	status := "Name:\tbootstrap\nVmPeak:\t  900000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   16384 kB\nThreads:\t9\n"
	m, err := parseProcStatus(status)
	if err != nil || m.HWM != 20<<20 || m.RSS != 16<<20 || m.Threads != 9 {
		t.Errorf("parseProcStatus = %+v, %v", m, err)
	}
	// And this process's own, for real.
	if _, err := procCPU("self"); err != nil {
		t.Errorf("procCPU(self): %v", err)
	}
	if m, err := readProcStatus("self"); err != nil || m.HWM <= 0 {
		t.Errorf("readProcStatus(self) = %+v, %v", m, err)
	}
}

func TestStats(t *testing.T) {
	var s []int64
	for i := 1; i <= 1000; i++ {
		s = append(s, int64(i)*int64(time.Microsecond))
	}
	s = append(s, int64(20*time.Millisecond))
	st := summarize(s)
	if st.N != 1001 || st.P50 != 501*time.Microsecond || st.P99 != 991*time.Microsecond || st.Max != 20*time.Millisecond || st.Over10ms != 1 {
		t.Errorf("summarize = %+v", st)
	}
	if st := summarize(nil); st.N != 0 {
		t.Errorf("empty = %+v", st)
	}
	if n, ok := parseStamp([]byte(`{"text":"t1700000000123456789 "}`)); !ok || n != 1700000000123456789 {
		t.Errorf("parseStamp = %d, %v", n, ok)
	}
	if _, ok := parseStamp([]byte(`{"text":"hello "}`)); ok {
		t.Error("parseStamp accepted a word")
	}
	busy, total, err := parseMachineCPU("cpu  100 5 50 800 20 3 2 0 0 0")
	if err != nil || busy != 160 || total != 980 {
		t.Errorf("parseMachineCPU = %d, %d, %v; want 160, 980", busy, total, err)
	}
	if _, _, err := parseMachineCPU("intr 1 2 3"); err == nil {
		t.Error("parseMachineCPU accepted a non-cpu line")
	}
}

func TestParseOnly(t *testing.T) {
	got, err := parseOnly(" latency, Memory ")
	if err != nil || len(got) != 2 || !got["latency"] || !got["memory"] {
		t.Errorf("parseOnly = %v, %v", got, err)
	}
	if all, _ := parseOnly(""); len(all) != len(allSections) {
		t.Errorf("default = %v", all)
	}
	if _, err := parseOnly("latency,speed"); err == nil || !strings.Contains(err.Error(), `"speed"`) {
		t.Errorf("unknown section: err = %v", err)
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct{ got, want string }{
		{fmtDur(437 * time.Microsecond), "437 µs"},
		{fmtDur(1234 * time.Microsecond), "1.23 ms"},
		{fmtDur(45600 * time.Microsecond), "45.6 ms"},
		{fmtDur(2500 * time.Millisecond), "2.50 s"},
		{fmtBytes(512), "512 B"},
		{fmtBytes(20 << 20), "20.0 MiB"},
		{fmtInt(600000), "600,000"},
		{fmtInt(999), "999"},
		{ratio(3*time.Millisecond, time.Millisecond), "3.00×"},
		{ratio(1150*time.Microsecond, time.Millisecond), "1.15×"},
		{ratio(160*time.Millisecond, time.Millisecond), "160×"},
		{ratio(time.Millisecond, 0), "–"},
		{fmtTotal(192 * time.Second), "3m12s"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// TestMarkdownAllSections renders a full report without running anything.
func TestMarkdownAllSections(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rep := &Report{
		Machine:  Machine{CPUs: 2, CPUModel: "Test CPU", GoVersion: "go1.26 linux/amd64", Date: now, ClkTck: 100},
		Config:   DefaultConfig(),
		Started:  now,
		RunStart: now.Add(40 * time.Second),
		Total:    3 * time.Minute,
		Sections: []SectionTime{{"concurrency", 41 * time.Second}},
		Concurrency: &ConcurrencyReport{Streams: 1000, Rate: 20, Duration: 30 * time.Second, Ramp: 5 * time.Second, WantDeltas: 600,
			Gateway: ConcRun{Wall: 36 * time.Second, Completed: 999, Failed: 1, FirstErr: "HTTP 502: bad\nmore", Deltas: 599_400,
				Latency: latencyStats{N: 599_400, P50: time.Millisecond, P99: 5 * time.Millisecond, Max: 80 * time.Millisecond, Over10ms: 12}, MachineBusy: 0.93},
			BootstrapCPU: 30 * time.Second, PeakRSS: 120 << 20, IdleRSS: 20 << 20, MaxThreads: 9},
		ColdStart: &ColdStartReport{N: 20, Median: 30 * time.Millisecond, Min: 25 * time.Millisecond, Max: 60 * time.Millisecond, HostSize: 11 << 20, DistSize: 10 << 20, ZipSize: 5 << 20,
			CPUMedian: 28 * time.Millisecond, FaultsMedian: 900, FloorSize: 6 << 20,
			Floor: &ColdStartRun{Median: 20 * time.Millisecond, Min: 18 * time.Millisecond, Max: 25 * time.Millisecond, CPUMedian: 14 * time.Millisecond, FaultsMedian: 300},
			Inits: &InitTrace{Runs: 5, Packages: 110, Clock: 8 * time.Millisecond, Bytes: 800 << 10, Top: []PackageInit{
				{"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas", 1800 * time.Microsecond, 379144}, {"runtime", 250 * time.Microsecond, 0}}},
			FloorInits: &InitTrace{Runs: 5, Packages: 80, Clock: 3 * time.Millisecond, Bytes: 40 << 10}},
		Memory: &MemoryReport{LongDuration: 20 * time.Second, IdleHWM: 12 << 20, PeakHWM: 14 << 20, Deltas: 8824},
		LambdaStream: &LambdaStreamReport{Deltas: 1000, Rate: 100, Rounds: 2, Runs: []LambdaStreamRun{
			{Setting: "before", CPU: []time.Duration{300 * time.Millisecond, 310 * time.Millisecond}, Busiest: 400 * time.Millisecond, Others: 210 * time.Millisecond, Wakeups: 6000, GCs: 3, AllDeltas: 2000},
			{Setting: "after", CPU: []time.Duration{120 * time.Millisecond, 130 * time.Millisecond}, AllDeltas: 2000}}},
		CPUShare: &CPUShareReport{Period: 100 * time.Millisecond, Step: 3 * time.Second, Budget: 20 * time.Millisecond, Sizes: []CPUShareSize{
			{MemoryMB: 128, Share: 128.0 / 1769, Quota: 7236 * time.Microsecond, Sustained: 400, FailedAbove: 800, FailedReason: "p99 45.0 ms",
				Steps: []CPUShareStep{
					{Rate: 50, Deltas: 400, Latency: latencyStats{P50: 300 * time.Microsecond, P99: 2 * time.Millisecond}, CPU: 60 * time.Millisecond, Pass: true},
					{Rate: 200, Deltas: 600, Latency: latencyStats{P50: 200 * time.Microsecond, P99: 3 * time.Millisecond}, CPU: 48 * time.Millisecond, Pass: true},
					{Rate: 400, Deltas: 1200, CPU: 60 * time.Millisecond, Pass: true},
					{Rate: 800, Deltas: 2400, CPU: 80 * time.Millisecond, Why: "p99 45.0 ms", Throttling: throttling{Periods: 30, Throttled: 4}}},
				Full: &CPUShareStep{Deltas: 3000, CPU: 30 * time.Millisecond, Throughput: 5000}},
			{MemoryMB: 1024, Share: 1024.0 / 1769, Quota: 57885 * time.Microsecond, Sustained: 3200},
		}},
		Encoders: &EncoderReport{Missing: true},
		Errors:   map[string]error{"concurrency": bytes.ErrTooLarge},
	}
	md := rep.Markdown()
	for _, want := range []string{
		"## 2. Concurrency: 1,000 streams", "**Failed:** bytes.Buffer: too large",
		"| errors or incomplete | 1 | not run |", "first: HTTP 502: bad |", "| deltas delivered | 599,400 of 600,000 | not run |",
		"| bootstrap CPU per 1,000 deltas | 50.1 ms | – |", "| machine CPU busy | 93% |", "| peak RSS per stream | 102.4 KiB |",
		"| cold start, median of 20 | 30.0 ms | 20.0 ms | 1.50× |", "| lambda.zip size | 5.0 MiB |",
		"| minor page faults until first /next, median | 900 | 300 | 3.00× |", "| CPU until first /next, median | 28.0 ms | 14.0 ms | 2.00× |",
		"| package inits: packages, clock, heap (mean of 5 starts) | 110, 8.00 ms, 800.0 KiB | 80, 3.00 ms, 40.0 KiB | 2.67× |",
		"the bootstrap's median is **1.50× the floor's**", "The 2 slowest package inits", "| `github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas` | 1.80 ms | 370.3 KiB |",
		"| growth | 2.0 MiB |", "Not run: `scripts/bench` runs", "| before this program",
		"## 6. One stream on the Lambda path", "| before | 305.0 ms / 300.0 ms | 200.0 ms | 105.0 ms | 3.00 | 1.50 |",
		"| after | 125.0 ms / 120.0 ms |", "- after: 59.0% less CPU per delta than before (median rounds; 60.0% less for the best rounds).",
		"## 7. Memory-size guide", "| 50 | 128 MB |", "| 400 | 128 MB |", "| 800 | 1024 MB |",
		"| 128 MB | 7.2% of a vCPU | 7.24 ms | 400 (800 failed: p99 45.0 ms) | 300 µs / 2.00 ms | 200 µs / 3.00 ms | 80.0 ms | 10.0 ms | 7,235 deltas/s |",
		"| 1024 MB | 57.9% of a vCPU | 57.9 ms | ≥ 3200 (the highest tried) | – | – | – | – | – |",
		"| 128 MB | 800 | 2,400 |", "| 4 of 30 | not sustained (p99 45.0 ms) |", "| 128 MB | full speed (5000 received) | 3,000 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Every table row has the same number of cells as its header.
	var cols int
	for line := range strings.SplitSeq(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row with %d separators under a header with %d: %s", n, cols, line)
		}
	}
}

// TestTinyLambdaStream runs section 6 small: every setting measures a
// whole stream through localgw with a bootstrap CPU reading, then the
// one-hop floor under the same runtime setting, then the deployed setting
// and the floor again on emulator.code-v1.
func TestTinyLambdaStream(t *testing.T) {
	l, md := tinyLambdaStream(t, false) // TestCancelPollingSetting has it
	if len(l.Runs) != 6 {
		t.Fatalf("lambdastream report = %+v", l)
	}
	if code, floor := l.Runs[4], l.Runs[5]; code.Model != codeModel || code.Floor || code.Env != "GODEBUG="+proposedGODEBUG || floor.Model != codeModel || !floor.Floor {
		t.Errorf("last settings = %+v and %+v, want the deployed setting and the floor on %s", code, floor, codeModel)
	}
	if l.Runs[2].Env != "GODEBUG="+proposedGODEBUG {
		t.Errorf("third setting = %+v, want the proposed GODEBUG", l.Runs[2])
	}
	if floor := l.Runs[3]; !floor.Floor || !strings.Contains(floor.Setting, "GODEBUG="+proposedGODEBUG) {
		t.Errorf("fourth setting = %+v, want the floor under the proposed GODEBUG", floor)
	}
	for _, want := range []string{"## 6. One stream on the Lambda path", "The floor: a bare `httputil.ReverseProxy`",
		"The bootstrap as deployed (GOMAXPROCS=1, GODEBUG=" + proposedGODEBUG + ")",
		"On `emulator.code-v1` the bootstrap as deployed costs", "the same setting on plain words costs"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// TestCancelPollingSetting: with a DynamoDB API at hand (moto), the
// lambdastream section adds a setting whose stream polls the cancel table,
// and says what it costs next to the same setting without it.
func TestCancelPollingSetting(t *testing.T) {
	if !streamtest.HaveMoto() {
		t.Skip(streamtest.ErrNoMoto.Error())
	}
	l, md := tinyLambdaStream(t, true)
	if len(l.Runs) != 7 || !strings.Contains(l.Runs[3].Setting, "cancel polling") || !l.Runs[4].Floor {
		t.Fatalf("lambdastream report = %+v; want a fourth setting with cancel polling, then the floor", l)
	}
	// The floor is compared with the deployed setting, not with polling.
	if !strings.Contains(md, "Cancellation polling (issue 9):") || !strings.Contains(md, "The bootstrap as deployed (GOMAXPROCS=1, GODEBUG="+proposedGODEBUG+") costs") {
		t.Errorf("markdown lacks the cancel-polling comparison:\n%s", md)
	}
}

// tinyLambdaStream runs section 6 with one round of 100 deltas and checks
// that each setting measured its stream.
func tinyLambdaStream(t *testing.T, cancelPolling bool) (*LambdaStreamReport, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the bootstrap under localgw")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Root = root
	cfg.Sections = map[string]bool{"lambdastream": true}
	cfg.LambdaStreamDeltas, cfg.LambdaStreamRate, cfg.LambdaStreamRounds = 100, 200, 1
	cfg.CancelPolling = cancelPolling
	rep := mustRun(t, cfg)
	l := rep.LambdaStream
	if l == nil {
		t.Fatal("no lambdastream report")
	}
	for _, run := range l.Runs {
		if run.Model == codeModel { // no send stamps: CPU only
			if len(run.CPU) != 1 || run.CPU[0] <= 0 || run.Latency.N != 0 || run.Busiest <= 0 || run.AllDeltas != 100 {
				t.Errorf("%s: CPU %v, %d latencies, busiest thread %v, %d deltas; want one CPU reading > 0, no latencies and 100 deltas",
					run.Setting, run.CPU, run.Latency.N, run.Busiest, run.AllDeltas)
			}
			continue
		}
		if len(run.CPU) != 1 || run.CPU[0] <= 0 || run.Latency.N != 50 || run.Latency.P50 <= 0 || run.Busiest <= 0 || run.AllDeltas != 100 {
			t.Errorf("%s: CPU %v, %d latencies (p50 %v), busiest thread %v, %d deltas; want one CPU reading > 0 and the 50 deltas after the first 50",
				run.Setting, run.CPU, run.Latency.N, run.Latency.P50, run.Busiest, run.AllDeltas)
		}
	}
	return l, rep.Markdown()
}

// mustRun runs the benchmark sections cfg selects, bounded in time, and
// fails the test if cfg is invalid or a section failed.
func mustRun(t *testing.T, cfg Config) *Report {
	t.Helper()
	cfg.Log = testWriter{t}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rep := Run(ctx, cfg)
	if f := rep.Failures(); len(f) > 0 {
		t.Fatalf("failures: %v", f)
	}
	return rep
}

// TestColdStartParsing: minor faults from /proc/PID/stat, a line of
// GODEBUG=inittrace=1, and GODEBUG settings merged rather than replaced.
func TestColdStartParsing(t *testing.T) {
	stat := "4242 (boot strap) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 0 0"
	if n, err := parseStatMinFlt(stat); err != nil || n != 1234 {
		t.Errorf("parseStatMinFlt = %d, %v; want 1234", n, err)
	}
	p, ok := parseInitLine("init github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas @3.1 ms, 1.75 ms clock, 379144 bytes, 4213 allocs")
	if !ok || p.Package != "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas" || p.Clock != 1750*time.Microsecond || p.Bytes != 379144 {
		t.Errorf("parseInitLine = %+v, %v", p, ok)
	}
	if _, ok := parseInitLine("streamgate: listening"); ok {
		t.Error("parseInitLine took a line that is not inittrace's")
	}
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"A=1", "GODEBUG=schedtrace=9"}, "GODEBUG=schedtrace=9,inittrace=1"},
		{[]string{"A=1"}, "GODEBUG=inittrace=1"},
		{[]string{"GODEBUG="}, "GODEBUG=inittrace=1"},
	} {
		got := withGODEBUG(tt.env, "inittrace=1")
		if n := strings.Count(strings.Join(got, " "), "GODEBUG="); n != 1 || !slices.Contains(got, tt.want) {
			t.Errorf("withGODEBUG(%v) = %v, want one %s", tt.env, got, tt.want)
		}
	}
}
