package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeCgroupRoot is a directory shaped like a cgroup v1 cpu controller's
// root; the kernel creates a group's files on mkdir, so the fake has the
// test create them.
func fakeCgroupRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range map[string]string{"cpu.cfs_quota_us": "-1\n", "cpu.cfs_period_us": "100000\n", "cgroup.procs": ""} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCPULimitWritesQuotaAndPid(t *testing.T) {
	root := fakeCgroupRoot(t)
	dir := filepath.Join(root, "g")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cpu.cfs_quota_us", "cpu.cfs_period_us", "cgroup.procs", "cpu.stat"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := newCPULimit(root, "g", 128.0/lambdaMBPerVCPU, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.period != 100*time.Millisecond || c.quota != 7235*time.Microsecond {
		t.Errorf("period %v quota %v; want 100ms and 7.235ms (128/1769 of it)", c.period, c.quota)
	}
	for name, want := range map[string]string{"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "7235"} {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != want {
			t.Errorf("%s = %q, want %q", name, b, want)
		}
	}
	if err := c.add("4242"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); string(b) != "4242" {
		t.Errorf("cgroup.procs = %q, want the pid", b)
	}
	if err := os.WriteFile(filepath.Join(dir, "cpu.stat"), []byte("nr_periods 30\nnr_throttled 4\nthrottled_time 250000000\nnr_bursts 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := c.stat()
	if err != nil || st != (throttling{30, 4, 250 * time.Millisecond}) {
		t.Errorf("stat = %+v, %v", st, err)
	}
	// A period of its own, and the kernel's 1 ms floor on quotas.
	c, err = newCPULimit(root, "g", 0.001, 20*time.Millisecond)
	if err != nil || c.quota != time.Millisecond {
		t.Errorf("tiny share: quota %v, %v; want the 1ms floor", c, err)
	}
}

func TestCPULimitSkipsWithoutController(t *testing.T) {
	_, err := newCPULimit(filepath.Join(t.TempDir(), "nothing"), "g", 0.1, 0)
	var no *errNoCgroup
	if !errors.As(err, &no) || !strings.Contains(no.why, "no cgroup v1 cpu controller") {
		t.Errorf("err = %v, want errNoCgroup naming the missing controller", err)
	}
	if _, err := newCPULimit(fakeCgroupRoot(t), "g", 0, 0); err == nil || errors.As(err, &no) {
		t.Errorf("share 0: err = %v, want a plain error", err)
	}
}

func TestParseCPUStat(t *testing.T) {
	if _, err := parseCPUStat("nr_periods 1\n"); err == nil {
		t.Error("incomplete cpu.stat: want an error")
	}
	a := throttling{10, 2, time.Second}
	if d := a.sub(throttling{4, 1, 300 * time.Millisecond}); d != (throttling{6, 1, 700 * time.Millisecond}) {
		t.Errorf("sub = %+v", d)
	}
}

func TestCapacityAndGuide(t *testing.T) {
	s := CPUShareSize{MemoryMB: 128, Share: 0.0725}
	full := &CPUShareStep{Deltas: 1000, CPU: 10 * time.Millisecond}
	if got := s.capacity(full); got < 7249 || got > 7251 {
		t.Errorf("capacity = %v, want 7250 (7.25%% of a CPU at 10 µs a delta)", got)
	}
	if s.capacity(nil) != 0 || s.capacity(&CPUShareStep{}) != 0 {
		t.Error("capacity of nothing should be 0")
	}
	rep := &CPUShareReport{Sizes: []CPUShareSize{{MemoryMB: 512, Sustained: 1600}, {MemoryMB: 128, Sustained: 200}}}
	for rate, want := range map[float64]int{50: 128, 200: 128, 400: 512, 3200: 0} {
		if got := rep.smallestSizeFor(rate); got != want {
			t.Errorf("smallestSizeFor(%g) = %d, want %d", rate, got, want)
		}
	}
}

func TestConfigs(t *testing.T) {
	for name, c := range map[string]Config{"default": DefaultConfig(), "short": ShortConfig()} {
		if err := c.validate(); err != nil {
			t.Errorf("%s config: %v", name, err)
		}
	}
	bad := DefaultConfig()
	bad.CPUShareSizes = []int{64}
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "64 MB") {
		t.Errorf("64 MB: err = %v", err)
	}
	bad = DefaultConfig()
	bad.LambdaGODEBUG = "a=1 b=2"
	if err := bad.validate(); err == nil {
		t.Error("GODEBUG with a space: want an error")
	}
	if !wantsShort([]string{"-only", "latency", "-short"}) || wantsShort([]string{"-out", "-"}) || wantsShort([]string{"--", "-short"}) {
		t.Error("wantsShort")
	}
	if got, err := parseInts(" 128, 256 ,"); err != nil || len(got) != 2 || got[1] != 256 {
		t.Errorf("parseInts = %v, %v", got, err)
	}
	if _, err := parseInts("128,big"); err == nil {
		t.Error("parseInts accepted a word")
	}
}

