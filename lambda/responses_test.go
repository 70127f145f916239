package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/responses"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming/emulator"
)

// openAIResponses drives POST /v1/responses on one target (local mode, or
// the Lambda path: the real bootstrap under localgw) with the real OpenAI
// Go SDK's Responses client; TestOpenAIClient runs it beside the Chat
// Completions subtests, on the same targets.
func openAIResponses(t *testing.T, tg target, client *openai.Client, rate int) {
	t.Run("streamed events and the whole answer", func(t *testing.T) { t.Parallel(); responsesStreaming(t, client, rate) })
	t.Run("function call round trip", func(t *testing.T) { t.Parallel(); responsesToolLoop(t, client, "emulator.tools-v1") })
	t.Run("reasoning tool loop", func(t *testing.T) { t.Parallel(); responsesToolLoop(t, client, "emulator.reasoning-v1") })
	t.Run("image", func(t *testing.T) { t.Parallel(); responsesImage(t, client, tg.emu) })
	t.Run("max_output_tokens", func(t *testing.T) { t.Parallel(); responsesIncomplete(t, client) })
	t.Run("mid-stream failure", func(t *testing.T) { t.Parallel(); responsesMidstream(t, client) })
	t.Run("errors", func(t *testing.T) { t.Parallel(); responsesErrors(t, tg.url) })
	if tg.name == "local" {
		// On the Lambda path a Stop crosses instances through the cancel
		// table: TestResponsesStopAcrossLambdaInstances.
		t.Run("stop by resp_ id", func(t *testing.T) { t.Parallel(); responsesStop(t, client, tg.emu) })
	}
}

func respInput(model, prompt string) responses.ResponseNewParams {
	return responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(prompt)}}
}

// respEvents reads a whole streamed response: its events and the arrival
// of each text delta.
func respEvents(t *testing.T, client *openai.Client, params responses.ResponseNewParams) ([]responses.ResponseStreamEventUnion, []time.Time) {
	t.Helper()
	stream := client.Responses.NewStreaming(t.Context(), params)
	var events []responses.ResponseStreamEventUnion
	var at []time.Time
	for stream.Next() {
		ev := stream.Current()
		if ev.SequenceNumber != int64(len(events)) {
			t.Fatalf("event %d (%s) has sequence_number %d", len(events), ev.Type, ev.SequenceNumber)
		}
		events = append(events, ev)
		if ev.Type == "response.output_text.delta" {
			at = append(at, time.Now())
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(events) < 3 || events[0].Type != "response.created" || events[1].Type != "response.in_progress" {
		t.Fatalf("the stream does not open with response.created and response.in_progress: %d events", len(events))
	}
	return events, at
}

func deltaText(events []responses.ResponseStreamEventUnion) string {
	var b strings.Builder
	for _, ev := range events {
		if ev.Type == "response.output_text.delta" {
			b.WriteString(ev.Delta)
		}
	}
	return b.String()
}

func responsesStreaming(t *testing.T, client *openai.Client, rate int) {
	const prompt = "how do the Responses API's events reach a client"
	deltas, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
	events, at := respEvents(t, client, respInput("emulator.steady-v1", prompt))
	var kinds []string
	for _, ev := range events {
		if n := len(kinds); n == 0 || kinds[n-1] != ev.Type {
			kinds = append(kinds, ev.Type)
		}
	}
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
	if !slices.Equal(kinds, want) {
		t.Errorf("events %q, want %q", kinds, want)
	}
	final := events[len(events)-1].Response
	if text := deltaText(events); text != strings.Join(deltas, "") || final.OutputText() != text || final.Usage.OutputTokens != int64(len(deltas)) {
		t.Errorf("text %q, final %s; want the emulator's %d-delta answer", text, final.RawJSON(), len(deltas))
	}
	assertSpread(t, at, len(deltas), rate)
	whole, err := client.Responses.New(t.Context(), respInput("emulator.steady-v1", prompt))
	if err != nil {
		t.Fatal(err)
	}
	if whole.OutputText() != deltaText(events) || whole.Status != "completed" || !strings.HasPrefix(whole.ID, "resp_") {
		t.Errorf("whole answer %s; want the streamed text", whole.RawJSON())
	}
}

// responsesToolLoop: the model calls get_weather (reasoning-v1 thinks
// first); the client sends back the reasoning item (its encrypted_content
// carrying Bedrock's signature), the call and its output, and gets the
// answer quoting the output.
func responsesToolLoop(t *testing.T, client *openai.Client, model string) {
	schema := map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}
	schemaJSON, _ := json.Marshal(schema)
	prompt := "What is the weather in Bergen? use get_weather (" + model + ")"
	want, err := emulator.ToolCallFor(prompt, "get_weather", schemaJSON)
	if err != nil {
		t.Fatal(err)
	}
	params := respInput(model, prompt)
	params.Tools = []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{Name: "get_weather", Parameters: schema, Strict: openai.Bool(false)}}}
	params.Include = []responses.ResponseIncludable{"reasoning.encrypted_content"}
	events, _ := respEvents(t, client, params)
	final := events[len(events)-1].Response
	input := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage(prompt, responses.EasyInputMessageRoleUser)}
	var call responses.ResponseFunctionToolCall
	sawReasoning := false
	for _, item := range final.Output {
		switch item.Type {
		case "reasoning":
			r := item.AsReasoning()
			wantReasoning, signature := emulator.Reasoning(prompt)
			if len(r.Summary) != 1 || r.Summary[0].Text != strings.Join(wantReasoning, "") || r.EncryptedContent != signature {
				t.Errorf("reasoning item %s", item.RawJSON())
			}
			p := responses.ResponseReasoningItemParam{ID: r.ID, Summary: []responses.ResponseReasoningItemSummaryParam{{Text: r.Summary[0].Text}},
				EncryptedContent: param.NewOpt(r.EncryptedContent)}
			input = append(input, responses.ResponseInputItemUnionParam{OfReasoning: &p})
			sawReasoning = true
		case "function_call":
			call = item.AsFunctionCall()
			fc := call.ToParam()
			input = append(input, responses.ResponseInputItemUnionParam{OfFunctionCall: &fc})
		}
	}
	if call.CallID != want.ID || call.Arguments != want.Input || final.Status != "completed" || sawReasoning != (model == "emulator.reasoning-v1") {
		t.Fatalf("output %s; want the call %s(%s), reasoning first for reasoning-v1", final.RawJSON(), want.Name, want.Input)
	}
	out := responses.ResponseInputItemParamOfFunctionCallOutput("drizzle, 9 degrees")
	out.OfFunctionCallOutput.CallID = param.NewOpt(call.CallID)
	params.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: append(input, out)}
	answer, err := client.Responses.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if wantAnswer := strings.Join(emulator.ToolResultAnswer(emulator.ToolResult{ToolName: "get_weather", Content: "drizzle, 9 degrees"}), ""); answer.OutputText() != wantAnswer {
		t.Errorf("answer %q; want %q", answer.OutputText(), wantAnswer)
	}
}

