package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/responses"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

func respParams(model, prompt string) responses.ResponseNewParams {
	return responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(prompt)}}
}

// respStream is what one streamed response gave the SDK.
type respStream struct {
	events []responses.ResponseStreamEventUnion
	at     []time.Time // arrival of each output_text delta
	err    error
}

func streamResponse(ctx context.Context, client *openai.Client, params responses.ResponseNewParams) respStream {
	var out respStream
	stream := client.Responses.NewStreaming(ctx, params)
	for stream.Next() {
		ev := stream.Current()
		out.events = append(out.events, ev)
		if ev.Type == "response.output_text.delta" {
			out.at = append(out.at, time.Now())
		}
	}
	out.err = stream.Err()
	return out
}

// text is the concatenation of the output_text deltas.
func (s respStream) text() string {
	var b strings.Builder
	for _, ev := range s.events {
		if ev.Type == "response.output_text.delta" {
			b.WriteString(ev.Delta)
		}
	}
	return b.String()
}

// types lists the events' types, with runs of the same delta type
// collapsed into one.
func (s respStream) types() []string {
	var out []string
	for _, ev := range s.events {
		if n := len(out); n > 0 && out[n-1] == ev.Type && strings.HasSuffix(ev.Type, ".delta") {
			continue
		}
		out = append(out, ev.Type)
	}
	return out
}

func (s respStream) last() responses.ResponseStreamEventUnion { return s.events[len(s.events)-1] }

// checkSequence: sequence numbers count up from 0 without a gap, every
// event belongs to the response's items, and the last event carries the
// response with the items that were announced done, in order.
func (s respStream) checkSequence(t *testing.T) {
	t.Helper()
	var done []string
	for i, ev := range s.events {
		if ev.SequenceNumber != int64(i) {
			t.Fatalf("event %d (%s) has sequence_number %d", i, ev.Type, ev.SequenceNumber)
		}
		if ev.Type == "response.output_item.done" {
			if ev.OutputIndex != int64(len(done)) {
				t.Errorf("output_item.done for index %d after %d items", ev.OutputIndex, len(done))
			}
			done = append(done, ev.Item.ID)
		}
	}
	final := s.last().Response
	var ids []string
	for _, item := range final.Output {
		ids = append(ids, item.ID)
	}
	if !slices.Equal(ids, done) || !strings.HasPrefix(final.ID, "resp_") || s.events[0].Response.ID != final.ID {
		t.Errorf("final response %s has items %v; the stream finished %v", final.ID, ids, done)
	}
}

// TestResponsesStreaming: the SDK streams a response: the semantic events
// in order, numbered from 0, the text spread over the generation time as
// the emulator made it, the same text as the whole answer, and the usage.
func TestResponsesStreaming(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 100}, testConfig(), nil)
	client := openAIClient(gw.URL)
	const prompt = "Explain the Responses API"
	deltas, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
	got := streamResponse(t.Context(), client, respParams("emulator.steady-v1", prompt))
	if got.err != nil {
		t.Fatal(got.err)
	}
	got.checkSequence(t)
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
	if diff := cmp.Diff(want, got.types()); diff != "" {
		t.Errorf("event types (-want +got):\n%s", diff)
	}
	if got.text() != strings.Join(deltas, "") || len(got.at) != len(deltas) {
		t.Errorf("text in %d deltas %q; want the emulator's %d", len(got.at), got.text(), len(deltas))
	}
	final := got.last().Response
	if final.Status != "completed" || final.OutputText() != got.text() || final.Usage.OutputTokens != int64(len(deltas)) ||
		final.Usage.InputTokens != int64(len(strings.Fields(prompt))) || final.Usage.TotalTokens != final.Usage.InputTokens+final.Usage.OutputTokens ||
		final.Model != "emulator.steady-v1" || !strings.Contains(final.RawJSON(), `"store":false`) {
		t.Errorf("final response %s", final.RawJSON())
	}
	for _, ev := range got.events {
		if ev.Type == "response.output_text.done" && ev.Text != got.text() {
			t.Errorf("output_text.done says %q", ev.Text)
		}
	}
	if filled := streamtest.WindowsWithArrivals(got.at, 10); filled < 8 {
		t.Errorf("the answer arrived in %d of 10 time windows; want it spread out", filled)
	}

	// The whole answer (Converse) is the same text, and the same shape.
	whole, err := client.Responses.New(t.Context(), respParams("emulator.steady-v1", prompt))
	if err != nil {
		t.Fatal(err)
	}
	if whole.OutputText() != got.text() || whole.Status != "completed" || len(whole.Output) != 1 || whole.Output[0].Type != "message" ||
		whole.Usage.OutputTokens != final.Usage.OutputTokens || !strings.Contains(whole.RawJSON(), `"output_text":`) {
		t.Errorf("whole response %s", whole.RawJSON())
	}
	records := gatewaytest.WaitIdle(t, gw.Emu)
	if len(records) != 2 || records[0].Operation != "ConverseStream" || records[1].Operation != "Converse" {
		t.Errorf("emulator records %+v; want ConverseStream then Converse", records)
	}
}

