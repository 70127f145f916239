package main

import (
	"strconv"
	"strings"
)

// lambdaNonHeapReserve is memory a Lambda process needs outside what the
// Go runtime manages (and GOMEMLIMIT counts): the mapped binary (about
// 10 MiB), the kernel's share and the Runtime API's buffers.
const lambdaNonHeapReserve = 24 << 20

// lambdaMemoryLimit is the Go runtime's soft memory limit in Lambda mode:
// the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, MB) less
// lambdaNonHeapReserve, and never below half of it. Near the limit the
// garbage collector works harder instead of letting the heap grow past
// the function's memory, where Lambda would kill the process mid-stream.
// ok is false when GOMEMLIMIT is set (the runtime already applied it) or
// the size is missing or not a number. The limit does not change GC
// frequency for a streaming answer, whose live heap is a few MiB: one
// collection every few hundred deltas at the default GOGC, about 1% of
// the CPU per delta (scripts/bench, section 6).
func lambdaMemoryLimit(getenv func(string) string) (limit int64, ok bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	mb, err := strconv.ParseInt(strings.TrimSpace(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")), 10, 64)
	if err != nil || mb <= 0 || mb > 1<<20 {
		return 0, false
	}
	total := mb << 20
	return max(total-lambdaNonHeapReserve, total/2), true
}