func TestThreadDelta(t *testing.T) {
	before := []threadStat{{"1", time.Second, 10}, {"2", 2 * time.Second, 5}}
	after := []threadStat{{"1", 3 * time.Second, 16}, {"2", 2500 * time.Millisecond, 6}, {"3", 100 * time.Millisecond, 1}}
	d := threadDelta(before, after)
	if len(d) != 3 || d[0].TID != "1" || d[0].CPU != 2*time.Second || d[0].Voluntary != 6 || d[1].TID != "2" || d[2].CPU != 100*time.Millisecond {
		t.Errorf("threadDelta = %+v", d)
	}
	if got := parseVoluntary("Name:\tx\nvoluntary_ctxt_switches:\t42\nnonvoluntary_ctxt_switches:\t7\n"); got != 42 {
		t.Errorf("parseVoluntary = %d", got)
	}
	if cpu, err := procCPUPrecise("self"); err != nil || cpu <= 0 {
		t.Errorf("procCPUPrecise(self) = %v, %v", cpu, err)
	}
}

// TestTinyCPUShare runs section 7 small against the real cgroup
// controller, where this machine has one (root, cgroup v1): the bootstrap
// must end up throttled by the group, measured and reported. Verdicts
// depend on the machine's load and are not asserted.
func TestTinyCPUShare(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bootstrap under localgw")
	}
	if _, err := newCPULimit(cpuCgroupRoot, "streamgate-bench-probe", 0.5, 0); err != nil {
		t.Skipf("no usable cgroup here: %v", err)
	}
	_ = os.Remove(filepath.Join(cpuCgroupRoot, "streamgate-bench-probe"))
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Root = root
	cfg.Sections = map[string]bool{"cpushare": true}
	cfg.CPUShareSizes, cfg.CPUShareStep, cfg.CPUShareMaxRate, cfg.CPUShareFullDeltas = []int{128}, 500*time.Millisecond, 50, 1000
	rep := mustRun(t, cfg)
	c := rep.CPUShare
	if c == nil || c.Skipped != "" || len(c.Sizes) != 1 {
		t.Fatalf("cpushare report = %+v", c)
	}
	s := c.Sizes[0]
	if len(s.Steps) == 0 || s.Steps[0].Rate != 50 || s.Steps[0].Deltas != 400 || s.Steps[0].CPU <= 0 || s.Steps[0].Throttling.Periods <= 0 {
		t.Errorf("first step = %+v; want 400 deltas at 50/s, CPU measured and CFS periods counted", s.Steps)
	}
	if s.Full == nil || s.Full.Deltas != 1000 || s.Full.CPU <= 0 || s.Full.Throughput <= 0 {
		t.Errorf("full speed = %+v; want 1,000 deltas, CPU and throughput measured", s.Full)
	}
	entries, _ := os.ReadDir(cpuCgroupRoot)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "streamgate-bench-"+itoa(os.Getpid())) {
			t.Errorf("cgroup %s left behind", e.Name())
		}
	}
	if md := rep.Markdown(); !strings.Contains(md, "## 7. Memory-size guide") || !strings.Contains(md, "| 128 MB | 50 | 400 |") {
		t.Errorf("markdown lacks section 7:\n%s", md)
	}
}
