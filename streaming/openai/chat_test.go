package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// openAIClient is the real OpenAI Go SDK pointed at a gateway, with its
// own retries off so that each test sees exactly one request's outcome.
func openAIClient(url string, opts ...option.RequestOption) *openai.Client {
	c := openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(url + "/v1/"), option.WithAPIKey("not-checked"), option.WithMaxRetries(0),
	}, opts...)...)
	return &c
}

func userMessage(text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "emulator.steady-v1",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}
}

// TestOpenAIStreaming: the OpenAI SDK streams a completion: one id, the
// role first, the answer's text spread over the generation time as the
// emulator made it, finish_reason stop, and the usage chunk when asked.
func TestOpenAIStreaming(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 100}, testConfig(), nil)
	client := openAIClient(gw.URL)
	const prompt = "Explain server-sent events"
	deltas, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
	params := userMessage(prompt)
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Chat.Completions.NewStreaming(t.Context(), params)
	var (
		text    strings.Builder
		at      []time.Time
		ids     = map[string]bool{}
		roles   []string
		finish  string
		usage   openai.CompletionUsage
		nChunks int
	)
	for stream.Next() {
		c := stream.Current()
		nChunks++
		ids[c.ID] = true
		if len(c.Choices) == 0 {
			usage = c.Usage
			continue
		}
		d := c.Choices[0].Delta
		if d.Role != "" {
			roles = append(roles, d.Role)
		}
		if d.Content != "" {
			text.WriteString(d.Content)
			at = append(at, time.Now())
		}
		if c.Choices[0].FinishReason != "" {
			finish = c.Choices[0].FinishReason
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(deltas, ""); text.String() != want {
		t.Errorf("text differs from the emulator's answer:\n%s", cmp.Diff(want, text.String()))
	}
	if len(ids) != 1 || !strings.HasPrefix(firstKey(ids), "chatcmpl-") || !cmp.Equal(roles, []string{"assistant"}) || finish != "stop" {
		t.Errorf("ids %v, roles %v, finish %q; want one chatcmpl- id, role assistant once, finish stop", ids, roles, finish)
	}
	if usage.CompletionTokens != int64(len(deltas)) || usage.PromptTokens != int64(len(strings.Fields(prompt))) || usage.TotalTokens != usage.PromptTokens+usage.CompletionTokens {
		t.Errorf("usage %+v; want %d completion tokens", usage, len(deltas))
	}
	if filled := streamtest.WindowsWithArrivals(at, 10); filled < 8 {
		t.Errorf("the answer arrived in %d of 10 time windows; want it spread out", filled)
	}
	records := gatewaytest.WaitIdle(t, gw.Emu)
	if len(records) != 1 || records[0].Operation != "ConverseStream" {
		t.Errorf("emulator records %+v; want one ConverseStream", records)
	}
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

// TestOpenAINonStreaming: stream false (the default) answers one
// chat.completion from Converse, not from a buffered stream.
func TestOpenAINonStreaming(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxTokens = 10
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, cfg, nil)
	const prompt = "Say something"
	deltas, _ := emulator.Answer("emulator.steady-v1", prompt, 7)
	params := userMessage(prompt)
	params.MaxCompletionTokens = openai.Int(7)
	got, err := openAIClient(gw.URL).Chat.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if got.Object != "chat.completion" || len(got.Choices) != 1 || got.Choices[0].Message.Content != strings.Join(deltas, "") ||
		got.Choices[0].FinishReason != "length" || got.Usage.CompletionTokens != 7 || got.Model != "emulator.steady-v1" {
		t.Errorf("completion %+v; want the 7-token answer, finish length", got)
	}
	records := gatewaytest.WaitIdle(t, gw.Emu)
	if len(records) != 1 || records[0].Operation != "Converse" {
		t.Errorf("emulator records %+v; want one Converse", records)
	}
}

// TestOpenAIErrors: the SDK maps each failure to its typed error with the
// status, type, code and param that OpenAI clients branch on.
func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	const key = "key-0123456789abcdef"
	cfg.APIKeys = []string{key}
	cfg.AllowedModels = []string{"emulator.steady-v1", "emulator.throttle-v1", "emulator.midstream-error-v1"}
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, cfg, nil)
	authed := openAIClient(gw.URL, option.WithAPIKey(key))
	tests := []struct {
		name       string
		client     *openai.Client
		params     func(p *openai.ChatCompletionNewParams)
		wantStatus int
		wantType   string
		wantCode   string
		wantParam  string
	}{
		{"no key", openAIClient(gw.URL), nil, 401, "authentication_error", streaming.CodeUnauthorized, ""},
		{"n above 1", authed, func(p *openai.ChatCompletionNewParams) { p.N = openai.Int(2) }, 400, "invalid_request_error", streaming.CodeInvalidRequest, "n"},
		{"logprobs", authed, func(p *openai.ChatCompletionNewParams) { p.Logprobs = openai.Bool(true) }, 400, "invalid_request_error", streaming.CodeInvalidRequest, "logprobs"},
		{"model not allowed", authed, func(p *openai.ChatCompletionNewParams) { p.Model = "gpt-4o" }, 403, "invalid_request_error", streaming.CodeModelNotAllowed, "model"},
		{"throttled", authed, func(p *openai.ChatCompletionNewParams) { p.Model = "emulator.throttle-v1" }, 429, "rate_limit_error", streaming.CodeThrottled, ""},
		{"model failure", authed, func(p *openai.ChatCompletionNewParams) { p.Model = "emulator.midstream-error-v1" }, 502, "api_error", streaming.CodeUpstreamError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := userMessage("hello")
			if tt.params != nil {
				tt.params(&params)
			}
			_, err := tt.client.Chat.Completions.New(t.Context(), params)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an *openai.Error", err)
			}
			if apiErr.StatusCode != tt.wantStatus || apiErr.Type != tt.wantType || apiErr.Code != tt.wantCode || apiErr.Param != tt.wantParam || apiErr.Message == "" {
				t.Errorf("error %d type %q code %q param %q (%s); want %d %q %q %q", apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Param, apiErr.Message,
					tt.wantStatus, tt.wantType, tt.wantCode, tt.wantParam)
			}
			if tt.wantStatus == 429 && apiErr.Response.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})
	}
	t.Run("failure mid-stream", func(t *testing.T) {
		params := userMessage("hello")
		params.Model = "emulator.midstream-error-v1"
		stream := authed.Chat.Completions.NewStreaming(t.Context(), params)
		var chunks int
		for stream.Next() {
			chunks++
		}
		var streamErr *ssestream.StreamError
		if !errors.As(stream.Err(), &streamErr) || !strings.Contains(streamErr.Message, streaming.CodeUpstreamError) || chunks == 0 {
			t.Errorf("after %d chunks: %v; want a stream error carrying upstream_error", chunks, stream.Err())
		}
		if strings.Contains(string(streamErr.Event.Data), "[DONE]") {
			t.Error("a failed stream sent [DONE]")
		}
	})
	for _, r := range gatewaytest.WaitIdle(t, gw.Emu) {
		if r.ModelID == "emulator.steady-v1" {
			t.Errorf("a refused request reached the emulator: %+v", r)
		}
	}
}

