package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustRun(t *testing.T, ctx context.Context, cfg Config, progress io.Writer) Result {
	t.Helper()
	res, err := Run(ctx, cfg, progress)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// closedPortURL returns a loopback URL on which nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/stream"
}

func TestRunClassifiesEachOutcome(t *testing.T) {
	t.Parallel()
	const gap = 5 * time.Millisecond
	tests := []struct {
		name    string
		handler http.Handler // nil: nothing listens
		format  string
		// want, for every stream
		complete   bool
		reason     string
		status     int
		errorCode  string
		errorHas   string
		deltas     int
		stopReason string
	}{
		{name: "sse done", handler: sseHandler(sseSpec{deltas: 3, gap: gap, keepAlive: true}),
			complete: true, status: 200, deltas: 3, stopReason: "end_turn"},
		{name: "sse error event", handler: sseHandler(sseSpec{deltas: 2, gap: gap, end: endError}),
			reason: ReasonErrorEvent, status: 200, errorCode: "model_stream_error", errorHas: "the model failed", deltas: 2},
		{name: "sse ends without done", handler: sseHandler(sseSpec{deltas: 2, gap: gap, end: endNoDone}),
			reason: ReasonMissingDone, status: 200, deltas: 2},
		{name: "sse ends inside the done event", handler: sseHandler(sseSpec{deltas: 2, gap: gap, end: endCutDone}),
			reason: ReasonMissingDone, status: 200, deltas: 2},
		{name: "sse connection aborted mid-body", handler: sseHandler(sseSpec{deltas: 2, gap: gap, end: endAbort}),
			reason: ReasonTransport, status: 200, deltas: 2},
		{name: "sse aborted after done", handler: sseHandler(sseSpec{deltas: 2, gap: gap, end: endDoneAbort}),
			reason: ReasonTransport, status: 200, deltas: 2, stopReason: "end_turn"},
		{name: "sse answered as text", handler: textHandler(3, gap, false),
			reason: ReasonProtocol, status: 200, errorHas: "text/plain"},
		{name: "sse delta that is not JSON", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "event: delta\ndata: word\n\nevent: done\ndata: {}\n\n")
		}), reason: ReasonProtocol, status: 200, errorHas: "delta event"},
		{name: "429 before the stream", handler: jsonErrorHandler(http.StatusTooManyRequests, "throttled"),
			reason: ReasonStatus, status: 429, errorCode: "throttled", errorHas: "Retry-After: 1"},
		{name: "redirect is not followed", handler: http.RedirectHandler("/elsewhere", http.StatusFound),
			reason: ReasonStatus, status: 302},
		{name: "nothing listens", reason: ReasonTransport, status: 0, errorHas: "connect"},
		{name: "text ends cleanly", handler: textHandler(4, gap, false), format: FormatText,
			complete: true, status: 200},
		{name: "text connection aborted", handler: textHandler(4, gap, true), format: FormatText,
			reason: ReasonTransport, status: 200, errorHas: "unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := ""
			if tc.handler == nil {
				url = closedPortURL(t)
			} else {
				url = newPeer(t, tc.handler).url()
			}
			cfg := testConfig(url, 2)
			cfg.Format = tc.format
			res := mustRun(t, t.Context(), cfg, nil)
			if len(res.Streams) != 2 {
				t.Fatalf("got %d stream results, want 2", len(res.Streams))
			}
			for _, st := range res.Streams {
				if st.Complete != tc.complete || st.Reason != tc.reason || st.Status != tc.status {
					t.Errorf("stream %d: complete %v reason %q status %d, want %v %q %d (error %q)",
						st.ID, st.Complete, st.Reason, st.Status, tc.complete, tc.reason, tc.status, st.Error)
				}
				if st.ErrorCode != tc.errorCode {
					t.Errorf("stream %d: errorCode %q, want %q", st.ID, st.ErrorCode, tc.errorCode)
				}
				if !strings.Contains(st.Error, tc.errorHas) {
					t.Errorf("stream %d: error %q does not contain %q", st.ID, st.Error, tc.errorHas)
				}
				if st.Deltas != tc.deltas || st.StopReason != tc.stopReason {
					t.Errorf("stream %d: deltas %d stopReason %q, want %d %q", st.ID, st.Deltas, st.StopReason, tc.deltas, tc.stopReason)
				}
			}
			s := res.Summary
			wantComplete := 0
			wantReasons := map[string]int{}
			if tc.complete {
				wantComplete = 2
			} else {
				wantReasons[tc.reason] = 2
			}
			if s.Complete != wantComplete || s.OK() != tc.complete {
				t.Errorf("summary: complete %d OK %v, want %d %v", s.Complete, s.OK(), wantComplete, tc.complete)
			}
			if diff := cmp.Diff(wantReasons, s.IncompleteByReason); diff != "" {
				t.Errorf("incompleteByReason (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[int]int{tc.status: 2}, s.Statuses); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunCountsSSEDetails(t *testing.T) {
	t.Parallel()
	p := newPeer(t, sseHandler(sseSpec{deltas: 4, gap: 2 * time.Millisecond, keepAlive: true}))
	res := mustRun(t, t.Context(), testConfig(p.url(), 1), nil)
	st := res.Streams[0]
	if !st.Complete {
		t.Fatalf("stream incomplete: %s: %s", st.Reason, st.Error)
	}
	if st.RequestID != "req-1" || st.OutputTokens != 40 || st.KeepAlives != 1 {
		t.Errorf("requestId %q outputTokens %d keepAlives %d, want req-1 40 1", st.RequestID, st.OutputTokens, st.KeepAlives)
	}
	if want := int64(len("word1 ") * 4); st.TextBytes != want {
		t.Errorf("textBytes %d, want %d", st.TextBytes, want)
	}
	if st.Bytes <= st.TextBytes || st.Chunks < 2 {
		t.Errorf("bytes %d chunks %d: want more bytes than text and several chunks", st.Bytes, st.Chunks)
	}
}

func TestRunMeasuresGapsAndFirstBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    sseSpec
		largest time.Duration // the largest silence the server makes
	}{
		{name: "even gaps", spec: sseSpec{deltas: 5, gap: 60 * time.Millisecond}, largest: 60 * time.Millisecond},
		// A single stall among short gaps: the maximum must find it (a mean
		// or a last gap would not).
		{name: "one stall", spec: sseSpec{deltas: 6, gap: 10 * time.Millisecond, stallBefore: 3, stall: 250 * time.Millisecond},
			largest: 260 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPeer(t, sseHandler(tc.spec))
			res := mustRun(t, t.Context(), testConfig(p.url(), 1), nil)
			st := res.Streams[0]
			if !st.Complete {
				t.Fatalf("stream incomplete: %s: %s", st.Reason, st.Error)
			}
			if st.MaxGap.D() < tc.largest/2 {
				t.Errorf("max gap %v, want ≥ %v (half the server's largest gap %v)", st.MaxGap, tc.largest/2, tc.largest)
			}
			total := tc.spec.gap*time.Duration(tc.spec.deltas) + tc.spec.stall
			if st.MaxGap.D() > st.Duration.D()-(total-tc.largest)/2 {
				t.Errorf("max gap %v is not clearly below the duration %v", st.MaxGap, st.Duration)
			}
			if st.TTFB <= 0 || st.TTFB > st.FirstDelta || st.FirstDelta > st.Duration {
				t.Errorf("want 0 < ttfb %v ≤ first delta %v ≤ duration %v", st.TTFB, st.FirstDelta, st.Duration)
			}
			if st.FirstDelta.D() < tc.spec.gap {
				t.Errorf("first delta %v before the server sent it (after %v)", st.FirstDelta, tc.spec.gap)
			}
			if st.Chunks < tc.spec.deltas {
				t.Errorf("chunks %d, want ≥ %d: every flushed delta is a read", st.Chunks, tc.spec.deltas)
			}
			if s := res.Summary; s.MaxGap.N != 1 || s.MaxGap.Max != st.MaxGap || s.TTFB.Max != st.TTFB {
				t.Errorf("summary max gap %+v ttfb %+v do not match the stream", s.MaxGap, s.TTFB)
			}
		})
	}
}

