package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"
)

// blockEvent is one ConverseStream event as the SDK decoded it.
type blockEvent struct {
	Kind  string // "start", "text", "reasoning", "signature", "tool", "stop"
	Index int32
	Text  string // delta text, reasoning text, signature or input fragment
	ID    string // start: toolUseId
	Name  string // start: tool name
}

// blockStream is a whole ConverseStream answer.
type blockStream struct {
	events     []blockEvent
	at         []time.Time // arrival of each delta event
	stopReason types.StopReason
	sawStop    bool
	usage      *types.TokenUsage
	err        error
}

// joined concatenates the texts of the events of one kind and index.
func (s blockStream) joined(kind string, index int32) string {
	var b strings.Builder
	for _, e := range s.events {
		if e.Kind == kind && e.Index == index {
			b.WriteString(e.Text)
		}
	}
	return b.String()
}

func (s blockStream) texts(kind string, index int32) []string {
	var out []string
	for _, e := range s.events {
		if e.Kind == kind && e.Index == index {
			out = append(out, e.Text)
		}
	}
	return out
}

func streamBlocks(ctx context.Context, c *bedrockruntime.Client, in *bedrockruntime.ConverseStreamInput) (blockStream, error) {
	var res blockStream
	out, err := c.ConverseStream(ctx, in)
	if err != nil {
		return res, err
	}
	stream := out.GetStream()
	defer stream.Close()
	for ev := range stream.Events() {
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockStart:
			tu, ok := v.Value.Start.(*types.ContentBlockStartMemberToolUse)
			if !ok {
				return res, fmt.Errorf("unexpected start %T", v.Value.Start)
			}
			res.events = append(res.events, blockEvent{Kind: "start", Index: aws.ToInt32(v.Value.ContentBlockIndex), ID: aws.ToString(tu.Value.ToolUseId), Name: aws.ToString(tu.Value.Name)})
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			e := blockEvent{Index: aws.ToInt32(v.Value.ContentBlockIndex)}
			switch d := v.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				e.Kind, e.Text = "text", d.Value
			case *types.ContentBlockDeltaMemberToolUse:
				e.Kind, e.Text = "tool", aws.ToString(d.Value.Input)
			case *types.ContentBlockDeltaMemberReasoningContent:
				switch r := d.Value.(type) {
				case *types.ReasoningContentBlockDeltaMemberText:
					e.Kind, e.Text = "reasoning", r.Value
				case *types.ReasoningContentBlockDeltaMemberSignature:
					e.Kind, e.Text = "signature", r.Value
				default:
					return res, fmt.Errorf("unexpected reasoning delta %T", d.Value)
				}
			default:
				return res, fmt.Errorf("unexpected delta %T", v.Value.Delta)
			}
			res.events = append(res.events, e)
			res.at = append(res.at, time.Now())
		case *types.ConverseStreamOutputMemberContentBlockStop:
			res.events = append(res.events, blockEvent{Kind: "stop", Index: aws.ToInt32(v.Value.ContentBlockIndex)})
		case *types.ConverseStreamOutputMemberMessageStop:
			res.sawStop, res.stopReason = true, v.Value.StopReason
		case *types.ConverseStreamOutputMemberMetadata:
			res.usage = v.Value.Usage
		}
	}
	res.err = stream.Err()
	return res, nil
}