var weatherSchema = map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}

func weatherTool() responses.ToolUnionParam {
	return responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
		Name: "get_weather", Description: openai.String("The weather in a city"), Parameters: weatherSchema, Strict: openai.Bool(false)}}
}

// functionCall is the function_call item of a finished stream.
func (s respStream) functionCall(t *testing.T) responses.ResponseFunctionToolCall {
	t.Helper()
	for _, item := range s.last().Response.Output {
		if item.Type == "function_call" {
			return item.AsFunctionCall()
		}
	}
	t.Fatalf("no function_call in %s", s.last().Response.RawJSON())
	return responses.ResponseFunctionToolCall{}
}

// TestResponsesToolRoundTrip: tools-v1 calls the function with arguments
// in several deltas; the client sends the call and its output back and
// gets the answer quoting it.
func TestResponsesToolRoundTrip(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, testConfig(), nil)
	client := openAIClient(gw.URL)
	const prompt = "What is the weather in Oslo? use get_weather"
	schema, _ := json.Marshal(weatherSchema)
	want, err := emulator.ToolCallFor(prompt, "get_weather", schema)
	if err != nil {
		t.Fatal(err)
	}
	params := respParams("emulator.tools-v1", prompt)
	params.Tools = []responses.ToolUnionParam{weatherTool()}
	got := streamResponse(t.Context(), client, params)
	if got.err != nil {
		t.Fatal(got.err)
	}
	got.checkSequence(t)
	if diff := cmp.Diff([]string{"response.created", "response.in_progress", "response.output_item.added", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done", "response.completed"}, got.types()); diff != "" {
		t.Errorf("event types (-want +got):\n%s", diff)
	}
	call := got.functionCall(t)
	var fragments []string
	for _, ev := range got.events {
		if ev.Type == "response.function_call_arguments.delta" {
			fragments = append(fragments, ev.Delta)
		}
	}
	if call.CallID != want.ID || call.Name != "get_weather" || call.Arguments != want.Input || !slices.Equal(fragments, want.Fragments) || len(fragments) < 2 {
		t.Fatalf("call %s(%s) id %s in %q; want %s in %q", call.Name, call.Arguments, call.CallID, fragments, want.Input, want.Fragments)
	}

	const result = "rain, 12 degrees"
	fc := call.ToParam()
	params.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage(prompt, responses.EasyInputMessageRoleUser),
		{OfFunctionCall: &fc},
		functionOutputParam(call.CallID, result),
	}}
	final, err := client.Responses.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if answer := strings.Join(emulator.ToolResultAnswer(emulator.ToolResult{ToolName: "get_weather", Content: result}), ""); final.OutputText() != answer {
		t.Errorf("final answer %q; want %q", final.OutputText(), answer)
	}
}

// functionOutputParam is a function_call_output input item.
func functionOutputParam(callID, output string) responses.ResponseInputItemUnionParam {
	item := responses.ResponseInputItemParamOfFunctionCallOutput(output)
	item.OfFunctionCallOutput.CallID = param.NewOpt(callID)
	return item
}

// reasoningParam is a reasoning output item as the next request's input
// item.
func reasoningParam(r responses.ResponseReasoningItem) responses.ResponseInputItemUnionParam {
	p := responses.ResponseReasoningItemParam{ID: r.ID}
	for _, s := range r.Summary {
		p.Summary = append(p.Summary, responses.ResponseReasoningItemSummaryParam{Text: s.Text})
	}
	if r.EncryptedContent != "" {
		p.EncryptedContent = param.NewOpt(r.EncryptedContent)
	}
	return responses.ResponseInputItemUnionParam{OfReasoning: &p}
}

