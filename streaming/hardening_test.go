package streaming_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestStalledBodyTimesOut (issue 8, hole 1): a client that sends part of
// its body and stops gets 408 body_timeout and its connection closed,
// instead of holding it forever. Fails without the body deadline: the
// read below would wait for its own 20 s limit.
func TestStalledBodyTimesOut(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.BodyReadTimeout = 300 * time.Millisecond
	gw := newTestGateway(t, emulator.Options{}, cfg, nil)
	resp, body, closed := gatewaytest.PostStalledBody(t, gw.URL, "/stream", `{"prompt":`)
	if e := errorOf(t, body); resp.StatusCode != http.StatusRequestTimeout || e.Code != streaming.CodeBodyTimeout || !resp.Close {
		t.Errorf("status %d, close %v, error %+v; want 408 body_timeout and the connection closed", resp.StatusCode, resp.Close, e)
	}
	// The server closes its side at once: it does not wait for the rest
	// of the stalled body.
	if !closed {
		t.Error("the connection was not closed after the 408")
	}
	if n := len(gw.Emu.Records()); n != 0 {
		t.Errorf("the emulator saw %d calls", n)
	}
}

// TestUpstreamThatNeverAnswers (issue 8, hole 2): an upstream that accepts
// the connection and never answers gets 504 upstream_timeout after
// UPSTREAM_HEADER_TIMEOUT_SECONDS, with a log line saying so. Fails
// without the header timeout: the request would hang until the client's
// own limit.
func TestUpstreamThatNeverAnswers(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.UpstreamHeaderTimeout = 300 * time.Millisecond
	_, url, logs := gatewayTo(t, blackhole(t), cfg, nil)
	for _, route := range []struct{ path, body string }{
		{"/stream", `{"prompt":"hello"}`},
		{"/generate", `{"input":"hello"}`},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		res := streamtest.Post(t, ctx, url+route.path, "text/event-stream", route.body)
		cancel()
		if e := errorOf(t, res.Body); res.Status != http.StatusGatewayTimeout || e.Code != streaming.CodeUpstreamTimeout {
			t.Errorf("%s: status %d, error %+v; want 504 upstream_timeout", route.path, res.Status, e)
		}
		if line := lastLog(t, logs, route.path); line["status"] != 504.0 || line["error"] != streaming.CodeUpstreamTimeout {
			t.Errorf("%s: log line %v, want status 504 and error upstream_timeout", route.path, line)
		}
	}
}

// TestUpstreamSilentMidStream (issue 8, hole 2): Bedrock starts the stream
// and then sends nothing: after UPSTREAM_IDLE_TIMEOUT_SECONDS the client
// gets an in-band upstream_timeout (SSE) or an aborted body (text), and
// the Bedrock call is cancelled.
func TestUpstreamSilentMidStream(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.UpstreamIdleTimeout = 300 * time.Millisecond
	cfg.Heartbeat = time.Hour
	gw := newTestGateway(t, emulator.Options{SlowStart: time.Minute}, cfg, nil)
	body := `{"prompt":"hello","modelId":"emulator.slow-start-v1"}`

	res := streamtest.Post(t, t.Context(), gw.URL+"/stream", "text/event-stream", body)
	events := streamtest.ParseSSE(t, res.Chunks)
	last := events[len(events)-1]
	if res.Status != http.StatusOK || last.Name != "error" || !strings.Contains(last.Data, `"code":"upstream_timeout"`) {
		t.Errorf("status %d, last event %+v; want an upstream_timeout error event", res.Status, last)
	}
	text := streamtest.Post(t, t.Context(), gw.URL+"/stream", "", body)
	if text.ReadErr == nil {
		t.Errorf("text stream ended cleanly (%q); want an aborted body", text.Body)
	}
	records := waitIdle(t, gw.Emu)
	if len(records) != 2 {
		t.Errorf("the emulator saw %d calls, want 2", len(records))
	}
	for _, r := range records {
		if r.Outcome != "cancelled" {
			t.Errorf("emulator record %+v, want the silent stream cancelled", r)
		}
	}
}