func TestRunStreamsOverlap(t *testing.T) {
	t.Parallel()
	// Each stream lasts about 300 ms.
	p := newPeer(t, sseHandler(sseSpec{deltas: 6, gap: 50 * time.Millisecond}))
	res := mustRun(t, t.Context(), testConfig(p.url(), 20), nil)
	if !res.Summary.OK() {
		t.Fatalf("not all complete: %+v", res.Summary.IncompleteByReason)
	}
	var sum time.Duration
	for _, st := range res.Streams {
		sum += st.Duration.D()
	}
	elapsed := res.Summary.Elapsed.D()
	if elapsed > sum/4 {
		t.Errorf("elapsed %v for streams totalling %v: they did not run concurrently", elapsed, sum)
	}
	if res.Summary.PeakActive != 20 {
		t.Errorf("peak active %d, want 20", res.Summary.PeakActive)
	}
	if got := p.peakInflight(); got < 10 {
		t.Errorf("the server saw at most %d requests at once, want most of the 20", got)
	}
}

func TestRunRespectsConcurrency(t *testing.T) {
	t.Parallel()
	p := newPeer(t, sseHandler(sseSpec{deltas: 3, gap: 30 * time.Millisecond}))
	cfg := testConfig(p.url(), 6)
	cfg.Concurrency = 2
	res := mustRun(t, t.Context(), cfg, nil)
	if !res.Summary.OK() {
		t.Fatalf("not all complete: %+v", res.Summary.IncompleteByReason)
	}
	if got := p.peakInflight(); got != 2 {
		t.Errorf("the server saw %d requests at once, want 2", got)
	}
	if res.Summary.PeakActive != 2 || res.Config.Concurrency != 2 {
		t.Errorf("peak active %d, concurrency %d, want 2 and 2", res.Summary.PeakActive, res.Config.Concurrency)
	}
	var sum time.Duration
	for _, st := range res.Streams {
		sum += st.Duration.D()
	}
	// With at most 2 streams at a time inside the run, the run lasts at
	// least half their total.
	if elapsed := res.Summary.Elapsed.D(); 2*elapsed < sum {
		t.Errorf("elapsed %v < half the total %v: more than 2 ran at once", elapsed, sum)
	}
}

