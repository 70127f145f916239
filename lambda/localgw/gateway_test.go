package localgw_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// fnPath is the test function (testdata/fn), built once by TestMain.
var fnPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "localgw-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fnPath = filepath.Join(dir, "fn")
	build := exec.Command("go", "build", "-o", fnPath, "./testdata/fn")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building testdata/fn:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type env struct {
	gw        *localgw.Gateway
	srv       *httptest.Server
	logs      *streamtest.Buffer // gateway slog (JSON)
	out       *streamtest.Buffer // children's stdout/stderr
	reportDir string
}

// start runs a Gateway over the test function behind an httptest.Server.
// Instances defaults to 1 here.
func start(t *testing.T, cfg localgw.Config) *env {
	t.Helper()
	e := &env{logs: &streamtest.Buffer{}, out: &streamtest.Buffer{}, reportDir: t.TempDir()}
	if cfg.Instances == 0 {
		cfg.Instances = 1
	}
	cfg.Bootstrap = fnPath
	cfg.Stderr = e.out
	cfg.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Env = append(cfg.Env, "FN_REPORT_DIR="+e.reportDir)
	gw, err := localgw.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.gw = gw
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", e.logs.String())
			out := e.out.String()
			if len(out) > 4000 {
				out = "…" + out[len(out)-4000:]
			}
			t.Logf("function output:\n%s", out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := gw.Start(ctx); err != nil {
		gw.Close()
		t.Fatalf("Start: %v", err)
	}
	e.srv = httptest.NewServer(gw)
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { gw.Close() }) // runs first: ends streams so that srv.Close does not wait
	return e
}

func (e *env) url(path string) string { return e.srv.URL + path }

func (e *env) get(t *testing.T, path string) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := e.srv.Client().Get(e.url(path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// mustGet fetches path and fails the test unless the body was read cleanly.
func (e *env) mustGet(t *testing.T, path string, wantStatus int) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := e.get(t, path)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v (got %q)", path, err, body)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d, want %d; body %q", path, resp.StatusCode, wantStatus, body)
	}
	return resp, body
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantGatewayError(t *testing.T, resp *http.Response, body []byte, status int, message string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got struct{ Message string }
	if err := json.Unmarshal(body, &got); err != nil || got.Message != message {
		t.Errorf("body %q, want {\"message\": %q}", body, message)
	}
	if resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Errorf("no x-amzn-RequestId header on the error response")
	}
}

func TestChunksAreStreamedAsTheyArrive(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{})
	const n, gap = 5, 150 * time.Millisecond

	begin := time.Now()
	resp, err := e.srv.Client().Get(e.url(fmt.Sprintf("/chunks?n=%d&gap=%s", n, gap)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	headersAt := time.Since(begin)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain" {
		t.Errorf("Content-Type %q, want text/plain (from the prelude)", ct)
	}
	if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("want a chunked response, got ContentLength %d TransferEncoding %v", resp.ContentLength, resp.TransferEncoding)
	}

	var arrivals []time.Duration
	br := bufio.NewReader(resp.Body)
	for i := 0; ; i++ {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			break
		}
		if err != nil {
			t.Fatalf("reading chunk %d: %v", i, err)
		}
		if want := fmt.Sprintf("chunk %d\n", i); line != want {
			t.Fatalf("chunk %d = %q, want %q", i, line, want)
		}
		arrivals = append(arrivals, time.Since(begin))
	}
	if len(arrivals) != n {
		t.Fatalf("got %d chunks, want %d", len(arrivals), n)
	}
	// Buffering anywhere would deliver them in one burst at the end.
	spread := arrivals[n-1] - arrivals[0]
	if min := time.Duration(n-1) * gap * 8 / 10; spread < min {
		t.Errorf("chunks arrived within %v of each other, want at least %v (the function waits %v between them): %v", spread, min, gap, arrivals)
	}
	for i := 1; i < n; i++ {
		if d := arrivals[i] - arrivals[i-1]; d < gap/2 {
			t.Errorf("chunk %d arrived %v after chunk %d, want about %v: %v", i, d, i-1, gap, arrivals)
		}
	}
	if arrivals[0]-headersAt > gap/2 {
		t.Errorf("first chunk arrived %v after the headers, want it at once", arrivals[0]-headersAt)
	}
}

