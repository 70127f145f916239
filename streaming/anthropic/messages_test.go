package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
)

// testGateway is this dialect alone on the core (with the cancel route of
// the native protocol, DELETE /stream/{id}, registered by hand), served
// over real HTTP in front of the real SDK client and the emulator.
type testGateway = gatewaytest.Gateway

func cancelRoute(h *streaming.Handler) {
	h.Route("/stream/{requestId}", streaming.Methods{"DELETE": func(w http.ResponseWriter, r *http.Request) {
		h.Cancel(w, r, r.PathValue("requestId"))
	}})
}

func newTestGateway(t *testing.T, opts emulator.Options, cfg streaming.Config) *testGateway {
	t.Helper()
	return gatewaytest.Start(t, opts, cfg, nil, Register, cancelRoute)
}

// client is the real Anthropic Go SDK pointed at a gateway, its retries
// off so that each test sees one request's outcome.
func client(url string, opts ...option.RequestOption) sdk.Client {
	return sdk.NewClient(append([]option.RequestOption{
		option.WithBaseURL(url), option.WithAPIKey("not-checked"), option.WithMaxRetries(0),
	}, opts...)...)
}

func ask(model, prompt string) sdk.MessageNewParams {
	return sdk.MessageNewParams{Model: model, MaxTokens: 1024,
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock(prompt))}}
}

// stream runs a streaming request and returns the accumulated message.
func stream(t *testing.T, c sdk.Client, params sdk.MessageNewParams) (sdk.Message, []string) {
	t.Helper()
	s := c.Messages.NewStreaming(t.Context(), params)
	var acc sdk.Message
	var types []string
	for s.Next() {
		ev := s.Current()
		types = append(types, ev.Type)
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return acc, types
}

func claudeConfig() streaming.Config {
	cfg := gatewaytest.Config()
	cfg.ModelAliases = map[string]string{"claude-sonnet-4-5-20250929": "emulator.fast-v1", "claude-haiku-4-5": "emulator.fast-v1"}
	return cfg
}

// TestStreamedAndWholeAnswersAgree: the SDK's streamed message,
// accumulated, is the whole message of the same request, both the
// emulator's answer, under the name the client sent and a msg_ id; the
// events come in Anthropic's order.
func TestStreamedAndWholeAnswersAgree(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, claudeConfig())
	c := client(gw.URL)
	const prompt = "tell me about rivers"
	deltas, _ := emulator.Answer("emulator.fast-v1", prompt, 0)
	params := ask("claude-sonnet-4-5-20250929", prompt)
	streamed, types := stream(t, c, params)
	whole, err := c.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*sdk.Message{"streamed": &streamed, "whole": whole} {
		if len(m.Content) != 1 || m.Content[0].Text != strings.Join(deltas, "") || m.StopReason != "end_turn" ||
			m.Model != "claude-sonnet-4-5-20250929" || !strings.HasPrefix(m.ID, "msg_") ||
			m.Usage.OutputTokens != int64(len(deltas)) || m.Usage.InputTokens != int64(len(strings.Fields(prompt))) {
			t.Errorf("%s message %+v; want the emulator's %d-delta answer under the name sent", name, m, len(deltas))
		}
	}
	want := []string{"message_start", "content_block_start"}
	for range deltas {
		want = append(want, "content_block_delta")
	}
	want = append(want, "content_block_stop", "message_delta", "message_stop")
	if !cmp.Equal(types, want) {
		t.Errorf("events %v", types)
	}
}

// TestToolRoundTrip: tools-v1 calls the tool, its input arriving in
// several input_json_delta fragments; the client sends the tool's result
// back and gets the answer quoting it.
func TestToolRoundTrip(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, gatewaytest.Config())
	c := client(gw.URL)
	schema := map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}
	schemaJSON, _ := json.Marshal(schema)
	const prompt = "weather in Oslo? use get_weather"
	want, err := emulator.ToolCallFor(prompt, "get_weather", schemaJSON)
	if err != nil {
		t.Fatal(err)
	}
	params := ask("emulator.tools-v1", prompt)
	params.Tools = []sdk.ToolUnionParam{{OfTool: &sdk.ToolParam{Name: "get_weather", Description: sdk.String("The weather"),
		InputSchema: sdk.ToolInputSchemaParam{Properties: schema["properties"], Required: []string{"city"}}}}}
	msg, types := stream(t, c, params)
	if len(msg.Content) != 1 || msg.Content[0].Type != "tool_use" || msg.Content[0].ID != want.ID || string(msg.Content[0].Input) != want.Input || msg.StopReason != "tool_use" {
		t.Fatalf("message %+v; want tool_use %s(%s)", msg, want.ID, want.Input)
	}
	if n := strings.Count(strings.Join(types, " "), "content_block_delta"); n != len(want.Fragments) || n < 2 {
		t.Errorf("%d input deltas, want %d", n, len(want.Fragments))
	}
	const result = "rain, 12 degrees"
	params.Messages = append(params.Messages, msg.ToParam(), sdk.NewUserMessage(sdk.NewToolResultBlock(want.ID, result, false)))
	final, err := c.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	answer := strings.Join(emulator.ToolResultAnswer(emulator.ToolResult{ToolName: "get_weather", Content: result}), "")
	if final.Content[0].Text != answer || final.StopReason != "end_turn" {
		t.Errorf("final %+v; want %q", final, answer)
	}
	// A tool result without its tool use is refused, as Bedrock refuses it.
	params.Messages = []sdk.MessageParam{sdk.NewUserMessage(sdk.NewToolResultBlock("toolu_nowhere", result, false))}
	_, err = c.Messages.New(t.Context(), params)
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" || !strings.Contains(apiErr.Message, "tool_use_id") {
		t.Errorf("orphan tool result: %v", err)
	}
}