// shape is the sequence of event kinds with their block index, deltas of
// one kind in a row counted once: "reasoning0 signature0 stop0 text1 stop1".
func (s blockStream) shape() string {
	var parts []string
	for _, e := range s.events {
		p := fmt.Sprintf("%s%d", e.Kind, e.Index)
		if len(parts) > 0 && parts[len(parts)-1] == p {
			continue
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func TestReasoningStream(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	const prompt = "Why is the sky blue?"
	res, err := streamBlocks(testContext(t), h.client, &bedrockruntime.ConverseStreamInput{
		ModelId: aws.String("emulator.reasoning-v1"), Messages: userMessages(prompt),
	})
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	if got := res.shape(); got != "reasoning0 signature0 stop0 text1 stop1" {
		t.Errorf("event shape %q", got)
	}
	reasoning, signature := Reasoning(prompt)
	if diff := cmp.Diff(reasoning, res.texts("reasoning", 0)); diff != "" {
		t.Errorf("reasoning deltas (-want +got):\n%s", diff)
	}
	if len(reasoning) < 3 {
		t.Errorf("reasoning has %d deltas, want several", len(reasoning))
	}
	if got := res.texts("signature", 0); len(got) != 1 || got[0] != signature || signature == "" {
		t.Errorf("signature deltas %q, want one %q", got, signature)
	}
	answer, stop := Answer("emulator.reasoning-v1", prompt, 0)
	if diff := cmp.Diff(answer, res.texts("text", 1)); diff != "" {
		t.Errorf("answer deltas (-want +got):\n%s", diff)
	}
	if stop != "end_turn" || res.stopReason != types.StopReasonEndTurn {
		t.Errorf("stop %q / %q, want end_turn", stop, res.stopReason)
	}
	// Reasoning deltas are output tokens too; the signature is not.
	if out := aws.ToInt32(res.usage.OutputTokens); int(out) != len(reasoning)+len(answer) {
		t.Errorf("outputTokens %d, want %d", out, len(reasoning)+len(answer))
	}
	if r := h.records(t); len(r) != 1 || r[0].DeltasSent != len(reasoning)+len(answer) || r[0].Outcome != "completed" {
		t.Errorf("records %+v", r)
	}
}

func TestReasoningMaxTokensAndThinkingDisabled(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	const prompt = "cap me"
	reasoning, _ := Reasoning(prompt)
	tests := []struct {
		name      string
		maxTokens int32
		fields    document.Interface
		wantShape string
		wantStop  types.StopReason
		wantText  int
	}{
		{"cap inside the reasoning", int32(len(reasoning) - 2), nil, "reasoning0 stop0", types.StopReasonMaxTokens, 0},
		{"cap at the reasoning's end", int32(len(reasoning)), nil, "reasoning0 stop0", types.StopReasonMaxTokens, 0},
		{"cap in the answer", int32(len(reasoning) + 3), nil, "reasoning0 signature0 stop0 text1 stop1", types.StopReasonMaxTokens, 3},
		{"thinking disabled", 0, document.NewLazyDocument(map[string]any{"thinking": map[string]any{"type": "disabled"}}), "text0 stop0", types.StopReasonEndTurn, -1},
		{"thinking enabled", 4000, document.NewLazyDocument(map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": 2048}}), "reasoning0 signature0 stop0 text1 stop1", types.StopReasonEndTurn, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &bedrockruntime.ConverseStreamInput{ModelId: aws.String("emulator.reasoning-v1"), Messages: userMessages(prompt), AdditionalModelRequestFields: tt.fields}
			if tt.maxTokens > 0 {
				in.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(tt.maxTokens)}
			}
			res, err := streamBlocks(testContext(t), h.client, in)
			if err != nil || res.err != nil {
				t.Fatal(err, res.err)
			}
			if got := res.shape(); got != tt.wantShape || res.stopReason != tt.wantStop {
				t.Errorf("shape %q stop %q; want %q %q", got, res.stopReason, tt.wantShape, tt.wantStop)
			}
			want, wantStop := Answer("emulator.reasoning-v1", prompt, int(tt.maxTokens))
			textIndex := int32(1)
			if tt.fields != nil && strings.Contains(tt.name, "disabled") {
				want, wantStop = Answer("emulator.steady-v1", prompt, 0)
				textIndex = 0
			}
			if tt.wantText >= 0 && len(want) != tt.wantText {
				t.Errorf("Answer gives %d deltas, want %d", len(want), tt.wantText)
			}
			if got := res.texts("text", textIndex); !cmp.Equal(want, got, cmp.Comparer(func(a, b []string) bool { return strings.Join(a, "") == strings.Join(b, "") })) || wantStop != string(res.stopReason) {
				t.Errorf("answer %q (%s), Answer says %q (%s)", got, res.stopReason, want, wantStop)
			}
		})
	}
}

func weatherTool(name string) types.Tool {
	return &types.ToolMemberToolSpec{Value: types.ToolSpecification{
		Name: aws.String(name),
		InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{
			"type": "object",
			"properties": map[string]any{
				"city": map[string]any{"type": "string"},
				"unit": map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
				"days": map[string]any{"type": "integer", "minimum": 1, "maximum": 7},
			},
			"required": []string{"city", "unit"},
		})},
	}}
}

