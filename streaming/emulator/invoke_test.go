package emulator

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"
)

// invoke calls InvokeModel with a JSON body and decodes the answer into T.
func invoke[T any](t *testing.T, c *bedrockruntime.Client, model string, body any) (T, *bedrockruntime.InvokeModelOutput) {
	t.Helper()
	var zero T
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.InvokeModel(testContext(t), &bedrockruntime.InvokeModelInput{
		ModelId: aws.String(model), Body: b, ContentType: aws.String("application/json"), Accept: aws.String("application/json"),
	})
	if err != nil {
		t.Fatalf("InvokeModel %s: %v", model, err)
	}
	if aws.ToString(out.ContentType) != "application/json" {
		t.Errorf("content type %q", aws.ToString(out.ContentType))
	}
	if err := json.Unmarshal(out.Body, &zero); err != nil {
		t.Fatalf("answer %s: %v", out.Body, err)
	}
	return zero, out
}

type titanTextAnswer struct {
	InputTextTokenCount int
	Results             []struct {
		TokenCount       int
		OutputText       string
		CompletionReason string
	}
}

func TestInvokeTitanText(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 2000})
	const prompt = "Write a haiku about rivers"
	full, _ := Answer("emulator.text-v1", prompt, 0)
	tests := []struct {
		name       string
		config     map[string]any
		wantDeltas []string
		wantReason string
	}{
		{"defaults", nil, full, "FINISH"},
		{"maxTokenCount", map[string]any{"maxTokenCount": 4, "temperature": 0.2, "topP": 0.9}, full[:4], "LENGTH"},
		{"stop sequence", map[string]any{"stopSequences": []string{stripWord(full[3])}}, full[:3], "STOP_CRITERIA_MET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"inputText": prompt}
			if tt.config != nil {
				body["textGenerationConfig"] = tt.config
			}
			got, out := invoke[titanTextAnswer](t, h.client, "emulator.text-v1", body)
			if got.InputTextTokenCount != 5 || len(got.Results) != 1 {
				t.Fatalf("answer %+v", got)
			}
			r := got.Results[0]
			if r.OutputText != strings.Join(tt.wantDeltas, "") || r.TokenCount != len(tt.wantDeltas) || r.CompletionReason != tt.wantReason {
				t.Errorf("result %+v, want %d tokens of %q, %s", r, len(tt.wantDeltas), strings.Join(tt.wantDeltas, ""), tt.wantReason)
			}
			_ = out
		})
	}
	for _, r := range h.records(t) {
		if r.Operation != "InvokeModel" || r.ModelID != "emulator.text-v1" || r.Outcome != "completed" || !bytes.Contains(r.Body, []byte(prompt)) {
			t.Errorf("record %+v", r)
		}
	}
}

type imageAnswer struct {
	Images []string
}

func TestInvokeImage(t *testing.T) {
	h := newHarness(t, Options{})
	const prompt = "a lighthouse at dawn"
	got, _ := invoke[imageAnswer](t, h.client, ImageModelID, map[string]any{
		"taskType":          "TEXT_IMAGE",
		"textToImageParams": map[string]any{"text": prompt, "negativeText": "fog"},
		"imageGenerationConfig": map[string]any{
			"numberOfImages": 3, "width": 384, "height": 576, "cfgScale": 8.0, "seed": 7, "quality": "standard",
		},
	})
	if len(got.Images) != 3 {
		t.Fatalf("%d images, want 3", len(got.Images))
	}
	seen := map[string]bool{}
	for i, s := range got.Images {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("image %d is no PNG: %v", i, err)
		}
		if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != 384 || h != 576 {
			t.Errorf("image %d is %dx%d, want 384x576", i, w, h)
		}
		if !bytes.Equal(b, Image(prompt, 7, i, 384, 576)) {
			t.Errorf("image %d differs from Image(prompt, 7, %d, 384, 576)", i, i)
		}
		seen[s] = true
	}
	if len(seen) != 3 {
		t.Error("the images of one answer are not all different")
	}

	// Defaults: one 1024x1024 image with seed 42.
	got, _ = invoke[imageAnswer](t, h.client, ImageModelID, map[string]any{"taskType": "TEXT_IMAGE", "textToImageParams": map[string]any{"text": prompt}})
	if len(got.Images) != 1 {
		t.Fatalf("%d images", len(got.Images))
	}
	if b, _ := base64.StdEncoding.DecodeString(got.Images[0]); !bytes.Equal(b, Image(prompt, DefaultImageSeed, 0, 1024, 1024)) {
		t.Error("default image differs from Image(prompt, DefaultImageSeed, 0, 1024, 1024)")
	}
	if r := h.records(t); r[0].DeltasSent != 3 || r[1].DeltasSent != 1 {
		t.Errorf("records %+v", r)
	}
}

