package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WriteSummary writes the human summary of res: what was run, how many
// streams completed and why the others did not, the latency distributions
// and the totals.
func WriteSummary(w io.Writer, res Result) error {
	c, s := res.Config, res.Summary
	b := &strings.Builder{}
	fmt.Fprintf(b, "streamgate loadtest: %d streams, concurrency %d, ramp %v, format %s, POST %s\n",
		c.Streams, c.Concurrency, c.Ramp, c.Format, c.URL)
	fmt.Fprintf(b, "elapsed %s (limit %v), peak active %d\n\n", roundElapsed(s.Elapsed.D()), c.Duration, s.PeakActive)

	fmt.Fprintf(b, "streams     requested %d  started %d  complete %d (%.1f%%)  incomplete %d  not started %d\n",
		s.Requested, s.Started, s.Complete, s.CompletePercent, s.Incomplete, s.NotStarted)
	if len(s.IncompleteByReason) > 0 {
		fmt.Fprintf(b, "incomplete  %s\n", countsByKey(s.IncompleteByReason, func(k string) string { return k }))
	}
	if len(s.Statuses) > 0 {
		fmt.Fprintf(b, "statuses    %s\n", countsByKey(s.Statuses, func(k int) string {
			if k == 0 {
				return "no-response"
			}
			return strconv.Itoa(k)
		}))
	}
	if errs := topErrors(res.Streams, 5); len(errs) > 0 {
		fmt.Fprintf(b, "errors      %s\n", strings.Join(errs, "\n            "))
	}
	b.WriteString("\n")

	const row = "%-12s %5s %10s %10s %10s %10s\n"
	fmt.Fprintf(b, row, "", "n", "p50", "p90", "p99", "max")
	distRow := func(name string, n int, vals func() [4]string) {
		v := [4]string{"-", "-", "-", "-"}
		if n > 0 {
			v = vals()
		}
		fmt.Fprintf(b, row, name, strconv.Itoa(n), v[0], v[1], v[2], v[3])
	}
	durRow := func(name string, d Dist[Millis]) {
		distRow(name, d.N, func() [4]string { return [4]string{fmtDur(d.P50), fmtDur(d.P90), fmtDur(d.P99), fmtDur(d.Max)} })
	}
	durRow("ttfb", s.TTFB)
	if c.Format == FormatSSE {
		durRow("first delta", s.FirstDelta)
	}
	durRow("max gap", s.MaxGap)
	durRow("duration", s.Duration)
	distRow("bytes", s.Bytes.N, func() [4]string {
		d := s.Bytes
		return [4]string{humanBytes(float64(d.P50)), humanBytes(float64(d.P90)), humanBytes(float64(d.P99)), humanBytes(float64(d.Max))}
	})
	if c.Format == FormatSSE {
		b.WriteString("(ttfb, first delta, max gap: streams with a 2xx response and a body;\n duration, bytes: complete streams)\n\n")
	} else {
		b.WriteString("(ttfb, max gap: streams with a 2xx response and a body; duration, bytes: complete streams)\n\n")
	}

	if c.Format == FormatSSE {
		fmt.Fprintf(b, "totals      bytes %s  chunks %d  deltas %d\n", humanBytes(float64(s.TotalBytes)), s.TotalChunks, s.TotalDeltas)
		fmt.Fprintf(b, "throughput  %s/s  %.1f deltas/s\n", humanBytes(s.BytesPerSec), s.DeltasPerSec)
	} else {
		fmt.Fprintf(b, "totals      bytes %s  chunks %d\n", humanBytes(float64(s.TotalBytes)), s.TotalChunks)
		fmt.Fprintf(b, "throughput  %s/s\n", humanBytes(s.BytesPerSec))
	}
	if s.OK() {
		b.WriteString("result      OK: every stream complete\n")
	} else {
		fmt.Fprintf(b, "result      FAIL: %d of %d streams not complete\n", s.Requested-s.Complete, s.Requested)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// countsByKey formats a count map as "k ×n, k ×n", most frequent first.
func countsByKey[K cmp.Ordered](m map[K]int, name func(K) string) string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b K) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", name(k), m[k])
	}
	return strings.Join(parts, ", ")
}

// topErrors returns the n most frequent "reason: error" texts of the
// incomplete streams, with their counts: the first thing to look at when a
// run fails.
func topErrors(streams []StreamResult, n int) []string {
	counts := map[string]int{}
	for _, st := range streams {
		if !st.Complete {
			counts[st.Reason+": "+truncate(st.Error, 160)]++
		}
	}
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	out := []string{}
	for _, k := range keys[:min(n, len(keys))] {
		out = append(out, fmt.Sprintf("%d× %s", counts[k], k))
	}
	if len(keys) > n {
		out = append(out, fmt.Sprintf("(%d more kinds)", len(keys)-n))
	}
	return out
}

// fmtDur prints a duration with three significant digits or so: "850µs",
// "12.3ms", "1.24s", "1m35s".
func fmtDur(m Millis) string {
	d := m.D()
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < 10*time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// roundElapsed rounds a wall-clock time for display.
func roundElapsed(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// humanBytes prints a byte count in decimal units: "512B", "1.2KB", "3.4MB".
func humanBytes(n float64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%.0fB", n)
	}
	for _, u := range []string{"KB", "MB", "GB"} {
		n /= unit
		if n < unit {
			return fmt.Sprintf("%.1f%s", n, u)
		}
	}
	return fmt.Sprintf("%.1fTB", n/unit)
}
