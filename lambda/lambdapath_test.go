package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// lambdaPath is the whole Lambda side run for real: the Bedrock emulator,
// and the bootstrap binary in Lambda mode under localgw's Runtime API and
// API Gateway streaming front, served over loopback HTTP.
type lambdaPath struct {
	emu    *emulator.Emulator
	url    string
	logs   *streamtest.Buffer // the bootstrap processes' stdout and stderr
	gwLogs *streamtest.Buffer // localgw's own log (JSON lines)
}

func startLambdaPath(t *testing.T, emuOpts emulator.Options, gw localgw.Config, env ...string) *lambdaPath {
	t.Helper()
	emu := emulator.New(emuOpts)
	upstream := httptest.NewServer(emu)
	t.Cleanup(upstream.Close)
	gw.Bootstrap = bootstrapPath
	if gw.Instances == 0 {
		gw.Instances = 1
	}
	gw.Env = append([]string{
		"BEDROCK_ENDPOINT=" + upstream.URL,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDLOCALGW",
		"AWS_SECRET_ACCESS_KEY=localgw-secret",
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"MODEL_ID=emulator.steady-v1",
		"ALLOWED_MODELS=" + strings.Join(emulator.Models(), ","),
	}, env...)
	logs, gwLogs := &streamtest.Buffer{}, &streamtest.Buffer{}
	gw.Stderr = logs
	if gw.Logger == nil {
		gw.Logger = slog.New(slog.NewJSONHandler(gwLogs, nil))
	}
	g, err := localgw.New(gw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		t.Fatalf("localgw start: %v\n%s", err, logs)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return &lambdaPath{emu: emu, url: srv.URL, logs: logs, gwLogs: gwLogs}
}

// TestLambdaPathStreams: deltas reach the client spread over the
// generation time, the text is exact, the prelude's status and headers
// become the response's, and a bad request gets its 400 JSON error.
func TestLambdaPathStreams(t *testing.T) {
	t.Parallel()
	const rate = 50
	lp := startLambdaPath(t, emulator.Options{TokensPerSecond: rate}, localgw.Config{Instances: 2})
	const prompt = "How does Lambda response streaming work"
	deltas, _ := emulator.Answer("emulator.steady-v1", prompt, 0)

	t.Run("sse", func(t *testing.T) {
		t.Parallel()
		res := streamtest.Post(t, t.Context(), lp.url+"/stream", "text/event-stream", `{"prompt":"`+prompt+`"}`)
		if res.Status != http.StatusOK || res.ReadErr != nil {
			t.Fatalf("status %d, read error %v: %s", res.Status, res.ReadErr, res.Body)
		}
		for name, want := range map[string]string{"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
			if got := res.Header.Get(name); got != want {
				t.Errorf("%s = %q, want %q (from the streaming prelude)", name, got, want)
			}
		}
		events := streamtest.ParseSSE(t, res.Chunks)
		text, at := streamtest.SSEText(t, events)
		if want := strings.Join(deltas, ""); text != want {
			t.Fatalf("text %q, want %q", text, want)
		}
		if events[len(events)-1].Name != "done" {
			t.Errorf("last event %q, want done", events[len(events)-1].Name)
		}
		start := streamtest.DecodeJSON[struct{ RequestID string }](t, events[0].Data)
		// The API Gateway request id is the request id of the gateway's
		// events, header and log line.
		apigwID := res.Header.Get("X-Amzn-RequestId")
		if id := res.Header.Get("X-Request-Id"); apigwID == "" || id != apigwID || start.RequestID != apigwID {
			t.Errorf("API Gateway request id %q, X-Request-Id %q, start requestId %q: want all the same", apigwID, id, start.RequestID)
		}
		// The function's stdout reaches us through a pipe: allow it a moment.
		lp.logs.WaitFor(t, regexp.MustCompile(regexp.QuoteMeta(`"requestId":"`+apigwID+`"`)), 5*time.Second)
		assertSpread(t, at, len(deltas), rate)
	})
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		res := streamtest.Post(t, t.Context(), lp.url+"/stream", "", `{"prompt":"`+prompt+`"}`)
		if string(res.Body) != strings.Join(deltas, "") || res.ReadErr != nil {
			t.Fatalf("body %q, read error %v", res.Body, res.ReadErr)
		}
		assertSpread(t, res.Arrivals(), len(deltas), rate)
	})
	t.Run("bad request", func(t *testing.T) {
		t.Parallel()
		res := streamtest.Post(t, t.Context(), lp.url+"/stream", "", `{"prompt":"hi","temperature":3}`)
		e := streamtest.DecodeJSON[struct{ Error streaming.Error }](t, string(res.Body)).Error
		if res.Status != http.StatusBadRequest || e.Code != streaming.CodeInvalidRequest || !strings.Contains(e.Message, "temperature") ||
			!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Errorf("status %d, %s, error %+v", res.Status, res.Header.Get("Content-Type"), e)
		}
	})
}