func TestRunRampSpreadsStarts(t *testing.T) {
	t.Parallel()
	p := newPeer(t, sseHandler(sseSpec{deltas: 1}))
	cfg := testConfig(p.url(), 4)
	cfg.Ramp = 400 * time.Millisecond
	res := mustRun(t, t.Context(), cfg, nil)
	if !res.Summary.OK() {
		t.Fatalf("not all complete: %+v", res.Summary.IncompleteByReason)
	}
	for i, st := range res.Streams {
		want := time.Duration(i) * 100 * time.Millisecond
		if st.ID != i || st.Start.D() < want || st.Start.D() > want+250*time.Millisecond {
			t.Errorf("stream %d (id %d) started at %v, want about %v", i, st.ID, st.Start, want)
		}
	}
}

func TestRunDurationCancelsInFlightStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                 string
		streams, concurrency int
		wantStarted          int
	}{
		{name: "all in flight", streams: 3, concurrency: 3, wantStarted: 3},
		{name: "some never start", streams: 5, concurrency: 2, wantStarted: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPeer(t, endlessSSE(20*time.Millisecond))
			cfg := testConfig(p.url(), tc.streams)
			cfg.Concurrency = tc.concurrency
			cfg.Duration = 300 * time.Millisecond
			begin := time.Now()
			res := mustRun(t, t.Context(), cfg, nil)
			if took := time.Since(begin); took > 3*time.Second {
				t.Errorf("Run took %v with -duration 300ms", took)
			}
			s := res.Summary
			if s.Started != tc.wantStarted || s.NotStarted != tc.streams-tc.wantStarted || s.OK() {
				t.Errorf("started %d not started %d OK %v, want %d %d false", s.Started, s.NotStarted, s.OK(), tc.wantStarted, tc.streams-tc.wantStarted)
			}
			if diff := cmp.Diff(map[string]int{ReasonDeadline: tc.wantStarted}, s.IncompleteByReason); diff != "" {
				t.Errorf("incompleteByReason (-want +got):\n%s", diff)
			}
			for _, st := range res.Streams {
				if st.Deltas == 0 || !strings.Contains(st.Error, "-duration") {
					t.Errorf("stream %d: deltas %d error %q: want a stream that was streaming and was cut by -duration", st.ID, st.Deltas, st.Error)
				}
			}
		})
	}
}

