package native

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
)

// FuzzReadRequest checks request parsing and policy on arbitrary bodies:
// it never panics, every rejection is a 4xx with a code and a message, and
// every accepted request obeys the operator's policy (allowed model, token
// cap, user-first alternating conversation ending with the user).
func FuzzReadRequest(f *testing.F) {
	for _, seed := range []string{
		`{"prompt":"hello"}`,
		`{"input":"hi","maxTokens":5000,"temperature":0.2,"topP":0.9,"stopSequences":["END"]}`,
		`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}],"system":"be brief"}`,
		`{"messages":[{"role":"assistant","content":"a"}]}`,
		`{"prompt":"x","modelId":"emulator.fast-v1"}`,
		`{"prompt":"x","modelId":"other"}`,
		`{"prompt":"x","maxTokens":-1}`,
		`{"prompt":"x","temperature":1e308}`,
		`{"text":"x","messages":null}`,
		`{"prompt":"\u2028\ud800"}`,
		`[]`, `null`, `"prompt"`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	cfg := gatewaytest.Config()
	cfg.MaxTokens = 100
	cfg.AllowedModels = []string{"emulator.steady-v1", "emulator.fast-v1"}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, apiErr := decodeRequest(body)
		var c *streaming.Call
		if apiErr == nil {
			c, apiErr = streamCall(&cfg, req)
		}
		gatewaytest.CheckRequestOutcome(t, &cfg, c, apiErr)
		if apiErr != nil {
			return
		}
		msgs := c.Messages
		if len(msgs) == 0 || msgs[len(msgs)-1].Role != types.ConversationRoleUser {
			t.Fatalf("conversation does not end with the user: %+v", msgs)
		}
	})
}
