package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming/emulator"
)

// TestResponsesNodeClients runs OpenAI's Node clients, unmodified, against
// local mode's /v1/responses (lambda/testdata/openai-clients/check.mjs,
// with the versions its package-lock.json pins): the Vercel AI SDK's
// default OpenAI provider (generateText, streamText, a tool loop, and a
// reasoning model's tool loop, which needs store: false), LangChain's
// ChatOpenAI with useResponsesApi, and the OpenAI Node SDK's
// responses.create and responses.stream.
func TestResponsesNodeClients(t *testing.T) {
	t.Parallel()
	node, modules := nodeWith(t, "openai-clients", "openai")
	dir := filepath.Dir(modules)
	p := startLocal(t, "EMULATOR_TOKENS_PER_SECOND=200")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "check.mjs", p.url+"/v1")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	type result struct {
		Text, FinalText, FinishReason, Status, ID, Error, Code, Arguments, Reasoning string
		Pieces, Steps, OutputTokens                                                  int
		Types                                                                        []string
		Call                                                                         map[string]string
	}
	var got map[string]result
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	answer := func(model, prompt string) string {
		deltas, _ := emulator.Answer(model, prompt, 0)
		return strings.Join(deltas, "")
	}
	whole, streamed := answer("emulator.fast-v1", "What is streamgate?"), answer("emulator.steady-v1", "Stream this answer")
	words := len(strings.Fields(streamed))
	const toolPrompt = "What is the weather in Oslo? use get_weather"
	reasoning, _ := emulator.Reasoning("Think, then check the weather in Oslo with get_weather")
	checks := []struct {
		name string
		ok   func(r result) bool
	}{
		{"aisdkGenerate", func(r result) bool { return r.Text == whole && r.FinishReason == "stop" && r.OutputTokens > 0 }},
		{"aisdkStream", func(r result) bool { return r.Text == streamed && r.Pieces >= words/2 && r.FinishReason == "stop" }},
		{"aisdkTools", func(r result) bool {
			return r.Steps == 2 && r.Call["city"] == toolPrompt &&
				r.Text == strings.Join(emulator.ToolResultAnswer(emulator.ToolResult{ToolName: "get_weather", Content: "rain in " + toolPrompt}), "")
		}},
		{"aisdkReasoningDefault", func(r result) bool {
			return strings.Contains(r.Error, "item_reference") && strings.Contains(r.Error, "providerOptions.openai.store")
		}},
		{"aisdkReasoningStoreFalse", func(r result) bool {
			return r.Error == "" && r.Steps == 2 && r.Reasoning == strings.Join(reasoning, "") &&
				r.Text == strings.Join(emulator.ToolResultAnswer(emulator.ToolResult{ToolName: "get_weather", Content: "sunny"}), "")
		}},
		{"langchainInvoke", func(r result) bool { return r.Text == whole && r.OutputTokens > 0 }},
		{"langchainStream", func(r result) bool { return r.Text == streamed && r.Pieces >= words/2 }},
		{"nodeCreate", func(r result) bool {
			return r.Text == whole && r.Status == "completed" && strings.HasPrefix(r.ID, "resp_")
		}},
		{"nodeStream", func(r result) bool {
			return r.Text == streamed && r.FinalText == streamed && slices.Equal(r.Types, []string{"response.created", "response.in_progress",
				"response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.done",
				"response.content_part.done", "response.output_item.done", "response.completed"})
		}},
		{"nodeTools", func(r result) bool {
			return r.Arguments == `{"city":"`+toolPrompt+`"}` && r.Text == `The get_weather tool returned "rain".`
		}},
		{"nodeError", func(r result) bool {
			return strings.HasPrefix(r.Error, "PermissionDeniedError: 403") && r.Code == "model_not_allowed"
		}},
		{"nodeMidstream", func(r result) bool { return strings.HasPrefix(r.Error, "APIError: ") && r.Code == "upstream_error" }},
	}
	for _, c := range checks {
		r, ran := got[c.name]
		if !ran || !c.ok(r) {
			raw, _ := json.Marshal(r)
			t.Errorf("%s: %s", c.name, raw)
		}
	}
}