// TestThinkingRoundTrip: reasoning-v1's thinking arrives as a thinking
// block with its signature; sent back on the next turn it is accepted,
// and altered it is refused.
func TestThinkingRoundTrip(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, gatewaytest.Config())
	c := client(gw.URL)
	const prompt = "think, then answer"
	reasoning, signature := emulator.Reasoning(prompt)
	answer, _ := emulator.Answer("emulator.reasoning-v1", prompt, 0)
	params := ask("emulator.reasoning-v1", prompt)
	params.MaxTokens = 4096
	params.Thinking = sdk.ThinkingConfigParamOfEnabled(2048)
	for _, streamed := range []bool{true, false} {
		var msg sdk.Message
		if streamed {
			msg, _ = stream(t, c, params)
		} else {
			m, err := c.Messages.New(t.Context(), params)
			if err != nil {
				t.Fatal(err)
			}
			msg = *m
		}
		if len(msg.Content) != 2 || msg.Content[0].Type != "thinking" || msg.Content[0].Thinking != strings.Join(reasoning, "") ||
			msg.Content[0].Signature != signature || msg.Content[1].Text != strings.Join(answer, "") {
			t.Fatalf("streamed %v: %+v", streamed, msg.Content)
		}
		next := params
		next.Messages = append(append([]sdk.MessageParam{}, params.Messages...), msg.ToParam(), sdk.NewUserMessage(sdk.NewTextBlock("and then?")))
		if _, err := c.Messages.New(t.Context(), next); err != nil {
			t.Errorf("the thinking block sent back was refused: %v", err)
		}
		next.Messages[1] = sdk.NewAssistantMessage(sdk.NewThinkingBlock(signature, "something else"), sdk.NewTextBlock("fine"))
		_, err := c.Messages.New(t.Context(), next)
		var apiErr *sdk.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, "signature") {
			t.Errorf("an altered thinking block: %v; want 400 naming the signature", err)
		}
	}
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// minimalPDF is a PDF file's header and end, which is what Bedrock's
// check (and the emulator's) looks at.
const minimalPDF = "%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