type embedAnswer struct {
	Embedding           []float64
	InputTextTokenCount int
	EmbeddingsByType    map[string]json.RawMessage
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func TestInvokeEmbedding(t *testing.T) {
	h := newHarness(t, Options{})
	const text = "The quick brown fox"
	tests := []struct {
		name      string
		body      map[string]any
		dims      int
		normalize bool
	}{
		{"defaults", map[string]any{"inputText": text}, 1024, true},
		{"256", map[string]any{"inputText": text, "dimensions": 256, "normalize": true}, 256, true},
		{"512 not normalized", map[string]any{"inputText": text, "dimensions": 512, "normalize": false}, 512, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, out := invoke[embedAnswer](t, h.client, EmbeddingModelID, tt.body)
			want := Embedding(text, tt.dims, tt.normalize)
			if diff := cmp.Diff(want, got.Embedding); diff != "" || len(want) != tt.dims {
				t.Errorf("embedding (-want +got):\n%s", diff)
			}
			if n := norm(got.Embedding); tt.normalize && math.Abs(n-1) > 1e-6 || !tt.normalize && math.Abs(n-2) > 1e-6 {
				t.Errorf("norm %v", n)
			}
			if got.InputTextTokenCount != 4 || got.EmbeddingsByType != nil {
				t.Errorf("inputTextTokenCount %d, embeddingsByType %s", got.InputTextTokenCount, got.EmbeddingsByType)
			}
			_ = out
		})
	}
	got, _ := invoke[embedAnswer](t, h.client, EmbeddingModelID, map[string]any{"inputText": text, "embeddingTypes": []string{"float", "binary"}})
	var floats []float64
	var bits []int
	if err := json.Unmarshal(got.EmbeddingsByType["float"], &floats); err != nil || !cmp.Equal(floats, got.Embedding) {
		t.Errorf("embeddingsByType.float %v", err)
	}
	if err := json.Unmarshal(got.EmbeddingsByType["binary"], &bits); err != nil || len(bits) != 1024 || (bits[0] == 1) != (floats[0] > 0) {
		t.Errorf("embeddingsByType.binary %v", err)
	}
}

type anthropicAnswer struct {
	ID, Type, Role, Model string
	Content               []struct {
		Type, Text, Thinking, Signature, ID, Name string
		Input                                     json.RawMessage
	}
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	}
}

