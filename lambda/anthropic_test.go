package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

func anthropicClient(url string) sdk.Client {
	return sdk.NewClient(option.WithBaseURL(url), option.WithAPIKey(testAPIKey), option.WithMaxRetries(0))
}

func claudeAsk(model, prompt string) sdk.MessageNewParams {
	return sdk.MessageNewParams{Model: model, MaxTokens: 4096,
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock(prompt))}}
}

func accumulate(t *testing.T, c sdk.Client, params sdk.MessageNewParams) sdk.Message {
	t.Helper()
	s := c.Messages.NewStreaming(t.Context(), params)
	var acc sdk.Message
	for s.Next() {
		if err := acc.Accumulate(s.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return acc
}

// TestAnthropicClient drives local mode and the Lambda path with the real
// Anthropic Go SDK, as Claude Code's users' tools do: Claude's model names
// (MODEL_ALIASES), streamed and whole answers, a tool round trip, thinking
// sent back, an image and a PDF, prompt caching, count_tokens and typed
// errors, behind API_KEYS sent as x-api-key.
func TestAnthropicClient(t *testing.T) {
	t.Parallel()
	for _, tg := range bothTargets(t, emulator.Options{TokensPerSecond: 200}, "API_KEYS="+testAPIKey,
		"MODEL_ALIASES=claude-sonnet-4-5-20250929=emulator.fast-v1,claude-haiku-4-5=emulator.tools-v1,claude-opus-4-1=emulator.reasoning-v1") {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			c := anthropicClient(tg.url)
			t.Run("streamed equals whole", func(t *testing.T) {
				t.Parallel()
				const prompt = "how does streaming reach a terminal"
				deltas, _ := emulator.Answer("emulator.fast-v1", prompt, 0)
				params := claudeAsk("claude-sonnet-4-5-20250929", prompt)
				streamed := accumulate(t, c, params)
				whole, err := c.Messages.New(t.Context(), params)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range []sdk.Message{streamed, *whole} {
					if m.Content[0].Text != strings.Join(deltas, "") || m.Model != "claude-sonnet-4-5-20250929" || !strings.HasPrefix(m.ID, "msg_") || m.StopReason != "end_turn" {
						t.Errorf("message %+v", m)
					}
				}
			})
			t.Run("tool round trip", func(t *testing.T) {
				t.Parallel()
				schema := map[string]any{"command": map[string]any{"type": "string"}}
				params := claudeAsk("claude-haiku-4-5", "list the files; use Bash")
				params.Tools = []sdk.ToolUnionParam{{OfTool: &sdk.ToolParam{Name: "Bash", InputSchema: sdk.ToolInputSchemaParam{Properties: schema, Required: []string{"command"}}}}}
				msg := accumulate(t, c, params)
				if msg.StopReason != "tool_use" || msg.Content[0].Name != "Bash" {
					t.Fatalf("message %+v", msg)
				}
				params.Messages = append(params.Messages, msg.ToParam(), sdk.NewUserMessage(sdk.NewToolResultBlock(msg.Content[0].ID, "a.go b.go", false)))
				final, err := c.Messages.New(t.Context(), params)
				if err != nil {
					t.Fatal(err)
				}
				if want := strings.Join(emulator.ToolResultAnswer(emulator.ToolResult{ToolName: "Bash", Content: "a.go b.go"}), ""); final.Content[0].Text != want {
					t.Errorf("final %q, want %q", final.Content[0].Text, want)
				}
			})
			t.Run("thinking sent back", func(t *testing.T) {
				t.Parallel()
				params := claudeAsk("claude-opus-4-1", "reason about rivers")
				params.Thinking = sdk.ThinkingConfigParamOfEnabled(2048)
				msg := accumulate(t, c, params)
				_, signature := emulator.Reasoning("reason about rivers")
				if msg.Content[0].Type != "thinking" || msg.Content[0].Signature != signature {
					t.Fatalf("content %+v", msg.Content)
				}
				params.Messages = append(params.Messages, msg.ToParam(), sdk.NewUserMessage(sdk.NewTextBlock("go on")))
				if _, err := c.Messages.New(t.Context(), params); err != nil {
					t.Errorf("next turn: %v", err)
				}
			})
			t.Run("image and pdf", func(t *testing.T) {
				t.Parallel()
				img := pngImage(t)
				params := sdk.MessageNewParams{Model: "emulator.fast-v1", MaxTokens: 50, Messages: []sdk.MessageParam{sdk.NewUserMessage(
					sdk.NewImageBlockBase64("image/png", base64.StdEncoding.EncodeToString(img)),
					sdk.NewDocumentBlock(sdk.Base64PDFSourceParam{Data: base64.StdEncoding.EncodeToString([]byte("%PDF-1.4\n%%EOF\n"))}),
					sdk.NewTextBlock("describe both"))}}
				if _, err := c.Messages.New(t.Context(), params); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("cache read on the second call", func(t *testing.T) {
				t.Parallel()
				params := claudeAsk("emulator.fast-v1", "a question "+tg.name)
				params.System = []sdk.TextBlockParam{{Text: "a long and stable system prompt for " + tg.name, CacheControl: sdk.NewCacheControlEphemeralParam()}}
				first, err := c.Messages.New(t.Context(), params)
				if err != nil {
					t.Fatal(err)
				}
				second := accumulate(t, c, params)
				if first.Usage.CacheCreationInputTokens == 0 || second.Usage.CacheReadInputTokens != first.Usage.CacheCreationInputTokens {
					t.Errorf("usage %+v then %+v; want a cache write, then a read of as many tokens", first.Usage, second.Usage)
				}
			})
			t.Run("count_tokens", func(t *testing.T) {
				t.Parallel()
				got, err := c.Messages.CountTokens(t.Context(), sdk.MessageCountTokensParams{Model: "claude-sonnet-4-5-20250929",
					Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("four words right here"))}})
				if err != nil || got.InputTokens != 4 {
					t.Errorf("count %+v, %v", got, err)
				}
			})
			t.Run("bedrock mode", func(t *testing.T) { t.Parallel(); bedrockMode(t, tg.url) })
			t.Run("typed errors", func(t *testing.T) {
				t.Parallel()
				for _, tc := range []struct {
					typ    string
					status int
					err    func() error
				}{
					{"authentication_error", 401, func() error {
						bad := sdk.NewClient(option.WithBaseURL(tg.url), option.WithAuthToken("sk-not-a-key-0123456789"), option.WithMaxRetries(0))
						_, err := bad.Messages.New(t.Context(), claudeAsk("claude-sonnet-4-5-20250929", "hi"))
						return err
					}},
					{"invalid_request_error", 400, func() error {
						_, err := c.Messages.New(t.Context(), sdk.MessageNewParams{Model: "claude-sonnet-4-5-20250929", MaxTokens: 10})
						return err
					}},
					{"not_found_error", 404, func() error {
						_, err := c.Messages.New(t.Context(), claudeAsk("claude-opus-4-5", "hi"))
						return err
					}},
					{"overloaded_error", 529, func() error {
						_, err := c.Messages.New(t.Context(), claudeAsk("emulator.throttle-v1", "hi"))
						return err
					}},
				} {
					var apiErr *sdk.Error
					if err := tc.err(); !errors.As(err, &apiErr) || string(apiErr.Type()) != tc.typ || apiErr.StatusCode != tc.status {
						t.Errorf("%s: %v", tc.typ, err)
					}
				}
			})
		})
	}
}

