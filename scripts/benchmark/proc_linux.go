//go:build linux

package main

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes a child die with the benchmark, so that an
// interrupted run leaves no bootstrap or emulator behind.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

func getNOFILE() (soft, hard uint64, err error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, err
	}
	return r.Cur, r.Max, nil
}

// raiseNOFILE raises the soft open-files limit to the hard one: the
// concurrency run holds one client connection per stream in this process
// (the Go runtime does this at start too, but say it, and report it).
func raiseNOFILE() (soft, hard uint64, err error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, err
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return 0, 0, err
		}
	}
	return getNOFILE()
}