// TestResponsesReasoningToolLoop: reasoning-v1 thinks (reasoning summary
// events), then calls the tool; with include reasoning.encrypted_content
// the reasoning item carries Bedrock's signature, and sending it back with
// the call and its output completes the loop. Without it the reasoning
// cannot go back, and Bedrock refuses the turn, as Claude does.
func TestResponsesReasoningToolLoop(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, testConfig(), nil)
	client := openAIClient(gw.URL)
	const prompt = "Think, then check the weather in Oslo"
	wantReasoning, signature := emulator.Reasoning(prompt)
	params := respParams("emulator.reasoning-v1", prompt)
	params.Tools = []responses.ToolUnionParam{weatherTool()}
	params.Include = []responses.ResponseIncludable{"reasoning.encrypted_content"}
	params.Reasoning.Summary = "auto"
	got := streamResponse(t.Context(), client, params)
	if got.err != nil {
		t.Fatal(got.err)
	}
	got.checkSequence(t)
	if diff := cmp.Diff([]string{"response.created", "response.in_progress",
		"response.output_item.added", "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
		"response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done",
		"response.completed"}, got.types()); diff != "" {
		t.Errorf("event types (-want +got):\n%s", diff)
	}
	final := got.last().Response
	reasoning := final.Output[0].AsReasoning()
	if len(reasoning.Summary) != 1 || reasoning.Summary[0].Text != strings.Join(wantReasoning, "") || reasoning.EncryptedContent != signature {
		t.Fatalf("reasoning item %s; want the emulator's reasoning with its signature", final.Output[0].RawJSON())
	}
	call := got.functionCall(t)
	fc := call.ToParam()
	loop := func(r responses.ResponseReasoningItem) (*responses.Response, error) {
		p := params
		p.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage(prompt, responses.EasyInputMessageRoleUser),
			reasoningParam(r),
			{OfFunctionCall: &fc},
			functionOutputParam(call.CallID, "sunny"),
		}}
		return client.Responses.New(t.Context(), p)
	}
	answer, err := loop(reasoning)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(emulator.ToolResultAnswer(emulator.ToolResult{ToolName: "get_weather", Content: "sunny"}), ""); answer.OutputText() != want {
		t.Errorf("answer %q; want %q", answer.OutputText(), want)
	}

	// Without encrypted_content the reasoning item is dropped (and named
	// in the log line), and the model refuses the turn.
	reasoning.EncryptedContent = ""
	_, err = loop(reasoning)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Code != streaming.CodeUpstreamRejected || !strings.Contains(apiErr.Message, "thinking") {
		t.Errorf("loop without the reasoning's encrypted_content: %v; want Bedrock's 400", err)
	}
	line := gatewaytest.LastLog(t, gw.Logs, "/v1/responses")
	if dropped, _ := line["dropped"].([]any); !slices.Contains(dropped, any("input:reasoning without encrypted_content")) {
		t.Errorf("log line dropped %v", line["dropped"])
	}
}

// TestResponsesImage: an input_image with a data: URL reaches Bedrock as
// an image block, which the emulator checks as Bedrock does.
func TestResponsesImage(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, testConfig(), nil)
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 3, 3)))
	const prompt = "what is in this picture"
	params := responses.ResponseNewParams{Model: "emulator.fast-v1", Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
			{OfInputText: &responses.ResponseInputTextParam{Text: prompt}},
			{OfInputImage: &responses.ResponseInputImageParam{ImageURL: openai.String("data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())), Detail: "auto"}},
		}, responses.EasyInputMessageRoleUser),
	}}}
	got, err := openAIClient(gw.URL).Responses.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := emulator.Answer("emulator.fast-v1", prompt, 0); got.OutputText() != strings.Join(want, "") {
		t.Errorf("answer %q", got.OutputText())
	}
	records := gatewaytest.WaitIdle(t, gw.Emu)
	if len(records) != 1 || !strings.Contains(string(records[0].Body), `"image":{"format":"png"`) {
		t.Errorf("Bedrock got %d requests, without the image block", len(records))
	}
}

// TestResponsesIncomplete: max_output_tokens cuts the answer, which ends
// with response.incomplete (reason max_output_tokens), streamed or whole.
func TestResponsesIncomplete(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, testConfig(), nil)
	client := openAIClient(gw.URL)
	const prompt = "a long story please"
	deltas, _ := emulator.Answer("emulator.fast-v1", prompt, 5)
	params := respParams("emulator.fast-v1", prompt)
	params.MaxOutputTokens = openai.Int(5)
	got := streamResponse(t.Context(), client, params)
	if got.err != nil {
		t.Fatal(got.err)
	}
	got.checkSequence(t)
	last := got.last()
	if last.Type != "response.incomplete" || last.Response.Status != "incomplete" || last.Response.IncompleteDetails.Reason != "max_output_tokens" ||
		got.text() != strings.Join(deltas, "") || last.Response.MaxOutputTokens != 5 {
		t.Errorf("last event %s %s; text %q", last.Type, last.Response.RawJSON(), got.text())
	}
	whole, err := client.Responses.New(t.Context(), params)
	if err != nil || whole.Status != "incomplete" || whole.IncompleteDetails.Reason != "max_output_tokens" || whole.OutputText() != got.text() {
		t.Errorf("whole: %v %s", err, whole.RawJSON())
	}
}

