package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/streamgate/streamgate/streaming/streamtest"
)

// sseStream is a gateway SSE answer of n timestamp-v1 deltas stamped
// stamp, stamp+1, ..., as one slice per event (one Read each, as the
// gateway flushes them).
func sseStream(n int, stamp int64) [][]byte {
	events := [][]byte{[]byte("event: start\ndata: {\"requestId\":\"r\",\"modelId\":\"emulator.timestamp-v1\"}\n\n")}
	for i := range n {
		events = append(events, fmt.Appendf(nil, "event: delta\ndata: {\"text\":\"t%d \"}\n\n", stamp+int64(i)))
	}
	return append(events, []byte("event: done\ndata: {\"stopReason\":\"max_tokens\"}\n\n"))
}

// eventReader returns one event per Read and allocates nothing, so that
// what an allocation count sees is the SSE reader's.
type eventReader struct {
	events    [][]byte
	next, off int
}

func (r *eventReader) Read(p []byte) (int, error) {
	if r.next == len(r.events) {
		return 0, io.EOF
	}
	n := copy(p, r.events[r.next][r.off:])
	r.off += n
	if r.off == len(r.events[r.next]) {
		r.next, r.off = r.next+1, 0
	}
	return n, nil
}

func joined(events [][]byte) string {
	var b strings.Builder
	for _, e := range events {
		b.Write(e)
	}
	return b.String()
}