func anthropicBody(prompt string, maxTokens int, extra map[string]any) map[string]any {
	b := map[string]any{
		"anthropic_version": "bedrock-2023-05-31",
		"max_tokens":        maxTokens,
		"system":            "Be brief.",
		"messages":          []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": prompt}}}},
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func TestInvokeAnthropic(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 2000})
	const prompt = "Tell me about gardens"
	full, _ := Answer("emulator.fast-v1", prompt, 0)

	got, out := invoke[anthropicAnswer](t, h.client, "emulator.fast-v1", anthropicBody(prompt, 1000, nil))
	if got.Type != "message" || got.Role != "assistant" || got.Model != "emulator.fast-v1" || !strings.HasPrefix(got.ID, "msg_bdrk_") {
		t.Errorf("answer %+v", got)
	}
	if len(got.Content) != 1 || got.Content[0].Type != "text" || got.Content[0].Text != strings.Join(full, "") {
		t.Errorf("content %+v", got.Content)
	}
	if got.StopReason != "end_turn" || got.StopSequence != nil || got.Usage.InputTokens != 6 || got.Usage.OutputTokens != len(full) {
		t.Errorf("stop %q %v usage %+v", got.StopReason, got.StopSequence, got.Usage)
	}
	_ = out

	stopWord := stripWord(full[4])
	got, _ = invoke[anthropicAnswer](t, h.client, "emulator.steady-v1", anthropicBody(prompt, 1000, map[string]any{"stop_sequences": []string{stopWord}}))
	if got.StopReason != "stop_sequence" || got.StopSequence == nil || *got.StopSequence != stopWord || got.Content[0].Text != strings.Join(full[:4], "") {
		t.Errorf("stop %q %v text %q", got.StopReason, got.StopSequence, got.Content[0].Text)
	}

	got, _ = invoke[anthropicAnswer](t, h.client, "emulator.reasoning-v1", anthropicBody(prompt, 2000, map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": 1024}}))
	reasoning, signature := Reasoning(prompt)
	answer, _ := Answer("emulator.reasoning-v1", prompt, 0)
	if len(got.Content) != 2 || got.Content[0].Type != "thinking" || got.Content[0].Thinking != strings.Join(reasoning, "") || got.Content[0].Signature != signature ||
		got.Content[1].Type != "text" || got.Content[1].Text != strings.Join(answer, "") {
		t.Errorf("reasoning content %+v", got.Content)
	}

	tools := []any{map[string]any{"name": "get_weather", "description": "weather", "input_schema": json.RawMessage(weatherSchema)}}
	got, _ = invoke[anthropicAnswer](t, h.client, "emulator.tools-v1", anthropicBody(prompt, 1000, map[string]any{"tools": tools, "tool_choice": map[string]any{"type": "any"}}))
	call, _ := ToolCallFor(prompt, "get_weather", []byte(weatherSchema))
	if len(got.Content) != 1 || got.Content[0].Type != "tool_use" || got.Content[0].ID != call.ID || got.Content[0].Name != "get_weather" ||
		string(got.Content[0].Input) != call.Input || got.StopReason != "tool_use" {
		t.Errorf("tool content %+v stop %q, want input %s", got.Content, got.StopReason, call.Input)
	}

	// tool_choice none: tools offered, none called.
	got, _ = invoke[anthropicAnswer](t, h.client, "emulator.tools-v1", anthropicBody(prompt, 1000, map[string]any{"tools": tools, "tool_choice": map[string]any{"type": "none"}}))
	if len(got.Content) != 1 || got.Content[0].Type != "text" || got.Content[0].Text != strings.Join(full, "") || got.StopReason != "end_turn" {
		t.Errorf("tool_choice none: %+v %q", got.Content, got.StopReason)
	}

	// The second step: the tool's result.
	body := anthropicBody(prompt, 1000, map[string]any{"tools": tools})
	body["messages"] = []any{
		map[string]any{"role": "user", "content": prompt},
		map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "tool_use", "id": call.ID, "name": call.Name, "input": json.RawMessage(call.Input)}}},
		map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": call.ID, "content": "rain", "is_error": true}}},
	}
	got, _ = invoke[anthropicAnswer](t, h.client, "emulator.tools-v1", body)
	want := strings.Join(ToolResultAnswer(ToolResult{ToolName: "get_weather", Content: "rain", Failed: true}), "")
	if len(got.Content) != 1 || got.Content[0].Text != want || got.StopReason != "end_turn" {
		t.Errorf("tool result answer %+v, want %q", got.Content, want)
	}
}