// TestUpstreamStallsInsideAFrame: Bedrock sends a delta, then half of the
// next frame, and nothing more. The gateway's event reader waits inside
// the frame; after UPSTREAM_IDLE_TIMEOUT_SECONDS the client still gets the
// first delta and then an in-band upstream_timeout, and the upstream sees
// its connection closed (the Bedrock call is cancelled, the reader ends).
func TestUpstreamStallsInsideAFrame(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.WriteHeader(http.StatusOK)
		next := streamtest.EncodeEvent(t, "contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"text": "never"}})
		_, _ = w.Write(streamtest.EncodeEvent(t, "messageStart", map[string]any{"role": "assistant"}))
		_, _ = w.Write(streamtest.EncodeEvent(t, "contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"text": "first"}}))
		_, _ = w.Write(next[:len(next)/2])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(closed)
		case <-time.After(time.Minute):
		}
	}))
	t.Cleanup(upstream.Close)
	cfg := testConfig()
	cfg.UpstreamIdleTimeout = 300 * time.Millisecond
	cfg.Heartbeat = time.Hour
	_, url, logs := gatewayTo(t, upstream.URL, cfg, nil)

	res := streamtest.Post(t, t.Context(), url+"/stream", "text/event-stream", `{"prompt":"hello"}`)
	var names []string
	for _, ev := range streamtest.ParseSSE(t, res.Chunks) {
		names = append(names, ev.Name+" "+ev.Data)
	}
	if len(names) != 3 || !strings.HasPrefix(names[0], "start ") || names[1] != `delta {"text":"first"}` ||
		!strings.HasPrefix(names[2], "error ") || !strings.Contains(names[2], `"code":"upstream_timeout"`) {
		t.Errorf("events %q; want start, the first delta, then an upstream_timeout error", names)
	}
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Error("the upstream connection was still open 30 s after the stream ended")
	}
	if line := lastLog(t, logs, "/stream"); line["error"] != streaming.CodeUpstreamTimeout || line["deltas"] != 1.0 {
		t.Errorf("log line %v, want error upstream_timeout after 1 delta", line)
	}
}

// TestDeadlineCoversTheWaitForHeaders (issue 8, hole 2): on Lambda the
// margin before the invocation deadline applies from the start of the
// request, including while Bedrock has not answered: the function answers
// 504 deadline itself instead of being killed.
func TestDeadlineCoversTheWaitForHeaders(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.DeadlineMargin = 500 * time.Millisecond
	withDeadline := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	_, url, logs := gatewayTo(t, blackhole(t), cfg, withDeadline)
	res := streamtest.Post(t, t.Context(), url+"/stream", "", `{"prompt":"hello"}`)
	if e := errorOf(t, res.Body); res.Status != http.StatusGatewayTimeout || e.Code != streaming.CodeDeadline {
		t.Errorf("status %d, error %+v; want 504 deadline", res.Status, e)
	}
	if line := lastLog(t, logs, "/stream"); line["status"] != 504.0 || line["error"] != streaming.CodeDeadline || line["clientAborted"] != false {
		t.Errorf("log line %v, want status 504, error deadline, not a client abort", line)
	}
}

// TestCloseWhileWaitingForHeaders (issue 8, hole 2): a request still
// waiting for Bedrock when the server shuts down gets 503 shutting_down,
// and its log line says so.
func TestCloseWhileWaitingForHeaders(t *testing.T) {
	t.Parallel()
	h, url, logs := gatewayTo(t, blackhole(t), testConfig(), nil)
	go func() {
		// Close once the request is waiting on the upstream.
		for len(h.Running()) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		h.Close()
	}()
	res := streamtest.Post(t, t.Context(), url+"/stream", "", `{"prompt":"hello"}`)
	if e := errorOf(t, res.Body); res.Status != http.StatusServiceUnavailable || e.Code != streaming.CodeShuttingDown {
		t.Errorf("status %d, error %+v; want 503 shutting_down", res.Status, e)
	}
	if line := lastLog(t, logs, "/stream"); line["status"] != 503.0 || line["error"] != streaming.CodeShuttingDown {
		t.Errorf("log line %v, want status 503 and error shutting_down", line)
	}
}