func pngImage(t *testing.T) []byte {
	t.Helper()
	// A 1x1 PNG.
	b, err := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnthropicStopAcrossInstances: on the Lambda path with two instances
// and the cancel table, DELETE /stream/msg_… landing on the other instance
// stops a running message; the SDK's stream ends with stop reason
// cancelled and Bedrock's call is cancelled.
func TestAnthropicStopAcrossInstances(t *testing.T) {
	t.Parallel()
	lp := startLambdaPath(t, emulator.Options{TokensPerSecond: 50}, localgw.Config{Instances: 2}, cancelTableEnv(t)...)
	c := sdk.NewClient(option.WithBaseURL(lp.url), option.WithAPIKey("anything"), option.WithMaxRetries(0))
	s := c.Messages.NewStreaming(t.Context(), claudeAsk("emulator.long-v1", "a long story"))
	var acc sdk.Message
	deltas := 0
	for s.Next() {
		ev := s.Current()
		acc.Accumulate(ev)
		if ev.Type == "content_block_delta" {
			if deltas++; deltas == 5 {
				del, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, lp.url+"/stream/"+acc.ID, nil)
				del.Header.Set("X-Api-Key", "anything")
				if res := streamtest.Do(t, del); res.Status != http.StatusAccepted {
					t.Fatalf("DELETE %s: %d %s", acc.ID, res.Status, res.Body)
				}
			}
		}
	}
	if err := s.Err(); err != nil || acc.StopReason != "cancelled" {
		t.Fatalf("stream ended %v, stop reason %q", err, acc.StopReason)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := lp.emu.WaitIdle(ctx); err != nil {
		t.Fatal("the Bedrock call still runs 15 s after the DELETE")
	}
	if r := lp.emu.Records(); r[len(r)-1].Outcome != "cancelled" {
		t.Errorf("Bedrock call ended %q", r[len(r)-1].Outcome)
	}
}

// TestBedrockPassThroughPaths: Bedrock's own protocol through API
// Gateway's streaming front and the Lambda runtime's prelude (a binary
// body, NUL bytes and all, in STREAM mode with no binary media types): the
// client reads exactly the bytes Bedrock sent, frame by frame.
func TestBedrockPassThroughPaths(t *testing.T) {
	t.Parallel()
	frames := streamtest.AnthropicChunks(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		for _, f := range frames {
			w.Write(f)
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	}))
	t.Cleanup(up.Close)
	body := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":200,"messages":[{"role":"user","content":"hi"}]}`
	// Local mode serves the same handler over plain HTTP, which
	// streaming/bedrockapi's TestFramesByteForByte checks byte for byte.
	lp := startLambdaPath(t, emulator.Options{}, localgw.Config{}, "API_KEYS="+testAPIKey, "BEDROCK_ENDPOINT="+up.URL)
	for _, tg := range []target{{name: "lambda", url: lp.url}} {
		t.Run(tg.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, tg.url+"/model/emulator.fast-v1/invoke-with-response-stream", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+testAPIKey)
			res := streamtest.Do(t, req)
			if res.Status != 200 || res.Header.Get("Content-Type") != "application/vnd.amazon.eventstream" || res.ReadErr != nil {
				t.Fatalf("status %d %s, %v: %q", res.Status, res.Header.Get("Content-Type"), res.ReadErr, res.Body)
			}
			if want := bytes.Join(frames, nil); !bytes.Equal(res.Body, want) {
				t.Errorf("the client read other bytes than Bedrock sent:\n got %q\nwant %q", res.Body, want)
			}
			if len(res.Chunks) < len(frames)-1 {
				t.Errorf("%d frames arrived in %d pieces: not as they were sent", len(frames), len(res.Chunks))
			}
		})
	}
}