const weatherSchema = `{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","unit"]}`

func TestToolUseStream(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	tools := []types.Tool{weatherTool("get_weather"), weatherTool("get_forecast")}
	tests := []struct {
		name, prompt string
		choice       types.ToolChoice
		wantTool     string
	}{
		{"auto picks the first", "What is the weather like?", nil, "get_weather"},
		{"auto picks the one named", "Use get_forecast for Paris", &types.ToolChoiceMemberAuto{}, "get_forecast"},
		{"any", "Paris please", &types.ToolChoiceMemberAny{}, "get_weather"},
		{"tool", "What is the weather like?", &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String("get_forecast")}}, "get_forecast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := streamBlocks(testContext(t), h.client, &bedrockruntime.ConverseStreamInput{
				ModelId: aws.String("emulator.tools-v1"), Messages: userMessages(tt.prompt),
				ToolConfig: &types.ToolConfiguration{Tools: tools, ToolChoice: tt.choice},
			})
			if err != nil || res.err != nil {
				t.Fatal(err, res.err)
			}
			want, err := ToolCallFor(tt.prompt, tt.wantTool, []byte(weatherSchema))
			if err != nil {
				t.Fatal(err)
			}
			if got := res.shape(); got != "start0 tool0 stop0" || res.stopReason != types.StopReasonToolUse {
				t.Errorf("shape %q stop %q", got, res.stopReason)
			}
			if s := res.events[0]; s.ID != want.ID || s.Name != tt.wantTool || !strings.HasPrefix(s.ID, "tooluse_") {
				t.Errorf("start %+v, want id %q name %q", s, want.ID, tt.wantTool)
			}
			if diff := cmp.Diff(want.Fragments, res.texts("tool", 0)); diff != "" {
				t.Errorf("fragments (-want +got):\n%s", diff)
			}
			if len(want.Fragments) < 3 {
				t.Errorf("input in %d fragments, want several", len(want.Fragments))
			}
			var input map[string]any
			if err := json.Unmarshal([]byte(res.joined("tool", 0)), &input); err != nil {
				t.Fatalf("assembled input %q: %v", res.joined("tool", 0), err)
			}
			if diff := cmp.Diff(map[string]any{"city": strings.TrimSpace(tt.prompt), "unit": "celsius"}, input); diff != "" {
				t.Errorf("input (-want +got):\n%s", diff)
			}
		})
	}
}

