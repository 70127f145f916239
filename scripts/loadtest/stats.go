package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Millis is a duration that is written to JSON as a number of milliseconds
// (with a fraction, down to the nanosecond), so that the -json output can be
// read by jq or a spreadsheet without knowing Go's duration encoding. It
// reads back to the same duration exactly.
type Millis time.Duration

// D returns m as a time.Duration.
func (m Millis) D() time.Duration { return time.Duration(m) }

func (m Millis) String() string { return time.Duration(m).String() }

// MarshalJSON writes m as milliseconds.
func (m Millis) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(m)/1e6, 'f', -1, 64), nil
}

// UnmarshalJSON reads milliseconds.
func (m *Millis) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("milliseconds: %w", err)
	}
	*m = Millis(math.Round(f * 1e6))
	return nil
}

// Dist summarizes a distribution of per-stream values.
type Dist[T Millis | int64] struct {
	// N is how many streams the distribution covers; the other fields are
	// zero when it is 0.
	N   int `json:"n"`
	P50 T   `json:"p50"`
	P90 T   `json:"p90"`
	P99 T   `json:"p99"`
	Max T   `json:"max"`
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of values by the
// nearest-rank method: the smallest value such that at least p percent of
// the values are less than or equal to it. It is always one of the values,
// never an interpolation between two streams, so a p99 of 3.2s means some
// stream really took 3.2s. values must be sorted ascending; an empty slice
// gives the zero value.
func Percentile[T cmp.Ordered](sorted []T, p float64) T {
	var zero T
	if len(sorted) == 0 {
		return zero
	}
	// p×n/100 in that order, less a hair, so that 99.9% of 1000 is rank
	// 999 and not 1000 by a rounding error of the division.
	rank := int(math.Ceil(p*float64(len(sorted))/100 - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// distOf summarizes values (in any order; it is not modified).
func distOf[T Millis | int64](values []T) Dist[T] {
	s := slices.Clone(values)
	slices.Sort(s)
	d := Dist[T]{N: len(s)}
	if len(s) == 0 {
		return d
	}
	d.P50 = Percentile(s, 50)
	d.P90 = Percentile(s, 90)
	d.P99 = Percentile(s, 99)
	d.Max = s[len(s)-1]
	return d
}

// Summary is the aggregate of one run.
type Summary struct {
	StartedAt time.Time `json:"startedAt"`
	// Elapsed is the wall-clock time of the whole run.
	Elapsed Millis `json:"elapsedMs"`

	// Requested is Config.Streams. Started streams sent a request; the
	// others were never started because the run's -duration (or an
	// interrupt) came first, and count as a failure of the run too.
	Requested  int `json:"requested"`
	Started    int `json:"started"`
	NotStarted int `json:"notStarted"`
	Complete   int `json:"complete"`
	Incomplete int `json:"incomplete"`
	// CompletePercent is Complete out of Requested.
	CompletePercent float64 `json:"completePercent"`
	// IncompleteByReason counts the incomplete streams by Reason.
	IncompleteByReason map[string]int `json:"incompleteByReason"`
	// Statuses counts HTTP statuses; 0 is "no response".
	Statuses map[int]int `json:"statuses"`
	// PeakActive is the largest number of streams in flight at once.
	PeakActive int `json:"peakActive"`

	// TTFB, FirstDelta and MaxGap cover every stream that received a 2xx
	// response and at least one body byte, complete or not: a stream that
	// stalled and was cut is exactly where a long gap shows. Duration and
	// Bytes cover complete streams only, because the length of a cut stream
	// measures the cut, not the answer.
	TTFB       Dist[Millis] `json:"ttfbMs"`
	FirstDelta Dist[Millis] `json:"firstDeltaMs"`
	MaxGap     Dist[Millis] `json:"maxGapMs"`
	Duration   Dist[Millis] `json:"durationMs"`
	Bytes      Dist[int64]  `json:"bytes"`

	// Totals over all started streams, and the rate over Elapsed.
	TotalBytes   int64   `json:"totalBytes"`
	TotalChunks  int64   `json:"totalChunks"`
	TotalDeltas  int64   `json:"totalDeltas"`
	BytesPerSec  float64 `json:"bytesPerSec"`
	DeltasPerSec float64 `json:"deltasPerSec"`
}

// OK reports whether every requested stream started and completed; the
// command's exit status is zero exactly when it is true.
func (s Summary) OK() bool {
	return s.Requested > 0 && s.Complete == s.Requested
}

// summarize aggregates the started streams of a run.
func summarize(requested int, streams []StreamResult, startedAt time.Time, elapsed time.Duration, peak int) Summary {
	s := Summary{
		StartedAt:          startedAt,
		Elapsed:            Millis(elapsed),
		Requested:          requested,
		Started:            len(streams),
		NotStarted:         requested - len(streams),
		IncompleteByReason: map[string]int{},
		Statuses:           map[int]int{},
		PeakActive:         peak,
	}
	var ttfb, firstDelta, gap, dur []Millis
	var size []int64
	for _, st := range streams {
		s.Statuses[st.Status]++
		s.TotalBytes += st.Bytes
		s.TotalChunks += int64(st.Chunks)
		s.TotalDeltas += int64(st.Deltas)
		if st.Complete {
			s.Complete++
			dur = append(dur, st.Duration)
			size = append(size, st.Bytes)
		} else {
			s.Incomplete++
			s.IncompleteByReason[st.Reason]++
		}
		if st.Status/100 == 2 && st.Chunks > 0 {
			ttfb = append(ttfb, st.TTFB)
			gap = append(gap, st.MaxGap)
			if st.Deltas > 0 {
				firstDelta = append(firstDelta, st.FirstDelta)
			}
		}
	}
	if requested > 0 {
		s.CompletePercent = 100 * float64(s.Complete) / float64(requested)
	}
	s.TTFB, s.FirstDelta, s.MaxGap, s.Duration = distOf(ttfb), distOf(firstDelta), distOf(gap), distOf(dur)
	s.Bytes = distOf(size)
	if sec := elapsed.Seconds(); sec > 0 {
		s.BytesPerSec = float64(s.TotalBytes) / sec
		s.DeltasPerSec = float64(s.TotalDeltas) / sec
	}
	return s
}