// TestImageAndPDF: an image and a PDF reach Bedrock as image and document
// blocks, which the emulator validates as Bedrock does.
func TestImageAndPDF(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, gatewaytest.Config())
	c := client(gw.URL)
	params := sdk.MessageNewParams{Model: "emulator.fast-v1", MaxTokens: 100, Messages: []sdk.MessageParam{sdk.NewUserMessage(
		sdk.NewImageBlockBase64("image/png", base64.StdEncoding.EncodeToString(pngBytes(t))),
		sdk.NewDocumentBlock(sdk.Base64PDFSourceParam{Data: base64.StdEncoding.EncodeToString([]byte(minimalPDF))}),
		sdk.NewTextBlock("what do these show"),
	)}}
	if _, err := c.Messages.New(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	records := gatewaytest.WaitIdle(t, gw.Emu)
	var body struct {
		Messages []struct {
			Content []map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal(records[len(records)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if c := body.Messages[0].Content; len(c) != 3 || c[0]["image"] == nil || c[1]["document"] == nil {
		t.Errorf("Bedrock got %s", records[len(records)-1].Body)
	}
	// Not a PDF: Bedrock's refusal, as Anthropic's error.
	params.Messages[0].OfUser.Content[1] = sdk.NewDocumentBlock(sdk.Base64PDFSourceParam{Data: base64.StdEncoding.EncodeToString([]byte("not a pdf"))})
	_, err := c.Messages.New(t.Context(), params)
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" {
		t.Errorf("a broken PDF: %v", err)
	}
}

// TestCacheControl: cache_control marks become cache points; the second
// call with the same prefix reports a cache read, and the first a write.
func TestCacheControl(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, gatewaytest.Config())
	c := client(gw.URL)
	system := strings.Repeat("You answer questions about rivers. ", 20)
	params := ask("emulator.fast-v1", "which river is longest")
	params.System = []sdk.TextBlockParam{{Text: system, CacheControl: sdk.NewCacheControlEphemeralParam()}}
	first, err := c.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := stream(t, c, params)
	words := int64(len(strings.Fields(system)))
	if first.Usage.CacheCreationInputTokens != words || first.Usage.CacheReadInputTokens != 0 {
		t.Errorf("first call usage %+v; want %d tokens written to the cache", first.Usage, words)
	}
	if second.Usage.CacheReadInputTokens != words || second.Usage.CacheCreationInputTokens != 0 || second.Usage.InputTokens != first.Usage.InputTokens {
		t.Errorf("second call usage %+v; want %d tokens read from the cache", second.Usage, words)
	}
}

// TestCountTokens: count_tokens answers Bedrock's CountTokens, called for
// the foundation model behind the name.
func TestCountTokens(t *testing.T) {
	t.Parallel()
	cfg := gatewaytest.Config()
	cfg.ModelAliases = map[string]string{"claude-haiku-4-5": "us.emulator.fast-v1"}
	cfg.AllowedModels = append(cfg.AllowedModels, "us.emulator.fast-v1")
	gw := newTestGateway(t, emulator.Options{}, cfg)
	c := client(gw.URL)
	got, err := c.Messages.CountTokens(t.Context(), sdk.MessageCountTokensParams{Model: "claude-haiku-4-5",
		System:   sdk.MessageCountTokensParamsSystemUnion{OfString: sdk.String("be brief")},
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("count these five words"))}})
	if err != nil {
		t.Fatal(err)
	}
	if got.InputTokens != 6 {
		t.Errorf("input_tokens %d, want 6", got.InputTokens)
	}
	records := gatewaytest.WaitIdle(t, gw.Emu)
	if r := records[len(records)-1]; r.Operation != "CountTokens" || r.ModelID != "emulator.fast-v1" {
		t.Errorf("Bedrock got %s on %s", r.Operation, r.ModelID)
	}
}

// TestTypedErrors: each error reaches the SDK as its typed error, with
// Anthropic's type and status.
func TestTypedErrors(t *testing.T) {
	t.Parallel()
	cfg := gatewaytest.Config()
	cfg.APIKeys = []string{"sk-test-key-0123456789", "sk-budget-key-0123456789"}
	cfg.DailyTokenBudget = 20 // per key: the first answer spends it
	cfg.AllowedModels = []string{"emulator.steady-v1", "emulator.throttle-v1", "emulator.midstream-error-v1"}
	cfg.MaxBodyBytes = 4096
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, cfg)
	c := client(gw.URL, option.WithAPIKey("sk-test-key-0123456789"))
	for _, tc := range []struct {
		name, typ string
		status    int
		call      func() error
	}{
		{"bad field", "invalid_request_error", 400, func() error {
			p := ask("emulator.steady-v1", "hi")
			p.MaxTokens = 0
			_, err := c.Messages.New(t.Context(), p)
			return err
		}},
		{"wrong key", "authentication_error", 401, func() error {
			wrong := client(gw.URL, option.WithAPIKey("sk-wrong-key-0123456789"))
			_, err := wrong.Messages.New(t.Context(), ask("emulator.steady-v1", "hi"))
			return err
		}},
		{"model not allowed", "not_found_error", 404, func() error {
			_, err := c.Messages.New(t.Context(), ask("claude-opus-4-1", "hi"))
			return err
		}},
		{"unknown model", "not_found_error", 404, func() error {
			_, err := c.Models.Get(t.Context(), "claude-nothing", sdk.ModelGetParams{})
			return err
		}},
		{"too large", "request_too_large", 413, func() error {
			_, err := c.Messages.New(t.Context(), ask("emulator.steady-v1", strings.Repeat("word ", 2000)))
			return err
		}},
		{"over the key's daily budget", "rate_limit_error", 429, func() error {
			spend := client(gw.URL, option.WithAPIKey("sk-budget-key-0123456789"))
			if _, err := spend.Messages.New(t.Context(), ask("emulator.steady-v1", "spend the budget")); err != nil {
				return err
			}
			var resp *http.Response
			_, err := spend.Messages.New(t.Context(), ask("emulator.steady-v1", "one more"), option.WithResponseInto(&resp))
			if resp == nil || resp.Header.Get("Retry-After") == "" {
				t.Errorf("no retry-after on the budget's 429")
			}
			return err
		}},
		{"throttled", "overloaded_error", 529, func() error {
			_, err := c.Messages.New(t.Context(), ask("emulator.throttle-v1", "hi"))
			return err
		}},
		{"model failed", "api_error", 502, func() error {
			_, err := c.Messages.New(t.Context(), ask("emulator.midstream-error-v1", "hi"))
			return err
		}},
		{"failed mid-stream", "api_error", 0, func() error {
			s := c.Messages.NewStreaming(t.Context(), ask("emulator.midstream-error-v1", "hi"))
			for s.Next() {
			}
			return s.Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var apiErr *sdk.Error
			if !errors.As(err, &apiErr) || string(apiErr.Type()) != tc.typ || tc.status != 0 && apiErr.StatusCode != tc.status {
				t.Fatalf("error %v (%T); want the SDK's error of type %s, status %d", err, err, tc.typ, tc.status)
			}
			if tc.status != 0 && apiErr.RequestID == "" {
				t.Errorf("no request-id header")
			}
		})
	}
}