func TestPreludeStatusHeadersAndCookies(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{})
	resp, body := e.mustGet(t, "/status418", http.StatusTeapot)
	if string(body) != "I'm a teapot" {
		t.Errorf("body %q", body)
	}
	if got := resp.Header.Get("X-Teapot"); got != "short" {
		t.Errorf("X-Teapot %q", got)
	}
	if got := resp.Header.Values("X-Multi"); !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("X-Multi %q, want [a b]", got)
	}
	if got := resp.Header.Values("Set-Cookie"); !cmp.Equal(got, []string{"a=1; Path=/", "b=2"}) {
		t.Errorf("Set-Cookie %q", got)
	}
	if resp.Close {
		t.Errorf("the function's hop-by-hop Connection: close was forwarded")
	}
	for _, h := range []string{"X-Amzn-Requestid", "X-Amz-Apigw-Id", "X-Amzn-Trace-Id"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
}

func TestFunctionErrorBeforeStreamIs502(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{})
	resp, body, err := e.get(t, "/fail-before")
	if err != nil {
		t.Fatal(err)
	}
	wantGatewayError(t, resp, body, http.StatusBadGateway, "Internal server error")
	if !strings.Contains(e.logs.String(), "boom before the stream") {
		t.Errorf("the function's error message is not logged")
	}
	// A function error keeps the instance (no restart).
	e.mustGet(t, "/chunks?n=1", 200)
	if n := len(e.gw.ColdStarts()); n != 1 {
		t.Errorf("%d cold starts after a function error, want 1", n)
	}
}

func TestFunctionErrorMidStreamAbortsClient(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{})
	resp, body, err := e.get(t, "/fail-mid")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200 (headers were sent before the failure)", resp.StatusCode)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading the body: err = %v, want unexpected EOF (an aborted chunked body)", err)
	}
	if string(body) != "partial" {
		t.Errorf("body %q, want the bytes sent before the failure", body)
	}
	waitFor(t, "the error trailers to be logged", 2*time.Second, func() bool {
		return strings.Contains(e.logs.String(), "boom in the middle")
	})
	// aws-lambda-go got 202 for the failed stream and keeps the process.
	e.mustGet(t, "/chunks?n=1", 200)
	if n := len(e.gw.ColdStarts()); n != 1 {
		t.Errorf("%d cold starts, want 1", n)
	}
}

func TestIntegrationTimeout(t *testing.T) {
	t.Parallel()
	// Two instances: the first case leaves one busy in its 5 s sleep.
	e := start(t, localgw.Config{Instances: 2, Timeout: time.Second, FunctionTimeout: 30 * time.Second})

	t.Run("before the first byte", func(t *testing.T) {
		begin := time.Now()
		resp, body, err := e.get(t, "/slow?d=5s")
		if err != nil {
			t.Fatal(err)
		}
		wantGatewayError(t, resp, body, http.StatusGatewayTimeout, "Endpoint request timed out")
		if d := time.Since(begin); d < 900*time.Millisecond || d > 3*time.Second {
			t.Errorf("504 after %v, want about 1s", d)
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		begin := time.Now()
		resp, body, err := e.get(t, "/chunks?n=20&gap=100ms")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v, want unexpected EOF", err)
		}
		if !strings.HasPrefix(string(body), "chunk 0\n") {
			t.Errorf("body %q", body)
		}
		if d := time.Since(begin); d > 3*time.Second {
			t.Errorf("aborted after %v, want about 1s", d)
		}
		// As on AWS, the integration timeout does not stop the function:
		// it runs to the end of its response, which is drained.
		drained := e.waitLogLine(t, "function response drained", resp.Header.Get("X-Amzn-Requestid"), 10*time.Second)
		if drained["why"] != "integration_timeout" || drained["end"] != "complete" {
			t.Errorf("drained log line %v, want why integration_timeout, end complete", drained)
		}
	})
	if !strings.Contains(e.logs.String(), `"outcome":"integration_timeout"`) {
		t.Errorf("the timeouts are not logged")
	}
}