// TestOpenAIDisconnectCancelsBedrock: a client that stops reading an
// OpenAI stream (closes it) cancels the Bedrock call, as on /stream.
func TestOpenAIDisconnectCancelsBedrock(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 50}, testConfig(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	params := userMessage("go on")
	params.Model = "emulator.long-v1"
	stream := openAIClient(gw.URL).Chat.Completions.NewStreaming(ctx, params)
	for n := 0; n < 5 && stream.Next(); n++ {
	}
	cancel()
	stream.Close()
	records := gatewaytest.WaitIdle(t, gw.Emu)
	if len(records) != 1 || records[0].Outcome != "cancelled" || records[0].DeltasSent > 200 {
		t.Errorf("emulator records %+v; want the long answer cancelled early", records)
	}
}

// TestChatMapping checks the Chat Completions → Bedrock mapping of
// DESIGN §2a on requests a client sends.
func TestChatMapping(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SystemPrompt = "operator rules"
	cfg.MaxTokens = 8192
	cfg.AllowedModels = append(cfg.AllowedModels, "us.anthropic.claude-sonnet-4-20250514-v1:0")
	png := "data:image/png;base64,iVBORw0KGgo="
	tests := []struct {
		name string
		body string
		want func(c *streaming.Call) string // "" when c is right
	}{
		{"system and developer become system text after the operator's", `{"messages":[{"role":"system","content":"be brief"},{"role":"developer","content":[{"type":"text","text":"use lists"}]},{"role":"user","content":"hi"}]}`,
			func(c *streaming.Call) string {
				return diffSystem(c.System, "operator rules", "be brief", "use lists")
			}},
		{"consecutive user messages merged", `{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`,
			func(c *streaming.Call) string {
				if len(c.Messages) != 1 || len(c.Messages[0].Content) != 2 {
					return "want one user turn with two blocks"
				}
				return ""
			}},
		{"tool call and result", `{"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"rain"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"tool_choice":"required"}`,
			func(c *streaming.Call) string {
				if len(c.Messages) != 3 {
					return "want user, assistant, user"
				}
				use, ok := c.Messages[1].Content[0].(*types.ContentBlockMemberToolUse)
				if !ok || *use.Value.ToolUseId != "call_1" || *use.Value.Name != "get_weather" || docJSON(use.Value.Input) != `{"city":"Oslo"}` {
					return "assistant turn is not the toolUse block"
				}
				res, ok := c.Messages[2].Content[0].(*types.ContentBlockMemberToolResult)
				if !ok || *res.Value.ToolUseId != "call_1" {
					return "tool message is not a toolResult in a user turn"
				}
				if _, any := c.Tools.ToolChoice.(*types.ToolChoiceMemberAny); !any || len(c.Tools.Tools) != 1 {
					return "tool_choice required is not Bedrock's any"
				}
				return ""
			}},
		{"tool_choice none sends no toolConfig", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`,
			func(c *streaming.Call) string {
				if c.Tools != nil {
					return "toolConfig sent"
				}
				return ""
			}},
		{"forced tool", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
			func(c *streaming.Call) string {
				if tc, ok := c.Tools.ToolChoice.(*types.ToolChoiceMemberTool); !ok || *tc.Value.Name != "f" {
					return "want toolChoice tool f"
				}
				return ""
			}},
		{"image part", `{"messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"` + png + `"}}]}]}`,
			func(c *streaming.Call) string {
				img, ok := c.Messages[0].Content[1].(*types.ContentBlockMemberImage)
				if !ok || img.Value.Format != types.ImageFormatPng || len(img.Value.Source.(*types.ImageSourceMemberBytes).Value) != 8 {
					return "want a png image block of 8 bytes"
				}
				return ""
			}},
		{"sampling: max_completion_tokens wins, clamped; stop string", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":5,"max_completion_tokens":99999,"temperature":0.3,"top_p":0.8,"stop":"END"}`,
			func(c *streaming.Call) string {
				ic := c.Inference
				if *ic.MaxTokens != 8192 || *ic.Temperature != 0.3 || *ic.TopP != 0.8 || !cmp.Equal(ic.StopSequences, []string{"END"}) {
					return "sampling not mapped"
				}
				return ""
			}},
		{"reasoning_effort on Claude", `{"model":"us.anthropic.claude-sonnet-4-20250514-v1:0","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"medium","temperature":0.2}`,
			func(c *streaming.Call) string {
				if docJSON(c.Additional) != `{"thinking":{"budget_tokens":4096,"type":"enabled"}}` || c.Inference.Temperature != nil {
					return "want thinking budget 4096 and no temperature, got " + docJSON(c.Additional)
				}
				return ""
			}},
		{"unknown fields ignored", `{"messages":[{"role":"user","content":"hi"}],"user":"u1","store":false,"metadata":{"a":"b"},"parallel_tool_calls":true,"n":1}`,
			func(c *streaming.Call) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req chatRequest
			if e := streaming.DecodeLenient([]byte(tt.body), &req); e != nil {
				t.Fatal(e)
			}
			c, e := chatCall(&cfg, &req)
			if e != nil {
				t.Fatalf("refused: %v", e)
			}
			if problem := tt.want(c); problem != "" {
				t.Error(problem)
			}
		})
	}
}

