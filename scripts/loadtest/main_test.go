package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets TestProcessExitStatus run the real main in a child process
// (the test binary itself, re-executed).
func TestMain(m *testing.M) {
	if os.Getenv("LOADTEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = realMain(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no url", []string{}, "-url is required"},
		{"not a URL", []string{"-url", "127.0.0.1:8080/stream"}, "must be an absolute http:// or https:// URL"},
		{"not http", []string{"-url", "ftp://127.0.0.1/stream"}, "must be an absolute http:// or https:// URL"},
		{"zero streams", []string{"-url", "http://127.0.0.1:1/stream", "-streams", "0"}, "-streams must be at least 1 (got 0)"},
		{"streams not a number", []string{"-url", "http://127.0.0.1:1/stream", "-streams", "many"}, `invalid value "many" for flag -streams`},
		{"negative concurrency", []string{"-url", "http://127.0.0.1:1/stream", "-concurrency", "-1"}, "-concurrency must be 0"},
		{"zero duration", []string{"-url", "http://127.0.0.1:1/stream", "-duration", "0"}, "-duration must be positive"},
		{"bad duration", []string{"-url", "http://127.0.0.1:1/stream", "-duration", "5"}, `invalid value "5" for flag -duration`},
		{"negative ramp", []string{"-url", "http://127.0.0.1:1/stream", "-ramp", "-1s"}, "-ramp must not be negative"},
		{"bad format", []string{"-url", "http://127.0.0.1:1/stream", "-format", "xml"}, `-format must be sse or text (got "xml")`},
		{"bad header", []string{"-url", "http://127.0.0.1:1/stream", "-header", "x-api-key=k"}, "want 'Key: Value'"},
		{"negative max tokens", []string{"-url", "http://127.0.0.1:1/stream", "-max-tokens", "-5"}, "-max-tokens must not be negative"},
		{"unknown flag", []string{"-url", "http://127.0.0.1:1/stream", "-nope"}, "flag provided but not defined: -nope"},
		{"stray argument", []string{"-url", "http://127.0.0.1:1/stream", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			if !strings.HasPrefix(stderr, "loadtest: ") || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "loadtest -h") {
				t.Errorf("stderr %q, want \"loadtest: ...%s...\" and a hint", stderr, tc.want)
			}
			if strings.Count(stderr, "\n") > 2 {
				t.Errorf("stderr is %d lines, want the error and a hint: %q", strings.Count(stderr, "\n"), stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func TestCLIHelp(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCLI(t, "-h")
	if code != exitOK {
		t.Errorf("exit status %d, want 0", code)
	}
	for _, want := range []string{"usage: loadtest -url URL", "-concurrency C", "-duration D", "-header 'Key: Value'", "-json FILE"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("help does not contain %q:\n%s", want, stderr)
		}
	}
}

func TestCLIRunsAndWritesJSON(t *testing.T) {
	t.Parallel()
	p := newPeer(t, sseHandler(sseSpec{deltas: 3, gap: 5 * time.Millisecond}))
	path := filepath.Join(t.TempDir(), "result.json")
	code, stdout, stderr := runCLI(t, "-url", p.url(), "-streams", "3", "-concurrency", "2", "-duration", "10s",
		"-progress", "0", "-api-key", "sekrit", "-header", "X-Trace: t1", "-json", path)
	if code != exitOK {
		t.Errorf("exit status %d, want 0; stderr %q", code, stderr)
	}
	for _, want := range []string{"complete 3 (100.0%)", "statuses    200 ×3", "ttfb", "max gap", "result      OK"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary does not contain %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("-json file: %v", err)
	}
	if len(res.Streams) != 3 || res.Summary.Complete != 3 || res.Config.URL != p.url() || res.Config.Concurrency != 2 {
		t.Errorf("-json file: %d streams, %d complete, url %q, concurrency %d", len(res.Streams), res.Summary.Complete, res.Config.URL, res.Config.Concurrency)
	}
	if bytes.Contains(b, []byte("sekrit")) || res.Config.Header.Get("X-Trace") != "t1" {
		t.Errorf("-json file: want the API key redacted and other headers kept: %v", res.Config.Header)
	}
}

func TestCLIExitsNonZeroWhenAStreamIsIncomplete(t *testing.T) {
	t.Parallel()
	p := newPeer(t, sseHandler(sseSpec{deltas: 2, end: endError}))
	code, stdout, _ := runCLI(t, "-url", p.url(), "-streams", "2", "-progress", "0")
	if code != exitIncomplete {
		t.Errorf("exit status %d, want %d", code, exitIncomplete)
	}
	for _, want := range []string{"complete 0 (0.0%)", "incomplete  error-event ×2", "2× error-event: error event: model_stream_error", "result      FAIL"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary does not contain %q:\n%s", want, stdout)
		}
	}
}

func TestCLIJSONToStdout(t *testing.T) {
	t.Parallel()
	p := newPeer(t, sseHandler(sseSpec{deltas: 1}))
	code, stdout, stderr := runCLI(t, "-url", p.url(), "-progress", "0", "-json", "-")
	if code != exitOK {
		t.Errorf("exit status %d, want 0", code)
	}
	var res Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Errorf("stdout is not just the JSON result: %v\n%s", err, stdout)
	}
	if !strings.Contains(stderr, "complete 1 (100.0%)") {
		t.Errorf("the summary is not on stderr: %q", stderr)
	}
}

// The process's own exit status, not just realMain's return value.
func TestProcessExitStatus(t *testing.T) {
	t.Parallel()
	ok := newPeer(t, sseHandler(sseSpec{deltas: 1}))
	failing := newPeer(t, jsonErrorHandler(429, "throttled"))
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"usage error", []string{"-streams", "0"}, 2},
		{"all complete", []string{"-url", ok.url(), "-progress", "0"}, 0},
		{"incomplete", []string{"-url", failing.url(), "-progress", "0"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], tc.args...)
			cmd.Env = append(os.Environ(), "LOADTEST_RUN_MAIN=1")
			out, err := cmd.CombinedOutput()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.want {
				t.Errorf("exit status %d, want %d; output:\n%s", code, tc.want, out)
			}
		})
	}
}
