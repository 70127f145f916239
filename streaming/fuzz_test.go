package streaming

import (
	"encoding/json"
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
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
	cfg := testConfig()
	cfg.MaxTokens = 100
	cfg.AllowedModels = []string{"emulator.steady-v1", "emulator.fast-v1"}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, apiErr := decodeRequest(body)
		var c *call
		if apiErr == nil {
			c, apiErr = cfg.streamCall(req)
		}
		if apiErr != nil {
			if apiErr.Status < 400 || apiErr.Status > 499 || apiErr.Code == "" || apiErr.Message == "" {
				t.Fatalf("rejection %+v is not a complete client error", apiErr)
			}
			// Messages quote what the client sent (%q), so they stay valid
			// UTF-8 whatever the body held.
			if !utf8.ValidString(apiErr.Message) {
				t.Fatalf("message is not valid UTF-8: %q", apiErr.Message)
			}
			if _, err := json.Marshal(apiErr); err != nil {
				t.Fatal(err)
			}
			return
		}
		input := c.streamInput()
		if !slicesContains(cfg.AllowedModels, c.modelID) || *input.ModelId != c.modelID {
			t.Fatalf("accepted model %q outside the allowlist", c.modelID)
		}
		if c.maxTokens < 1 || c.maxTokens > cfg.MaxTokens || int(*input.InferenceConfig.MaxTokens) != c.maxTokens {
			t.Fatalf("maxTokens %d escapes the cap %d", c.maxTokens, cfg.MaxTokens)
		}
		msgs := input.Messages
		if len(msgs) == 0 || msgs[len(msgs)-1].Role != types.ConversationRoleUser {
			t.Fatalf("conversation does not end with the user: %+v", msgs)
		}
		for i, m := range msgs {
			want := types.ConversationRoleUser
			if i%2 == 1 {
				want = types.ConversationRoleAssistant
			}
			if m.Role != want {
				t.Fatalf("message %d has role %s", i, m.Role)
			}
		}
	})
}

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
	cfg := testConfig()
	cfg.MaxTokens = 100
	cfg.AllowedModels = []string{"emulator.steady-v1", "emulator.fast-v1"}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req chatRequest
		apiErr := decodeLenient(body, &req)
		var c *call
		if apiErr == nil {
			c, apiErr = cfg.chatCall(&req)
		}
		if apiErr != nil {
			if apiErr.Status < 400 || apiErr.Status > 499 || apiErr.Code == "" || apiErr.Message == "" || !utf8.ValidString(apiErr.Message) {
				t.Fatalf("rejection %+v is not a complete client error", apiErr)
			}
			return
		}
		if !slicesContains(cfg.AllowedModels, c.modelID) || c.maxTokens < 1 || c.maxTokens > cfg.MaxTokens {
			t.Fatalf("accepted call escapes the policy: model %q, maxTokens %d", c.modelID, c.maxTokens)
		}
		if len(c.messages) == 0 || c.messages[0].Role != types.ConversationRoleUser {
			t.Fatalf("conversation does not start with the user: %+v", c.messages)
		}
		for i := 1; i < len(c.messages); i++ {
			if c.messages[i].Role == c.messages[i-1].Role {
				t.Fatalf("messages %d and %d have the same role", i-1, i)
			}
		}
	})
}

func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// FuzzAppendJSONString checks the hand-written JSON string encoder of the
// hot path against encoding/json: the same string comes back.
func FuzzAppendJSONString(f *testing.F) {
	for _, seed := range []string{"", "hello ", "quote \" backslash \\", "\n\r\t\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "日本語 ", "</script>"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: not JSON: %v", s, out, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("appendJSONString(%q) decodes to %q, encoding/json gives %q", s, got, want)
		}
	})
}

func TestNegotiateFormat(t *testing.T) {
	tests := []struct {
		url, accept string
		want        Format
		wantErr     bool
	}{
		{"/stream", "", FormatText, false},
		{"/stream", "*/*", FormatText, false},
		{"/stream", "text/event-stream", FormatSSE, false},
		{"/stream", "application/json, text/event-stream;q=0.9", FormatSSE, false},
		{"/stream", "application/x-ndjson", FormatNDJSON, false},
		{"/stream", "text/plain", FormatText, false},
		{"/stream?format=sse", "text/plain", FormatSSE, false},
		{"/stream?format=NDJSON", "", FormatNDJSON, false},
		{"/stream?format=html", "", "", true},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("POST", tt.url, nil)
		r.Header.Set("Accept", tt.accept)
		got, err := negotiateFormat(r)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("negotiateFormat(%s, Accept %q) = %q, %v; want %q (error %v)", tt.url, tt.accept, got, err, tt.want, tt.wantErr)
		}
	}
}
