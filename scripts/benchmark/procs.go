package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/streamgate/streamgate/streaming/emulator"
)

// buildBootstrap builds the bootstrap for this machine with scripts/build's
// flags (static, stripped, lambda.norpc), so that its size and cold start
// are those of the deployed binary's code.
func buildBootstrap(ctx context.Context, root, out string) error {
	return goBuild(ctx, root, out, "./lambda", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w -buildid=")
}

// buildLocalBootstrap builds the bootstrap as `go run ./lambda` does,
// without -tags lambda.norpc (the Lambda build has no local mode), and
// otherwise as buildBootstrap.
func buildLocalBootstrap(ctx context.Context, root, out string) error {
	return goBuild(ctx, root, out, "./lambda", "-trimpath", "-ldflags=-s -w -buildid=")
}

// buildColdFloor builds the cold-start floor (a bare aws-lambda-go
// streaming function) with buildBootstrap's flags.
func buildColdFloor(ctx context.Context, root, out string) error {
	return goBuild(ctx, root, out, "./scripts/benchmark/coldfloor", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w -buildid=")
}

func buildEmulator(ctx context.Context, root, out string) error {
	return goBuild(ctx, root, out, "./scripts/emulator", "-trimpath")
}

func goBuild(ctx context.Context, root, out, pkg string, flags ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	args := append([]string{"build"}, flags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// child is a process the benchmark started: a local-mode bootstrap or the
// standalone emulator. Both print "... listening on http://ADDR ..." on
// stderr once they serve.
type child struct {
	name   string
	cmd    *exec.Cmd
	URL    string
	Pid    int
	tail   *tailBuffer
	exited chan struct{}
}

var listeningRE = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startChild starts bin and waits (at most 20 s) for its banner.
func startChild(ctx context.Context, name, bin string, args, env []string) (*child, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = nil // /dev/null: the per-request JSON log lines
	setChildAttrs(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, Pid: cmd.Process.Pid, tail: newTailBuffer(40), exited: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			c.tail.add(line)
			if !found {
				if m := listeningRE.FindStringSubmatch(line); m != nil {
					found = true
					urls <- m[1]
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	select {
	case c.URL = <-urls:
		return c, nil
	case <-c.exited:
		return nil, fmt.Errorf("%s exited before it listened: %s\n%s", name, cmd.ProcessState, c.tail)
	case <-t.C:
		c.stop()
		return nil, fmt.Errorf("%s printed no listening line within 20 s:\n%s", name, c.tail)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// stop sends SIGTERM and kills after 5 s.
func (c *child) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// tailBuffer keeps the last lines of a child's output, for error messages.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func newTailBuffer(n int) *tailBuffer { return &tailBuffer{max: n} }

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(line) > 500 {
		line = line[:500] + "…"
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

// Write makes it an io.Writer (localgw's Stderr): one or more lines.
func (t *tailBuffer) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		t.add(line)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// Environment shared by every bootstrap the benchmark starts.
const (
	timestampModel = "emulator.timestamp-v1"
	codeModel      = "emulator.code-v1" // most deltas with JSON escapes
	longModel      = "emulator.long-v1"
	benchRegion    = "us-east-1"
)

// inheritedEnv is the benchmark's environment minus what would change a
// child's mode or the gateway's behaviour from its defaults.
func inheritedEnv() []string {
	drop := map[string]bool{
		"AWS_LAMBDA_RUNTIME_API": true, "_HANDLER": true, "PORT": true, "HOST": true, "UPSTREAM": true,
		"BEDROCK_ENDPOINT": true, "MODEL_ID": true, "ALLOWED_MODELS": true, "MAX_TOKENS": true,
		"TEMPERATURE": true, "TOP_P": true, "SYSTEM_PROMPT": true, "MAX_BODY_BYTES": true,
		"HEARTBEAT_SECONDS": true, "DEADLINE_MARGIN_SECONDS": true, "CORS_ALLOW_ORIGINS": true,
		"LOG_LEVEL": true, "SHUTDOWN_GRACE_SECONDS": true, "AWS_PROFILE": true, proxyEnv: true,
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if drop[k] || strings.HasPrefix(k, "EMULATOR_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// startLocal starts the bootstrap in local mode on a free loopback port,
// with endpoint as its Bedrock.
func startLocal(ctx context.Context, bin, endpoint string) (*child, error) {
	env := append(inheritedEnv(),
		"PORT=0", "HOST=127.0.0.1", "UPSTREAM=emulator", "BEDROCK_ENDPOINT="+endpoint,
		"AWS_REGION="+benchRegion, "MODEL_ID="+timestampModel,
		"ALLOWED_MODELS="+strings.Join(emulator.Models(), ","), "SHUTDOWN_GRACE_SECONDS=1",
	)
	return startChild(ctx, "bootstrap (local mode)", bin, nil, env)
}

// lambdaEnv is the environment of bootstrap children under localgw (which
// appends it to its own environment and sets the Runtime API variables).
func lambdaEnv(endpoint string) []string {
	return []string{
		"BEDROCK_ENDPOINT=" + endpoint,
		"AWS_ACCESS_KEY_ID=streamgate-bench", "AWS_SECRET_ACCESS_KEY=streamgate-bench", "AWS_SESSION_TOKEN=",
		"AWS_REGION=" + benchRegion, "MODEL_ID=" + timestampModel,
		"ALLOWED_MODELS=" + strings.Join(emulator.Models(), ","),
		"MAX_TOKENS=4096", "SYSTEM_PROMPT=", "LOG_LEVEL=info", "AWS_PROFILE=",
	}
}

// inProcessEmulator serves an emulator on a loopback port of this process.
type inProcessEmulator struct {
	URL string
	srv *http.Server
}

func startInProcessEmulator(opts emulator.Options) (*inProcessEmulator, error) {
	return startInProcessEmulatorHandler(emulator.New(opts))
}

// startInProcessEmulatorHandler serves h (an emulator, or something that
// hands requests to one) on a loopback port.
func startInProcessEmulatorHandler(h http.Handler) (*inProcessEmulator, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &inProcessEmulator{URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

func (e *inProcessEmulator) Close() { _ = e.srv.Close() }

// procCPU is a process's user+system CPU time so far (all its threads),
// from /proc/PID/stat ("self" for this process).
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b), clockTicks())
}

// parseStatCPU reads utime and stime (fields 14 and 15 of proc(5)); the
// command name (field 2) may contain spaces, so fields are counted after
// its closing parenthesis.
func parseStatCPU(stat string, ticks int64) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return time.Duration((ut + st) * int64(time.Second) / ticks), nil
}

var (
	ticksOnce sync.Once
	ticks     int64 = 100
)

// clockTicks is `getconf CLK_TCK` (the unit of /proc/PID/stat's times).
func clockTicks() int64 {
	ticksOnce.Do(func() {
		out, err := exec.Command("getconf", "CLK_TCK").Output()
		if err != nil {
			return
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			ticks = n
		}
	})
	return ticks
}

// procStatus reads the kB fields and Threads of /proc/PID/status.
type procMem struct {
	HWM, RSS int64 // bytes
	Threads  int
}

func readProcStatus(pid string) (procMem, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return procMem{}, err
	}
	return parseProcStatus(string(b))
}

func parseProcStatus(s string) (procMem, error) {
	var m procMem
	seen := 0
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmHWM":
			m.HWM, seen = n*1024, seen+1
		case "VmRSS":
			m.RSS, seen = n*1024, seen+1
		case "Threads":
			m.Threads = int(n)
		}
	}
	if seen < 2 {
		return m, errors.New("no VmHWM/VmRSS in /proc status")
	}
	return m, nil
}

// Machine is the facts printed above the tables.
type Machine struct {
	CPUs      int
	CPUModel  string
	MemTotal  string
	Kernel    string
	GoVersion string
	Date      time.Time
	ClkTck    int64
	NOFILE    string
}

func readMachine() Machine {
	m := Machine{
		CPUs:      runtime.NumCPU(),
		CPUModel:  "unknown",
		GoVersion: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		Date:      time.Now().UTC(),
		ClkTck:    clockTicks(),
	}
	if out, err := exec.Command("nproc").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			m.CPUs = n
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						m.MemTotal = fmtBytes(kb * 1024)
					}
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = runtime.GOOS + " " + strings.TrimSpace(string(b))
	}
	if soft, hard, err := getNOFILE(); err == nil {
		m.NOFILE = fmt.Sprintf("%d (hard %d)", soft, hard)
	}
	return m
}

// machineCPU is the machine's busy and total CPU time so far, in ticks of
// all CPUs together, from the first line of /proc/stat.
func machineCPU() (busy, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseMachineCPU(line)
}

// parseMachineCPU reads "cpu user nice system idle iowait irq softirq
// steal ..."; busy is everything but idle and iowait.
func parseMachineCPU(line string) (busy, total int64, err error) {
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, errors.New("malformed /proc/stat")
	}
	for i, s := range f[1:] {
		if i >= 8 { // guest times are already in user and nice
			break
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, errors.New("malformed /proc/stat")
		}
		total += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, total, nil
}

// busyMeter measures the machine's CPU utilisation over an interval.
type busyMeter struct{ busy, total int64 }

func startBusy() busyMeter {
	b, t, _ := machineCPU()
	return busyMeter{b, t}
}

// fraction is the share of all CPUs busy since start (0..1), or -1.
func (m busyMeter) fraction() float64 {
	b, t, err := machineCPU()
	if err != nil || t <= m.total || m.total == 0 {
		return -1
	}
	return float64(b-m.busy) / float64(t-m.total)
}

// procCPUPrecise is a process's CPU time so far in nanoseconds: the sum
// over its threads of the time on a CPU that the scheduler recorded
// (/proc/PID/task/TID/schedstat, first field: user and system time alike).
// /proc/PID/stat counts in CLK_TCK ticks (10 ms here), too coarse for one
// stream's few hundred milliseconds; it is the fallback where schedstat is
// missing. Threads that already exited are not counted (Go keeps its
// threads).
func procCPUPrecise(pid string) (time.Duration, error) {
	threads, err := readThreads(pid)
	if err != nil || len(threads) == 0 {
		return procCPU(pid)
	}
	var sum time.Duration
	for _, t := range threads {
		sum += t.CPU
	}
	return sum, nil
}

// threadStat is one thread's CPU time and voluntary context switches (the
// times it blocked: each one is a wake-up later).
type threadStat struct {
	TID       string
	CPU       time.Duration
	Voluntary int64
}

// readThreads reads every thread of pid; an error if schedstat is missing.
func readThreads(pid string) ([]threadStat, error) {
	dir := "/proc/" + pid + "/task"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []threadStat
	for _, e := range entries {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread ended meanwhile
			}
			return nil, err
		}
		f := strings.Fields(string(b))
		if len(f) < 1 {
			return nil, errors.New("malformed schedstat")
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, errors.New("malformed schedstat")
		}
		t := threadStat{TID: e.Name(), CPU: time.Duration(ns)}
		if st, err := os.ReadFile(dir + "/" + e.Name() + "/status"); err == nil {
			t.Voluntary = parseVoluntary(string(st))
		}
		out = append(out, t)
	}
	return out, nil
}

func parseVoluntary(status string) int64 {
	for line := range strings.SplitSeq(status, "\n") {
		if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// threadDelta is what each thread did between two readings, busiest
// first; threads that appeared in between count from zero.
func threadDelta(before, after []threadStat) []threadStat {
	prev := map[string]threadStat{}
	for _, t := range before {
		prev[t.TID] = t
	}
	var out []threadStat
	for _, t := range after {
		p := prev[t.TID]
		out = append(out, threadStat{TID: t.TID, CPU: t.CPU - p.CPU, Voluntary: t.Voluntary - p.Voluntary})
	}
	slices.SortFunc(out, func(a, b threadStat) int { return cmp.Compare(b.CPU, a.CPU) })
	return out
}
