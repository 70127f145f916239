package anthropic

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
)

func post(t *testing.T, url, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestBadInput: every field with a wrong type or an impossible value gets
// a 400 in Anthropic's shape, naming the field, and no call reaches
// Bedrock.
func TestBadInput(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{}, gatewaytest.Config())
	const user = `"messages":[{"role":"user","content":"hi"}]`
	const base = `"model":"emulator.fast-v1","max_tokens":100,`
	for _, tc := range []struct{ name, body, mention string }{
		{"not json", `{"model":`, "JSON"},
		{"not an object", `[1,2]`, "object"},
		{"duplicate key", `{"model":"a","model":"b","max_tokens":1,` + user + `}`, "twice"},
		{"model missing", `{"max_tokens":100,` + user + `}`, "model"},
		{"model a number", `{"model":5,"max_tokens":100,` + user + `}`, "model"},
		{"max_tokens missing", `{"model":"emulator.fast-v1",` + user + `}`, "max_tokens"},
		{"max_tokens a string", `{"model":"emulator.fast-v1","max_tokens":"100",` + user + `}`, "max_tokens"},
		{"max_tokens zero", `{"model":"emulator.fast-v1","max_tokens":0,` + user + `}`, "max_tokens"},
		{"max_tokens huge", `{"model":"emulator.fast-v1","max_tokens":1e400,` + user + `}`, "max_tokens"},
		{"messages missing", `{` + base[:len(base)-1] + `}`, "messages"},
		{"messages empty", `{` + base + `"messages":[]}`, "messages"},
		{"messages an object", `{` + base + `"messages":{}}`, "messages"},
		{"role unknown", `{` + base + `"messages":[{"role":"robot","content":"hi"}]}`, "role"},
		{"first is assistant", `{` + base + `"messages":[{"role":"assistant","content":"hi"}]}`, "user"},
		{"content a number", `{` + base + `"messages":[{"role":"user","content":5}]}`, "content"},
		{"content empty", `{` + base + `"messages":[{"role":"user","content":""}]}`, "content"},
		{"content blocks empty", `{` + base + `"messages":[{"role":"user","content":[]}]}`, "content"},
		{"block type unknown", `{` + base + `"messages":[{"role":"user","content":[{"type":"hologram"}]}]}`, "hologram"},
		{"block type missing", `{` + base + `"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, "type"},
		{"text empty", `{` + base + `"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, "text"},
		{"text a number", `{` + base + `"messages":[{"role":"user","content":[{"type":"text","text":5}]}]}`, "text"},
		{"image url", `{` + base + `"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"http://x/y.png"}}]}]}`, "source.type"},
		{"image media type", `{` + base + `"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AAAA"}}]}]}`, "media_type"},
		{"image not base64", `{` + base + `"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"%%%"}}]}]}`, "base64"},
		{"document url", `{` + base + `"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"http://x/y.pdf"}}]}]}`, "source"},
		{"tool_use from the user", `{` + base + `"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"n","input":{}}]}]}`, "assistant"},
		{"tool_use input a list", `{` + base + `"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":[1]}]}]}`, "input"},
		{"tool_result without id", `{` + base + `"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "tool_use_id"},
		{"thinking from the user", `{` + base + `"messages":[{"role":"user","content":[{"type":"thinking","thinking":"x","signature":"y"}]}]}`, "assistant"},
		{"thinking without signature", `{` + base + `"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"thinking","thinking":"x"}]}]}`, "signature"},
		{"redacted not base64", `{` + base + `"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"redacted_thinking","data":"%%"}]}]}`, "data"},
		{"system a number", `{` + base + `"system":5,` + user + `}`, "system"},
		{"system block not text", `{` + base + `"system":[{"type":"image"}],` + user + `}`, "system"},
		{"cache_control type", `{` + base + `"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"forever"}}]}]}`, "cache_control"},
		{"cache_control ttl", `{` + base + `"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","ttl":"1y"}}],` + user + `}`, "ttl"},
		{"temperature too high", `{` + base + `"temperature":1.5,` + user + `}`, "temperature"},
		{"temperature a string", `{` + base + `"temperature":"hot",` + user + `}`, "temperature"},
		{"top_p negative", `{` + base + `"top_p":-0.1,` + user + `}`, "top_p"},
		{"top_k negative", `{` + base + `"top_k":-1,` + user + `}`, "top_k"},
		{"top_k a fraction", `{` + base + `"top_k":1.5,` + user + `}`, "top_k"},
		{"stop_sequences a string", `{` + base + `"stop_sequences":"END",` + user + `}`, "stop_sequences"},
		{"stop_sequences empty entry", `{` + base + `"stop_sequences":[""],` + user + `}`, "stop_sequences"},
		{"stream a string", `{` + base + `"stream":"yes",` + user + `}`, "stream"},
		{"tools an object", `{` + base + `"tools":{},` + user + `}`, "tools"},
		{"tool name bad", `{` + base + `"tools":[{"name":"a b","input_schema":{"type":"object"}}],` + user + `}`, "name"},
		{"tool schema missing", `{` + base + `"tools":[{"name":"a"}],` + user + `}`, "input_schema"},
		{"tool schema a list", `{` + base + `"tools":[{"name":"a","input_schema":[]}],` + user + `}`, "input_schema"},
		{"tool names twice", `{` + base + `"tools":[{"name":"a","input_schema":{}},{"name":"a","input_schema":{}}],` + user + `}`, "twice"},
		{"tool_choice type", `{` + base + `"tool_choice":{"type":"maybe"},` + user + `}`, "tool_choice"},
		{"tool_choice tool without name", `{` + base + `"tools":[{"name":"a","input_schema":{}}],"tool_choice":{"type":"tool"},` + user + `}`, "name"},
		{"tool_choice unknown tool", `{` + base + `"tools":[{"name":"a","input_schema":{}}],"tool_choice":{"type":"tool","name":"b"},` + user + `}`, "b"},
		{"tool_choice any without tools", `{` + base + `"tool_choice":{"type":"any"},` + user + `}`, "tools"},
		{"thinking type", `{` + base + `"thinking":{"type":"deep"},` + user + `}`, "thinking"},
		{"thinking without budget", `{` + base + `"thinking":{"type":"enabled"},` + user + `}`, "budget_tokens"},
		{"thinking budget small", `{"model":"emulator.reasoning-v1","max_tokens":4000,"thinking":{"type":"enabled","budget_tokens":10},` + user + `}`, "budget_tokens"},
		{"thinking budget over max", `{"model":"emulator.reasoning-v1","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":3000},` + user + `}`, "max_tokens"},
		{"effort unknown", `{` + base + `"thinking":{"type":"adaptive"},"output_config":{"effort":"extreme"},` + user + `}`, "effort"},
		{"metadata user_id a number", `{` + base + `"metadata":{"user_id":5},` + user + `}`, "user_id"},
		{"trailing data", `{` + base + user + `} {}`, "after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/v1/messages", "/v1/messages/count_tokens"} {
				if path != "/v1/messages" && strings.Contains(tc.name, "max_tokens") {
					continue // count_tokens takes no max_tokens
				}
				resp, body := post(t, gw.URL+path, tc.body, nil)
				var e errorEnvelope
				if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 400 || e.Type != "error" || e.Error.Type != "invalid_request_error" ||
					!strings.Contains(strings.ToLower(e.Error.Message), strings.ToLower(tc.mention)) || resp.Header.Get("Request-Id") == "" {
					t.Errorf("%s: status %d, %s; want 400 invalid_request_error naming %q", path, resp.StatusCode, body, tc.mention)
				}
			}
		})
	}
	if records := gatewaytest.WaitIdle(t, gw.Emu); len(records) != 0 {
		t.Errorf("%d calls reached Bedrock, want none", len(records))
	}
}

// TestWhatClientsSendIsNotRefused: a body as Claude Code sends it, with
// fields and betas Bedrock cannot honour, is answered; the gateway drops
// them and names them (never their values) in the log line, and logs the
// user id as a hash.
func TestWhatClientsSendIsNotRefused(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, claudeConfig())
	body := `{"model":"claude-sonnet-4-5-20250929","max_tokens":32000,"stream":true,
		"messages":[{"role":"user","content":[{"type":"text","text":"hello","cache_control":{"type":"ephemeral"}}]}],
		"system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],
		"tools":[{"name":"Bash","description":"run","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}},
		         {"type":"web_search_20250305","name":"web_search","max_uses":5}],
		"thinking":{"type":"adaptive"},"output_config":{"effort":"high"},
		"metadata":{"user_id":"{\"device_id\":\"secret-device\"}"},
		"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},
		"brand_new_field":{"secret":"value-never-logged"}}`
	resp, b := post(t, gw.URL+"/v1/messages?beta=true", body, map[string]string{
		"Anthropic-Beta": "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27",
		"Authorization":  "Bearer sk-anything",
	})
	if resp.StatusCode != 200 || !strings.Contains(string(b), "event: message_stop") {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	line := gatewaytest.LastLog(t, gw.Logs, "/v1/messages")
	var dropped []string
	for _, d := range line["dropped"].([]any) {
		dropped = append(dropped, d.(string))
	}
	for _, want := range []string{"context_management", "brand_new_field", "tool:web_search_20250305", "beta:claude-code-20250219", "beta:context-management-2025-06-27"} {
		if !slices.Contains(dropped, want) {
			t.Errorf("dropped %v; want %s named", dropped, want)
		}
	}
	if slices.Contains(dropped, "beta:interleaved-thinking-2025-05-14") {
		t.Errorf("dropped %v: interleaved thinking is a beta Bedrock honours", dropped)
	}
	raw, _ := json.Marshal(line)
	if strings.Contains(string(raw), "value-never-logged") || strings.Contains(string(raw), "secret-device") || line["user"] == "" {
		t.Errorf("the log line holds a value, or no user hash: %s", raw)
	}
	records := gatewaytest.WaitIdle(t, gw.Emu)
	var sent struct {
		InferenceConfig struct{ MaxTokens int }
		ToolConfig      struct{ Tools []map[string]any }
		System          []map[string]any
	}
	if err := json.Unmarshal(records[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.InferenceConfig.MaxTokens != streaming.DefaultMaxTokens || len(sent.ToolConfig.Tools) != 1 || len(sent.System) != 2 || sent.System[1]["cachePoint"] == nil {
		t.Errorf("Bedrock got %s; want max_tokens clamped to the cap, one tool, a cache point after the system text", records[0].Body)
	}
}

// TestErrorShape: the envelope and status of each of streamgate's errors.
func TestErrorShape(t *testing.T) {
	for _, tc := range []struct {
		e      streaming.Error
		status int
		typ    string
	}{
		{streaming.Error{Status: 400, Code: streaming.CodeInvalidRequest}, 400, "invalid_request_error"},
		{streaming.Error{Status: 415, Code: streaming.CodeUnsupportedMedia}, 415, "invalid_request_error"},
		{streaming.Error{Status: 401, Code: streaming.CodeUnauthorized}, 401, "authentication_error"},
		{streaming.Error{Status: 403, Code: streaming.CodeModelNotAllowed}, 404, "not_found_error"},
		{streaming.Error{Status: 403, Code: "forbidden"}, 403, "permission_error"},
		{streaming.Error{Status: 404, Code: streaming.CodeNotFound}, 404, "not_found_error"},
		{streaming.Error{Status: 413, Code: streaming.CodeBodyTooLarge}, 413, "request_too_large"},
		{streaming.Error{Status: 429, Code: "budget_exceeded", RetryAfter: 60}, 429, "rate_limit_error"},
		{streaming.Error{Status: 429, Code: streaming.CodeThrottled}, 529, "overloaded_error"},
		{streaming.Error{Status: 503, Code: streaming.CodeUnavailable}, 529, "overloaded_error"},
		{streaming.Error{Status: 503, Code: streaming.CodeShuttingDown}, 529, "overloaded_error"},
		{streaming.Error{Status: 502, Code: streaming.CodeUpstreamError}, 502, "api_error"},
		{streaming.Error{Status: 504, Code: streaming.CodeUpstreamTimeout}, 504, "api_error"},
	} {
		hdr := http.Header{"X-Request-Id": {"R1"}}
		status, body := errorBody(hdr, &tc.e)
		env := body.(errorEnvelope)
		if status != tc.status || env.Type != "error" || env.Error.Type != tc.typ || env.RequestID != "R1" || hdr.Get("Request-Id") != "R1" {
			t.Errorf("%+v: %d %+v; want %d %s", tc.e, status, env, tc.status, tc.typ)
		}
	}
}

// TestTextAllocs: a text delta costs no allocation.
func TestTextAllocs(t *testing.T) {
	enc := newEventEncoder(streaming.NewFlushWriter(gatewaytest.NewDiscardWriter()), messageMeta{id: "msg_X", model: "claude-sonnet-4-5"})
	if n := gatewaytest.TextAllocs(t, enc); n != 0 {
		t.Errorf("%v allocations a delta, want 0", n)
	}
}

// BenchmarkEncodeDelta/anthropic is the per-delta cost of a
// content_block_delta event.
func BenchmarkEncodeDelta(b *testing.B) {
	b.Run("anthropic", func(b *testing.B) {
		gatewaytest.BenchmarkText(b, newEventEncoder(streaming.NewFlushWriter(gatewaytest.NewDiscardWriter()), messageMeta{id: "msg_X", model: "claude-sonnet-4-5"}))
	})
}

// TestDocumentName: a document's title becomes a name Bedrock takes.
func TestDocumentName(t *testing.T) {
	for title, want := range map[string]string{
		"Q3 report (final).pdf": "Q3 report (final) pdf",
		"  a__b  c ":            "a b c",
		"résumé [v2]":           "r sum [v2]",
		"../../etc/passwd":      "etc passwd",
		"":                      "",
	} {
		if got := documentName(title); got != want {
			t.Errorf("%q: %q, want %q", title, got, want)
		}
	}
}
