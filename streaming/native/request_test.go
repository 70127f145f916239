package native

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestBadInput sends every kind of wrong request and checks its status,
// its JSON error, and that Bedrock was never called.
func TestBadInput(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.AllowedModels = []string{"emulator.steady-v1", "emulator.fast-v1"}
	cfg.MaxBodyBytes = 1024
	gw := newTestGateway(t, emulator.Options{}, cfg, nil)

	const jsonType = "application/json"
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		chunked     bool // send without Content-Length
		wantStatus  int
		wantCode    string
		wantMessage string // a substring that names the problem
	}{
		{"bad JSON", "POST", "/stream", jsonType, `{"prompt": "hi"`, false, 400, streaming.CodeInvalidJSON, "ends too early"},
		{"bad JSON syntax", "POST", "/stream", jsonType, `{"prompt": hi}`, false, 400, streaming.CodeInvalidJSON, "not valid JSON"},
		{"not an object", "POST", "/stream", jsonType, `["hi"]`, false, 400, streaming.CodeInvalidJSON, "JSON object"},
		{"empty body", "POST", "/stream", jsonType, ``, false, 400, streaming.CodeInvalidJSON, "empty"},
		{"trailing data", "POST", "/stream", jsonType, `{"prompt":"a"} {"prompt":"b"}`, false, 400, streaming.CodeInvalidJSON, "more data"},
		{"prompt is a number", "POST", "/stream", jsonType, `{"prompt": 5}`, false, 400, streaming.CodeInvalidRequest, `"prompt" must be a string`},
		{"maxTokens is a string", "POST", "/stream", jsonType, `{"prompt":"a","maxTokens":"many"}`, false, 400, streaming.CodeInvalidRequest, `"maxTokens" must be a whole number`},
		{"maxTokens is fractional", "POST", "/stream", jsonType, `{"prompt":"a","maxTokens":1.5}`, false, 400, streaming.CodeInvalidRequest, "maxTokens"},
		{"maxTokens zero", "POST", "/stream", jsonType, `{"prompt":"a","maxTokens":0}`, false, 400, streaming.CodeInvalidRequest, "maxTokens must be at least 1"},
		{"messages is a string", "POST", "/stream", jsonType, `{"messages":"hi"}`, false, 400, streaming.CodeInvalidRequest, `"messages" must be an array`},
		{"unknown field", "POST", "/stream", jsonType, `{"prompt":"a","max_tokens":5}`, false, 400, streaming.CodeInvalidRequest, `unknown field "max_tokens"`},
		{"both prompt and messages", "POST", "/stream", jsonType, `{"prompt":"a","messages":[{"role":"user","content":"b"}]}`, false, 400, streaming.CodeInvalidRequest, "either prompt or messages"},
		{"two prompt aliases", "POST", "/stream", jsonType, `{"prompt":"a","input":"b"}`, false, 400, streaming.CodeInvalidRequest, "prompt and input are aliases"},
		{"neither prompt nor messages", "POST", "/stream", jsonType, `{"system":"be brief"}`, false, 400, streaming.CodeInvalidRequest, "no prompt"},
		{"empty prompt", "POST", "/stream", jsonType, `{"text":"   "}`, false, 400, streaming.CodeInvalidRequest, "text is empty"},
		{"empty messages", "POST", "/stream", jsonType, `{"messages":[]}`, false, 400, streaming.CodeInvalidRequest, "messages is empty"},
		{"bad role", "POST", "/stream", jsonType, `{"messages":[{"role":"robot","content":"x"}]}`, false, 400, streaming.CodeInvalidRequest, `messages[0].role must be "user", "assistant" or "system"`},
		{"only a system message", "POST", "/stream", jsonType, `{"messages":[{"role":"system","content":"x"}]}`, false, 400, streaming.CodeInvalidRequest, "no user message"},
		{"system message after the conversation began", "POST", "/stream", jsonType, `{"messages":[{"role":"user","content":"x"},{"role":"system","content":"y"}]}`, false, 400, streaming.CodeInvalidRequest, "system messages must come before"},
		{"starts with assistant", "POST", "/stream", jsonType, `{"messages":[{"role":"assistant","content":"x"},{"role":"user","content":"y"}]}`, false, 400, streaming.CodeInvalidRequest, "start with user"},
		{"does not alternate", "POST", "/stream", jsonType, `{"messages":[{"role":"user","content":"x"},{"role":"user","content":"y"}]}`, false, 400, streaming.CodeInvalidRequest, `messages[1].role is "user"`},
		{"ends with assistant", "POST", "/stream", jsonType, `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}`, false, 400, streaming.CodeInvalidRequest, "last message must be from the user"},
		{"empty content", "POST", "/stream", jsonType, `{"messages":[{"role":"user","content":""}]}`, false, 400, streaming.CodeInvalidRequest, "messages[0].content is empty"},
		{"temperature too high", "POST", "/stream", jsonType, `{"prompt":"a","temperature":1.5}`, false, 400, streaming.CodeInvalidRequest, "temperature must be from 0 to 1"},
		{"temperature negative", "POST", "/stream", jsonType, `{"prompt":"a","temperature":-0.1}`, false, 400, streaming.CodeInvalidRequest, "temperature must be from 0 to 1"},
		{"topP too high", "POST", "/stream", jsonType, `{"prompt":"a","topP":2}`, false, 400, streaming.CodeInvalidRequest, "topP must be from 0 to 1"},
		{"too many stop sequences", "POST", "/stream", jsonType, `{"prompt":"a","stopSequences":["1","2","3","4","5"]}`, false, 400, streaming.CodeInvalidRequest, "at most 4"},
		{"empty stop sequence", "POST", "/stream", jsonType, `{"prompt":"a","stopSequences":[""]}`, false, 400, streaming.CodeInvalidRequest, "stopSequences[0]"},
		{"stop sequence not a string", "POST", "/stream", jsonType, `{"prompt":"a","stopSequences":[1]}`, false, 400, streaming.CodeInvalidRequest, "stopSequences"},
		{"bad format", "POST", "/stream?format=xml", jsonType, `{"prompt":"a"}`, false, 400, streaming.CodeInvalidRequest, "format must be text, sse or ndjson"},
		{"body too large", "POST", "/stream", jsonType, `{"prompt":"` + strings.Repeat("a", 2000) + `"}`, false, 413, streaming.CodeBodyTooLarge, "larger than 1024 bytes"},
		{"body too large, chunked", "POST", "/stream", jsonType, `{"prompt":"` + strings.Repeat("a", 2000) + `"}`, true, 413, streaming.CodeBodyTooLarge, "larger than 1024 bytes"},
		{"form content type", "POST", "/stream", "application/x-www-form-urlencoded", `{"prompt":"a"}`, false, 415, streaming.CodeUnsupportedMedia, "Content-Type: application/json"},
		{"no content type", "POST", "/stream", "", `{"prompt":"a"}`, false, 415, streaming.CodeUnsupportedMedia, "got none"},
		{"GET /stream", "GET", "/stream", "", ``, false, 405, streaming.CodeMethodNotAllowed, "allowed: POST, OPTIONS"},
		{"PUT /stream", "PUT", "/stream", jsonType, `{"prompt":"a"}`, false, 405, streaming.CodeMethodNotAllowed, "method PUT"},
		{"POST /healthz", "POST", "/healthz", jsonType, `{}`, false, 405, streaming.CodeMethodNotAllowed, "allowed: GET, HEAD, OPTIONS"},
		{"unknown route", "POST", "/v2/stream", jsonType, `{"prompt":"a"}`, false, 404, streaming.CodeNotFound, "POST /stream"},
		{"model not allowed", "POST", "/stream", jsonType, `{"prompt":"a","modelId":"anthropic.claude-v2"}`, false, 403, streaming.CodeModelNotAllowed, `"anthropic.claude-v2" is not allowed`},
		{"emulator model not on this allowlist", "POST", "/stream", jsonType, `{"prompt":"a","modelId":"emulator.throttle-v1"}`, false, 403, streaming.CodeModelNotAllowed, "allowed: emulator.steady-v1, emulator.fast-v1"},
		{"empty modelId", "POST", "/stream", jsonType, `{"prompt":"a","modelId":""}`, false, 400, streaming.CodeInvalidRequest, "modelId is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body = strings.NewReader(tt.body)
			req, err := http.NewRequest(tt.method, gw.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.chunked {
				req.ContentLength = -1 // sent chunked: only the body reader can find it too large
				req.Body = io.NopCloser(io.MultiReader(body))
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			res := streamtest.Do(t, req)
			if res.Status != tt.wantStatus {
				t.Errorf("status %d, want %d (body %s)", res.Status, tt.wantStatus, res.Body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			var got struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(res.Body, &got); err != nil {
				t.Fatalf("error body %q is not JSON: %v", res.Body, err)
			}
			if got.Error.Code != tt.wantCode || !strings.Contains(got.Error.Message, tt.wantMessage) {
				t.Errorf("error = %+v, want code %s and a message containing %q", got.Error, tt.wantCode, tt.wantMessage)
			}
		})
	}
	t.Cleanup(func() {
		if records := gw.Emu.Records(); len(records) != 0 {
			t.Errorf("bad requests reached the emulator: %+v", records)
		}
	})
}