func TestIdleTimeoutAbortsStream(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{IdleTimeout: 300 * time.Millisecond})
	begin := time.Now()
	resp, body, err := e.get(t, "/chunks?n=3&gap=2s")
	if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("status %d, err %v: want 200 then an aborted body", resp.StatusCode, err)
	}
	if string(body) != "chunk 0\n" {
		t.Errorf("body %q", body)
	}
	if d := time.Since(begin); d > 1500*time.Millisecond {
		t.Errorf("aborted after %v, want about 300ms", d)
	}
	if !strings.Contains(e.logs.String(), `"outcome":"idle_timeout"`) {
		t.Errorf("idle timeout not logged")
	}
	// The function is not stopped: its response is drained.
	if l := e.waitLogLine(t, "function response abandoned; draining it until the function ends it or times out", resp.Header.Get("X-Amzn-Requestid"), time.Second); l["why"] != "idle_timeout" {
		t.Errorf("abandoned log line %v, want why idle_timeout", l)
	}
}

// logLines returns the gateway's JSON log lines with message msg whose
// request_id is id.
func (e *env) logLines(t *testing.T, msg, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("gateway log line is not JSON: %q", line)
		}
		if m["msg"] == msg && m["request_id"] == id {
			out = append(out, m)
		}
	}
	return out
}

// waitLogLine waits for the one log line msg about request id.
func (e *env) waitLogLine(t *testing.T, msg, id string, timeout time.Duration) map[string]any {
	t.Helper()
	var lines []map[string]any
	waitFor(t, fmt.Sprintf("log line %q for request %s", msg, id), timeout, func() bool {
		lines = e.logLines(t, msg, id)
		return len(lines) > 0
	})
	if len(lines) != 1 {
		t.Fatalf("%d log lines %q for request %s, want 1: %v", len(lines), msg, id, lines)
	}
	return lines[0]
}

// openStream starts a GET whose client can be cancelled, and reads its
// first line.
func (e *env) openStream(t *testing.T, path string) (resp *http.Response, first string, cancel context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url(path), nil)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first, err = bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatalf("first line %q, %v", first, err)
	}
	return resp, first, cancel
}

