package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamgate/streamgate/streaming/sse"
)

// The causes of the contexts that bound a run and a stream, so that a
// cancelled stream can say which bound cut it.
var (
	errRunDeadline   = errors.New("run -duration expired")
	errStreamTimeout = errors.New("stream -timeout expired")
)

// readBufSize is the size of one body read. It is far larger than one
// delta, so one Read returns whatever the network delivered at once: the
// per-Read timestamps are then the chunks as the client saw them.
const readBufSize = 32 << 10

// Run runs the load test described by cfg and returns what every started
// stream measured. It returns an error only for an invalid cfg: failing
// streams are results, not errors. Cancelling ctx ends the run early (the
// streams in flight are reported with reason "canceled"). When progress is
// not nil and cfg.Progress > 0, a one-line progress update is written to it
// every cfg.Progress, each starting with "\r" so that a terminal shows one
// line that changes, and a final update ends with "\n".
func Run(ctx context.Context, cfg Config, progress io.Writer) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg = cfg.withDefaults()
	body, err := json.Marshal(requestBody{Prompt: cfg.Prompt, ModelID: cfg.Model, MaxTokens: cfg.MaxTokens})
	if err != nil {
		return Result{}, err
	}
	tr := newTransport(cfg.Concurrency)
	defer tr.CloseIdleConnections()
	r := &runner{
		cfg:  cfg,
		body: body,
		client: &http.Client{
			Transport: tr,
			// A redirect is reported as its status, not followed: a POST
			// that is redirected becomes a GET, which is not the test the
			// user asked for.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		t0: time.Now(),
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, cfg.Duration, errRunDeadline)
	defer cancel()

	stopProgress := func() {}
	if progress != nil && cfg.Progress > 0 {
		stopProgress = r.startProgress(progress)
	}
	streams := r.dispatch(runCtx)
	elapsed := time.Since(r.t0)
	stopProgress()

	return Result{
		Config:  cfg,
		Summary: summarize(cfg.Streams, streams, r.t0.Round(0), elapsed, int(r.live.peak.Load())),
		Streams: streams,
	}, nil
}

// requestBody is the JSON body of every request.
type requestBody struct {
	Prompt    string `json:"prompt"`
	ModelID   string `json:"modelId,omitempty"`
	MaxTokens int    `json:"maxTokens,omitempty"`
}

// newTransport returns a Transport for many concurrent long streams to one
// host: no cap on connections per host, enough idle connections kept that
// the next stream reuses one instead of dialing, no transparent gzip (which
// would hold small chunks back until a compressed block is full), and
// HTTP/1.1 only, so that each stream has its own connection, as behind API
// Gateway, rather than sharing one HTTP/2 connection and its flow control.
func newTransport(concurrency int) *http.Transport {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		Protocols:           protocols,
		MaxIdleConns:        0, // no limit
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     0, // no limit
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
	}
}

// runner is the state of one Run.
type runner struct {
	cfg    Config
	body   []byte
	client *http.Client
	t0     time.Time
	live   liveCounters
}

// liveCounters are updated by the streams as they go, for the progress line
// and the peak concurrency.
type liveCounters struct {
	active, peak, complete, failed, bytes atomic.Int64
}