// TestStopByMessageID: DELETE /stream/msg_… stops a running message; the
// stream ends at once with stop reason cancelled, and Bedrock's call is
// cancelled.
func TestStopByMessageID(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 20}, gatewaytest.Config())
	c := client(gw.URL)
	s := c.Messages.NewStreaming(t.Context(), ask("emulator.long-v1", "a long one"))
	var acc sdk.Message
	deltas := 0
	for s.Next() {
		ev := s.Current()
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "content_block_delta" {
			if deltas++; deltas == 3 {
				req, _ := http.NewRequest(http.MethodDelete, gw.URL+"/stream/"+acc.ID, nil)
				req.Header.Set("X-Api-Key", "not-checked") // a cancel counts only with the key that started the answer
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != http.StatusAccepted {
					t.Fatalf("cancel %s: %v %v", acc.ID, resp, err)
				}
				resp.Body.Close()
			}
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.StopReason != "cancelled" || deltas > 20 {
		t.Errorf("stop reason %q after %d deltas; want cancelled, soon after the third", acc.StopReason, deltas)
	}
	records := gatewaytest.WaitIdle(t, gw.Emu)
	if records[0].Outcome != "cancelled" {
		t.Errorf("Bedrock's call ended %q", records[0].Outcome)
	}
}

// TestModelsList: with anthropic-version, GET /v1/models lists the names
// a Claude client may send here, in Anthropic's shape.
func TestModelsList(t *testing.T) {
	t.Parallel()
	cfg := gatewaytest.Config()
	cfg.AllowedModels = []string{"emulator.steady-v1", "us.anthropic.claude-haiku-4-5-20251001-v1:0"}
	cfg.ModelAliases = map[string]string{"claude-sonnet-4-5": "emulator.steady-v1"}
	gw := newTestGateway(t, emulator.Options{}, cfg)
	c := client(gw.URL)
	page, err := c.Models.List(t.Context(), sdk.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	want := []string{"claude-haiku-4-5", "claude-haiku-4-5-20251001", "claude-sonnet-4-5", "emulator.steady-v1", "us.anthropic.claude-haiku-4-5-20251001-v1:0"}
	if !cmp.Equal(ids, want) {
		t.Errorf("models %v, want %v", ids, want)
	}
}

// TestClaudeBedrockID: the documented rule.
func TestClaudeBedrockID(t *testing.T) {
	for _, tc := range []struct{ name, region, want string }{
		{"claude-sonnet-4-5-20250929", "us-east-1", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"claude-sonnet-4-5", "us-west-2", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"claude-haiku-4-5", "eu-west-1", "eu.anthropic.claude-haiku-4-5-20251001-v1:0"},
		{"claude-opus-4-1", "ap-northeast-1", "apac.anthropic.claude-opus-4-1-20250805-v1:0"},
		{"claude-opus-4-1-20250805", "us-gov-west-1", "us-gov.anthropic.claude-opus-4-1-20250805-v1:0"},
		{"claude-sonnet-4-6", "us-east-1", "us.anthropic.claude-sonnet-4-6-v1:0"},
		{"claude-3-5-haiku-latest", "sa-east-1", "anthropic.claude-3-5-haiku-20241022-v1:0"},
	} {
		if got, ok := ClaudeBedrockID(tc.name, tc.region); !ok || got != tc.want {
			t.Errorf("%s in %s: %q, want %q", tc.name, tc.region, got, tc.want)
		}
	}
	if _, ok := ClaudeBedrockID("emulator.fast-v1", "us-east-1"); ok {
		t.Error("a Bedrock id was taken for a Claude name")
	}
}