func TestRunStreamTimeout(t *testing.T) {
	t.Parallel()
	p := newPeer(t, endlessSSE(20*time.Millisecond))
	cfg := testConfig(p.url(), 2)
	cfg.Timeout = 200 * time.Millisecond
	begin := time.Now()
	res := mustRun(t, t.Context(), cfg, nil)
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("Run took %v with -timeout 200ms", took)
	}
	if diff := cmp.Diff(map[string]int{ReasonTimeout: 2}, res.Summary.IncompleteByReason); diff != "" {
		t.Errorf("incompleteByReason (-want +got):\n%s", diff)
	}
}

func TestRunCanceledByCaller(t *testing.T) {
	t.Parallel()
	p := newPeer(t, endlessSSE(20*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	res := mustRun(t, ctx, testConfig(p.url(), 2), nil)
	if diff := cmp.Diff(map[string]int{ReasonCanceled: 2}, res.Summary.IncompleteByReason); diff != "" {
		t.Errorf("incompleteByReason (-want +got):\n%s", diff)
	}
}

func TestRunSendsTheRequest(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, path, contentType, accept, apiKey, custom, host string
		body                                                    map[string]any
	}
	tests := []struct {
		name string
		cfg  func(url string) Config
		want seen
	}{
		{name: "sse with everything", cfg: func(url string) Config {
			c := testConfig(url, 1)
			c.Prompt, c.Model, c.MaxTokens = "hello", "emulator.steady-v1", 64
			c.Header = http.Header{"X-Api-Key": {"k1"}, "x-custom": {"v"}, "Host": {"gw.example"}}
			return c
		}, want: seen{method: "POST", path: "/stream", contentType: "application/json", accept: "text/event-stream",
			apiKey: "k1", custom: "v", host: "gw.example",
			body: map[string]any{"prompt": "hello", "modelId": "emulator.steady-v1", "maxTokens": float64(64)}}},
		{name: "text with defaults", cfg: func(url string) Config {
			c := testConfig(url, 1)
			c.Format = FormatText
			return c
		}, want: seen{method: "POST", path: "/stream", contentType: "application/json", accept: "text/plain",
			body: map[string]any{"prompt": DefaultPrompt}}},
		{name: "a header replaces a default", cfg: func(url string) Config {
			c := testConfig(url, 1)
			c.Format = FormatText
			c.Header = http.Header{"Accept": {"text/plain; charset=utf-8"}}
			return c
		}, want: seen{method: "POST", path: "/stream", contentType: "application/json", accept: "text/plain; charset=utf-8",
			body: map[string]any{"prompt": DefaultPrompt}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var got seen
			p := newPeer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				got = seen{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
					accept: r.Header.Get("Accept"), apiKey: r.Header.Get("X-Api-Key"), custom: r.Header.Get("X-Custom")}
				if r.Host != p0Host(r) {
					got.host = r.Host
				}
				if err := json.NewDecoder(r.Body).Decode(&got.body); err != nil {
					t.Errorf("request body: %v", err)
				}
				w.Header().Set("Content-Type", "text/plain")
			}))
			mustRun(t, t.Context(), tc.cfg(p.url()), nil)
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(seen{})); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// p0Host is the Host a request to the test server has when not overridden.
func p0Host(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return addr.String()
	}
	return ""
}