func responsesImage(t *testing.T, client *openai.Client, emu *emulator.Emulator) {
	var b bytes.Buffer
	png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 5, 5)))
	const prompt = "describe this picture for the responses image test"
	params := responses.ResponseNewParams{Model: "emulator.fast-v1", Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
			{OfInputText: &responses.ResponseInputTextParam{Text: prompt}},
			{OfInputImage: &responses.ResponseInputImageParam{ImageURL: openai.String("data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())), Detail: "auto"}},
		}, responses.EasyInputMessageRoleUser),
	}}}
	events, _ := respEvents(t, client, params)
	if want, _ := emulator.Answer("emulator.fast-v1", prompt, 0); deltaText(events) != strings.Join(want, "") {
		t.Errorf("answer %q", deltaText(events))
	}
	found := false
	for _, r := range emu.Records() {
		found = found || strings.Contains(string(r.Body), prompt) && strings.Contains(string(r.Body), `"image":{"format":"png"`)
	}
	if !found {
		t.Error("no request to Bedrock carried the image block")
	}
}

func responsesIncomplete(t *testing.T, client *openai.Client) {
	params := respInput("emulator.steady-v1", "a long story, please")
	params.MaxOutputTokens = openai.Int(4)
	events, _ := respEvents(t, client, params)
	last := events[len(events)-1]
	want, _ := emulator.Answer("emulator.steady-v1", "a long story, please", 4)
	if last.Type != "response.incomplete" || last.Response.IncompleteDetails.Reason != "max_output_tokens" || deltaText(events) != strings.Join(want, "") {
		t.Errorf("last event %s %s after %q", last.Type, last.Response.RawJSON(), deltaText(events))
	}
}

func responsesMidstream(t *testing.T, client *openai.Client) {
	events, _ := respEvents(t, client, respInput("emulator.midstream-error-v1", "hello"))
	n := len(events)
	partial, _ := emulator.Answer("emulator.midstream-error-v1", "hello", 0)
	if events[n-2].Type != "error" || events[n-2].Code != "upstream_error" || events[n-1].Type != "response.failed" ||
		events[n-1].Response.Status != "failed" || deltaText(events) != strings.Join(partial, "") {
		t.Errorf("the stream ended with %s %s after %q", events[n-2].RawJSON(), events[n-1].Type, deltaText(events))
	}
}