// TestClientDisconnectDrainsFunction: by default a client disconnect is
// what it is on AWS. The function is not told: its writes after the
// disconnect succeed, it ends its response normally (202, no restart), and
// localgw logs that it drained the bytes nobody read.
func TestClientDisconnectDrainsFunction(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{})
	const n = 50
	resp, first, cancel := e.openStream(t, fmt.Sprintf("/gated?id=drain&n=%d", n))
	id := resp.Header.Get("X-Amzn-Requestid")
	if first != "before\n" {
		t.Fatalf("first line %q", first)
	}
	cancel() // the client disconnects mid-stream
	// Only once the gateway has given up on the client does the function
	// write the rest, so that every byte of it is drained.
	e.waitLogLine(t, "request", id, 5*time.Second)
	abandoned := e.waitLogLine(t, "function response abandoned; draining it until the function ends it or times out", id, time.Second)
	if abandoned["why"] != "client_disconnected" || abandoned["on_disconnect"] != "drain" {
		t.Errorf("abandoned log line %v, want why client_disconnected, on_disconnect drain", abandoned)
	}
	if err := os.WriteFile(filepath.Join(e.reportDir, "drain.gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	drained := e.waitLogLine(t, "function response drained", id, 5*time.Second)
	rest := 0
	for i := range n {
		rest += len(fmt.Sprintf("after %d\n", i))
	}
	if drained["end"] != "complete" || drained["bytes_discarded"] != float64(rest) || drained["why"] != "client_disconnected" {
		t.Errorf("drained log line %v, want end complete, bytes_discarded %d, why client_disconnected", drained, rest)
	}
	if ms, ok := drained["drain_ms"].(float64); !ok || ms <= 0 {
		t.Errorf("drain_ms = %v, want how long the drain took", drained["drain_ms"])
	}
	report, _ := os.ReadFile(filepath.Join(e.reportDir, "drain"))
	if got := strings.TrimSpace(string(report)); got != fmt.Sprintf("wrote all %d (ctx err: <nil>)", n) {
		t.Errorf("the function reported %q; want all its writes to succeed and its context alive, as on Lambda", got)
	}
	// The function answered normally: same process, next request served.
	e.mustGet(t, "/chunks?n=1", 200)
	if cs := len(e.gw.ColdStarts()); cs != 1 {
		t.Errorf("%d cold starts, want 1: a drained function keeps its process", cs)
	}
}

// TestDrainedFunctionEndsAtItsTimeout: a function that never ends its
// response runs on after the client left, until Lambda's timeout kills it.
func TestDrainedFunctionEndsAtItsTimeout(t *testing.T) {
	t.Parallel()
	const functionTimeout = 1500 * time.Millisecond
	e := start(t, localgw.Config{FunctionTimeout: functionTimeout})
	begin := time.Now()
	resp, _, cancel := e.openStream(t, "/hang?id=forever&ignore-ctx=1")
	id := resp.Header.Get("X-Amzn-Requestid")
	cancel()
	drained := e.waitLogLine(t, "function response drained", id, 10*time.Second)
	if took := time.Since(begin); took < functionTimeout {
		t.Errorf("the drain ended after %v, before the %v function timeout", took, functionTimeout)
	}
	if drained["end"] != "timed_out" || drained["bytes_discarded"].(float64) <= 0 {
		t.Errorf("drained log line %v, want end timed_out and the ticks written after the disconnect discarded", drained)
	}
	if !strings.Contains(e.logs.String(), "Task timed out after 1.50 seconds") {
		t.Errorf("the timeout is not logged")
	}
	if b, err := os.ReadFile(filepath.Join(e.reportDir, "forever")); err == nil {
		t.Errorf("the function noticed something before it was killed: %q", b)
	}
	waitFor(t, "the killed instance to be replaced", 5*time.Second, func() bool { return len(e.gw.ColdStarts()) == 2 })
}

// TestClientDisconnectCloseModeReachesFunction checks the Close model
// (Config.OnDisconnect = Close), which AWS does not have: the client goes
// away, localgw closes the function's response connection, the function's
// next writes fail, and the instance is replaced by a fresh one that
// serves the next request.
func TestClientDisconnectCloseModeReachesFunction(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{OnDisconnect: localgw.Close})
	resp, first, cancel := e.openStream(t, "/hang?id=disconnect")
	if first != "tick 0\n" {
		t.Fatalf("first line %q", first)
	}
	id := resp.Header.Get("X-Amzn-Requestid")
	cancel() // the client disconnects mid-stream

	report := filepath.Join(e.reportDir, "disconnect")
	var got string
	waitFor(t, "the function to report its failed write", 5*time.Second, func() bool {
		b, _ := os.ReadFile(report)
		got = string(b)
		return strings.Contains(got, "write failed")
	})
	t.Logf("the function observed:\n%s", got)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 2 || lines[0] != "body closed" || !strings.HasPrefix(lines[1], "write failed: io: read/write on closed pipe") {
		t.Errorf("the function observed %q; want its response body closed, then its next write failing with io.ErrClosedPipe", lines)
	}

	waitFor(t, "the instance to be restarted", 5*time.Second, func() bool {
		return len(e.gw.ColdStarts()) == 2
	})
	e.mustGet(t, "/chunks?n=2&gap=1ms", 200)
	if l := e.waitLogLine(t, "request", id, time.Second); l["outcome"] != "client_disconnected" {
		t.Errorf("request log line %v, want outcome client_disconnected", l)
	}
	e.waitLogLine(t, "function response abandoned; closing its connection", id, time.Second)
	if n := len(e.logLines(t, "function response drained", id)); n != 0 {
		t.Errorf("Close mode logged a drain")
	}
}

