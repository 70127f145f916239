package openai

import (
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
)

// FuzzChatRequest checks the OpenAI request decoder and mapping on
// arbitrary bodies: no panic, every rejection a complete 4xx naming valid
// UTF-8, and every accepted request within the operator's policy, starting
// with a user turn and alternating roles as Bedrock requires.
func FuzzChatRequest(f *testing.F) {
	for _, seed := range []string{
		`{"model":"emulator.fast-v1","messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":5}`,
		`{"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`,
		`{"messages":[{"role":"user","content":"w"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
		`{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"assistant","content":"c"}]}`,
		`{"messages":[{"role":"user","content":"a"}],"n":3}`, `{"messages":[{"role":"user","content":"a"}],"stop":["x","y"]}`,
		`{"messages":null}`, `[]`, `{`, ``, `{"a":1,"a":2}`,
	} {
		f.Add([]byte(seed))
	}
	cfg := gatewaytest.Config()
	cfg.MaxTokens = 100
	cfg.AllowedModels = []string{"emulator.steady-v1", "emulator.fast-v1"}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req chatRequest
		apiErr := streaming.DecodeLenient(body, &req)
		var c *streaming.Call
		if apiErr == nil {
			c, apiErr = chatCall(&cfg, &req)
		}
		if apiErr != nil {
			if apiErr.Status < 400 || apiErr.Status > 499 || apiErr.Code == "" || apiErr.Message == "" || !utf8.ValidString(apiErr.Message) {
				t.Fatalf("rejection %+v is not a complete client error", apiErr)
			}
			return
		}
		if !slices.Contains(cfg.AllowedModels, c.ModelID) || c.MaxTokens < 1 || c.MaxTokens > cfg.MaxTokens {
			t.Fatalf("accepted call escapes the policy: model %q, maxTokens %d", c.ModelID, c.MaxTokens)
		}
		if len(c.Messages) == 0 || c.Messages[0].Role != types.ConversationRoleUser {
			t.Fatalf("conversation does not start with the user: %+v", c.Messages)
		}
		for i := 1; i < len(c.Messages); i++ {
			if c.Messages[i].Role == c.Messages[i-1].Role {
				t.Fatalf("messages %d and %d have the same role", i-1, i)
			}
		}
	})
}
