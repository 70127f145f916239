package main

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// shellExample returns the ```sh block after the comment that names test
// in the OpenAI routes' reference. (The ```js examples go through
// readmeExample, whose markers TestReadmeExampleMarkers checks.)
func shellExample(t *testing.T, test string) string {
	t.Helper()
	doc, err := os.ReadFile("../streaming/openai/README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- shell example: " + test + "\\b[^>]*-->\\s*```sh\\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatalf("streaming/openai/README.md has no ```sh block after <!-- shell example: %s -->", test)
	}
	return string(m[1])
}

// TestResponsesReadmeCurl runs the reference's curl command against local
// mode (its port replaced by the test's): the events stream, and their
// text is the emulator's answer.
func TestResponsesReadmeCurl(t *testing.T) {
	t.Parallel()
	p := startLocal(t, "EMULATOR_TOKENS_PER_SECOND=200")
	script := strings.ReplaceAll(shellExample(t, "TestResponsesReadmeCurl"), "http://localhost:8080", p.url)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", "-c", script).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	var text strings.Builder
	for _, ev := range streamtest.ParseSSE(t, []streamtest.Chunk{{Data: out}}) {
		if ev.Name == "response.output_text.delta" {
			text.WriteString(streamtest.DecodeJSON[struct{ Delta string }](t, ev.Data).Delta)
		}
	}
	want, _ := emulator.Answer("emulator.steady-v1", "Tell me about streaming", 0)
	if text.String() != strings.Join(want, "") || !strings.Contains(string(out), "event: response.completed\n") {
		t.Errorf("curl printed text %q; want %q, then response.completed", text.String(), strings.Join(want, ""))
	}
}

// TestResponsesReadmeExample runs the reference's Node example, as
// written, with the openai package lambda/testdata/openai-clients pins,
// against local mode.
func TestResponsesReadmeExample(t *testing.T) {
	t.Parallel()
	node, modules := nodeWith(t, "openai-clients", "openai")
	dir := filepath.Dir(modules)
	// The script goes beside the installed packages, where Node resolves
	// its import, under a name no other run uses.
	path := filepath.Join(dir, "readme-example-"+rand.Text()+".mjs")
	if err := os.WriteFile(path, []byte(readmeExample(t, "TestResponsesReadmeExample")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	p := startLocal(t, "EMULATOR_TOKENS_PER_SECOND=200")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, path)
	cmd.Env = append(os.Environ(), "STREAMGATE_URL="+p.url+"/v1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	deltas, _ := emulator.Answer("emulator.steady-v1", "Tell me about streaming", 0)
	const prompt = "What is the weather in Oslo? Use get_weather."
	call, err := emulator.ToolCallFor(prompt, "get_weather", []byte(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(deltas, "") + "\n[completed, " + strconv.Itoa(len(deltas)) + " tokens]\n" +
		"get_weather(" + call.Input + ")\n" +
		strings.Join(emulator.ToolResultAnswer(emulator.ToolResult{ToolName: "get_weather", Content: "rain, 12 degrees"}), "") + "\n"
	if string(out) != want {
		t.Errorf("the example printed:\n%s\nwant:\n%s", out, want)
	}
}