func (l *liveCounters) begin() {
	n := l.active.Add(1)
	for {
		p := l.peak.Load()
		if n <= p || l.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (l *liveCounters) end(complete bool) {
	l.active.Add(-1)
	if complete {
		l.complete.Add(1)
	} else {
		l.failed.Add(1)
	}
}

// dispatch starts the streams in order, at most Concurrency at a time and
// the first Concurrency of them spread over Ramp, until all have started or
// ctx is done, waits for the started ones and returns their results.
func (r *runner) dispatch(ctx context.Context) []StreamResult {
	c := r.cfg.Concurrency
	results := make([]StreamResult, r.cfg.Streams)
	slots := make(chan struct{}, c)
	var wg sync.WaitGroup
	started := 0
	for i := range r.cfg.Streams {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if i < c && r.cfg.Ramp > 0 {
			at := r.t0.Add(time.Duration(float64(r.cfg.Ramp) * float64(i) / float64(c)))
			sleepUntil(ctx, at)
		}
		if ctx.Err() != nil {
			break
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			results[i] = r.runStream(ctx, i)
		}()
	}
	wg.Wait()
	return results[:started]
}

// sleepUntil waits until t or until ctx is done.
func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// runStream runs stream id to its end and reports what it measured.
func (r *runner) runStream(runCtx context.Context, id int) (res StreamResult) {
	ctx, cancel := runCtx, context.CancelFunc(func() {})
	if r.cfg.Timeout > 0 {
		ctx, cancel = context.WithTimeoutCause(runCtx, r.cfg.Timeout, errStreamTimeout)
	}
	defer cancel()

	r.live.begin()
	start := time.Now()
	res.ID = id
	res.Start = Millis(start.Sub(r.t0))
	defer func() {
		res.Duration = Millis(time.Since(start))
		r.live.end(res.Complete)
	}()

	resp, err := r.client.Do(r.newRequest(ctx))
	if err != nil {
		res.fail(r.errReason(ctx, ReasonTransport, err))
		return res
	}
	defer resp.Body.Close()
	res.Headers = Millis(time.Since(start))
	res.Status = resp.StatusCode
	res.ContentType = resp.Header.Get("Content-Type")
	body := &timedReader{r: resp.Body, start: start, res: &res, live: &r.live}
	switch {
	case resp.StatusCode/100 != 2:
		readErrorBody(resp, body, &res)
	case r.cfg.Format == FormatSSE:
		r.readSSE(ctx, body, &res, start)
	default:
		r.readText(ctx, body, &res)
	}
	return res
}

// newRequest builds one stream's request. The URL was validated, so
// http.NewRequest cannot fail.
func (r *runner) newRequest(ctx context.Context) *http.Request {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.URL, bytes.NewReader(r.body))
	if err != nil {
		panic(fmt.Sprintf("loadtest: validated URL %q: %v", r.cfg.URL, err))
	}
	req.Header.Set("Content-Type", "application/json")
	if r.cfg.Format == FormatSSE {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "text/plain")
	}
	req.Header.Set("User-Agent", "streamgate-loadtest")
	for k, vs := range r.cfg.Header {
		k = textproto.CanonicalMIMEHeaderKey(k)
		if k == "Host" && len(vs) > 0 {
			req.Host = vs[len(vs)-1]
			continue
		}
		req.Header[k] = vs
	}
	return req
}

// errReason classifies a failed request or body read: when ctx is done, the
// bound that ended it is the reason, whatever error the transport reported
// for it; otherwise fallback.
func (r *runner) errReason(ctx context.Context, fallback string, err error) (reason, msg string) {
	if ctx.Err() == nil {
		return fallback, err.Error()
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errRunDeadline):
		return ReasonDeadline, fmt.Sprintf("cancelled in flight: the run's -duration %v expired", r.cfg.Duration)
	case errors.Is(cause, errStreamTimeout):
		return ReasonTimeout, fmt.Sprintf("cancelled: the stream's -timeout %v expired", r.cfg.Timeout)
	default:
		return ReasonCanceled, "cancelled: " + cause.Error()
	}
}

// readErrorBody reads a non-2xx response: streamgate's errors before the
// stream are {"error": {"code", "message"}}.
func readErrorBody(resp *http.Response, body io.Reader, res *StreamResult) {
	b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
		res.ErrorCode = e.Error.Code
		msg += ": " + e.Error.Code + ": " + e.Error.Message
	} else if s := strings.TrimSpace(string(b)); s != "" {
		msg += ": " + truncate(s, 200)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		msg += " (Retry-After: " + ra + ")"
	}
	res.fail(ReasonStatus, msg)
}

