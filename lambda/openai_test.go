package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/streamgate/streamgate/streaming/emulator"
)

// testAPIKey is the gateway's API_KEYS in the OpenAI client tests.
const testAPIKey = "sk-streamgate-test-0123456789"

func openAIClient(url string, opts ...option.RequestOption) *openai.Client {
	c := openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(url + "/v1/"), option.WithAPIKey(testAPIKey), option.WithMaxRetries(0),
	}, opts...)...)
	return &c
}

// TestOpenAIClient drives local mode and the Lambda path with the real
// OpenAI Go SDK, as a user of any OpenAI-compatible tool would: Chat
// Completions, and the Responses API (openAIResponses).
func TestOpenAIClient(t *testing.T) {
	t.Parallel()
	const rate = 50
	for _, tg := range bothTargets(t, emulator.Options{TokensPerSecond: rate}, "API_KEYS="+testAPIKey) {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			client := openAIClient(tg.url)
			t.Run("streaming with usage", func(t *testing.T) { t.Parallel(); openAIStreaming(t, client, rate) })
			t.Run("non-streaming", func(t *testing.T) { t.Parallel(); openAINonStreaming(t, client) })
			t.Run("two-step tool call", func(t *testing.T) { t.Parallel(); openAIToolCall(t, client, tg.emu) })
			t.Run("reasoning", func(t *testing.T) { t.Parallel(); openAIReasoning(t, client) })
			t.Run("image part", func(t *testing.T) { t.Parallel(); openAIImage(t, client, tg.emu) })
			t.Run("errors", func(t *testing.T) { t.Parallel(); openAIErrors(t, tg.url) })
			t.Run("responses", func(t *testing.T) { t.Parallel(); openAIResponses(t, tg, client, rate) })
		})
	}
}

func chat(model, prompt string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}}
}

func openAIStreaming(t *testing.T, client *openai.Client, rate int) {
	const prompt = "how do streams reach a browser"
	deltas, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
	params := chat("emulator.steady-v1", prompt)
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Chat.Completions.NewStreaming(t.Context(), params)
	var text strings.Builder
	var at []time.Time
	var usage openai.CompletionUsage
	finish := ""
	for stream.Next() {
		c := stream.Current()
		if len(c.Choices) == 0 {
			usage = c.Usage
			continue
		}
		if d := c.Choices[0].Delta.Content; d != "" {
			text.WriteString(d)
			at = append(at, time.Now())
		}
		if f := c.Choices[0].FinishReason; f != "" {
			finish = f
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != strings.Join(deltas, "") || finish != "stop" || usage.CompletionTokens != int64(len(deltas)) {
		t.Errorf("text %q, finish %q, usage %+v; want the emulator's %d-delta answer, stop, and its usage", text.String(), finish, usage, len(deltas))
	}
	assertSpread(t, at, len(deltas), rate)
}

func openAINonStreaming(t *testing.T, client *openai.Client) {
	const prompt = "one paragraph please"
	deltas, stop := emulator.Answer("emulator.fast-v1", prompt, 0)
	got, err := client.Chat.Completions.New(t.Context(), chat("emulator.fast-v1", prompt))
	if err != nil {
		t.Fatal(err)
	}
	if got.Choices[0].Message.Content != strings.Join(deltas, "") || stop != "end_turn" || got.Choices[0].FinishReason != "stop" ||
		got.Usage.CompletionTokens != int64(len(deltas)) || !strings.HasPrefix(got.ID, "chatcmpl-") {
		t.Errorf("completion %+v", got)
	}
}

// openAIToolCall: tools-v1 answers with a tool call whose arguments arrive
// in several chunks; the SDK's accumulator assembles them; the client
// sends the tool's result and gets the final answer quoting it.
func openAIToolCall(t *testing.T, client *openai.Client, emu *emulator.Emulator) {
	schema := map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}
	schemaJSON, _ := json.Marshal(schema)
	const prompt = "What is the weather in Oslo? use get_weather"
	want, err := emulator.ToolCallFor(prompt, "get_weather", schemaJSON)
	if err != nil {
		t.Fatal(err)
	}
	params := chat("emulator.tools-v1", prompt)
	params.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
		Name: "get_weather", Description: openai.String("The weather in a city"), Parameters: openai.FunctionParameters(schema),
	})}
	stream := client.Chat.Completions.NewStreaming(t.Context(), params)
	var acc openai.ChatCompletionAccumulator
	argumentChunks := 0
	for stream.Next() {
		c := stream.Current()
		acc.AddChunk(c)
		if len(c.Choices) > 0 && len(c.Choices[0].Delta.ToolCalls) > 0 && c.Choices[0].Delta.ToolCalls[0].Function.Arguments != "" {
			argumentChunks++
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	msg := acc.Choices[0].Message
	if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].ID != want.ID || msg.ToolCalls[0].Function.Name != "get_weather" ||
		msg.ToolCalls[0].Function.Arguments != want.Input || acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("tool call %+v finish %q; want %s get_weather(%s), finish tool_calls", msg.ToolCalls, acc.Choices[0].FinishReason, want.ID, want.Input)
	}
	if argumentChunks != len(want.Fragments) || argumentChunks < 2 {
		t.Errorf("arguments came in %d chunks; want the emulator's %d fragments", argumentChunks, len(want.Fragments))
	}

	const result = "rain, 12 degrees"
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage(result, msg.ToolCalls[0].ID))
	final, err := client.Chat.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if answer := strings.Join(emulator.ToolResultAnswer(emulator.ToolResult{ToolName: "get_weather", Content: result}), ""); final.Choices[0].Message.Content != answer {
		t.Errorf("final answer %q; want %q", final.Choices[0].Message.Content, answer)
	}
}

