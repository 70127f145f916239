package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cpuCgroupRoot is where the cgroup v1 cpu controller is mounted on these
// machines.
const cpuCgroupRoot = "/sys/fs/cgroup/cpu"

// lambdaMBPerVCPU is Lambda's memory per full vCPU (DESIGN §6): a function
// gets memory_MB / 1769 of one CPU.
const lambdaMBPerVCPU = 1769

// cpuLimit is a cgroup of the v1 cpu controller with a CFS quota: the
// processes in it get at most quota of CPU time per period, as a Lambda
// function gets its memory-sized share of a vCPU.
type cpuLimit struct {
	dir           string
	period, quota time.Duration
}

// errNoCgroup says why the CPU-share benchmark cannot run here.
type errNoCgroup struct{ why string }

func (e *errNoCgroup) Error() string { return e.why }

// newCPULimit creates the group name under root with share of one CPU per
// period (0 → the controller's own period, 100 ms by default).
func newCPULimit(root, name string, share float64, period time.Duration) (*cpuLimit, error) {
	if share <= 0 || share > 64 {
		return nil, fmt.Errorf("CPU share %g out of range", share)
	}
	if _, err := os.Stat(filepath.Join(root, "cpu.cfs_quota_us")); err != nil {
		return nil, &errNoCgroup{fmt.Sprintf("no cgroup v1 cpu controller at %s (%v)", root, err)}
	}
	if period <= 0 {
		us, err := readInt(filepath.Join(root, "cpu.cfs_period_us"))
		if err != nil {
			return nil, &errNoCgroup{fmt.Sprintf("cannot read %s/cpu.cfs_period_us: %v", root, err)}
		}
		period = time.Duration(us) * time.Microsecond
	}
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, &errNoCgroup{fmt.Sprintf("cannot create a cgroup under %s (needs root and a writable cgroup v1 cpu controller): %v", root, err)}
	}
	c := &cpuLimit{dir: dir, period: period, quota: time.Duration(float64(period) * share)}
	// The files count in microseconds; the kernel refuses quotas under 1 ms.
	c.quota = max(c.quota.Truncate(time.Microsecond), time.Millisecond)
	err := writeFile(filepath.Join(dir, "cpu.cfs_period_us"), strconv.FormatInt(c.period.Microseconds(), 10))
	if err == nil {
		err = writeFile(filepath.Join(dir, "cpu.cfs_quota_us"), strconv.FormatInt(c.quota.Microseconds(), 10))
	}
	if err != nil {
		_ = os.Remove(dir)
		return nil, &errNoCgroup{fmt.Sprintf("cannot set the CFS quota in %s: %v", dir, err)}
	}
	return c, nil
}

// add moves a process, with all its threads, into the group, and checks
// that the kernel lists it there (/proc/PID/cgroup).
func (c *cpuLimit) add(pid string) error {
	if err := writeFile(filepath.Join(c.dir, "cgroup.procs"), pid); err != nil {
		return err
	}
	return c.holds(pid)
}

// holds says whether pid is in the group, per /proc/PID/cgroup (cgroup v1
// lines are "ID:controllers:path"). Outside a real cgroup file system
// (tests) there is no such line to check, and it says yes.
func (c *cpuLimit) holds(pid string) error {
	rel, ok := strings.CutPrefix(c.dir, cpuCgroupRoot)
	if !ok {
		return nil
	}
	b, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		return err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "cpu") && f[2] == rel {
			return nil
		}
	}
	return fmt.Errorf("process %s is not in %s after the move: %s", pid, c.dir, strings.TrimSpace(string(b)))
}

// throttling is the group's cpu.stat: CFS periods in which it had work,
// how many of them ran out of quota, and the time it spent throttled.
type throttling struct {
	Periods, Throttled int64
	Time               time.Duration
}

func (t throttling) sub(u throttling) throttling {
	return throttling{t.Periods - u.Periods, t.Throttled - u.Throttled, t.Time - u.Time}
}

func (c *cpuLimit) stat() (throttling, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "cpu.stat"))
	if err != nil {
		return throttling{}, err
	}
	return parseCPUStat(string(b))
}

func parseCPUStat(s string) (throttling, error) {
	var t throttling
	seen := 0
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "nr_periods":
			t.Periods, seen = n, seen+1
		case "nr_throttled":
			t.Throttled, seen = n, seen+1
		case "throttled_time":
			t.Time, seen = time.Duration(n), seen+1
		}
	}
	if seen < 3 {
		return t, errors.New("malformed cpu.stat")
	}
	return t, nil
}

// close moves whatever is still in the group back to the root and
// removes the group. The group's processes have normally exited already.
func (c *cpuLimit) close() error {
	if b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs")); err == nil {
		for pid := range strings.FieldsSeq(string(b)) {
			_ = writeFile(filepath.Join(filepath.Dir(c.dir), "cgroup.procs"), pid)
		}
	}
	// A process that just exited may still be listed for a moment.
	var err error
	for range 50 {
		if err = os.Remove(c.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("removing %s: %w", c.dir, err)
}

// removeStaleGroups removes empty groups an interrupted earlier run of the
// benchmark left behind (their names start with prefix and carry the pid
// of a process that no longer exists).
func removeStaleGroups(root, prefix string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !e.IsDir() || !ok {
			continue
		}
		owner, _, _ := strings.Cut(rest, "-")
		if _, err := os.Stat("/proc/" + owner); err == nil {
			continue // its run is still going
		}
		_ = os.Remove(filepath.Join(root, e.Name())) // fails, harmlessly, if not empty
	}
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func writeFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