// readSSE reads an SSE body to its end. Complete needs a done event and
// then a clean end of the body; reading goes on after a failure, so that
// bytes and gaps are measured until the server ends the stream.
func (r *runner) readSSE(ctx context.Context, body io.Reader, res *StreamResult, start time.Time) {
	if mt, _, _ := mime.ParseMediaType(res.ContentType); mt != "text/event-stream" {
		res.fail(ReasonProtocol, fmt.Sprintf("Content-Type %q, want text/event-stream (is -format right?)", res.ContentType))
		return
	}
	sr := sse.NewReader(body, sse.Options{})
	sawDone := false
	for {
		ev, err := sr.Next()
		res.KeepAlives = sr.Comments()
		switch {
		// A stream that ends cleanly inside an event lacks that event, as
		// in a browser: judged by what it did deliver.
		case err == io.EOF, errors.Is(err, sse.ErrTruncated):
			if !sawDone {
				res.fail(ReasonMissingDone, "the body ended without a done event")
			}
			res.Complete = res.Reason == ""
			return
		case errors.Is(err, sse.ErrLineTooLong):
			res.fail(ReasonProtocol, err.Error())
			return
		case err != nil:
			res.fail(r.errReason(ctx, ReasonTransport, err))
			return
		}
		switch ev.Type {
		case "start":
			var s struct {
				RequestID string `json:"requestId"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &s); err != nil {
				res.fail(ReasonProtocol, badEvent(ev, err))
			}
			res.RequestID = s.RequestID
		case "delta":
			var d struct {
				Text *string `json:"text"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || d.Text == nil {
				res.fail(ReasonProtocol, badEvent(ev, err))
				continue
			}
			res.Deltas++
			if res.Deltas == 1 {
				res.FirstDelta = Millis(time.Since(start))
			}
			res.TextBytes += int64(len(*d.Text))
		case "done":
			var d struct {
				StopReason string `json:"stopReason"`
				Usage      struct {
					OutputTokens int `json:"outputTokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
				res.fail(ReasonProtocol, badEvent(ev, err))
			}
			sawDone = true
			res.StopReason, res.OutputTokens = d.StopReason, d.Usage.OutputTokens
		case "error":
			var e struct {
				Code      string `json:"code"`
				Message   string `json:"message"`
				Retryable bool   `json:"retryable"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
				res.fail(ReasonErrorEvent, "error event: "+truncate(ev.Data, 200))
				continue
			}
			if res.Reason == "" {
				res.ErrorCode = e.Code
			}
			res.fail(ReasonErrorEvent, fmt.Sprintf("error event: %s: %s (retryable: %t)", e.Code, e.Message, e.Retryable))
		}
	}
}

func badEvent(ev sse.Event, err error) string {
	msg := fmt.Sprintf("%s event data %q is not the expected JSON", ev.Type, truncate(ev.Data, 200))
	if err != nil {
		msg += ": " + err.Error()
	}
	return msg
}

// readText reads a text body to its end: it is complete when the chunked
// body ends cleanly (io.EOF); the server aborts the connection on a failure
// after the first byte, which surfaces here as a read error.
func (r *runner) readText(ctx context.Context, body io.Reader, res *StreamResult) {
	buf := make([]byte, readBufSize)
	for {
		n, err := body.Read(buf)
		res.TextBytes += int64(n)
		switch {
		case err == io.EOF:
			res.Complete = res.Reason == ""
			return
		case err != nil:
			res.fail(r.errReason(ctx, ReasonTransport, err))
			return
		}
	}
}

// timedReader records, for each Read that returns data, the time to first
// byte, the gap since the previous such Read, and the bytes and chunks.
type timedReader struct {
	r     io.Reader
	start time.Time
	last  time.Time
	res   *StreamResult
	live  *liveCounters
}

func (t *timedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		now := time.Now()
		if t.last.IsZero() {
			t.res.TTFB = Millis(now.Sub(t.start))
		} else if gap := Millis(now.Sub(t.last)); gap > t.res.MaxGap {
			t.res.MaxGap = gap
		}
		t.last = now
		t.res.Chunks++
		t.res.Bytes += int64(n)
		t.live.bytes.Add(int64(n))
	}
	return n, err
}

// startProgress writes a progress line to w every cfg.Progress until the
// returned function is called; that function writes the last line, ends it
// with a newline and returns when the writer is no longer used.
func (r *runner) startProgress(w io.Writer) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.cfg.Progress)
		defer t.Stop()
		prev := 0
		for {
			select {
			case <-t.C:
				prev = r.writeProgress(w, prev, "")
			case <-quit:
				r.writeProgress(w, prev, "\n")
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// writeProgress writes one "\r"-led progress line, padded with spaces to
// cover a longer previous line, and returns its length.
func (r *runner) writeProgress(w io.Writer, prev int, end string) int {
	line := fmt.Sprintf("active %d done %d failed %d bytes %s elapsed %s",
		r.live.active.Load(), r.live.complete.Load(), r.live.failed.Load(),
		humanBytes(float64(r.live.bytes.Load())), roundElapsed(time.Since(r.t0)))
	pad := strings.Repeat(" ", max(prev-len(line), 0))
	fmt.Fprintf(w, "\r%s%s%s", line, pad, end)
	return len(line)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