func TestToolResultAnswered(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	const prompt = "What is the weather in Paris?"
	call, err := ToolCallFor(prompt, "get_weather", []byte(weatherSchema))
	if err != nil {
		t.Fatal(err)
	}
	var input map[string]any
	if err := json.Unmarshal([]byte(call.Input), &input); err != nil {
		t.Fatal(err)
	}
	msgs := []types.Message{
		{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: prompt}}},
		{Role: types.ConversationRoleAssistant, Content: []types.ContentBlock{&types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
			ToolUseId: aws.String(call.ID), Name: aws.String(call.Name), Input: document.NewLazyDocument(input),
		}}}},
		{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
			ToolUseId: aws.String(call.ID),
			Content: []types.ToolResultContentBlock{
				&types.ToolResultContentBlockMemberText{Value: "Sunny, 21 °C"},
				&types.ToolResultContentBlockMemberJson{Value: document.NewLazyDocument(map[string]any{"wind": "calm"})},
			},
		}}}},
	}
	cfg := &types.ToolConfiguration{Tools: []types.Tool{weatherTool("get_weather")}}
	res, err := streamBlocks(testContext(t), h.client, &bedrockruntime.ConverseStreamInput{ModelId: aws.String("emulator.tools-v1"), Messages: msgs, ToolConfig: cfg})
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	want := ToolResultAnswer(ToolResult{ToolName: "get_weather", Content: `Sunny, 21 °C {"wind":"calm"}`})
	if diff := cmp.Diff(want, res.texts("text", 0)); diff != "" || res.stopReason != types.StopReasonEndTurn {
		t.Errorf("stop %q; answer (-want +got):\n%s", res.stopReason, diff)
	}
	if got := strings.Join(want, ""); got != `The get_weather tool returned "Sunny, 21 °C {"wind":"calm"}".` {
		t.Errorf("ToolResultAnswer = %q", got)
	}

	// Converse gives the same answer as one text block.
	out, err := h.client.Converse(testContext(t), &bedrockruntime.ConverseInput{ModelId: aws.String("emulator.tools-v1"), Messages: msgs, ToolConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	msg := out.Output.(*types.ConverseOutputMemberMessage).Value
	if len(msg.Content) != 1 || msg.Content[0].(*types.ContentBlockMemberText).Value != strings.Join(want, "") {
		t.Errorf("Converse content %+v", msg.Content)
	}
}

func TestToolsWithoutToolConfigAnswerLikeSteady(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	res, err := streamBlocks(testContext(t), h.client, &bedrockruntime.ConverseStreamInput{ModelId: aws.String("emulator.tools-v1"), Messages: userMessages("no tools here")})
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	want, _ := Answer("emulator.steady-v1", "no tools here", 0)
	if diff := cmp.Diff(want, res.texts("text", 0)); diff != "" || res.shape() != "text0 stop0" || res.stopReason != types.StopReasonEndTurn {
		t.Errorf("shape %q; deltas (-want +got):\n%s", res.shape(), diff)
	}
}

func TestConverseBlocks(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	const prompt = "Think, then call get_weather"

	out, err := h.client.Converse(testContext(t), &bedrockruntime.ConverseInput{ModelId: aws.String("emulator.reasoning-v1"), Messages: userMessages(prompt)})
	if err != nil {
		t.Fatal(err)
	}
	content := out.Output.(*types.ConverseOutputMemberMessage).Value.Content
	reasoning, signature := Reasoning(prompt)
	answer, _ := Answer("emulator.reasoning-v1", prompt, 0)
	if len(content) != 2 {
		t.Fatalf("content %+v, want reasoning and text", content)
	}
	rc, ok := content[0].(*types.ContentBlockMemberReasoningContent)
	if !ok {
		t.Fatalf("content[0] is %T", content[0])
	}
	rt := rc.Value.(*types.ReasoningContentBlockMemberReasoningText).Value
	if aws.ToString(rt.Text) != strings.Join(reasoning, "") || aws.ToString(rt.Signature) != signature {
		t.Errorf("reasoning %q / %q", aws.ToString(rt.Text), aws.ToString(rt.Signature))
	}
	if tb, ok := content[1].(*types.ContentBlockMemberText); !ok || tb.Value != strings.Join(answer, "") {
		t.Errorf("content[1] = %#v", content[1])
	}
	if out.StopReason != types.StopReasonEndTurn || int(aws.ToInt32(out.Usage.OutputTokens)) != len(reasoning)+len(answer) {
		t.Errorf("stop %q usage %+v", out.StopReason, out.Usage)
	}

	out, err = h.client.Converse(testContext(t), &bedrockruntime.ConverseInput{
		ModelId: aws.String("emulator.tools-v1"), Messages: userMessages(prompt),
		ToolConfig: &types.ToolConfiguration{Tools: []types.Tool{weatherTool("lookup"), weatherTool("get_weather")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	call, _ := ToolCallFor(prompt, "get_weather", []byte(weatherSchema))
	content = out.Output.(*types.ConverseOutputMemberMessage).Value.Content
	if len(content) != 1 {
		t.Fatalf("content %+v", content)
	}
	tu, ok := content[0].(*types.ContentBlockMemberToolUse)
	if !ok {
		t.Fatalf("content[0] is %T", content[0])
	}
	var input any
	if err := tu.Value.Input.UnmarshalSmithyDocument(&input); err != nil {
		t.Fatal(err)
	}
	var wantInput any
	_ = json.Unmarshal([]byte(call.Input), &wantInput)
	if aws.ToString(tu.Value.ToolUseId) != call.ID || aws.ToString(tu.Value.Name) != "get_weather" || !cmp.Equal(input, wantInput) {
		t.Errorf("toolUse %s %s %v; want %s get_weather %v", aws.ToString(tu.Value.ToolUseId), aws.ToString(tu.Value.Name), input, call.ID, wantInput)
	}
	if out.StopReason != types.StopReasonToolUse {
		t.Errorf("stop %q", out.StopReason)
	}
}

// TestReasoningToolLoop: reasoning-v1 with tools thinks, then calls a
// tool; given the result, it answers it, but only when the assistant turn
// before the result starts with its reasoning block, signature intact (as
// Claude requires with thinking on).
func TestReasoningToolLoop(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	const prompt = "What is the weather in Oslo?"
	cfg := &types.ToolConfiguration{Tools: []types.Tool{weatherTool("get_weather")}}
	user := types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: prompt}}}
	res, err := streamBlocks(testContext(t), h.client, &bedrockruntime.ConverseStreamInput{
		ModelId: aws.String("emulator.reasoning-v1"), Messages: []types.Message{user}, ToolConfig: cfg})
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	reasoning, signature := Reasoning(prompt)
	call, err := ToolCallFor(prompt, "get_weather", []byte(weatherSchema))
	if err != nil {
		t.Fatal(err)
	}
	if res.joined("reasoning", 0) != strings.Join(reasoning, "") || res.joined("signature", 0) != signature ||
		res.joined("tool", 1) != call.Input || res.stopReason != types.StopReasonToolUse {
		t.Fatalf("answer %+v, stop %q; want reasoning with its signature, then the call %s", res.events, res.stopReason, call.Input)
	}

	var input map[string]any
	json.Unmarshal([]byte(call.Input), &input)
	use := &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{ToolUseId: aws.String(call.ID), Name: aws.String(call.Name), Input: document.NewLazyDocument(input)}}
	result := types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
		ToolUseId: aws.String(call.ID), Content: []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: "rain"}},
	}}}}
	thinking := func(text, sig string) types.ContentBlock {
		return &types.ContentBlockMemberReasoningContent{Value: &types.ReasoningContentBlockMemberReasoningText{Value: types.ReasoningTextBlock{Text: aws.String(text), Signature: aws.String(sig)}}}
	}
	tests := []struct {
		name    string
		blocks  []types.ContentBlock
		wantErr string
	}{
		{"reasoning kept", []types.ContentBlock{thinking(strings.Join(reasoning, ""), signature), use}, ""},
		{"reasoning left out", []types.ContentBlock{use}, "Expected `thinking` or `redacted_thinking`, but found `tool_use`"},
		{"reasoning changed", []types.ContentBlock{thinking("something else", signature), use}, "Invalid `signature` in `thinking` block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := []types.Message{user, {Role: types.ConversationRoleAssistant, Content: tt.blocks}, result}
			out, err := h.client.Converse(testContext(t), &bedrockruntime.ConverseInput{ModelId: aws.String("emulator.reasoning-v1"), Messages: msgs, ToolConfig: cfg})
			if tt.wantErr != "" {
				var ve *types.ValidationException
				if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), tt.wantErr) {
					t.Fatalf("error %v; want a ValidationException saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Join(ToolResultAnswer(ToolResult{ToolName: "get_weather", Content: "rain"}), "")
			if msg := out.Output.(*types.ConverseOutputMemberMessage).Value; msg.Content[0].(*types.ContentBlockMemberText).Value != want {
				t.Errorf("answer %+v; want %q", msg.Content, want)
			}
		})
	}
}
