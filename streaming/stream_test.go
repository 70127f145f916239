package streaming_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

const testRate = 100 // emulated deltas per second

// TestStreamsEachFormat checks, for each format, that the answer arrives
// as many chunks spread over the generation time at the emulated rate, and
// that the text is the emulator's deterministic answer, the same in all
// three formats.
func TestStreamsEachFormat(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: testRate}, testConfig(), nil)
	const prompt = "Explain how chunked transfer encoding works"
	deltas, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
	want := strings.Join(deltas, "")
	if len(deltas) < 20 {
		t.Fatalf("emulator answer too short for a timing test: %d deltas", len(deltas))
	}
	// The emulator waits 1/rate before each delta, so the first and last
	// deltas are (n-1)/rate apart when nothing buffers them.
	wantSpread := time.Duration(len(deltas)-1) * time.Second / testRate

	body := `{"prompt": "` + prompt + `"}`
	tests := []struct {
		format string
		accept string
		// deltas returns the answer's text pieces with their arrival times.
		deltas func(t *testing.T, r streamtest.Result) ([]string, []time.Time)
	}{
		{"sse", "text/event-stream", func(t *testing.T, r streamtest.Result) (texts []string, at []time.Time) {
			for _, ev := range streamtest.ParseSSE(t, r.Chunks) {
				if ev.Name == "delta" {
					texts = append(texts, streamtest.DecodeJSON[struct{ Text string }](t, ev.Data).Text)
					at = append(at, ev.At)
				}
			}
			return texts, at
		}},
		{"text", "", func(t *testing.T, r streamtest.Result) (texts []string, at []time.Time) {
			for _, c := range r.Chunks {
				texts = append(texts, string(c.Data))
				at = append(at, c.At)
			}
			return texts, at
		}},
		{"ndjson", "application/x-ndjson", func(t *testing.T, r streamtest.Result) (texts []string, at []time.Time) {
			for _, l := range streamtest.ParseNDJSON(t, r.Chunks) {
				if l.Fields["type"] == "delta" {
					texts = append(texts, l.Fields["text"].(string))
					at = append(at, l.At)
				}
			}
			return texts, at
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			res := streamtest.Post(t, t.Context(), gw.URL+"/stream", tt.accept, body)
			if res.Status != http.StatusOK || res.ReadErr != nil {
				t.Fatalf("status %d, read error %v, body %q\nlogs: %s", res.Status, res.ReadErr, res.Body, gw.Logs)
			}
			for header, want := range map[string]string{"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Content-Encoding": ""} {
				if got := res.Header.Get(header); got != want {
					t.Errorf("%s = %q, want %q", header, got, want)
				}
			}
			texts, at := tt.deltas(t, res)
			if got := strings.Join(texts, ""); got != want {
				t.Fatalf("text differs from the emulator's answer:\n%s", cmp.Diff(want, got))
			}
			if spread := at[len(at)-1].Sub(at[0]); spread < wantSpread*6/10 {
				t.Errorf("first to last delta took %v; at %d deltas/s it should take about %v", spread, testRate, wantSpread)
			}
			// Not one burst at the end: pieces arrive all along the way.
			if filled := streamtest.WindowsWithArrivals(at, 10); filled < 8 {
				t.Errorf("the answer arrived in only %d of 10 equal time windows (%d pieces for %d deltas)", filled, len(at), len(deltas))
			}
		})
	}
}

type doneData struct {
	StopReason string
	Usage      struct{ InputTokens, OutputTokens, TotalTokens int }
	Timings    struct{ TimeToFirstTokenMs, DurationMs, UpstreamLatencyMs int64 }
}

type startData struct {
	RequestID string
	ModelID   string
	MaxTokens int
}

