package openai

import (
	"testing"

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
		gatewaytest.CheckRequestOutcome(t, &cfg, c, apiErr)
	})
}