// keyHeader adds the gateway's key to an AWS SDK's requests.
type keyHeader struct{ next bedrockruntime.HTTPClient }

func (k keyHeader) Do(r *http.Request) (*http.Response, error) {
	r.Header.Set("X-Api-Key", testAPIKey)
	return k.next.Do(r)
}

// bedrockMode is a subtest of TestAnthropicClient: the AWS SDK's
// InvokeModelWithResponseStream and InvokeModel through the gateway, as
// Claude Code's Bedrock mode calls them, with the gateway's key.
func bedrockMode(t *testing.T, url string) {
	// Any keys: the gateway signs its own calls to Bedrock.
	client := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDCLIENT", "client-secret", "")}, func(o *bedrockruntime.Options) {
		o.HTTPClient = keyHeader{next: awshttp.NewBuildableClient()}
	})
	const prompt = "pass me through"
	body, _ := json.Marshal(map[string]any{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
		"messages": []any{map[string]any{"role": "user", "content": prompt}}})
	out, err := client.InvokeModelWithResponseStream(t.Context(), &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: aws.String("emulator.fast-v1"), Body: body, ContentType: aws.String("application/json")})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for ev := range out.GetStream().Events() {
		var c struct {
			Type  string
			Delta struct{ Text string }
		}
		json.Unmarshal(ev.(*types.ResponseStreamMemberChunk).Value.Bytes, &c)
		if c.Type == "content_block_delta" {
			text.WriteString(c.Delta.Text)
		}
	}
	deltas, _ := emulator.Answer("emulator.fast-v1", prompt, 200)
	if err := out.GetStream().Err(); err != nil || text.String() != strings.Join(deltas, "") {
		t.Errorf("streamed %q, %v", text.String(), err)
	}
	whole, err := client.InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{ModelId: aws.String("emulator.fast-v1"), Body: body, ContentType: aws.String("application/json")})
	if err != nil || !strings.Contains(string(whole.Body), strings.Join(deltas, "")) {
		t.Errorf("whole %s, %v", whole.Body, err)
	}
}
