package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// The peers below imitate streamgate's POST /stream on loopback
// (httptest.NewServer listens on 127.0.0.1 only). Every handler is bounded
// in count and time, and stops as soon as the client goes away.

// sseEnd is how a test SSE stream ends after its deltas.
type sseEnd int

const (
	endDone      sseEnd = iota // a done event, then a clean end of the body
	endError                   // an error event, then a clean end
	endNoDone                  // a clean end without a done event
	endAbort                   // the connection is aborted (no last chunk)
	endDoneAbort               // a done event, then the connection is aborted
	endCutDone                 // a done event without its blank line, then a clean end
)

// sseSpec describes one test SSE stream.
type sseSpec struct {
	deltas int
	gap    time.Duration // before each delta
	// stallBefore, when > 0, adds stall of silence before delta number
	// stallBefore (1-based).
	stallBefore int
	stall       time.Duration
	end         sseEnd
	keepAlive   bool // a ": keep-alive" comment before the first delta
}

// sleepCtx sleeps d or until the request's client is gone; it reports
// whether the client is still there.
func sleepCtx(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// sseHandler serves spec as streamgate's SSE format, flushing every event.
func sseHandler(spec sseSpec) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		fl := w.(http.Flusher)
		emit := func(s string) {
			_, _ = io.WriteString(w, s)
			fl.Flush()
		}
		emit("event: start\ndata: {\"requestId\":\"req-1\",\"modelId\":\"emulator.steady-v1\",\"maxTokens\":512}\n\n")
		if spec.keepAlive {
			emit(": keep-alive\n\n")
		}
		for i := 1; i <= spec.deltas; i++ {
			d := spec.gap
			if i == spec.stallBefore {
				d += spec.stall
			}
			if !sleepCtx(r, d) {
				return
			}
			emit(fmt.Sprintf("event: delta\ndata: {\"text\":\"word%d \"}\n\n", i))
		}
		const done = "event: done\ndata: {\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":3,\"outputTokens\":40,\"totalTokens\":43},\"timings\":{\"timeToFirstTokenMs\":20,\"durationMs\":800}}\n"
		switch spec.end {
		case endDone:
			emit(done + "\n")
		case endError:
			emit("event: error\ndata: {\"code\":\"model_stream_error\",\"message\":\"the model failed\",\"retryable\":false}\n\n")
		case endNoDone:
		case endAbort:
			panic(http.ErrAbortHandler)
		case endDoneAbort:
			emit(done + "\n")
			panic(http.ErrAbortHandler)
		case endCutDone:
			emit(done)
		}
	}
}

// textHandler streams chunks plain-text chunks, gap apart, then ends
// cleanly or aborts.
func textHandler(chunks int, gap time.Duration, abort bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fl := w.(http.Flusher)
		for i := range chunks {
			if i > 0 && !sleepCtx(r, gap) {
				return
			}
			_, _ = fmt.Fprintf(w, "word%d ", i)
			fl.Flush()
		}
		if abort {
			panic(http.ErrAbortHandler)
		}
	}
}

// jsonErrorHandler answers like streamgate does before a stream fails.
func jsonErrorHandler(status int, code string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `{"error":{"code":%q,"message":"slow down and retry"}}`, code)
	}
}

// endlessSSE streams a delta every gap for at most 10 s: long enough to
// outlive any bound a test sets, and bounded all the same.
func endlessSSE(gap time.Duration) http.HandlerFunc {
	return sseHandler(sseSpec{deltas: int(10 * time.Second / gap), gap: gap})
}

// peer is a loopback test server that counts the requests in flight.
type peer struct {
	*httptest.Server
	mu       sync.Mutex
	inflight int
	peak     int
}

func newPeer(t *testing.T, h http.Handler) *peer {
	t.Helper()
	p := &peer{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.inflight++
		p.peak = max(p.peak, p.inflight)
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.inflight--
			p.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *peer) peakInflight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// url is the peer's /stream URL.
func (p *peer) url() string { return p.URL + "/stream" }

// testConfig is a Config for a loopback peer, bounded to 10 s.
func testConfig(url string, streams int) Config {
	return Config{URL: url, Streams: streams, Duration: 10 * time.Second}
}