func TestDoneEventAndMaxTokens(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxTokens = 30 // the operator's cap
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, cfg, nil)
	const prompt = "Write a long essay on rivers and the sea"
	full, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
	if len(full) <= 30 {
		t.Fatalf("need an answer longer than the cap, got %d deltas", len(full))
	}
	tests := []struct {
		name          string
		maxTokens     string // JSON value or "" for none
		wantMax       int
		wantStop      string
		wantOutTokens int
	}{
		{"operator cap applies by default", "", 30, "max_tokens", 30},
		{"request asks for more than the cap: clamped", "5000", 30, "max_tokens", 30},
		{"request asks for less", "7", 7, "max_tokens", 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := `{"prompt": "` + prompt + `"`
			if tt.maxTokens != "" {
				body += `, "maxTokens": ` + tt.maxTokens
			}
			res := streamtest.Post(t, t.Context(), gw.URL+"/stream?format=sse", "", body+"}")
			events := streamtest.ParseSSE(t, res.Chunks)
			if len(events) < 2 || events[0].Name != "start" || events[len(events)-1].Name != "done" {
				t.Fatalf("want start ... done, got %+v", events)
			}
			start := streamtest.DecodeJSON[startData](t, events[0].Data)
			if start.MaxTokens != tt.wantMax || start.ModelID != "emulator.steady-v1" || start.RequestID == "" {
				t.Errorf("start = %+v, want maxTokens %d", start, tt.wantMax)
			}
			if start.RequestID != res.Header.Get("X-Request-Id") {
				t.Errorf("start requestId %q != X-Request-Id %q", start.RequestID, res.Header.Get("X-Request-Id"))
			}
			done := streamtest.DecodeJSON[doneData](t, events[len(events)-1].Data)
			wantDeltas, _ := emulator.Answer("emulator.steady-v1", prompt, tt.wantMax)
			if done.StopReason != tt.wantStop || done.Usage.OutputTokens != tt.wantOutTokens || len(wantDeltas) != tt.wantOutTokens {
				t.Errorf("done = %+v, want stopReason %s and %d output tokens", done, tt.wantStop, tt.wantOutTokens)
			}
			if done.Usage.InputTokens <= 0 || done.Usage.TotalTokens != done.Usage.InputTokens+done.Usage.OutputTokens {
				t.Errorf("usage = %+v, want input tokens from the emulator's metadata", done.Usage)
			}
			if done.Timings.DurationMs < done.Timings.TimeToFirstTokenMs || done.Timings.UpstreamLatencyMs <= 0 {
				t.Errorf("timings = %+v", done.Timings)
			}
		})
	}

	t.Run("natural end", func(t *testing.T) {
		t.Parallel()
		uncapped := newTestGateway(t, emulator.Options{}, testConfig(), nil)
		deltas, stop := emulator.Answer("emulator.fast-v1", "Hi", 0)
		res := streamtest.Post(t, t.Context(), uncapped.URL+"/stream", "text/event-stream", `{"prompt":"Hi","modelId":"emulator.fast-v1"}`)
		events := streamtest.ParseSSE(t, res.Chunks)
		done := streamtest.DecodeJSON[doneData](t, events[len(events)-1].Data)
		if stop != "end_turn" || done.StopReason != "end_turn" || done.Usage.OutputTokens != len(deltas) {
			t.Errorf("done = %+v, want end_turn after %d tokens", done, len(deltas))
		}
	})
}

func TestHealthzMakesNoUpstreamCall(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{}, testConfig(), nil)
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/healthz", nil)
	res := streamtest.Do(t, req)
	if res.Status != http.StatusOK || strings.TrimSpace(string(res.Body)) != `{"status":"ok"}` {
		t.Errorf("healthz = %d %q", res.Status, res.Body)
	}
	if n := len(gw.Emu.Records()); n != 0 {
		t.Errorf("healthz made %d upstream calls", n)
	}
}

// TestThrottled checks that throttling is retried by the SDK before it is
// reported, and then reported as 429 with Retry-After.
func TestThrottled(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{}, testConfig(), nil)
	res := streamtest.Post(t, t.Context(), gw.URL+"/stream", "text/event-stream", `{"prompt":"hello","modelId":"emulator.throttle-v1"}`)
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q, want 429 with Retry-After", res.Status, res.Header.Get("Retry-After"))
	}
	e := streamtest.DecodeJSON[struct{ Error streaming.Error }](t, string(res.Body)).Error
	if e.Code != streaming.CodeThrottled || !e.Retryable {
		t.Errorf("error = %+v", e)
	}
	if n := len(waitIdle(t, gw.Emu)); n != 3 {
		t.Errorf("emulator saw %d requests, want 3 (the SDK's standard retryer)", n)
	}
}