func TestInvokeHeadersAndFailures(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 2000})
	b, _ := json.Marshal(anthropicBody("count me in", 3, nil))
	r := rawPost(t, h, "/model/emulator.fast-v1/invoke", string(b))
	if r.status != 200 || r.header.Get("X-Amzn-Bedrock-Input-Token-Count") != "5" || r.header.Get("X-Amzn-Bedrock-Output-Token-Count") != "3" ||
		r.header.Get("X-Amzn-Bedrock-Invocation-Latency") == "" {
		t.Errorf("%d %v", r.status, r.header)
	}

	client := newClient(h.srv.URL, func(o *bedrockruntime.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	_, err := client.InvokeModel(testContext(t), &bedrockruntime.InvokeModelInput{ModelId: aws.String("emulator.throttle-v1"), Body: b})
	var te *types.ThrottlingException
	if !errors.As(err, &te) {
		t.Errorf("throttle-v1: %v", err)
	}
	_, err = client.InvokeModel(testContext(t), &bedrockruntime.InvokeModelInput{ModelId: aws.String("emulator.midstream-error-v1"), Body: b})
	var me *types.ModelErrorException
	if !errors.As(err, &me) {
		t.Errorf("midstream-error-v1: %v", err)
	}
	// truncated-v1 declares the whole body and sends half of it.
	req, _ := http.NewRequestWithContext(testContext(t), http.MethodPost, h.srv.URL+"/model/emulator.truncated-v1/invoke", bytes.NewReader(b))
	req.Header.Set("Authorization", testAuth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got, err := io.ReadAll(resp.Body); resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) || json.Valid(got) {
		t.Errorf("truncated-v1: %d %v %q, want a body cut short", resp.StatusCode, err, got)
	}
}

func TestInvokeValidationTable(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 2000})
	anth := func(extra string) string {
		return `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	img := func(params, config string) string {
		s := `{"taskType":"TEXT_IMAGE","textToImageParams":` + params
		if config != "" {
			s += `,"imageGenerationConfig":` + config
		}
		return s + `}`
	}
	tests := []struct {
		name, model, op, body, wantMsg string
	}{
		{"titan unknown key", "text-v1", "invoke", `{"inputText":"hi","prompt":"x"}`, "Malformed input request: #: extraneous key [prompt] is not permitted, please reformat your input and try again."},
		{"titan without inputText", "text-v1", "invoke", `{"textGenerationConfig":{}}`, "#: required key [inputText] not found"},
		{"titan empty inputText", "text-v1", "invoke", `{"inputText":""}`, "#/inputText: expected minLength: 1, actual: 0"},
		{"titan maxTokenCount 0", "text-v1", "invoke", `{"inputText":"hi","textGenerationConfig":{"maxTokenCount":0}}`, "#/textGenerationConfig/maxTokenCount: 0 is not greater or equal to 1"},
		{"titan maxTokenCount too large", "text-v1", "invoke-with-response-stream", `{"inputText":"hi","textGenerationConfig":{"maxTokenCount":9000}}`, "9000 is not less or equal to 8192"},
		{"titan topP", "text-v1", "invoke", `{"inputText":"hi","textGenerationConfig":{"topP":2}}`, "#/textGenerationConfig/topP: 2 is not less or equal to 1"},
		{"titan temperature type", "text-v1", "invoke", `{"inputText":"hi","textGenerationConfig":{"temperature":"hot"}}`, "#/textGenerationConfig/temperature: expected type: Number, found: String"},
		{"anthropic body to titan", "text-v1", "invoke", anth(""), "#: required key [inputText] not found"},
		{"titan body to claude-like", "fast-v1", "invoke", `{"inputText":"hi"}`, "#: required key [anthropic_version] not found"},
		{"anthropic with model", "fast-v1", "invoke", anth(`,"model":"claude"`), "#: extraneous key [model] is not permitted"},
		{"anthropic with stream", "steady-v1", "invoke-with-response-stream", anth(`,"stream":true`), "#: extraneous key [stream] is not permitted"},
		{"anthropic without max_tokens", "fast-v1", "invoke", `{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"hi"}]}`, "#: required key [max_tokens] not found"},
		{"anthropic max_tokens 0", "fast-v1", "invoke", strings.Replace(anth(""), `"max_tokens":10`, `"max_tokens":0`, 1), "#/max_tokens: 0 is not greater or equal to 1"},
		{"anthropic version", "fast-v1", "invoke", strings.Replace(anth(""), "bedrock-2023-05-31", "2023-06-01", 1), `anthropic_version: unsupported value "2023-06-01"`},
		{"anthropic no messages", "fast-v1", "invoke", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[]}`, "messages: at least one message is required"},
		{"anthropic roles", "fast-v1", "invoke", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`,
			`messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row`},
		{"anthropic first assistant", "fast-v1", "invoke", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"assistant","content":"a"}]}`, `messages: first message must use the "user" role`},
		{"anthropic bad role", "fast-v1", "invoke", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"robot","content":"a"}]}`, "messages.0.role: Input should be 'user', 'assistant' or 'system'"},
		{"anthropic system only", "fast-v1", "invoke", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"system","content":"a"}]}`, "messages: at least one user message is required"},
		{"anthropic empty content", "fast-v1", "invoke", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":[]}]}`, "messages.0: all messages must have non-empty content"},
		{"anthropic image media type", "fast-v1", "invoke", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"` + b64(pngBytes) + `"}}]}]}`,
			"messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"},
		{"anthropic image mismatch", "fast-v1", "invoke-with-response-stream", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"` + b64(pngBytes) + `"}},{"type":"text","text":"?"}]}]}`,
			"messages.0.content.0.image.source.base64: The image was specified using the image/jpeg media type, but the image appears to be a image/png image"},
		{"anthropic tool_use without tools", "tools-v1", "invoke", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"x","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"r"}]}]}`,
			"Requests which include `tool_use` or `tool_result` blocks must define tools."},
		{"anthropic thinking budget", "reasoning-v1", "invoke", anth(`,"thinking":{"type":"enabled","budget_tokens":2048}`), "`max_tokens` must be greater than `thinking.budget_tokens`."},
		{"anthropic unknown block", "fast-v1", "invoke", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":[{"type":"video"}]}]}`, "Input tag 'video' found using 'type'"},
		{"image prompt empty", "image-v1", "invoke", img(`{"text":""}`, ""), "#/textToImageParams/text: expected minLength: 1, actual: 0"},
		{"image prompt too long", "image-v1", "invoke", img(`{"text":"`+strings.Repeat("é", 513)+`"}`, ""), "#/textToImageParams/text: expected maxLength: 512, actual: 513"},
		{"image without params", "image-v1", "invoke", `{"taskType":"TEXT_IMAGE"}`, "#: required key [textToImageParams] not found"},
		{"image blocked", "image-v1", "invoke", img(`{"text":"something Forbidden here"}`, ""), "This request has been blocked by our content filters."},
		{"image size", "image-v1", "invoke", img(`{"text":"fox"}`, `{"width":1000,"height":1000}`), "#/imageGenerationConfig: 1000x1000 (width x height) is not a supported size"},
		{"image width only", "image-v1", "invoke", img(`{"text":"fox"}`, `{"width":512}`), "512x1024 (width x height) is not a supported size"},
		{"image count", "image-v1", "invoke", img(`{"text":"fox"}`, `{"numberOfImages":6}`), "#/imageGenerationConfig/numberOfImages: 6 is not less or equal to 5"},
		{"image cfgScale", "image-v1", "invoke", img(`{"text":"fox"}`, `{"cfgScale":1.0}`), "#/imageGenerationConfig/cfgScale: 1.0 is not greater or equal to 1.1"},
		{"image seed", "image-v1", "invoke", img(`{"text":"fox"}`, `{"seed":2147483647}`), "#/imageGenerationConfig/seed: 2147483647 is not less or equal to 2147483646"},
		{"image quality", "image-v1", "invoke", img(`{"text":"fox"}`, `{"quality":"ultra"}`), "#/imageGenerationConfig/quality: ultra is not a valid enum value"},
		{"image unknown key", "image-v1", "invoke", img(`{"text":"fox"}`, `{"steps":30}`), "#/imageGenerationConfig: extraneous key [steps] is not permitted"},
		{"image task type", "image-v1", "invoke", `{"taskType":"INPAINTING","inPaintingParams":{}}`, "taskType INPAINTING is not supported"},
		{"image stream", "image-v1", "invoke-with-response-stream", img(`{"text":"fox"}`, ""), "The model is unsupported for streaming."},
		{"embed dimensions", "embed-v1", "invoke", `{"inputText":"hi","dimensions":300}`, "#/dimensions: 300 is not a valid enum value"},
		{"embed empty", "embed-v1", "invoke", `{"inputText":""}`, "#/inputText: expected minLength: 1, actual: 0"},
		{"embed too long", "embed-v1", "invoke", `{"inputText":"` + strings.Repeat("a", 50001) + `"}`, "expected maxLength: 50000, actual: 50001"},
		{"embed types empty", "embed-v1", "invoke", `{"inputText":"hi","embeddingTypes":[]}`, "#/embeddingTypes: expected minimum item count: 1, found: 0"},
		{"embed types enum", "embed-v1", "invoke", `{"inputText":"hi","embeddingTypes":["int8"]}`, "#/embeddingTypes/0: int8 is not a valid enum value"},
		{"embed normalize type", "embed-v1", "invoke", `{"inputText":"hi","normalize":"yes"}`, "#/normalize: expected type: Boolean, found: String"},
		{"embed stream", "embed-v1", "invoke-with-response-stream", `{"inputText":"hi"}`, "The model is unsupported for streaming."},
		{"not JSON", "embed-v1", "invoke", `{"inputText":`, "Malformed input request"},
		{"unknown model", "nope-v1", "invoke", `{}`, "The provided model identifier is invalid."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.records(t))
			r := rawPost(t, h, "/model/emulator."+tt.model+"/"+tt.op, tt.body)
			if r.status != http.StatusBadRequest || r.errType != "ValidationException" {
				t.Fatalf("%d %s %s, want 400 ValidationException", r.status, r.errType, r.body)
			}
			if msg := r.message(t); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantMsg)
			}
			recs := h.records(t)[before:]
			wantOp := "InvokeModel"
			if tt.op != "invoke" {
				wantOp = "InvokeModelWithResponseStream"
			}
			if len(recs) != 1 || recs[0].Operation != wantOp || recs[0].Outcome != "error" || recs[0].DeltasSent != 0 {
				t.Errorf("records %+v", recs)
			}
		})
	}
}