func assertSpread(t *testing.T, at []time.Time, deltas int, rate int) {
	t.Helper()
	want := time.Duration(deltas-1) * time.Second / time.Duration(rate)
	if spread := at[len(at)-1].Sub(at[0]); spread < want*6/10 {
		t.Errorf("first to last piece took %v; at %d deltas/s it should take about %v", spread, rate, want)
	}
	if filled := streamtest.WindowsWithArrivals(at, 10); filled < 8 {
		t.Errorf("the answer arrived in %d of 10 time windows (%d pieces): a burst, not a stream", filled, len(at))
	}
}

// TestLambdaPathPast29Seconds streams an answer of about 31 s, past API
// Gateway's old integration limit, through the Lambda path to its done.
func TestLambdaPathPast29Seconds(t *testing.T) {
	t.Parallel()
	lp := startLambdaPath(t, emulator.Options{LongDuration: 31 * time.Second}, localgw.Config{}, "HEARTBEAT_SECONDS=5", "MAX_TOKENS=16384")
	start := time.Now()
	res := streamtest.Post(t, t.Context(), lp.url+"/stream", "text/event-stream", `{"prompt":"the long one","modelId":"emulator.long-v1"}`)
	took := time.Since(start)
	events := streamtest.ParseSSE(t, res.Chunks)
	last := events[len(events)-1]
	if res.ReadErr != nil || last.Name != "done" {
		t.Fatalf("after %v: read error %v, last event %s %s", took, res.ReadErr, last.Name, last.Data)
	}
	if took < 30*time.Second {
		t.Errorf("stream took %v; the test needs one past 29 s", took)
	}
	text, at := streamtest.SSEText(t, events)
	if len(text) < 50_000 || streamtest.WindowsWithArrivals(at, 30) < 28 {
		t.Errorf("%d bytes of text in %d windows of 30", len(text), streamtest.WindowsWithArrivals(at, 30))
	}
	t.Logf("%d bytes in %d deltas over %v, through localgw", len(text), len(at), took)
}