// TestResponsesFailures: a failure after the first byte is an error event,
// then response.failed, then the end of the body; failures before it are
// OpenAI's errors, typed by the SDK.
func TestResponsesFailures(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	const key = "key-0123456789abcdef"
	cfg.APIKeys = []string{key}
	cfg.AllowedModels = []string{"emulator.steady-v1", "emulator.throttle-v1", "emulator.midstream-error-v1"}
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, cfg, nil)
	authed := openAIClient(gw.URL, option.WithAPIKey(key))

	t.Run("mid-stream", func(t *testing.T) {
		const prompt = "hello"
		partial, _ := emulator.Answer("emulator.midstream-error-v1", prompt, 0)
		got := streamResponse(t.Context(), authed, respParams("emulator.midstream-error-v1", prompt))
		if got.err != nil {
			t.Fatalf("the SDK reports %v; the failure is in the events", got.err)
		}
		got.checkSequence(t)
		n := len(got.events)
		errEv, failed := got.events[n-2], got.events[n-1]
		if errEv.Type != "error" || errEv.Code != streaming.CodeUpstreamError || errEv.Message == "" ||
			failed.Type != "response.failed" || failed.Response.Status != "failed" || failed.Response.Error.Code != streaming.CodeUpstreamError {
			t.Errorf("last events %s %s", errEv.RawJSON(), failed.RawJSON())
		}
		if got.text() != strings.Join(partial, "") || slices.Contains(got.types(), "response.output_text.done") {
			t.Errorf("text %q before the failure; want %q and no done event for the cut message", got.text(), strings.Join(partial, ""))
		}
	})
	tests := []struct {
		name       string
		do         func() error
		wantStatus int
		wantType   string
		wantCode   string
		wantParam  string
	}{
		{"no key", func() error {
			_, err := openAIClient(gw.URL).Responses.New(t.Context(), respParams("emulator.steady-v1", "hi"))
			return err
		}, 401, "authentication_error", streaming.CodeUnauthorized, ""},
		{"previous_response_id", func() error {
			p := respParams("emulator.steady-v1", "hi")
			p.PreviousResponseID = openai.String("resp_123")
			_, err := authed.Responses.New(t.Context(), p)
			return err
		}, 400, "invalid_request_error", streaming.CodeInvalidRequest, "previous_response_id"},
		{"model not allowed", func() error {
			_, err := authed.Responses.New(t.Context(), respParams("gpt-5", "hi"))
			return err
		}, 403, "invalid_request_error", streaming.CodeModelNotAllowed, "model"},
		{"throttled", func() error {
			_, err := authed.Responses.New(t.Context(), respParams("emulator.throttle-v1", "hi"))
			return err
		}, 429, "rate_limit_error", streaming.CodeThrottled, ""},
		{"throttled, streaming", func() error {
			return streamResponse(t.Context(), authed, respParams("emulator.throttle-v1", "hi")).err
		}, 429, "rate_limit_error", streaming.CodeThrottled, ""},
		{"model failure", func() error {
			_, err := authed.Responses.New(t.Context(), respParams("emulator.midstream-error-v1", "hi"))
			return err
		}, 502, "api_error", streaming.CodeUpstreamError, ""},
		{"stored response", func() error {
			_, err := authed.Responses.Get(t.Context(), "resp_123", responses.ResponseGetParams{})
			return err
		}, 404, "invalid_request_error", streaming.CodeNotFound, "response_id"},
		{"deleted response", func() error {
			return authed.Responses.Delete(t.Context(), "resp_123")
		}, 404, "invalid_request_error", streaming.CodeNotFound, "response_id"},
		{"cancel of nothing running", func() error {
			_, err := authed.Responses.Cancel(t.Context(), "resp_NOSUCHANSWER")
			return err
		}, 404, "invalid_request_error", streaming.CodeNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var apiErr *openai.Error
			if err := tt.do(); !errors.As(err, &apiErr) {
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
}

// TestResponsesCancel: POST /v1/responses/{id}/cancel with the resp_ id of
// a running stream stops it: the stream ends with response.incomplete,
// status cancelled, and the Bedrock call is cancelled.
func TestResponsesCancel(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 50}, testConfig(), nil)
	client := openAIClient(gw.URL)
	stream := client.Responses.NewStreaming(t.Context(), respParams("emulator.long-v1", "go on"))
	var id string
	var last responses.ResponseStreamEventUnion
	deltas := 0
	for stream.Next() {
		last = stream.Current()
		switch last.Type {
		case "response.created":
			id = last.Response.ID
		case "response.output_text.delta":
			if deltas++; deltas == 3 {
				if _, err := client.Responses.Cancel(t.Context(), id); err != nil {
					t.Fatalf("cancel %s: %v", id, err)
				}
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if last.Type != "response.incomplete" || last.Response.Status != "cancelled" || last.Response.ID != id || deltas > 200 {
		t.Errorf("after %d deltas the stream ended with %s %s", deltas, last.Type, last.Response.RawJSON())
	}
	records := gatewaytest.WaitIdle(t, gw.Emu)
	if len(records) != 1 || records[0].Outcome != "cancelled" {
		t.Errorf("emulator records %+v; want the long answer cancelled", records)
	}
}

// TestResponsesDisconnectCancelsBedrock: a client that goes away cancels
// the Bedrock call.
func TestResponsesDisconnectCancelsBedrock(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 50}, testConfig(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	stream := openAIClient(gw.URL).Responses.NewStreaming(ctx, respParams("emulator.long-v1", "go on"))
	for n := 0; n < 6 && stream.Next(); n++ {
	}
	cancel()
	stream.Close()
	records := gatewaytest.WaitIdle(t, gw.Emu)
	if len(records) != 1 || records[0].Outcome != "cancelled" || records[0].DeltasSent > 200 {
		t.Errorf("emulator records %+v; want the long answer cancelled early", records)
	}
	if line := gatewaytest.LastLog(t, gw.Logs, "/v1/responses"); line["clientAborted"] != true {
		t.Errorf("log line %v; want clientAborted", line)
	}
}

// TestResponsesCodexRequest: Codex CLI 0.171's whole request (captured
// against a plain listener, long texts shortened) is accepted: its
// developer messages become system text, its function tools Bedrock's
// tools, and its web_search and namespace tools and prompt_cache_key are
// dropped and named in the log line, never client_metadata.
func TestResponsesCodexRequest(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("testdata/codex-0.171.0-request.json")
	if err != nil {
		t.Fatal(err)
	}
	var req responsesRequest
	if e := streaming.DecodeLenient(body, &req); e != nil {
		t.Fatal(e)
	}
	cfg := testConfig()
	p, e := responsesCall(&cfg, &req)
	if e != nil {
		t.Fatalf("refused: %v", e)
	}
	var names []string
	for _, tool := range p.call.Tools.Tools {
		names = append(names, *tool.(*types.ToolMemberToolSpec).Value.Name)
	}
	if len(p.call.System) != 2 || len(p.call.Messages) != 1 || len(p.call.Messages[0].Content) != 2 || len(names) != 7 || !slices.Contains(names, "exec_command") {
		t.Errorf("system %d, messages %+v, tools %v", len(p.call.System), p.call.Messages, names)
	}
	if diff := cmp.Diff([]string{"tools:namespace:multi_agent_v1", "tools:web_search", "prompt_cache_key"}, p.dropped); diff != "" || !p.includeEncrypted {
		t.Errorf("dropped (-want +got):\n%s; include encrypted %v", diff, p.includeEncrypted)
	}

	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, testConfig(), nil)
	req.Model = "emulator.fast-v1"
	res := streamtest.Post(t, t.Context(), gw.URL+"/v1/responses", "text/event-stream", string(mustJSON(t, body, "emulator.fast-v1")))
	if res.Status != http.StatusOK || !strings.Contains(string(res.Body), "event: response.completed") {
		t.Fatalf("status %d: %s", res.Status, tail(string(res.Body), 300))
	}
	line := gatewaytest.LastLog(t, gw.Logs, "/v1/responses")
	if raw, _ := json.Marshal(line); strings.Contains(string(raw), "x-codex") || strings.Contains(string(raw), "client_metadata") || line["dropped"] == nil {
		t.Errorf("log line %s", raw)
	}
}

func mustJSON(t *testing.T, body []byte, model string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["model"] = model
	out, _ := json.Marshal(m)
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