// TestFailuresAfterTheFirstByte checks that a stream that fails after it
// began is reported in-band (SSE, NDJSON) or aborted (text), never ended
// like a complete answer.
func TestFailuresAfterTheFirstByte(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, testConfig(), nil)
	for _, model := range []string{"emulator.midstream-error-v1", "emulator.truncated-v1"} {
		wantCode := streaming.CodeUpstreamError
		if model == "emulator.truncated-v1" {
			wantCode = streaming.CodeIncompleteStream
		}
		body := `{"prompt":"tell me","modelId":"` + model + `"}`
		t.Run(model+"/sse", func(t *testing.T) {
			t.Parallel()
			res := streamtest.Post(t, t.Context(), gw.URL+"/stream", "text/event-stream", body)
			events := streamtest.ParseSSE(t, res.Chunks)
			last := events[len(events)-1]
			if last.Name != "error" || events[len(events)-2].Name != "delta" {
				t.Fatalf("want deltas then an error event, got %+v", events)
			}
			if e := streamtest.DecodeJSON[streaming.Error](t, last.Data); e.Code != wantCode || e.Message == "" {
				t.Errorf("error event = %+v, want code %s", e, wantCode)
			}
			for _, ev := range events {
				if ev.Name == "done" {
					t.Error("a failed stream sent done")
				}
			}
		})
		t.Run(model+"/ndjson", func(t *testing.T) {
			t.Parallel()
			res := streamtest.Post(t, t.Context(), gw.URL+"/stream", "application/x-ndjson", body)
			lines := streamtest.ParseNDJSON(t, res.Chunks)
			if last := lines[len(lines)-1].Fields; last["type"] != "error" || last["code"] != wantCode {
				t.Errorf("last line = %v, want an error with code %s", last, wantCode)
			}
		})
		t.Run(model+"/text", func(t *testing.T) {
			t.Parallel()
			res := streamtest.Post(t, t.Context(), gw.URL+"/stream", "", body)
			if res.Status != http.StatusOK || len(res.Body) == 0 {
				t.Fatalf("status %d body %q, want a started answer", res.Status, res.Body)
			}
			if res.ReadErr == nil {
				t.Errorf("text body ended cleanly after a failure; want an aborted body (got %q)", res.Body)
			}
		})
	}
	t.Cleanup(func() { // after the parallel subtests
		waitIdle(t, gw.Emu)
		aborted := 0
		for _, l := range logLines(t, gw.Logs) {
			if l["responseAborted"] == true {
				aborted++
			}
		}
		if aborted != 2 {
			t.Errorf("%d log lines say the response was aborted, want 2 (the two text streams)", aborted)
		}
	})
}

// TestKeepAliveBeforeFirstToken checks that a model that thinks before
// its first token does not leave the connection silent.
func TestKeepAliveBeforeFirstToken(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Heartbeat = 100 * time.Millisecond
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000, SlowStart: 800 * time.Millisecond}, cfg, nil)
	for _, format := range []string{"sse", "ndjson"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			res := streamtest.Post(t, t.Context(), gw.URL+"/stream?format="+format, "", `{"prompt":"think first","modelId":"emulator.slow-start-v1"}`)
			var kinds []string
			if format == "sse" {
				for _, ev := range streamtest.ParseSSE(t, res.Chunks) {
					kinds = append(kinds, ev.Name)
				}
			} else {
				for _, l := range streamtest.ParseNDJSON(t, res.Chunks) {
					kinds = append(kinds, strings.Replace(l.Fields["type"].(string), "keep-alive", ":", 1))
				}
			}
			firstDelta := 0
			for firstDelta < len(kinds) && kinds[firstDelta] != "delta" {
				firstDelta++
			}
			keepAlives := strings.Count(strings.Join(kinds[:firstDelta], " "), ":")
			// 800 ms of silence at one keep-alive per 100 ms of silence.
			if keepAlives < 4 {
				t.Errorf("%d keep-alives before the first delta, want about 7: %v", keepAlives, kinds[:firstDelta])
			}
			if kinds[len(kinds)-1] != "done" {
				t.Errorf("stream did not complete: ends with %q", kinds[len(kinds)-1])
			}
		})
	}
}