func diffSystem(got []types.SystemContentBlock, want ...string) string {
	var texts []string
	for _, b := range got {
		texts = append(texts, b.(*types.SystemContentBlockMemberText).Value)
	}
	return cmp.Diff(want, texts)
}

func docJSON(d document.Interface) string {
	if d == nil {
		return ""
	}
	b, err := d.MarshalSmithyDocument()
	if err != nil {
		return err.Error()
	}
	var v any
	json.Unmarshal(b, &v)
	out, _ := json.Marshal(v) // sorted keys
	return string(out)
}

// TestChatRefusals: every field streamgate cannot honour is refused with
// a 400 naming it, and no call reaches Bedrock.
func TestChatRefusals(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{}, testConfig(), nil)
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct{ body, param string }{
		{`{` + msgs + `,"n":2}`, "n"},
		{`{` + msgs + `,"logprobs":true}`, "logprobs"},
		{`{` + msgs + `,"top_logprobs":3}`, "top_logprobs"},
		{`{` + msgs + `,"audio":{"voice":"alloy","format":"mp3"}}`, "audio"},
		{`{` + msgs + `,"modalities":["text","audio"]}`, "modalities"},
		{`{` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}}}`, "response_format"},
		{`{` + msgs + `,"response_format":{"type":"json_object"}}`, "response_format"},
		{`{` + msgs + `,"presence_penalty":0.5}`, "presence_penalty"},
		{`{` + msgs + `,"frequency_penalty":0.5}`, "frequency_penalty"},
		{`{` + msgs + `,"logit_bias":{"50256":-100}}`, "logit_bias"},
		{`{` + msgs + `,"seed":7}`, "seed"},
		{`{` + msgs + `,"reasoning_effort":"high"}`, "reasoning_effort"},
		{`{` + msgs + `,"model":"us.anthropic.claude-x","reasoning_effort":"high"}`, "model"},
		{`{` + msgs + `,"temperature":1.5}`, "temperature"},
		{`{` + msgs + `,"max_tokens":0}`, "max_tokens"},
		{`{` + msgs + `,"stop":["a","b","c","d","e"]}`, "stop"},
		{`{` + msgs + `,"stop":5}`, "stop"},
		{`{` + msgs + `,"tools":[{"type":"retrieval"}]}`, "tools"},
		{`{` + msgs + `,"tools":[{"type":"function","function":{"name":"bad name"}}]}`, "tools"},
		{`{` + msgs + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, "tools"},
		{`{` + msgs + `,"tool_choice":"sometimes"}`, "tool_choice"},
		{`{"messages":[]}`, "messages"},
		{`{"messages":[{"role":"assistant","content":"hi"}]}`, "messages"},
		{`{"messages":[{"role":"wizard","content":"hi"}]}`, "messages[0].role"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`, "messages[0].content[0]"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,!!!"}}]}]}`, "messages[0].content[0]"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,AAAA"}}]}]}`, "messages[0].content[0]"},
		{`{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, "messages[0].content[0]"},
		{`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{not json"}}]}]}`, "messages[1].tool_calls[0].function.arguments"},
		{`{"messages":[{"role":"user","content":"hi"},{"role":"tool","content":"x"}]}`, "messages[1].tool_call_id"},
		{`{"messages":[{"role":"user","content":""}]}`, "messages[0].content"},
	}
	client := openAIClient(gw.URL)
	for _, tt := range tests {
		var apiErr *openai.Error
		err := client.Post(t.Context(), "chat/completions", json.RawMessage(tt.body), nil)
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest && apiErr.StatusCode != http.StatusForbidden || apiErr.Param != tt.param {
			t.Errorf("%s: %v (param %q); want 400 naming %s", tt.body, err, paramOf(apiErr), tt.param)
		}
	}
	if n := len(gw.Emu.Records()); n != 0 {
		t.Errorf("refused requests reached the emulator: %d", n)
	}
}

