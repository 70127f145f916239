package main

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestSIGTERMWhileWaitingForBedrock (issue 8, hole 2): local mode shut
// down while a request waits for a Bedrock that never answers: the client
// gets 503 shutting_down instead of a bare close, and the request's log
// line is written with that outcome.
func TestSIGTERMWhileWaitingForBedrock(t *testing.T) {
	t.Parallel()
	upstream, accepted := streamtest.Blackhole(t)
	p := startLocal(t, "BEDROCK_ENDPOINT="+upstream, "SHUTDOWN_GRACE_SECONDS=0.3")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	curl := exec.CommandContext(ctx, "curl", "-sS", "-w", "\n%{http_code}", "-H", "Content-Type: application/json", "-d", `{"prompt":"hello"}`, p.url+"/stream")
	done := make(chan []byte, 1)
	go func() { out, _ := curl.Output(); done <- out }()
	select {
	case <-accepted: // the request is waiting on the upstream
	case <-ctx.Done():
		t.Fatal("the request never reached the upstream")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	out := string(<-done)
	if !strings.HasSuffix(out, "\n503") || !strings.Contains(out, `"code":"shutting_down"`) {
		t.Errorf("curl got %q; want 503 shutting_down", out)
	}
	p.stdout.WaitFor(t, regexp.MustCompile(`"path":"/stream","status":503.*"error":"shutting_down"`), 10*time.Second)
}

// TestHTTP2WithoutTLS (issue 8, hole 6): local mode answers
// curl --http2-prior-knowledge instead of an empty reply.
func TestHTTP2WithoutTLS(t *testing.T) {
	t.Parallel()
	p := startLocal(t, "EMULATOR_TOKENS_PER_SECOND=1000")
	out, err := exec.Command("curl", "-sS", "--http2-prior-knowledge", "-w", "\n%{http_version}", "-H", "Content-Type: application/json",
		"-d", `{"prompt":"over HTTP/2","maxTokens":8}`, p.url+"/stream").Output()
	want, _ := emulator.Answer("emulator.steady-v1", "over HTTP/2", 8)
	if err != nil || string(out) != strings.Join(want, "")+"\n2" {
		t.Errorf("curl --http2-prior-knowledge: %v, %q; want %q over HTTP/2", err, out, strings.Join(want, ""))
	}
}

// TestLambdaEndsItselfBeforeTheDeadline (issue 8, hole 2): on the Lambda
// path, a Bedrock that never answers makes the function answer 504
// deadline a margin before its timeout, with its own log line, instead of
// being killed ("Task timed out") and leaving the client API Gateway's
// generic 504.
func TestLambdaEndsItselfBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	lp := startLambdaPath(t, emulator.Options{}, localgw.Config{FunctionTimeout: 4 * time.Second, Timeout: 10 * time.Second},
		"BEDROCK_ENDPOINT="+blackholeURL(t), "DEADLINE_MARGIN_SECONDS=1")
	res := postJSON(t, lp.url+"/stream", `{"prompt":"hello"}`)
	if res.Status != 504 || !strings.Contains(string(res.Body), `"code":"deadline"`) {
		t.Errorf("%d %s; want the function's own 504 deadline", res.Status, res.Body)
	}
	lp.logs.WaitFor(t, regexp.MustCompile(`"path":"/stream","status":504.*"error":"deadline"`), 10*time.Second)
	if strings.Contains(lp.gwLogs.String(), "Task timed out") {
		t.Error("the function was killed at its timeout")
	}
}

func blackholeURL(t *testing.T) string {
	url, _ := streamtest.Blackhole(t)
	return url
}
