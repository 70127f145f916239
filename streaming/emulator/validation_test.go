package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

const testAuth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00"

// rawResponse is what a raw HTTP call got back.
type rawResponse struct {
	status  int
	errType string
	header  http.Header
	body    []byte
}

func (r rawResponse) message(t *testing.T) string {
	t.Helper()
	var m struct{ Message string }
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	return m.Message
}

// rawPost sends body to path with a (fake) signature, bypassing the SDK,
// so that tests can send what no SDK would.
func rawPost(t *testing.T, h *harness, path, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", testAuth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), resp.Header, b}
}

var (
	pngBytes  = Image("a test picture", 1, 0, 8, 8)
	jpegBytes = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00rest")
	gifBytes  = []byte("GIF89a\x01\x00\x01\x00rest")
	webpBytes = []byte("RIFF\x10\x00\x00\x00WEBPVP8 rest")
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// imageMessage is a Converse body with one user message holding a text
// block and image.
func imageMessage(image string) string {
	return `{"messages":[{"role":"user","content":[{"text":"look"},{"image":` + image + `}]}]}`
}

const toolConfigJSONText = `"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":` + weatherSchema + `}}}]}`

// toolConversation is a Converse body with a tool use and its result;
// extra is spliced in at the top level.
func toolConversation(resultID, extra string) string {
	return `{"messages":[{"role":"user","content":[{"text":"weather?"}]},` +
		`{"role":"assistant","content":[{"toolUse":{"toolUseId":"tooluse_a","name":"get_weather","input":{"city":"Paris"}}}]},` +
		`{"role":"user","content":[{"toolResult":{"toolUseId":"` + resultID + `","content":[{"text":"sunny"}]}}]}]` + extra + `}`
}

func TestConverseValidationTable(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	hi := `{"messages":[{"role":"user","content":[{"text":"hi"}]}]`
	thinking := func(fields string) string {
		return hi + `,"inferenceConfig":{"maxTokens":4000},"additionalModelRequestFields":` + fields + `}`
	}
	tests := []struct {
		name, model, body, wantMsg string
	}{
		{"image format not in the enum", "fast-v1", imageMessage(`{"format":"bmp","source":{"bytes":"` + b64(pngBytes) + `"}}`),
			"1 validation error detected: Value at 'messages.1.member.content.2.member.image.format' failed to satisfy constraint: Member must satisfy enum value set: [gif, jpeg, png, webp]"},
		{"image format in capitals", "fast-v1", imageMessage(`{"format":"PNG","source":{"bytes":"` + b64(pngBytes) + `"}}`), "enum value set: [gif, jpeg, png, webp]"},
		{"image without source", "fast-v1", imageMessage(`{"format":"png"}`),
			"Value null at 'messages.1.member.content.2.member.image.source' failed to satisfy constraint: Member must not be null"},
		{"image bytes not base64", "fast-v1", imageMessage(`{"format":"png","source":{"bytes":"%%%not base64"}}`), "messages.0.content.1.image.source.bytes is not valid base64"},
		{"image bytes empty", "fast-v1", imageMessage(`{"format":"png","source":{"bytes":""}}`),
			"Value at 'messages.1.member.content.2.member.image.source.bytes' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"png sent as jpeg", "fast-v1", imageMessage(`{"format":"jpeg","source":{"bytes":"` + b64(pngBytes) + `"}}`),
			"The model returned the following errors: messages.0.content.1.image.source.base64: The image was specified using the image/jpeg media type, but the image appears to be a image/png image"},
		{"gif sent as webp", "tools-v1", imageMessage(`{"format":"webp","source":{"bytes":"` + b64(gifBytes) + `"}}`), "specified using the image/webp media type, but the image appears to be a image/gif image"},
		{"not an image", "fast-v1", imageMessage(`{"format":"png","source":{"bytes":"` + b64([]byte("hello, world")) + `"}}`), "messages.0.content.1.image.source.base64: Could not process image"},
		{"image too large", "fast-v1", imageMessage(`{"format":"png","source":{"bytes":"` + b64(append(append([]byte(nil), pngBytes...), make([]byte, maxImageBytes)...)) + `"}}`), "image exceeds 3.75 MB maximum"},
		{"image from S3", "fast-v1", imageMessage(`{"format":"png","source":{"s3Location":{"uri":"s3://bucket/key.png"}}}`), "S3 image sources"},
		{"image to text-v1", "text-v1", imageMessage(`{"format":"png","source":{"bytes":"` + b64(pngBytes) + `"}}`), msgNoImages},
		{"toolUse without toolConfig", "tools-v1", toolConversation("tooluse_a", ""), "The toolConfig field must be defined when using toolUse and toolResult content blocks."},
		{"toolResult without toolConfig", "fast-v1", `{"messages":[{"role":"user","content":[{"toolResult":{"toolUseId":"x","content":[{"text":"r"}]}}]}]}`, "The toolConfig field must be defined when using toolUse and toolResult content blocks."},
		{"toolResult for no toolUse", "tools-v1", toolConversation("tooluse_other", ","+toolConfigJSONText),
			"The model returned the following errors: messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: tooluse_other. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."},
		{"tool result image wrong format", "tools-v1", strings.Replace(toolConversation("tooluse_a", ","+toolConfigJSONText), `{"text":"sunny"}`, `{"image":{"format":"gif","source":{"bytes":"`+b64(jpegBytes)+`"}}}`, 1),
			"messages.2.content.0.content.0.image.source.base64: The image was specified using the image/gif media type, but the image appears to be a image/jpeg image"},
		{"no tools", "tools-v1", hi + `,"toolConfig":{"tools":[]}}`, "Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"bad tool name", "tools-v1", hi + `,"toolConfig":{"tools":[{"toolSpec":{"name":"get weather","inputSchema":{"json":{}}}}]}}`,
			"Value 'get weather' at 'toolConfig.tools.1.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"no input schema", "tools-v1", hi + `,"toolConfig":{"tools":[{"toolSpec":{"name":"t"}}]}}`, "Value null at 'toolConfig.tools.1.member.toolSpec.inputSchema'"},
		{"schema not an object", "tools-v1", hi + `,"toolConfig":{"tools":[{"toolSpec":{"name":"t","inputSchema":{"json":{"type":"string"}}}}]}}`, "tools.0.custom.input_schema.type: Input should be 'object'"},
		{"duplicate tool names", "tools-v1", hi + `,"toolConfig":{"tools":[{"toolSpec":{"name":"t","inputSchema":{"json":{}}}},{"toolSpec":{"name":"t","inputSchema":{"json":{}}}}]}}`, "Tool names must be unique"},
		{"toolChoice names no tool", "tools-v1", hi + `,` + strings.TrimSuffix(toolConfigJSONText, "}") + `,"toolChoice":{"tool":{"name":"nope"}}}}`, "tool_choice: Tool 'nope' not found in tools."},
		{"toolChoice with two members", "tools-v1", hi + `,` + strings.TrimSuffix(toolConfigJSONText, "}") + `,"toolChoice":{"auto":{},"any":{}}}}`, "exactly one of auto, any and tool"},
		{"tools to text-v1", "text-v1", hi + `,` + toolConfigJSONText + `}`, "This model doesn't support tool use."},
		{"thinking budget too small", "reasoning-v1", thinking(`{"thinking":{"type":"enabled","budget_tokens":100}}`), "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		{"thinking budget not below maxTokens", "reasoning-v1", thinking(`{"thinking":{"type":"enabled","budget_tokens":4000}}`), "`max_tokens` must be greater than `thinking.budget_tokens`."},
		{"thinking without budget", "reasoning-v1", thinking(`{"thinking":{"type":"enabled"}}`), "budget_tokens: Field required"},
		{"thinking type unknown", "reasoning-v1", thinking(`{"thinking":{"type":"sometimes"}}`), "Input tag 'sometimes' found using 'type'"},
		{"thinking with temperature", "reasoning-v1", hi + `,"inferenceConfig":{"maxTokens":4000,"temperature":0.5},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`,
			"The model returned the following errors: `temperature` may only be set to 1 when thinking is enabled."},
		{"Converse on the image model", "image-v1", hi + `}`, "This action doesn't support the model that you provided. Try again with a supported text or chat model."},
		{"Converse on the embedding model", "embed-v1", hi + `}`, "This action doesn't support the model that you provided."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.records(t))
			for _, op := range []string{"converse-stream", "converse"} {
				r := rawPost(t, h, "/model/emulator."+tt.model+"/"+op, tt.body)
				if r.status != http.StatusBadRequest || r.errType != "ValidationException" {
					t.Fatalf("%s: %d %s %s, want 400 ValidationException", op, r.status, r.errType, r.body)
				}
				if msg := r.message(t); !strings.Contains(msg, tt.wantMsg) {
					t.Errorf("%s: message %q does not contain %q", op, msg, tt.wantMsg)
				}
			}
			recs := h.records(t)[before:]
			if len(recs) != 2 {
				t.Fatalf("%d records, want 2", len(recs))
			}
			for _, rec := range recs {
				if rec.Outcome != "error" || rec.Status != 400 || rec.DeltasSent != 0 || rec.BodySize != len(tt.body) {
					t.Errorf("record %+v", rec)
				}
			}
		})
	}
}

func TestConverseAcceptsValidImagesAndTools(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	tests := []struct{ name, model, body string }{
		{"png", "fast-v1", imageMessage(`{"format":"png","source":{"bytes":"` + b64(pngBytes) + `"}}`)},
		{"jpeg", "fast-v1", imageMessage(`{"format":"jpeg","source":{"bytes":"` + b64(jpegBytes) + `"}}`)},
		{"gif", "reasoning-v1", imageMessage(`{"format":"gif","source":{"bytes":"` + b64(gifBytes) + `"}}`)},
		{"webp", "tools-v1", imageMessage(`{"format":"webp","source":{"bytes":"` + b64(webpBytes) + `"}}`)},
		{"tool result", "tools-v1", toolConversation("tooluse_a", ","+toolConfigJSONText)},
		{"tool history on another model", "fast-v1", toolConversation("tooluse_a", ","+toolConfigJSONText)},
		{"thinking disabled", "reasoning-v1", `{"messages":[{"role":"user","content":[{"text":"x"}]}],"additionalModelRequestFields":{"thinking":{"type":"disabled"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := rawPost(t, h, "/model/emulator."+tt.model+"/converse", tt.body); r.status != http.StatusOK {
				t.Errorf("%d %s", r.status, r.body)
			}
		})
	}
}

// TestImageBlocksThroughTheSDK sends image blocks as the SDK encodes
// them (raw bytes, base64 on the wire).
func TestImageBlocksThroughTheSDK(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	msgs := func(format types.ImageFormat, b []byte) []types.Message {
		return []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{
			&types.ContentBlockMemberText{Value: "what is this?"},
			&types.ContentBlockMemberImage{Value: types.ImageBlock{Format: format, Source: &types.ImageSourceMemberBytes{Value: b}}},
		}}}
	}
	out, err := h.client.Converse(testContext(t), &bedrockruntime.ConverseInput{ModelId: aws.String("emulator.fast-v1"), Messages: msgs(types.ImageFormatPng, pngBytes)})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Answer("emulator.fast-v1", "what is this?", 0)
	if got := out.Output.(*types.ConverseOutputMemberMessage).Value.Content[0].(*types.ContentBlockMemberText).Value; got != strings.Join(want, "") {
		t.Errorf("answer %q; the image must not change the prompt", got)
	}
	_, err = converseStream(testContext(t), h.client, &bedrockruntime.ConverseStreamInput{ModelId: aws.String("emulator.fast-v1"), Messages: msgs(types.ImageFormatWebp, pngBytes)}, nil)
	var ve *types.ValidationException
	if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), "image/webp media type, but the image appears to be a image/png image") {
		t.Errorf("err = %v", err)
	}
	// The record keeps the body as it was sent, image block included.
	recs := h.records(t)
	var body struct {
		Messages []struct {
			Content []struct {
				Image *struct {
					Format string
					Source struct{ Bytes []byte }
				}
			}
		}
	}
	if err := json.Unmarshal(recs[1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if img := body.Messages[0].Content[1].Image; img == nil || img.Format != "webp" || string(img.Source.Bytes) != string(pngBytes) {
		t.Errorf("recorded body %s", recs[1].Body)
	}
}

func TestRecordBodyIsCapped(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	long := strings.Repeat("word ", 30000) // 150 KB
	body := `{"messages":[{"role":"user","content":[{"text":"` + long + `"}]}],"inferenceConfig":{"maxTokens":1}}`
	if r := rawPost(t, h, "/model/emulator.fast-v1/converse", body); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	rec := h.records(t)[0]
	if len(rec.Body) != 64<<10 || rec.BodySize != len(body) || string(rec.Body) != body[:64<<10] {
		t.Errorf("Body %d bytes, BodySize %d; want the first 65536 bytes of %d", len(rec.Body), rec.BodySize, len(body))
	}
	if rec.Proto != "HTTP/1.1" || rec.Operation != "Converse" {
		t.Errorf("record %s %s", rec.Proto, rec.Operation)
	}
}