func paramOf(e *openai.Error) string {
	if e == nil {
		return ""
	}
	return e.Param
}

// TestOpenAIModels: /v1/models lists the allowed models in OpenAI's
// shape; /v1/models/{id} answers one, or 404.
func TestOpenAIModels(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.AllowedModels = []string{"emulator.steady-v1", "us.anthropic.claude-sonnet-4-20250514-v1:0"}
	gw := newTestGateway(t, emulator.Options{}, cfg, nil)
	client := openAIClient(gw.URL)
	page, err := client.Models.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids, owners []string
	for _, m := range page.Data {
		ids, owners = append(ids, m.ID), append(owners, m.OwnedBy)
	}
	if !cmp.Equal(ids, cfg.AllowedModels) || !cmp.Equal(owners, []string{"emulator", "anthropic"}) {
		t.Errorf("models %v owned by %v", ids, owners)
	}
	if m, err := client.Models.Get(t.Context(), "us.anthropic.claude-sonnet-4-20250514-v1:0"); err != nil || m.ID != cfg.AllowedModels[1] {
		t.Errorf("get: %+v, %v", m, err)
	}
	var apiErr *openai.Error
	if _, err := client.Models.Get(t.Context(), "gpt-4o"); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("get an unknown model: %v; want 404", err)
	}
}