func TestRunProgress(t *testing.T) {
	t.Parallel()
	p := newPeer(t, sseHandler(sseSpec{deltas: 5, gap: 40 * time.Millisecond}))
	t.Run("every interval, then a final line", func(t *testing.T) {
		t.Parallel()
		var out lockedBuffer
		cfg := testConfig(p.url(), 2)
		cfg.Progress = 20 * time.Millisecond
		mustRun(t, t.Context(), cfg, &out)
		got := out.String()
		if n := strings.Count(got, "\r"); n < 4 {
			t.Errorf("%d progress lines in %q, want several", n, got)
		}
		if !strings.Contains(got, "\ractive 2 done 0 failed 0 bytes ") {
			t.Errorf("no line with both streams active in %q", got)
		}
		last := got[strings.LastIndex(got, "\r"):]
		if !strings.HasPrefix(last, "\ractive 0 done 2 failed 0 bytes ") || !strings.HasSuffix(last, "\n") || !strings.Contains(last, " elapsed ") {
			t.Errorf("final line %q, want the final counts ending with a newline", last)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		var out lockedBuffer
		mustRun(t, t.Context(), testConfig(p.url(), 1), &out)
		if out.String() != "" {
			t.Errorf("progress written with Progress 0: %q", out.String())
		}
	})
}

// lockedBuffer is a bytes.Buffer safe for the progress goroutine and the
// test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestResultJSONRoundTrips(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("/ok", sseHandler(sseSpec{deltas: 3, gap: 3 * time.Millisecond}))
	p := newPeer(t, mux)
	cfg := testConfig(p.URL+"/ok", 3)
	cfg.Model, cfg.MaxTokens, cfg.Ramp, cfg.Timeout = "emulator.steady-v1", 100, 30*time.Millisecond, 5*time.Second
	cfg.Header = http.Header{"X-Custom": {"a", "b"}}
	res := mustRun(t, t.Context(), cfg, nil)
	// And a failed stream, so that every field is exercised.
	res.Streams = append(res.Streams, StreamResult{ID: 3, Status: 429, Reason: ReasonStatus, ErrorCode: "throttled", Error: "HTTP 429", Duration: Millis(1234567)})

	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res, back); diff != "" {
		t.Errorf("JSON round trip (-before +after):\n%s", diff)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"config", "summary", "streams"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("no %q in the JSON document", k)
		}
	}
	if !bytes.Contains(b, []byte(`"ramp":"30ms"`)) || !bytes.Contains(b, []byte(`"durationMs":1.234567`)) {
		t.Errorf("durations not in their documented forms: %s", b)
	}
}

func TestConfigJSONRedactsSecrets(t *testing.T) {
	t.Parallel()
	cfg := Config{URL: "http://127.0.0.1:1/stream", Streams: 1, Duration: time.Second,
		Header: http.Header{"X-Api-Key": {"sekrit-1"}, "Authorization": {"Bearer sekrit-2"}, "X-Custom": {"visible"}}}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("sekrit")) || !bytes.Contains(b, []byte("visible")) || !bytes.Contains(b, []byte(Redacted)) {
		t.Errorf("config JSON %s: want secrets redacted, other headers kept", b)
	}
	if cfg.Header.Get("X-Api-Key") != "sekrit-1" {
		t.Errorf("marshalling changed the config's own header")
	}
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	_, err := Run(t.Context(), Config{URL: "http://127.0.0.1:1/stream", Streams: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "-duration") {
		t.Errorf("Run without a Duration: err %v, want one about -duration", err)
	}
}
