package streamtest

import (
	"runtime"
	"testing"
	"time"
)

// PerDelta runs stream (one whole stream of deltas deltas) b.N times and
// reports time, bytes and allocations per delta as well as per stream; an
// error from stream fails the benchmark.
func PerDelta(b *testing.B, deltas int, stream func() error) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	n := 0
	for b.Loop() {
		if err := stream(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	total := float64(n * deltas)
	b.ReportMetric(float64(elapsed.Nanoseconds())/total, "ns/delta")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/delta")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/total, "B/delta")
}
