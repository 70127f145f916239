package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming/emulator"
)

// TestLoadtestCompletes runs a small, bounded scripts/loadtest — a few
// concurrent streams of a few seconds — against local mode and against the
// Lambda path, and checks that every stream completed.
func TestLoadtestCompletes(t *testing.T) {
	t.Parallel()
	tool := filepath.Join(t.TempDir(), "loadtest")
	if out, err := exec.Command("go", "build", "-o", tool, "../scripts/loadtest").CombinedOutput(); err != nil {
		t.Fatalf("building loadtest: %v\n%s", err, out)
	}
	const streams, rate = 6, 30
	run := func(t *testing.T, url, format string) {
		report := filepath.Join(t.TempDir(), "result.json")
		cmd := exec.Command(tool, "-url", url+"/stream", "-streams", strconv.Itoa(streams), "-ramp", "300ms",
			"-duration", "60s", "-format", format, "-max-tokens", "90", "-progress", "0", "-json", report)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("loadtest: %v\n%s", err, out)
		}
		data, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		var result struct {
			Streams []struct {
				Complete bool
				Status   int
				Deltas   int
				Chunks   int
				Duration float64 `json:"durationMs"`
				Reason   string
			}
		}
		if err := json.Unmarshal(data, &result); err != nil {
			t.Fatal(err)
		}
		if len(result.Streams) != streams {
			t.Fatalf("%d streams in the report, want %d\n%s", len(result.Streams), streams, out)
		}
		for i, s := range result.Streams {
			if !s.Complete || s.Status != 200 || s.Chunks < 10 {
				t.Errorf("stream %d: complete %v, status %d, %d chunks, reason %q", i, s.Complete, s.Status, s.Chunks, s.Reason)
			}
			// At 30 deltas/s an answer of 40 or more words takes over a second.
			if s.Duration < 1000 {
				t.Errorf("stream %d took %.0f ms; at %d deltas/s it cannot be complete that soon", i, s.Duration, rate)
			}
		}
		t.Logf("%s", out)
	}

	t.Run("local mode", func(t *testing.T) {
		t.Parallel()
		p := startLocal(t, "EMULATOR_TOKENS_PER_SECOND="+strconv.Itoa(rate))
		run(t, p.url, "sse")
		run(t, p.url, "text")
	})
	t.Run("lambda path", func(t *testing.T) {
		t.Parallel()
		lp := startLambdaPath(t, emulator.Options{TokensPerSecond: rate}, localgw.Config{Instances: streams, Timeout: 30 * time.Second})
		run(t, lp.url, "sse")
	})
}