func TestReadSSEBody(t *testing.T) {
	t.Parallel()
	const stamp = int64(1_700_000_000_000_000_000)
	three := joined(sseStream(3, stamp))
	for _, tc := range []struct {
		name   string
		body   io.Reader
		stamps bool
		want   int
		check  func(t *testing.T, r streamResult)
	}{
		{name: "three stamped deltas", body: strings.NewReader(three), stamps: true, want: 3,
			check: func(t *testing.T, r streamResult) {
				if !r.ok(3) || r.bytes != int64(len(three)) || r.ttfb <= 0 {
					t.Errorf("ok %v (%s), %d bytes (want %d), ttfb %v", r.ok(3), r.describe(3), r.bytes, len(three), r.ttfb)
				}
				if len(r.stamps) != 3 || r.stamps[0] != stamp || r.stamps[2] != stamp+2 || len(r.lat) != 3 {
					t.Errorf("stamps %v, %d latencies", r.stamps, len(r.lat))
				}
			}},
		{name: "one event a read", body: &eventReader{events: sseStream(50, stamp)}, stamps: true, want: 50,
			check: func(t *testing.T, r streamResult) {
				if !r.ok(50) || len(r.lat) != 50 {
					t.Errorf("%s, %d latencies", r.describe(50), len(r.lat))
				}
			}},
		{name: "CRLF and a keep-alive", body: strings.NewReader(strings.ReplaceAll(
			"event: start\ndata: {}\n\n: keep-alive\n\nevent: delta\ndata: {\"text\":\"a\"}\n\nevent: done\ndata: {}\n\n", "\n", "\r\n")),
			check: func(t *testing.T, r streamResult) {
				if !r.ok(1) {
					t.Errorf("%s", r.describe(1))
				}
			}},
		{name: "error event", body: strings.NewReader("event: delta\ndata: {\"text\":\"a\"}\n\nevent: error\ndata: {\"code\":\"upstream_failed\"}\n\n"),
			check: func(t *testing.T, r streamResult) {
				if r.errEvent != `{"code":"upstream_failed"}` || r.deltas != 1 || r.done || r.ok(0) {
					t.Errorf("errEvent %q, %d deltas, done %v", r.errEvent, r.deltas, r.done)
				}
			}},
		{name: "not a stamp", body: strings.NewReader("event: delta\ndata: {\"text\":\"hello\"}\n\n"), stamps: true, want: 1,
			check: func(t *testing.T, r streamResult) {
				if r.err == nil || !strings.Contains(r.err.Error(), "not a timestamp-v1 delta") {
					t.Errorf("err %v", r.err)
				}
			}},
		{name: "clean end without done", body: strings.NewReader("event: delta\ndata: {\"text\":\"a\"}\n\n"),
			check: func(t *testing.T, r streamResult) {
				if r.err != nil || r.done || r.ok(0) || r.describe(0) != "ended without done after 1 deltas" {
					t.Errorf("err %v, done %v: %s", r.err, r.done, r.describe(0))
				}
			}},
		{name: "ends inside an event", body: strings.NewReader("event: delta\ndata: {\"text\":\"a\"}\n\nevent: done\ndata: {"),
			check: func(t *testing.T, r streamResult) {
				if r.err == nil || r.done {
					t.Errorf("err %v, done %v; want an error and no done", r.err, r.done)
				}
			}},
		{name: "read error before done", body: io.MultiReader(strings.NewReader("event: delta\ndata: {\"text\":\"a\"}\n\n"), iotest.ErrReader(io.ErrUnexpectedEOF)),
			check: func(t *testing.T, r streamResult) {
				if !errors.Is(r.err, io.ErrUnexpectedEOF) || r.deltas != 1 {
					t.Errorf("err %v, %d deltas", r.err, r.deltas)
				}
			}},
		{name: "read error after done", body: io.MultiReader(strings.NewReader(three), iotest.ErrReader(io.ErrUnexpectedEOF)), stamps: true, want: 3,
			check: func(t *testing.T, r streamResult) {
				if !r.ok(3) {
					t.Errorf("%s", r.describe(3))
				}
			}},
		{name: "longer than expected", body: strings.NewReader(joined(sseStream(3000, stamp))), stamps: true, want: 2,
			check: func(t *testing.T, r streamResult) {
				if r.err == nil || r.err.Error() != "stream longer than expected" || r.done {
					t.Errorf("err %v, done %v after %d deltas", r.err, r.done, r.deltas)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := streamResult{status: http.StatusOK} // readSSE sets it before the body
			readSSEBody(tc.body, &res, time.Now().Add(-time.Millisecond), tc.stamps, tc.want)
			tc.check(t, res)
		})
	}
}

// The benchmark client must not allocate per delta: its garbage would be
// collected on the cores the gateway under test runs on. A stream of 2,000
// deltas must cost what one of 20 costs (the per-stream buffers); the
// tolerance absorbs a stray allocation elsewhere in the process, and is
// far below one a delta.
func TestReadSSEBodyAllocatesNothingPerDelta(t *testing.T) {
	const short, long = 20, 2000
	allocs := func(n int) float64 {
		events := sseStream(n, 1_700_000_000_000_000_000)
		r := &eventReader{}
		return testing.AllocsPerRun(20, func() {
			r.events, r.next, r.off = events, 0, 0
			res := streamResult{status: http.StatusOK}
			readSSEBody(r, &res, time.Now(), true, n)
			if !res.ok(n) {
				t.Fatalf("%d deltas: %s", n, res.describe(n))
			}
		})
	}
	s, l := allocs(short), allocs(long)
	if perDelta := (l - s) / (long - short); perDelta > 0.05 {
		t.Errorf("%v allocations a stream of %d deltas, %v for %d: %.3f a delta, want 0", s, short, l, long, perDelta)
	}
	t.Logf("allocations per stream: %v (%d deltas), %v (%d deltas)", s, short, l, long)
}

// BenchmarkReadSSE measures the benchmark's own SSE client on a recorded
// answer delivered one event per Read, per delta.
//
// go test -run '^$' -bench ReadSSE -benchmem ./scripts/benchmark/
func BenchmarkReadSSE(b *testing.B) {
	const deltas = 1000
	events := sseStream(deltas, time.Now().UnixNano())
	r := &eventReader{}
	streamtest.PerDelta(b, deltas, func() error {
		r.events, r.next, r.off = events, 0, 0
		res := streamResult{status: http.StatusOK}
		readSSEBody(r, &res, time.Now(), true, deltas)
		if !res.ok(deltas) {
			return errors.New(res.describe(deltas))
		}
		return nil
	})
}