// TestDeadlineCountsFromInvocationStart: Lambda-Runtime-Deadline-Ms is the
// function timeout from the moment the invocation starts, not from the
// HTTP request: a request that waited for the only instance still gets
// its whole timeout.
func TestDeadlineCountsFromInvocationStart(t *testing.T) {
	t.Parallel()
	const functionTimeout, hold = 5 * time.Second, time.Second
	e := start(t, localgw.Config{Instances: 1, FunctionTimeout: functionTimeout})
	type seen struct{ StartMs, DeadlineMs int64 }
	sent := time.Now()
	results := make([]seen, 2)
	errs := make(chan error, 2)
	for i := range results {
		go func() {
			resp, err := e.srv.Client().Get(e.url("/deadline?sleep=" + hold.String()))
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&results[i])
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	for range results {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	first, second := results[0], results[1]
	if second.StartMs < first.StartMs {
		first, second = second, first
	}
	for _, r := range results {
		if got := time.Duration(r.DeadlineMs-r.StartMs) * time.Millisecond; got > functionTimeout || got <= 0 {
			t.Errorf("deadline %v after the invocation started, want at most the %v timeout", got, functionTimeout)
		}
	}
	// The second invocation started after the first one's hold.
	if got, want := time.UnixMilli(second.DeadlineMs).Sub(sent), functionTimeout+hold-time.Millisecond; got < want {
		t.Errorf("the queued invocation's deadline is %v after the request was sent, want at least %v (its own full timeout after waiting %v)", got, want, hold)
	}
}

func TestCrashedInstanceIsRestarted(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{})

	resp, body, err := e.get(t, "/crash")
	if err != nil {
		t.Fatal(err)
	}
	wantGatewayError(t, resp, body, http.StatusBadGateway, "Internal server error")
	e.mustGet(t, "/chunks?n=1", 200)

	resp, body, err = e.get(t, "/crash-mid")
	if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) || string(body) != "partial" {
		t.Fatalf("status %d, body %q, err %v: want 200, \"partial\", then an aborted body", resp.StatusCode, body, err)
	}
	e.mustGet(t, "/chunks?n=1", 200)
	if n := len(e.gw.ColdStarts()); n != 3 {
		t.Errorf("%d cold starts, want 3 (two crashes)", n)
	}
	if !strings.Contains(e.out.String(), "fn: crashing on purpose") {
		t.Errorf("the child's output did not reach Stderr")
	}
}

func TestFunctionTimeoutKillsInstance(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{Timeout: 10 * time.Second, FunctionTimeout: 500 * time.Millisecond})
	begin := time.Now()
	resp, body, err := e.get(t, "/sleep-ignore?d=5s")
	if err != nil {
		t.Fatal(err)
	}
	wantGatewayError(t, resp, body, http.StatusBadGateway, "Internal server error")
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("502 after %v, want about 500ms", d)
	}
	if !strings.Contains(e.logs.String(), "Task timed out after 0.50 seconds") {
		t.Errorf("timeout not logged")
	}
	e.mustGet(t, "/chunks?n=1", 200)
	if n := len(e.gw.ColdStarts()); n != 2 {
		t.Errorf("%d cold starts, want 2", n)
	}
}

type slowResult struct {
	Start, End int64
	PID        int
}

func concurrentSlow(t *testing.T, e *env, d time.Duration) (a, b slowResult) {
	t.Helper()
	var wg sync.WaitGroup
	res := make([]slowResult, 2)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.srv.Client().Get(e.url("/slow?d=" + d.String()))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(&res[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	return res[0], res[1]
}

func TestTwoInstancesServeConcurrently(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{Instances: 2})
	a, b := concurrentSlow(t, e, 700*time.Millisecond)
	if !(a.Start < b.End && b.Start < a.End) {
		t.Errorf("the two invocations did not overlap: %+v %+v", a, b)
	}
	if a.PID == b.PID {
		t.Errorf("both ran in pid %d", a.PID)
	}
}

func TestOneInvocationAtATimePerInstance(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{Instances: 1})
	a, b := concurrentSlow(t, e, 300*time.Millisecond)
	if a.Start < b.End && b.Start < a.End {
		t.Errorf("two invocations overlapped on one instance: %+v %+v", a, b)
	}
}

func TestColdStartsRecorded(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{Instances: 3})
	cs := e.gw.ColdStarts()
	if len(cs) != 3 {
		t.Fatalf("ColdStarts() = %v, want 3 entries", cs)
	}
	for _, d := range cs {
		if d <= 0 || d > 20*time.Second {
			t.Errorf("cold start %v out of range", d)
		}
	}
	if got := strings.Count(e.logs.String(), `"msg":"cold start"`); got != 3 {
		t.Errorf("%d cold start log lines, want 3", got)
	}
}