// TestChatAnswerMapping: the Bedrock → OpenAI direction — stop reasons to
// finish_reason, and a Converse answer with reasoning and tool use to one
// chat.completion.
func TestChatAnswerMapping(t *testing.T) {
	t.Parallel()
	for stop, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "model_context_window_exceeded": "length",
		"tool_use": "tool_calls", "guardrail_intervened": "content_filter", "content_filtered": "content_filter", "cancelled": "stop",
	} {
		if got := finishReason(stop); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", stop, got, want)
		}
	}
	a := &streaming.Answer{Reasoning: "let me think", StopReason: "tool_use", Usage: streaming.Usage{InputTokens: 3, OutputTokens: 4, TotalTokens: 17, CacheReadInputTokens: 10},
		ToolCalls: []streaming.ToolCall{{ID: "tooluse_1", Name: "get_weather", Input: []byte(`{"city":"Oslo"}`)}}}
	b, _ := json.Marshal(chatCompletion(chatMeta{id: "chatcmpl-X", model: "m", created: 5}, a))
	want := `{"choices":[{"finish_reason":"tool_calls","index":0,"logprobs":null,"message":{"role":"assistant","content":null,"reasoning_content":"let me think",` +
		`"tool_calls":[{"id":"tooluse_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]}}],` +
		`"created":5,"id":"chatcmpl-X","model":"m","object":"chat.completion","usage":{"prompt_tokens":13,"completion_tokens":4,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":10}}}`
	if string(b) != want {
		t.Errorf("chat.completion:\n%s\nwant\n%s", b, want)
	}
}

// TestChatWrongTypes: a field of the wrong JSON type is named, with the
// type it must have.
func TestChatWrongTypes(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"messages":[{"role":"user","content":"x"}],"stream":"yes"}`:         `field "stream" must be true or false`,
		`{"messages":[{"role":"user","content":"x"}],"max_tokens":"many"}`:    `field "max_tokens" must be a whole number`,
		`{"messages":[{"role":"user","content":"x"}],"temperature":"warm"}`:   `field "temperature" must be a number`,
		`{"messages":{"role":"user"}}`:                                        `field "messages" must be an array`,
		`{"messages":[{"role":"user","content":"x"}],"stream_options":"all"}`: `field "stream_options" must be an object`,
	} {
		var req chatRequest
		e := streaming.DecodeLenient([]byte(body), &req)
		if e == nil || e.Status != 400 || !strings.Contains(e.Message, want) {
			t.Errorf("%s: %v; want 400 saying %s", body, e, want)
		}
	}
}
