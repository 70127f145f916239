package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/streamgate/streamgate/streaming/emulator"
)

// MemoryReport is section 4.
type MemoryReport struct {
	LongDuration time.Duration
	IdleHWM      int64 // VmHWM after start, before any request
	PeakHWM      int64 // VmHWM after the stream
	AfterRSS     int64 // VmRSS after the stream
	Bytes        int64 // SSE bytes the client read
	Deltas       int
	StreamTime   time.Duration
	CPU          time.Duration // bootstrap CPU over the stream
}

// runMemory streams one emulator.long-v1 answer (about 52 KB, over
// cfg.LongDuration) through a fresh local-mode bootstrap and reads its
// peak RSS.
func runMemory(ctx context.Context, cfg Config) (*MemoryReport, error) {
	rep := &MemoryReport{LongDuration: cfg.LongDuration}
	emu, err := startInProcessEmulator(emulator.Options{LongDuration: cfg.LongDuration})
	if err != nil {
		return nil, err
	}
	defer emu.Close()
	bs, err := startLocal(ctx, cfg.LocalBootstrap, emu.URL)
	if err != nil {
		return nil, err
	}
	defer bs.stop()
	pid := strconv.Itoa(bs.Pid)
	m, err := readProcStatus(pid)
	if err != nil {
		return nil, err
	}
	rep.IdleHWM = m.HWM
	cpu0, err := procCPU(pid)
	if err != nil {
		return nil, err
	}

	cfg.logf("memory: one %s stream over %v", longModel, cfg.LongDuration)
	client := newHTTPClient(1)
	defer client.CloseIdleConnections()
	sctx, cancel := context.WithTimeout(ctx, cfg.LongDuration+60*time.Second)
	t0 := time.Now()
	r := readSSE(sctx, client, bs.URL+"/stream", requestBody(longModel, 0, 0), false, 0)
	rep.StreamTime = time.Since(t0)
	cancel()
	if !r.ok(0) {
		return nil, fmt.Errorf("the long stream failed: %s\n%s", r.describe(0), bs.tail)
	}
	rep.Bytes, rep.Deltas = r.bytes, r.deltas
	cpu1, err := procCPU(pid)
	if err != nil {
		return nil, err
	}
	rep.CPU = cpu1 - cpu0
	m, err = readProcStatus(pid)
	if err != nil {
		return nil, err
	}
	rep.PeakHWM, rep.AfterRSS = m.HWM, m.RSS
	cfg.logf("memory: VmHWM %s idle, %s after %d deltas (%s)", fmtBytes(rep.IdleHWM), fmtBytes(rep.PeakHWM), rep.Deltas, fmtBytes(rep.Bytes))
	return rep, nil
}
