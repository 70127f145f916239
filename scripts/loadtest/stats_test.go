package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func seq(lo, hi int64) []int64 {
	var s []int64
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sorted []int64
		p      float64
		want   int64
	}{
		{"empty", nil, 50, 0},
		{"one value p50", []int64{7}, 50, 7},
		{"one value p99", []int64{7}, 99, 7},
		{"two values p50 is the lower", []int64{1, 2}, 50, 1},
		{"two values p51 is the upper", []int64{1, 2}, 51, 2},
		{"1..10 p50", seq(1, 10), 50, 5},
		{"1..10 p90", seq(1, 10), 90, 9},
		{"1..10 p99", seq(1, 10), 99, 10},
		{"1..10 p100", seq(1, 10), 100, 10},
		{"1..10 p1", seq(1, 10), 1, 1},
		{"1..100 p50", seq(1, 100), 50, 50},
		{"1..100 p90", seq(1, 100), 90, 90},
		{"1..100 p99", seq(1, 100), 99, 99},
		{"1..1000 p99", seq(1, 1000), 99, 990},
		{"1..1000 p99.9", seq(1, 1000), 99.9, 999},
		{"outlier shows at p99 of 100 only at rank 100", append(seq(1, 99), 1_000_000), 99, 99},
		{"outlier is the max", append(seq(1, 99), 1_000_000), 100, 1_000_000},
	}
	for _, tc := range tests {
		if got := Percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: Percentile(%d values, %v) = %d, want %d", tc.name, len(tc.sorted), tc.p, got, tc.want)
		}
	}
}

func TestDistOf(t *testing.T) {
	t.Parallel()
	in := []Millis{Millis(30 * time.Millisecond), Millis(10 * time.Millisecond), Millis(20 * time.Millisecond), Millis(40 * time.Millisecond)}
	want := Dist[Millis]{N: 4, P50: Millis(20 * time.Millisecond), P90: Millis(40 * time.Millisecond), P99: Millis(40 * time.Millisecond), Max: Millis(40 * time.Millisecond)}
	if diff := cmp.Diff(want, distOf(in)); diff != "" {
		t.Errorf("distOf (-want +got):\n%s", diff)
	}
	if in[0] != Millis(30*time.Millisecond) {
		t.Errorf("distOf sorted its input")
	}
	if diff := cmp.Diff(Dist[int64]{}, distOf[int64](nil)); diff != "" {
		t.Errorf("distOf(nil) (-want +got):\n%s", diff)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	ms := func(n int) Millis { return Millis(time.Duration(n) * time.Millisecond) }
	streams := []StreamResult{
		{ID: 0, Status: 200, Complete: true, TTFB: ms(10), FirstDelta: ms(15), MaxGap: ms(50), Duration: ms(1000), Bytes: 100, Chunks: 10, Deltas: 8},
		{ID: 1, Status: 200, Complete: true, TTFB: ms(20), FirstDelta: ms(25), MaxGap: ms(60), Duration: ms(2000), Bytes: 200, Chunks: 20, Deltas: 18},
		// Cut by the deadline after streaming: in ttfb and gap, not in
		// duration or bytes.
		{ID: 2, Status: 200, Reason: ReasonDeadline, TTFB: ms(30), FirstDelta: ms(35), MaxGap: ms(900), Duration: ms(5000), Bytes: 50, Chunks: 5, Deltas: 4},
		// A 429 has a body but did not stream: in no distribution.
		{ID: 3, Status: 429, Reason: ReasonStatus, TTFB: ms(1), Duration: ms(2), Bytes: 60, Chunks: 1},
		{ID: 4, Status: 0, Reason: ReasonTransport, Duration: ms(3)},
	}
	got := summarize(6, streams, time.Time{}, 2*time.Second, 4)
	want := Summary{
		Elapsed:   ms(2000),
		Requested: 6, Started: 5, NotStarted: 1, Complete: 2, Incomplete: 3,
		CompletePercent:    100 * 2.0 / 6,
		IncompleteByReason: map[string]int{ReasonDeadline: 1, ReasonStatus: 1, ReasonTransport: 1},
		Statuses:           map[int]int{200: 3, 429: 1, 0: 1},
		PeakActive:         4,
		TTFB:               Dist[Millis]{N: 3, P50: ms(20), P90: ms(30), P99: ms(30), Max: ms(30)},
		FirstDelta:         Dist[Millis]{N: 3, P50: ms(25), P90: ms(35), P99: ms(35), Max: ms(35)},
		MaxGap:             Dist[Millis]{N: 3, P50: ms(60), P90: ms(900), P99: ms(900), Max: ms(900)},
		Duration:           Dist[Millis]{N: 2, P50: ms(1000), P90: ms(2000), P99: ms(2000), Max: ms(2000)},
		Bytes:              Dist[int64]{N: 2, P50: 100, P90: 200, P99: 200, Max: 200},
		TotalBytes:         410, TotalChunks: 36, TotalDeltas: 30,
		BytesPerSec: 205, DeltasPerSec: 15,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarize (-want +got):\n%s", diff)
	}
	if got.OK() {
		t.Errorf("OK() with incomplete streams")
	}
	all := summarize(1, streams[:1], time.Time{}, time.Second, 1)
	if !all.OK() {
		t.Errorf("OK() false with every stream complete")
	}
}

func TestMillisJSON(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, 1, 999, time.Microsecond, 1234567, time.Second, 95*time.Second + 123456789, 24 * time.Hour} {
		b, err := json.Marshal(Millis(d))
		if err != nil {
			t.Fatal(err)
		}
		var back Millis
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.D() != d {
			t.Errorf("%v → %s → %v", d, b, back.D())
		}
	}
	if b, _ := json.Marshal(Millis(1500 * time.Microsecond)); string(b) != "1.5" {
		t.Errorf("1.5ms marshals as %s, want 1.5", b)
	}
}