type echoed struct {
	Event         events.APIGatewayProxyRequest
	DecodedBody   []byte
	AwsRequestID  string
	FunctionArn   string
	DeadlineMs    int64
	FunctionName  string
	Memory        int
	LogStreamName string
	Env           map[string]string
}

func TestEventFromRequest(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{
		FunctionTimeout: 120 * time.Second,
		Env:             []string{"AWS_REGION=eu-west-3", "FN_EXTRA=yes"},
	})

	binary := []byte{0xff, 0x00, 0xfe, 'a'}
	req, _ := http.NewRequest("POST", e.url("/echo?a=1&a=2&b=x%20y"), bytes.NewReader(binary))
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Set("User-Agent", "localgw-test")
	sent := time.Now()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got echoed
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	ev := got.Event

	if !ev.IsBase64Encoded || !bytes.Equal(got.DecodedBody, binary) {
		t.Errorf("binary body: isBase64Encoded=%v decoded=%v, want true and %v", ev.IsBase64Encoded, got.DecodedBody, binary)
	}
	if ev.HTTPMethod != "POST" || ev.Path != "/echo" || ev.Resource != "/{proxy+}" {
		t.Errorf("method/path/resource = %q %q %q", ev.HTTPMethod, ev.Path, ev.Resource)
	}
	if diff := cmp.Diff(map[string]string{"proxy": "echo"}, ev.PathParameters); diff != "" {
		t.Errorf("pathParameters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"one", "two"}, ev.MultiValueHeaders["X-Multi"]); diff != "" {
		t.Errorf("multiValueHeaders X-Multi (-want +got):\n%s", diff)
	}
	if ev.Headers["X-Multi"] != "two" {
		t.Errorf("headers X-Multi = %q, want the last value", ev.Headers["X-Multi"])
	}
	if diff := cmp.Diff(map[string][]string{"a": {"1", "2"}, "b": {"x y"}}, ev.MultiValueQueryStringParameters); diff != "" {
		t.Errorf("multiValueQueryStringParameters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"a": "2", "b": "x y"}, ev.QueryStringParameters); diff != "" {
		t.Errorf("queryStringParameters (-want +got):\n%s", diff)
	}
	for _, h := range []string{"Host", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Amzn-Trace-Id"} {
		if ev.Headers[h] == "" {
			t.Errorf("header %s missing from the event", h)
		}
	}
	rc := ev.RequestContext
	if rc.RequestID == "" || rc.RequestID != resp.Header.Get("X-Amzn-Requestid") {
		t.Errorf("requestContext.requestId %q, response x-amzn-RequestId %q: want equal", rc.RequestID, resp.Header.Get("X-Amzn-Requestid"))
	}
	if rc.ExtendedRequestID == "" || rc.ExtendedRequestID != resp.Header.Get("X-Amz-Apigw-Id") {
		t.Errorf("extendedRequestId %q vs x-amz-apigw-id %q", rc.ExtendedRequestID, resp.Header.Get("X-Amz-Apigw-Id"))
	}
	if rc.Stage != "local" || rc.Path != "/local/echo" || rc.ResourcePath != "/{proxy+}" || rc.HTTPMethod != "POST" {
		t.Errorf("requestContext stage/path/resourcePath/method = %q %q %q %q", rc.Stage, rc.Path, rc.ResourcePath, rc.HTTPMethod)
	}
	if rc.AccountID != "123456789012" || rc.APIID != "local" || rc.Protocol != "HTTP/1.1" || rc.DomainName != "127.0.0.1" {
		t.Errorf("requestContext account/api/protocol/domain = %q %q %q %q", rc.AccountID, rc.APIID, rc.Protocol, rc.DomainName)
	}
	if rc.Identity.SourceIP != "127.0.0.1" || rc.Identity.UserAgent != "localgw-test" {
		t.Errorf("identity = %+v", rc.Identity)
	}
	if d := time.UnixMilli(rc.RequestTimeEpoch).Sub(sent); d < -time.Second || d > 5*time.Second || rc.RequestTime == "" {
		t.Errorf("requestTime %q / epoch %d not the request's time", rc.RequestTime, rc.RequestTimeEpoch)
	}

	// What the Lambda side saw.
	if got.AwsRequestID == "" || got.AwsRequestID == rc.RequestID {
		t.Errorf("Lambda request id %q should be its own id", got.AwsRequestID)
	}
	if got.FunctionArn != "arn:aws:lambda:eu-west-3:123456789012:function:localgw" {
		t.Errorf("function ARN %q", got.FunctionArn)
	}
	if d := time.UnixMilli(got.DeadlineMs).Sub(sent); d < 110*time.Second || d > 125*time.Second {
		t.Errorf("deadline %v after the request, want about the 120s function timeout", d)
	}
	if got.FunctionName != "localgw" || got.Memory != 128 || !strings.Contains(got.LogStreamName, "[$LATEST]") {
		t.Errorf("lambdacontext: name %q memory %d log stream %q", got.FunctionName, got.Memory, got.LogStreamName)
	}
	wantEnv := map[string]string{
		"AWS_REGION":                  "eu-west-3",
		"AWS_DEFAULT_REGION":          "eu-west-3",
		"_HANDLER":                    "bootstrap",
		"AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":   "/aws/lambda/localgw",
		"FN_EXTRA":                    "yes",
		"_X_AMZN_TRACE_ID":            got.Env["_X_AMZN_TRACE_ID"],
	}
	if diff := cmp.Diff(wantEnv, got.Env); diff != "" {
		t.Errorf("child environment (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got.Env["_X_AMZN_TRACE_ID"], ev.Headers["X-Amzn-Trace-Id"]) {
		t.Errorf("trace id %q does not continue the event's %q", got.Env["_X_AMZN_TRACE_ID"], ev.Headers["X-Amzn-Trace-Id"])
	}

	t.Run("text body, no query, root path", func(t *testing.T) {
		resp, err := e.srv.Client().Post(e.url("/echo"), "text/plain", strings.NewReader("héllo"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got echoed
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if got.Event.IsBase64Encoded || got.Event.Body != "héllo" {
			t.Errorf("body %q isBase64Encoded %v, want the plain UTF-8 string", got.Event.Body, got.Event.IsBase64Encoded)
		}
		if got.Event.QueryStringParameters != nil || got.Event.MultiValueQueryStringParameters != nil {
			t.Errorf("query maps should be nil without a query string")
		}
	})
}

func TestHandlerIsPassed(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{Handler: "streamgate.gateway"})
	resp, err := e.srv.Client().Get(e.url("/echo"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got echoed
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Env["_HANDLER"] != "streamgate.gateway" {
		t.Errorf("_HANDLER = %q, want Config.Handler", got.Env["_HANDLER"])
	}
}

func TestRootPathEvent(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{Stage: "prod"})
	resp, body, err := e.get(t, "/")
	if err != nil || resp.StatusCode != 404 || string(body) != "no route /" {
		t.Fatalf("GET /: %d %q %v (the test function answers 404 \"no route <path>\")", resp.StatusCode, body, err)
	}
}

func TestBufferedResponse(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{})
	resp, body := e.mustGet(t, "/buffered", http.StatusCreated)
	if string(body) != "buffered body" || resp.ContentLength != int64(len("buffered body")) {
		t.Errorf("body %q, Content-Length %d", body, resp.ContentLength)
	}
	if resp.Header.Get("X-Mode") != "buffered" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("headers %v", resp.Header)
	}
	if got := resp.Header.Values("X-Multi"); !cmp.Equal(got, []string{"1", "2"}) {
		t.Errorf("X-Multi %q", got)
	}
	_, body = e.mustGet(t, "/buffered?b64=1", http.StatusCreated)
	if !bytes.Equal(body, []byte{0, 1, 2, 0xff}) {
		t.Errorf("base64 body decoded to %v", body)
	}
}

func TestRequestTooLarge(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{})
	big := bytes.Repeat([]byte("x"), localgw.MaxRequestBodyBytes+1)
	resp, err := e.srv.Client().Post(e.url("/echo"), "text/plain", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	wantGatewayError(t, resp, body, http.StatusRequestEntityTooLarge, "Request Too Long")
}

func TestChildLogLinesStayWhole(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{Instances: 2})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.srv.Client().Get(e.url("/log"))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	// The children's output is copied from a pipe: it may trail the responses.
	waitFor(t, "both big log lines", 5*time.Second, func() bool {
		return strings.Count(e.out.String(), `"msg":"big"`) == 2
	})
	for _, line := range strings.Split(e.out.String(), "\n") {
		if !strings.Contains(line, `"msg":"big"`) {
			continue
		}
		var v struct{ Pad string }
		if err := json.Unmarshal([]byte(line), &v); err != nil || len(v.Pad) != 100_000 {
			t.Errorf("a 100 kB JSON log line was split or interleaved (len %d, err %v)", len(line), err)
		}
	}
}

func TestStartFailsOnInitError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ mode, want string }{
		{"init-error", "ConfigError: missing configuration"},
		{"exit", "exited before its first /next (exit status 1)"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			gw, err := localgw.New(localgw.Config{Bootstrap: fnPath, Instances: 1, Env: []string{"FN_MODE=" + tc.mode}, Stderr: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			defer gw.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = gw.Start(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  localgw.Config
		want string
	}{
		{"no bootstrap", localgw.Config{}, "Bootstrap"},
		{"missing bootstrap", localgw.Config{Bootstrap: "/nonexistent/bootstrap"}, "no such file"},
		{"timeout above 900s", localgw.Config{Bootstrap: fnPath, Timeout: 901 * time.Second}, "maximum integration timeout of 15m0s"},
		{"function timeout above 900s", localgw.Config{Bootstrap: fnPath, FunctionTimeout: 16 * time.Minute}, "Lambda's maximum"},
		{"negative instances", localgw.Config{Bootstrap: fnPath, Instances: -1}, "instances"},
		{"bad env", localgw.Config{Bootstrap: fnPath, Env: []string{"NOEQUALS"}}, "KEY=VALUE"},
		{"handler with a space", localgw.Config{Bootstrap: fnPath, Handler: "my handler"}, "without spaces"},
		{"unknown disconnect mode", localgw.Config{Bootstrap: fnPath, OnDisconnect: "kill"}, `want "drain" or "close"`},
		{"authorizer TTL above 1h", localgw.Config{Bootstrap: fnPath, Authorizer: &localgw.AuthorizerConfig{TTL: 2 * time.Hour, IdentitySources: []string{"method.request.header.Authorization"}}}, "0 to 3600 seconds"},
		{"authorizer TTL not whole seconds", localgw.Config{Bootstrap: fnPath, Authorizer: &localgw.AuthorizerConfig{TTL: 1500 * time.Millisecond, IdentitySources: []string{"method.request.header.Authorization"}}}, "whole seconds"},
		{"authorizer cache without identity sources", localgw.Config{Bootstrap: fnPath, Authorizer: &localgw.AuthorizerConfig{TTL: time.Minute}}, "needs at least one identity source"},
		{"authorizer identity source", localgw.Config{Bootstrap: fnPath, Authorizer: &localgw.AuthorizerConfig{IdentitySources: []string{"context.foo"}}}, "method.request.header.NAME"},
		{"authorizer empty key", localgw.Config{Bootstrap: fnPath, Authorizer: &localgw.AuthorizerConfig{APIKeys: []string{"a", ""}}}, "empty API key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := localgw.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := localgw.New(localgw.Config{Bootstrap: fnPath, Timeout: 900 * time.Second}); err != nil {
		t.Errorf("900s is API Gateway's maximum and must be accepted: %v", err)
	}
}

func TestCloseAnswersWaitingRequests(t *testing.T) {
	t.Parallel()
	e := start(t, localgw.Config{Instances: 1})
	// Occupy the only instance, then queue a second request behind it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url("/hang?id=close"), nil)
	first, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	second := make(chan int, 1)
	go func() {
		resp, err := e.srv.Client().Get(e.url("/chunks?n=1"))
		if err != nil {
			second <- -1
			return
		}
		resp.Body.Close()
		second <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)
	done := make(chan struct{})
	go func() { e.gw.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if _, err := io.ReadAll(first.Body); err == nil {
		t.Errorf("the stream in progress ended cleanly after Close, want an abort")
	}
	if code := <-second; code != http.StatusServiceUnavailable {
		t.Errorf("queued request got %d, want 503", code)
	}
}