func responsesErrors(t *testing.T, url string) {
	tests := []struct {
		name       string
		client     *openai.Client
		params     responses.ResponseNewParams
		wantStatus int
		wantCode   string
		wantParam  string
	}{
		{"previous_response_id", openAIClient(url), func() responses.ResponseNewParams {
			p := respInput("emulator.steady-v1", "hi")
			p.PreviousResponseID = openai.String("resp_abc")
			return p
		}(), 400, "invalid_request", "previous_response_id"},
		{"wrong key", openAIClient(url, option.WithAPIKey("sk-wrong-key-0123456789")), respInput("emulator.steady-v1", "hi"), 401, "unauthorized", ""},
		{"model not allowed", openAIClient(url), respInput("gpt-5", "hi"), 403, "model_not_allowed", "model"},
		{"throttled", openAIClient(url), respInput("emulator.throttle-v1", "hi"), 429, "throttled", ""},
	}
	for _, tt := range tests {
		_, err := tt.client.Responses.New(t.Context(), tt.params)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.wantStatus || apiErr.Code != tt.wantCode || apiErr.Param != tt.wantParam {
			t.Errorf("%s: %v; want %d %s naming %q", tt.name, err, tt.wantStatus, tt.wantCode, tt.wantParam)
		}
	}
	_, err := openAIClient(url).Responses.Get(t.Context(), "resp_abc", responses.ResponseGetParams{})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || !strings.Contains(apiErr.Message, "stores no responses") {
		t.Errorf("GET a response: %v; want 404 saying nothing is stored", err)
	}
}

// responsesStop: the SDK's Responses.Cancel with the resp_ id stops a
// running stream, which ends cancelled, and so does the Bedrock call.
func responsesStop(t *testing.T, client *openai.Client, emu *emulator.Emulator) {
	const prompt = "the responses stop test"
	stream := client.Responses.NewStreaming(t.Context(), respInput("emulator.long-v1", prompt))
	var id string
	var last responses.ResponseStreamEventUnion
	for deltas := 0; stream.Next(); {
		last = stream.Current()
		if last.Type == "response.created" {
			id = last.Response.ID
		}
		if last.Type == "response.output_text.delta" {
			if deltas++; deltas == 3 {
				if _, err := client.Responses.Cancel(t.Context(), id); err != nil {
					t.Fatalf("cancel %s: %v", id, err)
				}
			}
		}
	}
	if err := stream.Err(); err != nil || last.Type != "response.incomplete" || last.Response.Status != "cancelled" {
		t.Errorf("the stream ended with %v %s %s; want cancelled", err, last.Type, last.Response.RawJSON())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		for _, r := range emu.Records() {
			if strings.Contains(string(r.Body), prompt) && r.Outcome == "cancelled" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Error("the Bedrock call was not cancelled")
}

// TestResponsesStopAcrossLambdaInstances: on the Lambda path, where a
// client's disconnect never reaches the function, POST
// /v1/responses/{resp_id}/cancel lands on the other instance and stops
// the stream through the cancel table.
func TestResponsesStopAcrossLambdaInstances(t *testing.T) {
	t.Parallel()
	lp := startLambdaPath(t, emulator.Options{TokensPerSecond: 50}, localgw.Config{Instances: 2}, cancelTableEnv(t)...)
	client := openAIClient(lp.url, option.WithAPIKey("any"))
	stream := client.Responses.NewStreaming(t.Context(), respInput("emulator.long-v1", "tell me everything"))
	var id string
	var last responses.ResponseStreamEventUnion
	var cancelled time.Time
	for deltas := 0; stream.Next(); {
		last = stream.Current()
		if last.Type == "response.created" {
			id = last.Response.ID
		}
		if last.Type == "response.output_text.delta" {
			if deltas++; deltas == 5 {
				cancelled = time.Now()
				if _, err := client.Responses.Cancel(t.Context(), id); err != nil {
					t.Fatalf("cancel %s: %v", id, err)
				}
			}
		}
	}
	if err := stream.Err(); err != nil || last.Type != "response.incomplete" || last.Response.Status != "cancelled" {
		t.Fatalf("the stream ended with %v %s; want cancelled", err, last.Type)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := lp.emu.WaitIdle(ctx); err != nil {
		t.Fatal("the Bedrock call still runs 15 s after the cancel")
	}
	records := lp.emu.Records()
	if r := records[len(records)-1]; r.Outcome != "cancelled" || r.End.Sub(cancelled) > 2*time.Second {
		t.Errorf("Bedrock call %+v ended %v after the cancel; want cancelled within 2 s", r, r.End.Sub(cancelled))
	}
	lp.logs.WaitFor(t, regexp.MustCompile(regexp.QuoteMeta(`"requestId":"`+strings.TrimPrefix(id, "resp_")+`"`)+`.*"cancelled":true`), 5*time.Second)
}