// openAIReasoning: reasoning deltas arrive as delta.reasoning_content,
// before the answer, apart from it.
func openAIReasoning(t *testing.T, client *openai.Client) {
	const prompt = "think first, then answer"
	wantReasoning, _ := emulator.Reasoning(prompt)
	wantAnswer, _ := emulator.Answer("emulator.reasoning-v1", prompt, 0)
	stream := client.Chat.Completions.NewStreaming(t.Context(), chat("emulator.reasoning-v1", prompt))
	var reasoning, answer strings.Builder
	answerStarted := false
	for stream.Next() {
		c := stream.Current()
		if len(c.Choices) == 0 {
			continue
		}
		if raw := c.Choices[0].Delta.JSON.ExtraFields["reasoning_content"].Raw(); raw != "" {
			var s string
			json.Unmarshal([]byte(raw), &s)
			if answerStarted {
				t.Error("reasoning after the answer began")
			}
			reasoning.WriteString(s)
		}
		if d := c.Choices[0].Delta.Content; d != "" {
			answerStarted = true
			answer.WriteString(d)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if reasoning.String() != strings.Join(wantReasoning, "") || answer.String() != strings.Join(wantAnswer, "") {
		t.Errorf("reasoning %q, answer %q; want %q and %q", reasoning.String(), answer.String(), strings.Join(wantReasoning, ""), strings.Join(wantAnswer, ""))
	}
}

// openAIImage: an image_url part with a data: URL reaches Bedrock as an
// image block, which the emulator validates as Bedrock does.
func openAIImage(t *testing.T, client *openai.Client, emu *emulator.Emulator) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	png.Encode(&b, img)
	const prompt = "describe this picture for the image test"
	params := openai.ChatCompletionNewParams{Model: "emulator.fast-v1", Messages: []openai.ChatCompletionMessageParamUnion{
		openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart(prompt),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())}),
		}),
	}}
	got, err := client.Chat.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := emulator.Answer("emulator.fast-v1", prompt, 0); got.Choices[0].Message.Content != strings.Join(want, "") {
		t.Errorf("answer %q", got.Choices[0].Message.Content)
	}
	found := false
	for _, r := range emu.Records() {
		if strings.Contains(string(r.Body), prompt) && strings.Contains(string(r.Body), `"image":{"format":"png"`) {
			found = true
		}
	}
	if !found {
		t.Error("no request to the emulator carried the image block")
	}
}

func openAIErrors(t *testing.T, url string) {
	tests := []struct {
		name       string
		client     *openai.Client
		model      string
		wantStatus int
		wantCode   string
	}{
		{"bad request", openAIClient(url), "", 400, "invalid_request"},
		{"wrong key", openAIClient(url, option.WithAPIKey("sk-wrong-key-0123456789")), "emulator.steady-v1", 401, "unauthorized"},
		{"model not allowed", openAIClient(url), "gpt-4o", 403, "model_not_allowed"},
		{"throttled", openAIClient(url), "emulator.throttle-v1", 429, "throttled"},
		{"model failure", openAIClient(url), "emulator.midstream-error-v1", 502, "upstream_error"},
	}
	for _, tt := range tests {
		params := chat(tt.model, "hello")
		if tt.name == "bad request" {
			params = chat("emulator.steady-v1", "hello")
			params.N = openai.Int(3)
		}
		_, err := tt.client.Chat.Completions.New(t.Context(), params)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.wantStatus || apiErr.Code != tt.wantCode {
			t.Errorf("%s: %v; want %d %s", tt.name, err, tt.wantStatus, tt.wantCode)
			continue
		}
		if tt.wantStatus == 429 && apiErr.Response.Header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", tt.name)
		}
	}
	stream := openAIClient(url).Chat.Completions.NewStreaming(t.Context(), chat("emulator.midstream-error-v1", "hello"))
	for stream.Next() {
	}
	var streamErr *ssestream.StreamError
	if !errors.As(stream.Err(), &streamErr) {
		t.Errorf("mid-stream failure: %v; want a stream error", stream.Err())
	}
}