// TestClientDisconnectCancelsBedrock checks that nobody pays for tokens
// that no one reads: closing the connection mid-stream cancels the call.
func TestClientDisconnectCancelsBedrock(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 50}, testConfig(), nil)
	const prompt = "a long story please"
	full, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/stream", strings.NewReader(`{"prompt":"`+prompt+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	records := waitIdle(t, gw.Emu)
	if len(records) != 1 || records[0].Outcome != "cancelled" || records[0].DeltasSent >= len(full) {
		t.Fatalf("emulator records = %+v, want one cancelled call with fewer than %d deltas", records, len(full))
	}
	if took := records[0].End.Sub(records[0].Start); took > time.Duration(len(full))*time.Second/50 {
		t.Errorf("the upstream call lasted %v, as long as the whole answer", took)
	}
	gw.Logs.WaitFor(t, regexp.MustCompile(`"clientAborted":true`), 5*time.Second)
}

// TestDeadlineEndsStreamEarly checks that a stream whose request has a
// deadline (Lambda's invocation deadline) ends with the gateway's own
// error a margin before it, instead of being cut.
func TestDeadlineEndsStreamEarly(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DeadlineMargin = 500 * time.Millisecond
	const budget = 1500 * time.Millisecond
	withDeadline := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), budget)
			defer cancel()
			h.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 20}, cfg, withDeadline)
	for _, format := range []string{"sse", "text"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			res := streamtest.Post(t, t.Context(), gw.URL+"/stream?format="+format, "", `{"prompt":"a long answer please","modelId":"emulator.long-v1"}`)
			took := time.Since(start)
			if took >= budget {
				t.Errorf("stream lasted %v, past the %v deadline", took, budget)
			}
			if format == "text" {
				if res.ReadErr == nil {
					t.Error("text stream ended cleanly at the deadline; want an aborted body")
				}
				return
			}
			events := streamtest.ParseSSE(t, res.Chunks)
			last := events[len(events)-1]
			if e := streamtest.DecodeJSON[streaming.Error](t, last.Data); last.Name != "error" || e.Code != streaming.CodeDeadline {
				t.Errorf("last event = %s %s, want an error with code %s", last.Name, last.Data, streaming.CodeDeadline)
			}
		})
	}
}

// TestCloseEndsStreamsWithAnError is the last step of a graceful shutdown.
func TestCloseEndsStreamsWithAnError(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 20}, testConfig(), nil)
	// Close once the stream has begun (its first byte is in): a Close
	// after a fixed 300 ms came, on a loaded machine, before the request
	// did, and the answer was a 503 before any stream.
	ls := openStream(t, gw.URL+"/stream", `{"prompt":"long","modelId":"emulator.long-v1"}`, "text/event-stream", nil)
	gw.Handler.Close()
	res := ls.wait(t, 30*time.Second)
	events := streamtest.ParseSSE(t, res.Chunks)
	last := events[len(events)-1]
	if e := streamtest.DecodeJSON[streaming.Error](t, last.Data); last.Name != "error" || e.Code != streaming.CodeShuttingDown || !e.Retryable {
		t.Errorf("last event = %s %s, want a retryable %s error", last.Name, last.Data, streaming.CodeShuttingDown)
	}
}

// TestLogLine checks the one JSON line per request: its fields, its EMF
// metrics, and that neither the prompt nor the answer is in it.
func TestLogLine(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, testConfig(), nil)
	const prompt = "zebra-quartz-secret-prompt"
	res := streamtest.Post(t, t.Context(), gw.URL+"/stream", "", `{"prompt":"`+prompt+`","maxTokens":12}`)
	if res.ReadErr != nil {
		t.Fatal(res.ReadErr)
	}
	streamtest.Post(t, t.Context(), gw.URL+"/stream", "", `{"prompt":"`+prompt+`","temperature":7}`)
	waitIdle(t, gw.Emu)
	logs := gw.Logs.String()
	if strings.Contains(logs, prompt) {
		t.Errorf("the prompt appears in the logs:\n%s", logs)
	}
	if answer := strings.TrimSpace(string(res.Body)); strings.Contains(logs, answer) {
		t.Errorf("the answer appears in the logs")
	}
	lines := logLines(t, gw.Logs)
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines, got %d:\n%s", len(lines), logs)
	}
	ok := lines[0]
	for _, field := range []string{"requestId", "route", "model", "status", "ttftMs", "durationMs", "bytes", "inputTokens", "outputTokens", "stopReason", "clientAborted"} {
		if _, present := ok[field]; !present {
			t.Errorf("log line lacks %q: %v", field, ok)
		}
	}
	want := map[string]any{"route": "POST /stream", "model": "emulator.steady-v1", "status": 200.0, "outputTokens": 12.0,
		"stopReason": "max_tokens", "clientAborted": false, "bytes": float64(len(res.Body)), "requestId": res.Header.Get("X-Request-Id")}
	for k, v := range want {
		if ok[k] != v {
			t.Errorf("log %s = %v, want %v", k, ok[k], v)
		}
	}
	if bad := lines[1]; bad["status"] != 400.0 || bad["error"] != streaming.CodeInvalidRequest {
		t.Errorf("log line of a bad request = %v", bad)
	}
	// EMF: every metric and dimension named in _aws is a member of the line.
	for _, line := range lines {
		var meta struct {
			AWS struct {
				Timestamp         int64
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
		}
		raw, _ := json.Marshal(line)
		json.Unmarshal(raw, &meta)
		if meta.AWS.Timestamp == 0 || len(meta.AWS.CloudWatchMetrics) == 0 || meta.AWS.CloudWatchMetrics[0].Namespace != streaming.MetricsNamespace {
			t.Fatalf("no EMF directive in %v", line)
		}
		checkEMF(t, line)
	}
}

// checkEMF checks that every metric and dimension a log line's EMF
// directives name is a member of the line, as CloudWatch requires.
func checkEMF(t *testing.T, line map[string]any) {
	t.Helper()
	var meta struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	raw, _ := json.Marshal(line)
	json.Unmarshal(raw, &meta)
	for _, d := range meta.AWS.CloudWatchMetrics {
		if d.Namespace != streaming.MetricsNamespace {
			t.Errorf("EMF namespace %q", d.Namespace)
		}
		for _, m := range d.Metrics {
			if _, isNumber := line[m.Name].(float64); !isNumber {
				t.Errorf("EMF metric %s is not a number in the line: %v", m.Name, line[m.Name])
			}
		}
		for _, set := range d.Dimensions {
			for _, dim := range set {
				if _, isString := line[dim].(string); !isString {
					t.Errorf("EMF dimension %s is not a string in the line", dim)
				}
			}
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.CORSAllowOrigins = []string{"https://chat.example"}
	gw := newTestGateway(t, emulator.Options{}, cfg, nil)
	tests := []struct {
		origin    string
		wantAllow string
	}{
		{"https://chat.example", "https://chat.example"},
		{"https://evil.example", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodOptions, gw.URL+"/stream", nil)
		req.Header.Set("Origin", tt.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		res := streamtest.Do(t, req)
		if res.Status != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != tt.wantAllow {
			t.Errorf("preflight from %s: %d, allow-origin %q, want 204 and %q", tt.origin, res.Status, res.Header.Get("Access-Control-Allow-Origin"), tt.wantAllow)
		}
		if tt.wantAllow != "" && !strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("preflight allows methods %q", res.Header.Get("Access-Control-Allow-Methods"))
		}
	}
	if n := len(gw.Emu.Records()); n != 0 {
		t.Errorf("preflights made %d upstream calls", n)
	}
}

// TestConcurrentStreamsKeepTheirOwnText runs many streams at once through
// one gateway (one SDK client): each must get exactly its own answer. It
// guards the protocol each call gets (converseStream): with the SDK's
// shared event-stream codec, concurrent streams race on one decode buffer.
func TestConcurrentStreamsKeepTheirOwnText(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 400}, testConfig(), nil)
	const streams = 32
	errs := make(chan string, streams)
	for i := range streams {
		go func() {
			prompt := "concurrent prompt number " + strings.Repeat("x", i)
			want, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gw.URL+"/stream", strings.NewReader(`{"prompt":"`+prompt+`"}`))
			req.Header.Set("Content-Type", "application/json")
			// Not streamtest.Post: t.Fatal must not run outside the test's
			// goroutine, where it would hang the test instead of failing it.
			res, err := streamtest.Send(req)
			if err != nil {
				errs <- "stream " + prompt + ": " + err.Error()
				return
			}
			if got := string(res.Body); got != strings.Join(want, "") || res.ReadErr != nil {
				errs <- "stream " + prompt + ": got " + got
				return
			}
			errs <- ""
		}()
	}
	for range streams {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