// TestLambdaPathFailures: a mid-stream upstream error is an error event
// for SSE and an aborted body for text; a short function timeout ends a
// long stream with the gateway's own deadline error before the timeout.
func TestLambdaPathFailures(t *testing.T) {
	t.Parallel()
	const functionTimeout = 4 * time.Second
	lp := startLambdaPath(t, emulator.Options{TokensPerSecond: 200, LongDuration: 60 * time.Second},
		localgw.Config{Instances: 3, FunctionTimeout: functionTimeout}, "DEADLINE_MARGIN_SECONDS=1.5")

	t.Run("midstream error, sse", func(t *testing.T) {
		t.Parallel()
		res := streamtest.Post(t, t.Context(), lp.url+"/stream", "text/event-stream", `{"prompt":"x","modelId":"emulator.midstream-error-v1"}`)
		events := streamtest.ParseSSE(t, res.Chunks)
		last := events[len(events)-1]
		if e := streamtest.DecodeJSON[streaming.Error](t, last.Data); last.Name != "error" || e.Code != streaming.CodeUpstreamError {
			t.Errorf("last event %s %s, want an upstream_error event", last.Name, last.Data)
		}
	})
	t.Run("midstream error, text", func(t *testing.T) {
		t.Parallel()
		res := streamtest.Post(t, t.Context(), lp.url+"/stream", "", `{"prompt":"x","modelId":"emulator.midstream-error-v1"}`)
		if len(res.Body) == 0 || res.ReadErr == nil {
			t.Errorf("body %q, read error %v: want some text, then an aborted body", res.Body, res.ReadErr)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		res := streamtest.Post(t, t.Context(), lp.url+"/stream", "text/event-stream", `{"prompt":"x","modelId":"emulator.long-v1"}`)
		took := time.Since(start)
		events := streamtest.ParseSSE(t, res.Chunks)
		last := events[len(events)-1]
		if e := streamtest.DecodeJSON[streaming.Error](t, last.Data); last.Name != "error" || e.Code != streaming.CodeDeadline {
			t.Errorf("last event %s %s, want the gateway's deadline error", last.Name, last.Data)
		}
		if res.ReadErr != nil || took >= functionTimeout {
			t.Errorf("stream ended after %v with %v; want a clean end before the %v function timeout", took, res.ReadErr, functionTimeout)
		}
	})
}

// TestLambdaPathClientDisconnect: what a client disconnect does on the
// Lambda path. Lambda does not tell a streaming function that its client
// went away ("streamed responses are not interrupted or stopped when the
// invoking client connection is broken", AWS Lambda developer guide), and
// localgw's default (drain) does the same: the gateway in the function
// never sees the disconnect, the Bedrock call runs to its end, and the
// function's log line says clientAborted false with the whole answer. On
// Lambda, only an explicit cancel stops Bedrock. localgw's old model
// (OnDisconnect Close), in which the function's response connection is
// closed, still cancels the Bedrock call.
func TestLambdaPathClientDisconnect(t *testing.T) {
	t.Parallel()
	const prompt = "a story that nobody will finish reading"

	// disconnect starts a text stream, reads its first bytes and goes away;
	// it returns API Gateway's request id.
	disconnect := func(t *testing.T, lp *lambdaPath, body string) string {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, lp.url+"/stream", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := resp.Body.Read(make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
		cancel()
		resp.Body.Close()
		return resp.Header.Get("X-Amzn-RequestId")
	}
	waitIdle := func(t *testing.T, lp *lambdaPath, timeout time.Duration) []emulator.Record {
		t.Helper()
		ctx, stop := context.WithTimeout(context.Background(), timeout)
		defer stop()
		if err := lp.emu.WaitIdle(ctx); err != nil {
			t.Fatalf("the upstream call is still running: %v", err)
		}
		return lp.emu.Records()
	}

	t.Run("drain, as on AWS", func(t *testing.T) {
		t.Parallel()
		const rate, maxTokens = 20, 50 // 2.5 s
		full, _ := emulator.Answer("emulator.steady-v1", prompt, maxTokens)
		lp := startLambdaPath(t, emulator.Options{TokensPerSecond: rate}, localgw.Config{})
		id := disconnect(t, lp, fmt.Sprintf(`{"prompt":%q,"maxTokens":%d}`, prompt, maxTokens))

		records := waitIdle(t, lp, 20*time.Second)
		if len(records) != 1 || records[0].Outcome != "completed" || records[0].DeltasSent != len(full) {
			t.Fatalf("emulator records %+v, want one completed call of %d deltas: on Lambda a disconnect does not cancel Bedrock", records, len(full))
		}
		line := lp.logs.WaitFor(t, regexp.MustCompile(`\{[^\n]*"requestId":"`+regexp.QuoteMeta(id)+`"[^\n]*"clientAborted"[^\n]*\}`), 5*time.Second)[0]
		got := streamtest.DecodeJSON[struct {
			Status        int
			ClientAborted bool
			Deltas        int
			OutputTokens  int
			StopReason    string
		}](t, line)
		if got.Status != http.StatusOK || got.ClientAborted || got.Deltas != len(full) || got.OutputTokens != maxTokens || got.StopReason != "max_tokens" {
			t.Errorf("the function logged %+v; want status 200, clientAborted false and the whole answer (%d deltas, stop max_tokens)", got, len(full))
		}
		drained := lp.gwLogs.WaitFor(t, regexp.MustCompile(`\{[^\n]*"msg":"function response drained"[^\n]*"request_id":"`+regexp.QuoteMeta(id)+`"[^\n]*\}`), 5*time.Second)[0]
		d := streamtest.DecodeJSON[struct {
			Why, End       string
			BytesDiscarded int `json:"bytes_discarded"`
		}](t, drained)
		if d.Why != "client_disconnected" || d.End != "complete" || d.BytesDiscarded <= 0 {
			t.Errorf("localgw logged %s; want the rest of the answer drained to its end", drained)
		}
	})

	t.Run("close, localgw's old model", func(t *testing.T) {
		t.Parallel()
		const rate = 20
		full, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
		lp := startLambdaPath(t, emulator.Options{TokensPerSecond: rate}, localgw.Config{OnDisconnect: localgw.Close})
		id := disconnect(t, lp, fmt.Sprintf(`{"prompt":%q}`, prompt))
		records := waitIdle(t, lp, 10*time.Second)
		if len(records) != 1 || records[0].Outcome != "cancelled" || records[0].DeltasSent >= len(full) {
			t.Fatalf("emulator records %+v, want one cancelled call short of %d deltas", records, len(full))
		}
		if took, full := records[0].End.Sub(records[0].Start), time.Duration(len(full))*time.Second/rate; took > full/2 {
			t.Errorf("the upstream call lasted %v of the answer's %v", took, full)
		}
		lp.gwLogs.WaitFor(t, regexp.MustCompile(`"msg":"function response abandoned; closing its connection"[^\n]*"request_id":"`+regexp.QuoteMeta(id)+`"`), 5*time.Second)
	})
}
