package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming/emulator"
)

// anthropicTSScript drives local mode with the Anthropic TypeScript SDK
// (@anthropic-ai/sdk, the library Claude Code is built on) as a user's
// code would, and prints what it saw as JSON.
const anthropicTSScript = `const Anthropic = require('@anthropic-ai/sdk');
const [base, key] = process.argv.slice(2);
const client = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0 });
(async () => {
  const out = {};
  const ask = { model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'how do rivers form' }] };
  const stream = client.messages.stream(ask);
  let deltas = 0;
  stream.on('text', () => { deltas++; });
  const streamed = await stream.finalMessage();
  const whole = await client.messages.create(ask);
  out.streamed = { text: streamed.content[0].text, id: streamed.id, model: streamed.model, stop: streamed.stop_reason, deltas };
  out.whole = { text: whole.content[0].text, stop: whole.stop_reason, usage: whole.usage };

  const tools = [{ name: 'get_weather', description: 'The weather', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
  const toolAsk = { model: 'emulator.tools-v1', max_tokens: 1024, tools, messages: [{ role: 'user', content: 'weather in Oslo? use get_weather' }] };
  const call = await client.messages.stream(toolAsk).finalMessage();
  const use = call.content.find((b) => b.type === 'tool_use');
  const answer = await client.messages.create({ ...toolAsk, messages: [...toolAsk.messages, { role: 'assistant', content: call.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'rain, 12 degrees' }] }] });
  out.tool = { name: use.name, input: use.input, stop: call.stop_reason, answer: answer.content[0].text };

  const think = { model: 'emulator.reasoning-v1', max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 },
    messages: [{ role: 'user', content: 'think, then answer' }] };
  const thought = await client.messages.stream(think).finalMessage();
  const next = await client.messages.create({ ...think, messages: [...think.messages, { role: 'assistant', content: thought.content },
    { role: 'user', content: 'and then?' }] });
  out.thinking = { first: thought.content[0].type, signature: thought.content[0].signature, next: next.stop_reason };

  out.count = (await client.messages.countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'four words right here' }] })).input_tokens;
  out.models = (await client.models.list()).data.map((m) => m.id);

  out.errors = {};
  for (const [name, fn] of Object.entries({
    auth: () => new Anthropic({ baseURL: base, apiKey: 'sk-wrong-key-0123456789', maxRetries: 0 }).messages.create(ask),
    invalid: () => client.messages.create({ ...ask, max_tokens: 0 }),
    overloaded: () => client.messages.create({ ...ask, model: 'emulator.throttle-v1' }),
    midstream: () => client.messages.stream({ ...ask, model: 'emulator.midstream-error-v1' }).finalMessage(),
  })) {
    try { await fn(); out.errors[name] = 'no error'; } catch (e) {
      out.errors[name] = { class: e.constructor.name, status: e.status ?? null, type: e.error?.error?.type ?? e.error?.type ?? null };
    }
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`

// TestAnthropicTypeScriptSDK: the Anthropic TypeScript SDK, unmodified,
// against local mode: streamed and whole answers agree under the name
// sent, a tool round trip, thinking sent back, count_tokens, the model
// list, and each error as the SDK's own class.
func TestAnthropicTypeScriptSDK(t *testing.T) {
	t.Parallel()
	node, modules := nodeWith(t, "anthropicsdk", "@anthropic-ai/sdk")
	p := startLocal(t, "API_KEYS="+testAPIKey, "EMULATOR_TOKENS_PER_SECOND=500", "MODEL_ALIASES=claude-sonnet-4-5=emulator.fast-v1")
	path := filepath.Join(t.TempDir(), "sdk.cjs")
	if err := os.WriteFile(path, []byte(anthropicTSScript), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, path, p.url, testAPIKey)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	type tsError struct {
		Class  string
		Status *int
		Type   *string
	}
	var got struct {
		Streamed struct {
			Text, ID, Model, Stop string
			Deltas                int
		}
		Whole struct {
			Text, Stop string
			Usage      struct {
				OutputTokens int `json:"output_tokens"`
			}
		}
		Tool struct {
			Name, Stop, Answer string
			Input              map[string]any
		}
		Thinking struct{ First, Signature, Next string }
		Count    int
		Models   []string
		Errors   map[string]tsError
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	deltas, _ := emulator.Answer("emulator.fast-v1", "how do rivers form", 0)
	if got.Streamed.Text != strings.Join(deltas, "") || got.Whole.Text != got.Streamed.Text || got.Streamed.Deltas != len(deltas) ||
		got.Streamed.Model != "claude-sonnet-4-5" || !strings.HasPrefix(got.Streamed.ID, "msg_") || got.Whole.Usage.OutputTokens != len(deltas) {
		t.Errorf("streamed %+v, whole %+v; want the emulator's %d-delta answer both ways", got.Streamed, got.Whole, len(deltas))
	}
	answer := strings.Join(emulator.ToolResultAnswer(emulator.ToolResult{ToolName: "get_weather", Content: "rain, 12 degrees"}), "")
	if got.Tool.Name != "get_weather" || got.Tool.Stop != "tool_use" || got.Tool.Input["city"] == nil || got.Tool.Answer != answer {
		t.Errorf("tool round trip %+v", got.Tool)
	}
	if _, sig := emulator.Reasoning("think, then answer"); got.Thinking.First != "thinking" || got.Thinking.Signature != sig || got.Thinking.Next != "end_turn" {
		t.Errorf("thinking %+v", got.Thinking)
	}
	if got.Count != 4 || len(got.Models) == 0 {
		t.Errorf("count %d, models %v", got.Count, got.Models)
	}
	want := map[string]tsError{
		"auth":       {"AuthenticationError", ptr(401), ptr("authentication_error")},
		"invalid":    {"BadRequestError", ptr(400), ptr("invalid_request_error")},
		"overloaded": {"OverloadedError", ptr(529), ptr("overloaded_error")},
		"midstream":  {"APIError", nil, ptr("api_error")},
	}
	for name, w := range want {
		g := got.Errors[name]
		if g.Class != w.Class || !samePtr(g.Status, w.Status) || !samePtr(g.Type, w.Type) {
			t.Errorf("%s: %s status %v type %v; want %s %v %v", name, g.Class, deref(g.Status), deref(g.Type), w.Class, deref(w.Status), deref(w.Type))
		}
	}
}

func ptr[T any](v T) *T { return &v }

func samePtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