// TestNoEchoOfHugeInput (issue 8, hole 3): whatever a client sends, an
// error message quotes at most a few hundred bytes of it.
func TestNoEchoOfHugeInput(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{}, testConfig(), nil)
	huge := strings.Repeat("1", 500_000)
	tests := []struct{ path, body string }{
		{"/stream", `{"prompt":"a","maxTokens":` + huge + `}`},
		{"/stream", `{"prompt":"a","temperature":` + huge + `}`},
		{"/stream", `{"prompt":"a","modelId":"` + huge + `"}`},
		{"/stream", `{"prompt":"a","` + huge + `":1}`},
		{"/stream", `{"prompt":"a","` + huge + `":1,"` + huge + `":2}`},
		{"/stream", `{"messages":[{"role":"` + huge + `","content":"x"}]}`},
		{"/stream?format=" + huge[:5000], `{"prompt":"a"}`},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"max_tokens":` + huge + `}`},
		{"/v1/chat/completions", `{"messages":[{"role":"` + huge + `","content":"x"}]}`},
		{"/v1/chat/completions", `{"model":"` + huge + `","messages":[{"role":"user","content":"x"}]}`},
		{"/generate", `{"input":"a","modelId":"` + huge + `"}`},
	}
	for _, tt := range tests {
		res := streamtest.Post(t, t.Context(), gw.URL+tt.path, "", tt.body)
		if res.Status < 400 || len(res.Body) > 4096 {
			t.Errorf("%s %.60s…: status %d, %d-byte answer; want a 4xx of at most 4 KiB", tt.path, tt.body, res.Status, len(res.Body))
		}
	}
	if n := len(gw.Emu.Records()); n != 0 {
		t.Errorf("the emulator saw %d calls", n)
	}
}

// TestPathsAreNotRedirected (issue 8, hole 5): unclean paths get a 404
// JSON error (no redirect on the API) and the log line its true status; a
// request target over 8 KiB gets 414 and is not copied into the log.
func TestPathsAreNotRedirected(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{}, testConfig(), nil)
	for _, path := range []string{"//stream", "/x/../stream", "/stream/.", "/./stream"} {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/", strings.NewReader(`{"prompt":"a"}`))
		req.URL.Path = path // as sent, not cleaned by the client
		req.Header.Set("Content-Type", "application/json")
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if e := errorOf(t, body); resp.StatusCode != http.StatusNotFound || e.Code != streaming.CodeNotFound {
			t.Errorf("POST %s: status %d, error %+v; want 404 not_found", path, resp.StatusCode, e)
		}
		if line := lastLog(t, gw.Logs, path); line["status"] != 404.0 {
			t.Errorf("POST %s: logged status %v, want 404", path, line["status"])
		}
	}
	long := "/" + strings.Repeat("a", 9000)
	res := streamtest.Post(t, t.Context(), gw.URL+long, "", `{"prompt":"a"}`)
	if e := errorOf(t, res.Body); res.Status != http.StatusRequestURITooLong || e.Code != streaming.CodeURITooLong {
		t.Errorf("9 KB path: status %d, error %+v; want 414 uri_too_long", res.Status, e)
	}
	for _, line := range logLines(t, gw.Logs) {
		if p, _ := line["path"].(string); len(p) > 300 {
			t.Errorf("a log line holds a %d-byte path", len(p))
		}
	}
	if n := len(gw.Emu.Records()); n != 0 {
		t.Errorf("the emulator saw %d calls", n)
	}
}

// TestHTTP10TextFailureResetsTheConnection (issue 8, hole 6): an HTTP/1.0
// response has no chunked framing, so a clean close would look like a
// complete answer. A text stream that fails mid-way resets the connection
// instead, while a complete one ends with a clean close.
func TestHTTP10TextFailureResetsTheConnection(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, testConfig(), nil)
	send := func(model string) ([]byte, error) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		body := `{"prompt":"hello","modelId":"` + model + `"}`
		fmt.Fprintf(conn, "POST /stream HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		return io.ReadAll(conn)
	}
	whole, err := send("emulator.fast-v1")
	if err != nil || !strings.HasPrefix(string(whole), "HTTP/1.0 200") {
		t.Fatalf("complete answer: err %v, response %q", err, whole)
	}
	cut, err := send("emulator.midstream-error-v1")
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("failed answer: read ended with %v after %q; want a connection reset", err, cut)
	}
}

// TestNoKeepAliveWhileDeltasFlow (issue 8, item 8): the heartbeat is reset
// by every delta, so a keep-alive only follows a silence of about
// HEARTBEAT_SECONDS. Removing the reset makes keep-alives appear right
// after deltas, which this test catches.
func TestNoKeepAliveWhileDeltasFlow(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Heartbeat = 600 * time.Millisecond
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 50}, cfg, nil) // a delta every 20 ms
	// An answer of 90 deltas or more: longer than three heartbeats.
	prompt := longAnswerPrompt(t, 90)
	res := streamtest.Post(t, t.Context(), gw.URL+"/stream", "text/event-stream", `{"prompt":"`+prompt+`"}`)
	events := streamtest.ParseSSE(t, res.Chunks)
	for i, ev := range events {
		if ev.Name != ":" || i == 0 {
			continue
		}
		// A keep-alive is due only after a real silence; a busy machine
		// may delay a delta, so a keep-alive after a long gap is fine.
		if gap := ev.At.Sub(events[i-1].At); gap < cfg.Heartbeat/2 {
			t.Errorf("keep-alive %v after the previous event while deltas were flowing", gap)
		}
	}
}

// longAnswerPrompt finds a prompt whose steady-v1 answer has at least n
// deltas (answers are 40 to 120 words, chosen by the prompt's hash).
func longAnswerPrompt(t *testing.T, n int) string {
	t.Helper()
	for i := range 1000 {
		prompt := fmt.Sprintf("tell me a long story, take %d", i)
		if deltas, _ := emulator.Answer("emulator.steady-v1", prompt, 0); len(deltas) >= n {
			return prompt
		}
	}
	t.Fatalf("no prompt with an answer of %d deltas", n)
	return ""
}

// TestDuplicateAndCaseVariantKeys (issue 8, hole 4): /stream refuses a key
// given twice and a key in another case, naming it; /v1/* accepts another
// case but never a duplicate. Keys inside a tool's JSON schema are the
// caller's own and may be in any case.
func TestDuplicateAndCaseVariantKeys(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, testConfig(), nil)
	tests := []struct {
		path, body string
		wantStatus int
		wantText   string
	}{
		{"/stream", `{"prompt":"a","modelId":"emulator.fast-v1","modelId":"emulator.long-v1"}`, 400, `"modelId" appears twice`},
		{"/stream", `{"prompt":"a","MODELID":"emulator.fast-v1"}`, 400, `"MODELID" must be spelt "modelId"`},
		{"/stream", `{"prompt":"a","MaxTokens":2}`, 400, `"MaxTokens" must be spelt "maxTokens"`},
		{"/stream", `{"messages":[{"role":"user","Content":"x"}]}`, 400, `"Content" must be spelt "content"`},
		{"/stream", `{"messages":[{"role":"user","content":"x","content":"y"}]}`, 400, `"content" appears twice`},
		{"/v1/chat/completions", `{"model":"emulator.fast-v1","model":"emulator.long-v1","messages":[{"role":"user","content":"x"}]}`, 400, `"model" appears twice`},
		{"/v1/chat/completions", `{"MODEL":"emulator.fast-v1","messages":[{"role":"user","content":"x"}],"max_tokens":2}`, 200, ""},
		{"/stream", `{"prompt":"a","maxTokens":2,"tools":[{"name":"t","inputSchema":{"type":"object","properties":{"Prompt":{"type":"string"},"prompt":{"type":"string"}}}}]}`, 200, ""},
	}
	for _, tt := range tests {
		res := streamtest.Post(t, t.Context(), gw.URL+tt.path, "", tt.body)
		var msg string
		if res.Status >= 400 {
			msg = errorOf(t, res.Body).Message
		}
		if res.Status != tt.wantStatus || !strings.Contains(msg, tt.wantText) {
			t.Errorf("%s %s: status %d, body %s; want %d with %q", tt.path, tt.body, res.Status, res.Body, tt.wantStatus, tt.wantText)
		}
		if tt.wantStatus == 400 && !strings.Contains(string(res.Body), streaming.CodeInvalidJSON) {
			t.Errorf("%s: body %s, want code invalid_json", tt.body, res.Body)
		}
	}
	if n := len(waitIdle(t, gw.Emu)); n != 2 {
		t.Errorf("the emulator saw %d calls, want 2 (the accepted requests only)", n)
	}
}

// TestCORSRefusalsAreLogged (issue 12, item 3): the browser only says
// "Failed to fetch", so the log line says why an Origin got no CORS
// headers; the page's own origin is not a refusal.
func TestCORSRefusalsAreLogged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, allow, origin, wantCORS string
	}{
		{"CORS off", "", "https://other.example", "refused: CORS is off (CORS_ALLOW_ORIGINS is empty)"},
		{"origin not allowed", "https://chat.example", "https://other.example", `refused: origin "https://other.example" is not in CORS_ALLOW_ORIGINS`},
		{"allowed", "https://chat.example", "https://chat.example", ""},
		{"same origin", "", "SAME", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			if tt.allow != "" {
				cfg.CORSAllowOrigins = []string{tt.allow}
			}
			cfg.CORSAllowHeaders = []string{"X-Trace"}
			gw := newTestGateway(t, emulator.Options{}, cfg, nil)
			origin := tt.origin
			if origin == "SAME" {
				origin = gw.URL
			}
			req, _ := http.NewRequest(http.MethodOptions, gw.URL+"/stream", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			res := streamtest.Do(t, req)
			line := lastLog(t, gw.Logs, "/stream")
			if got, _ := line["cors"].(string); got != tt.wantCORS {
				t.Errorf("log cors %q, want %q", got, tt.wantCORS)
			}
			allowed := res.Header.Get("Access-Control-Allow-Headers")
			if tt.name == "allowed" && (!strings.HasPrefix(allowed, "Content-Type, Accept, Authorization, X-Api-Key, X-Request-Id, Anthropic-Version, ") ||
				!strings.HasSuffix(allowed, ", X-Trace")) {
				t.Errorf("allowed headers %q; want the built-in ones and CORS_ALLOW_HEADERS", res.Header.Get("Access-Control-Allow-Headers"))
			}
		})
	}
}

// TestClientThatStopsReading: a client that keeps its connection open but
// reads nothing fills the socket buffers until the gateway's write blocks;
// after UPSTREAM_IDLE_TIMEOUT_SECONDS without progress the write is cut,
// Bedrock is cancelled and the log line says what happened, instead of the
// request hanging forever on a write.
func TestClientThatStopsReading(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxTokens = 200_000
	cfg.UpstreamIdleTimeout = time.Second
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 100_000}, cfg, nil)
	// Served with small send buffers, so that the gateway's writes block
	// within a few deltas: before that, on a busy machine, a pause of the
	// emulator could pass for a silent upstream.
	srv := httptest.NewUnstartedServer(gw.Handler)
	srv.Listener = smallSendBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A small receive buffer, so that the gateway's writes block soon.
	conn.(*net.TCPConn).SetReadBuffer(4096)
	body := `{"prompt":"x","modelId":"emulator.timestamp-v1","maxTokens":200000}`
	fmt.Fprintf(conn, "POST /stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	// Read nothing. The request must end on its own, with its log line.
	line := gw.Logs.WaitFor(t, regexp.MustCompile(`"path":"/stream".*"clientAborted":true.*"cause":"(the client read nothing for [^"]*)"`), 30*time.Second)
	if line[1] != "the client read nothing for 1s" {
		t.Errorf("cause %q", line[1])
	}
	records := waitIdle(t, gw.Emu)
	if len(records) != 1 || records[0].Outcome != "cancelled" || records[0].DeltasSent >= 200_000 {
		t.Errorf("emulator records %+v; want the stream cancelled early", records)
	}
}

// smallSendBuffers gives each accepted connection a small send buffer.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetWriteBuffer(4096)
	}
	return c, err
}