// chunkStream is an InvokeModelWithResponseStream answer: each chunk's
// JSON, with its arrival time.
type chunkStream struct {
	chunks []map[string]any
	at     []time.Time
	err    error
}

func streamChunks(ctx context.Context, c *bedrockruntime.Client, model string, body any) (chunkStream, error) {
	var res chunkStream
	b, err := json.Marshal(body)
	if err != nil {
		return res, err
	}
	out, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: aws.String(model), Body: b, ContentType: aws.String("application/json"),
	})
	if err != nil {
		return res, err
	}
	stream := out.GetStream()
	defer stream.Close()
	for ev := range stream.Events() {
		chunk, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			return res, fmt.Errorf("unexpected event %T", ev)
		}
		var m map[string]any
		if err := json.Unmarshal(chunk.Value.Bytes, &m); err != nil {
			return res, fmt.Errorf("chunk %q: %w", chunk.Value.Bytes, err)
		}
		res.chunks = append(res.chunks, m)
		res.at = append(res.at, time.Now())
	}
	res.err = stream.Err()
	return res, nil
}

// types is the sequence of chunk types, runs of one type counted once.
func (s chunkStream) types() string {
	var parts []string
	for _, c := range s.chunks {
		p, _ := c["type"].(string)
		if d, ok := c["delta"].(map[string]any); ok && p == "content_block_delta" {
			p, _ = d["type"].(string)
		}
		if len(parts) == 0 || parts[len(parts)-1] != p {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}

// deltas gives the field of the deltas of one type.
func (s chunkStream) deltas(typ, field string) []string {
	var out []string
	for _, c := range s.chunks {
		if d, ok := c["delta"].(map[string]any); ok && d["type"] == typ {
			out = append(out, d[field].(string))
		}
	}
	return out
}

func TestInvokeStreamAnthropic(t *testing.T) {
	const rate = 100
	h := newHarness(t, Options{TokensPerSecond: rate})
	const prompt = "Stream me a story"
	res, err := streamChunks(testContext(t), h.client, "emulator.steady-v1", anthropicBody(prompt, 1000, nil))
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	if got := res.types(); got != "message_start content_block_start text_delta content_block_stop message_delta message_stop" {
		t.Errorf("chunk types %q", got)
	}
	want, _ := Answer("emulator.steady-v1", prompt, 0)
	if diff := cmp.Diff(want, res.deltas("text_delta", "text")); diff != "" {
		t.Errorf("text deltas (-want +got):\n%s", diff)
	}
	n := len(res.chunks)
	md := res.chunks[n-2]
	if md["delta"].(map[string]any)["stop_reason"] != "end_turn" || md["usage"].(map[string]any)["output_tokens"] != float64(len(want)) {
		t.Errorf("message_delta %v", md)
	}
	metrics, ok := res.chunks[n-1]["amazon-bedrock-invocationMetrics"].(map[string]any)
	if !ok || metrics["inputTokenCount"] != 6.0 || metrics["outputTokenCount"] != float64(len(want)) {
		t.Errorf("message_stop %v", res.chunks[n-1])
	}
	start := res.chunks[0]["message"].(map[string]any)
	if start["model"] != "emulator.steady-v1" || start["role"] != "assistant" {
		t.Errorf("message_start %v", start)
	}
	// Paced like ConverseStream: the deltas are spread over about
	// (n-1)/rate, not sent in a burst.
	var deltaAt []time.Time
	for i, c := range res.chunks {
		if c["type"] == "content_block_delta" {
			deltaAt = append(deltaAt, res.at[i])
		}
	}
	expected := time.Duration(len(deltaAt)-1) * time.Second / rate
	if gap := deltaAt[len(deltaAt)-1].Sub(deltaAt[0]); gap < expected*7/10 {
		t.Errorf("%d deltas over %v, want about %v", len(deltaAt), gap, expected)
	}
	if mid := deltaAt[len(deltaAt)/2].Sub(deltaAt[0]); mid < expected*3/10 {
		t.Errorf("middle delta after %v of %v: bunched", mid, expected)
	}
	if r := h.records(t); len(r) != 1 || r[0].Operation != "InvokeModelWithResponseStream" || r[0].Outcome != "completed" || r[0].DeltasSent != len(want) {
		t.Errorf("records %+v", r)
	}
}

func TestInvokeStreamBlocksAndFailures(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 2000})
	const prompt = "use get_weather"
	tools := []any{map[string]any{"name": "get_weather", "input_schema": json.RawMessage(weatherSchema)}}

	res, err := streamChunks(testContext(t), h.client, "emulator.reasoning-v1", anthropicBody(prompt, 1000, nil))
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	if got := res.types(); got != "message_start content_block_start thinking_delta signature_delta content_block_stop content_block_start text_delta content_block_stop message_delta message_stop" {
		t.Errorf("reasoning chunk types %q", got)
	}
	reasoning, signature := Reasoning(prompt)
	if diff := cmp.Diff(reasoning, res.deltas("thinking_delta", "thinking")); diff != "" {
		t.Errorf("thinking (-want +got):\n%s", diff)
	}
	if got := res.deltas("signature_delta", "signature"); len(got) != 1 || got[0] != signature {
		t.Errorf("signature %q", got)
	}

	res, err = streamChunks(testContext(t), h.client, "emulator.tools-v1", anthropicBody(prompt, 1000, map[string]any{"tools": tools}))
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	call, _ := ToolCallFor(prompt, "get_weather", []byte(weatherSchema))
	if got := res.types(); got != "message_start content_block_start input_json_delta content_block_stop message_delta message_stop" {
		t.Errorf("tool chunk types %q", got)
	}
	cb := res.chunks[1]["content_block"].(map[string]any)
	if cb["type"] != "tool_use" || cb["id"] != call.ID || cb["name"] != "get_weather" {
		t.Errorf("content_block_start %v", cb)
	}
	if diff := cmp.Diff(call.Fragments, res.deltas("input_json_delta", "partial_json")); diff != "" {
		t.Errorf("fragments (-want +got):\n%s", diff)
	}

	res, err = streamChunks(testContext(t), h.client, "emulator.midstream-error-v1", anthropicBody(prompt, 1000, nil))
	var mse *types.ModelStreamErrorException
	if err != nil || !errors.As(res.err, &mse) || len(res.deltas("text_delta", "text")) != failAfter {
		t.Errorf("midstream-error-v1: %v, %v, %d deltas", err, res.err, len(res.deltas("text_delta", "text")))
	}
	res, err = streamChunks(testContext(t), h.client, "emulator.truncated-v1", anthropicBody(prompt, 1000, nil))
	if err != nil || strings.Contains(res.types(), "message_stop") || len(res.deltas("text_delta", "text")) != failAfter {
		t.Errorf("truncated-v1: %v, %v, types %q", err, res.err, res.types())
	}
	_, err = streamChunks(testContext(t), h.client, "emulator.throttle-v1", anthropicBody(prompt, 1000, nil))
	var te *types.ThrottlingException
	if !errors.As(err, &te) {
		t.Errorf("throttle-v1: %v", err)
	}
}

func TestInvokeStreamTitanText(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 2000})
	const prompt = "Titan, stream"
	res, err := streamChunks(testContext(t), h.client, "emulator.text-v1", map[string]any{"inputText": prompt, "textGenerationConfig": map[string]any{"maxTokenCount": 7}})
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	want, _ := Answer("emulator.text-v1", prompt, 7)
	if len(res.chunks) != len(want)+1 {
		t.Fatalf("%d chunks, want %d", len(res.chunks), len(want)+1)
	}
	var text strings.Builder
	for i, c := range res.chunks[:len(want)] {
		text.WriteString(c["outputText"].(string))
		if (i == 0) != (c["inputTextTokenCount"] != nil) || c["completionReason"] != nil {
			t.Errorf("chunk %d: %v", i, c)
		}
	}
	last := res.chunks[len(want)]
	if text.String() != strings.Join(want, "") || last["completionReason"] != "LENGTH" || last["totalOutputTextTokenCount"] != 7.0 || last["amazon-bedrock-invocationMetrics"] == nil {
		t.Errorf("text %q, last chunk %v", text.String(), last)
	}
}
