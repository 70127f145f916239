package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCodexExec runs Codex CLI (`codex exec`) against local mode, with a
// model provider whose base_url is local mode's /v1 and wire_api
// "responses", as a user would configure it: once with a model that
// answers in text, once with tools-v1, which calls Codex's exec_command
// tool, whose output Codex sends back (function_call_output) for the
// answer, and with reasoning-v1, whose reasoning item Codex must send
// back for the loop to go on. Codex's npm package carries a 400 MB binary, so the suite does
// not install it: set STREAMGATE_CODEX to a codex binary to run this test
// (npm install @openai/codex@0.171.0; node_modules/.bin/codex).
func TestCodexExec(t *testing.T) {
	t.Parallel()
	codex := os.Getenv("STREAMGATE_CODEX")
	if codex == "" {
		t.Skip("STREAMGATE_CODEX is not set (see the test's comment)")
	}
	const key = "sk-codex-test-0123456789"
	p := startLocal(t, "API_KEYS="+key, "EMULATOR_TOKENS_PER_SECOND=500")
	home, work := t.TempDir(), t.TempDir()
	config := `model_provider = "streamgate"
[model_providers.streamgate]
name = "streamgate"
base_url = "` + p.url + `/v1"
wire_api = "responses"
env_key = "STREAMGATE_API_KEY"
`
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(model, prompt string) string {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, codex, "exec", "--skip-git-repo-check", "-m", model, prompt)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "CODEX_HOME="+home, "STREAMGATE_API_KEY="+key)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("codex exec -m %s: %v\n%s", model, err, out)
		}
		return string(out)
	}
	if out := run("emulator.fast-v1", "say hi"); !strings.Contains(out, "\ncodex\n") {
		t.Errorf("codex printed no answer:\n%s", out)
	}
	if out := run("emulator.tools-v1", "run a command"); !strings.Contains(out, "The exec_command tool returned") {
		t.Errorf("codex's tool loop did not end with the answer quoting the command's output:\n%s", out)
	}
	// reasoning-v1 thinks before its call; Codex shows the reasoning and
	// sends the reasoning item back with its encrypted_content, without
	// which the model would refuse the loop's second turn.
	if out := run("emulator.reasoning-v1", "run a command"); !strings.Contains(out, "The exec_command tool returned") {
		t.Errorf("codex's tool loop with reasoning did not end with the answer:\n%s", out)
	}
	// Codex's web_search and namespace tools are left out and named in
	// the log line; each of its requests was streamed.
	p.stdout.WaitFor(t, regexp.MustCompile(`"route":"POST /v1/responses".*"format":"openai-responses".*"stopReason":"tool_use".*"dropped":\["tools:namespace:multi_agent_v1","tools:web_search","prompt_cache_key"\]`), 5*time.Second)
	p.stdout.WaitFor(t, regexp.MustCompile(`"route":"POST /v1/responses".*"model":"emulator.tools-v1".*"stopReason":"end_turn"`), 5*time.Second)
	p.stdout.WaitFor(t, regexp.MustCompile(`"route":"POST /v1/responses".*"model":"emulator.reasoning-v1".*"stopReason":"end_turn"`), 5*time.Second)
	if strings.Contains(p.stdout.String(), "reasoning without encrypted_content") {
		t.Error("codex sent a reasoning item back without its encrypted_content")
	}
	if strings.Contains(p.stdout.String(), "x-codex-turn-metadata") {
		t.Error("client_metadata reached the log")
	}
}
