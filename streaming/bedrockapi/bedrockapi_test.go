package bedrockapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseventstream "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

func cancelRoute(h *streaming.Handler) {
	h.Route("/stream/{requestId}", streaming.Methods{"DELETE": func(w http.ResponseWriter, r *http.Request) {
		h.Cancel(w, r, r.PathValue("requestId"))
	}})
}

// runtimeClient is the AWS SDK's Bedrock Runtime client pointed at the
// gateway, as a Bedrock-mode client is: the gateway's own keys are not
// needed, the SDK signs with anything.
func runtimeClient(url string) *bedrockruntime.Client {
	return gatewaytest.BedrockClient(url)
}

func anthropicBody(prompt string, maxTokens int) []byte {
	b, _ := json.Marshal(map[string]any{
		"anthropic_version": "bedrock-2023-05-31", "max_tokens": maxTokens,
		"messages": []any{map[string]any{"role": "user", "content": prompt}},
	})
	return b
}

// TestInvokeStreamThroughTheSDK: the AWS SDK's InvokeModelWithResponseStream
// through the gateway reads the emulator's Anthropic chunks; the answer is
// the emulator's; max_tokens is clamped to the cap on the way.
func TestInvokeStreamThroughTheSDK(t *testing.T) {
	t.Parallel()
	cfg := gatewaytest.Config()
	cfg.MaxTokens = 30
	g := gatewaytest.Start(t, emulator.Options{TokensPerSecond: 1000}, cfg, nil, Register)
	const prompt = "a streamed answer"
	deltas, _ := emulator.Answer("emulator.fast-v1", prompt, 30)
	out, err := runtimeClient(g.URL).InvokeModelWithResponseStream(t.Context(), &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: aws.String("emulator.fast-v1"), Body: anthropicBody(prompt, 32000), ContentType: aws.String("application/json"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	stop := ""
	for ev := range out.GetStream().Events() {
		chunk := ev.(*types.ResponseStreamMemberChunk)
		var c struct {
			Type  string
			Delta struct {
				Text       string
				StopReason string `json:"stop_reason"`
			}
		}
		json.Unmarshal(chunk.Value.Bytes, &c)
		if c.Type == "content_block_delta" {
			text.WriteString(c.Delta.Text)
		}
		if c.Type == "message_delta" {
			stop = c.Delta.StopReason
		}
	}
	if err := out.GetStream().Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != strings.Join(deltas, "") || stop != "max_tokens" {
		t.Errorf("text %q stop %q; want the emulator's answer capped at 30 tokens", text.String(), stop)
	}
	line := gatewaytest.LastLog(t, g.Logs, "/model/emulator.fast-v1/invoke-with-response-stream")
	if line["outputTokens"] != float64(30) || line["stopReason"] != "max_tokens" || line["model"] != "emulator.fast-v1" {
		t.Errorf("log line %v", line)
	}
}

// fixedUpstream answers any invoke-with-response-stream with frames,
// written one at a time with a pause between them, then a tail (a cut
// frame, say), then waits for hang before it ends the body.
func fixedUpstream(t *testing.T, frames [][]byte, tail []byte, hang time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.WriteHeader(http.StatusOK)
		for _, f := range frames {
			w.Write(f)
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
		w.Write(tail)
		w.(http.Flusher).Flush()
		select {
		case <-time.After(hang):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func anthropicFrames(t *testing.T) [][]byte { return streamtest.AnthropicChunks(t) }

func postStream(t *testing.T, ctx context.Context, url, model string) streamtest.Result {
	t.Helper()
	return streamtest.Post(t, ctx, url+"/model/"+model+"/invoke-with-response-stream", "application/vnd.amazon.eventstream", string(anthropicBody("hi", 100)))
}

// readFrames splits an event-stream body into messages.
func readFrames(t *testing.T, body []byte) []awseventstream.Message {
	t.Helper()
	var out []awseventstream.Message
	r := bytes.NewReader(body)
	for r.Len() > 0 {
		m, err := awseventstream.NewDecoder().Decode(r, nil)
		if err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		out = append(out, m)
	}
	return out
}

// TestFramesByteForByte: the frames reach the client exactly as Bedrock
// sent them, each on its own arrival, under Bedrock's content type.
func TestFramesByteForByte(t *testing.T) {
	t.Parallel()
	frames := anthropicFrames(t)
	up := fixedUpstream(t, frames, nil, 0)
	g := gatewaytest.To(t, up.URL, streaming.Upstreams{}, gatewaytest.Config(), nil, Register)
	res := postStream(t, t.Context(), g.URL, "emulator.fast-v1")
	if res.Status != 200 || res.ReadErr != nil || res.Header.Get("Content-Type") != "application/vnd.amazon.eventstream" {
		t.Fatalf("status %d, %v, %s: %q", res.Status, res.ReadErr, res.Header.Get("Content-Type"), res.Body)
	}
	if want := bytes.Join(frames, nil); !bytes.Equal(res.Body, want) {
		t.Fatalf("body differs from Bedrock's bytes:\n got %q\nwant %q", res.Body, want)
	}
	if len(res.Chunks) < len(frames)-1 {
		t.Errorf("the frames came in %d pieces; want one a frame, as sent", len(res.Chunks))
	}
	line := gatewaytest.LastLog(t, g.Logs, "/model/emulator.fast-v1/invoke-with-response-stream")
	if line["inputTokens"] != float64(3) || line["outputTokens"] != float64(2) || line["stopReason"] != "end_turn" || line["error"] != nil {
		t.Errorf("log line %v", line)
	}
}

// TestStreamFailures: an upstream cut in a frame, or silent past the idle
// timeout, ends the client's stream with an exception frame of Bedrock's
// after the whole frames, which the AWS SDK reports as its typed error.
func TestStreamFailures(t *testing.T) {
	t.Parallel()
	frames := anthropicFrames(t)
	for _, tc := range []struct {
		name, exception string
		tail            []byte
		hang            time.Duration
		check           func(error) bool
	}{
		{"cut in a frame", "internalServerException", frames[4][:10], 0, func(err error) bool {
			var e *types.InternalServerException
			return errors.As(err, &e)
		}},
		{"silent upstream", "modelTimeoutException", nil, 10 * time.Second, func(err error) bool {
			var e *types.ModelTimeoutException
			return errors.As(err, &e)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := fixedUpstream(t, frames[:4], tc.tail, tc.hang)
			cfg := gatewaytest.Config()
			cfg.UpstreamIdleTimeout = 300 * time.Millisecond
			g := gatewaytest.To(t, up.URL, streaming.Upstreams{}, cfg, nil, Register)
			res := postStream(t, t.Context(), g.URL, "emulator.fast-v1")
			got := readFrames(t, res.Body)
			if len(got) != 5 || string(got[4].Headers.Get(":exception-type").Get().(string)) != tc.exception {
				t.Fatalf("%d frames, last %v; want the 4 whole frames and a %s", len(got), got[len(got)-1].Headers, tc.exception)
			}
			if !bytes.Equal(res.Body[:len(bytes.Join(frames[:4], nil))], bytes.Join(frames[:4], nil)) {
				t.Error("the whole frames were not relayed as they came")
			}
			out, err := runtimeClient(g.URL).InvokeModelWithResponseStream(t.Context(), &bedrockruntime.InvokeModelWithResponseStreamInput{
				ModelId: aws.String("emulator.fast-v1"), Body: anthropicBody("hi", 100), ContentType: aws.String("application/json")})
			if err != nil {
				t.Fatal(err)
			}
			for range out.GetStream().Events() {
			}
			if err := out.GetStream().Err(); !tc.check(err) {
				t.Errorf("the SDK's error: %v (%T)", err, err)
			}
		})
	}
}

// TestStopAndDisconnect: DELETE /stream/{id} with the answer's request id
// ends the relay at a frame boundary and cancels Bedrock's call; a client
// that goes away cancels it too.
func TestStopAndDisconnect(t *testing.T) {
	t.Parallel()
	g := gatewaytest.Start(t, emulator.Options{TokensPerSecond: 20}, gatewaytest.Config(), nil, Register, cancelRoute)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, g.URL+"/model/emulator.long-v1/invoke-with-response-stream", bytes.NewReader(anthropicBody("long", 4000)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	del, _ := http.NewRequest(http.MethodDelete, g.URL+"/stream/"+resp.Header.Get("X-Request-Id"), nil)
	dr, err := http.DefaultClient.Do(del)
	if err != nil || dr.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel: %v %v", dr, err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the stopped stream did not end cleanly: %v", err)
	}
	readFrames(t, append(buf, rest...))
	records := gatewaytest.WaitIdle(t, g.Emu)
	if records[0].Outcome != "cancelled" {
		t.Errorf("Bedrock's call ended %q", records[0].Outcome)
	}

	ctx, cancel := context.WithCancel(t.Context())
	req2, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+"/model/emulator.long-v1/invoke-with-response-stream", bytes.NewReader(anthropicBody("long two", 4000)))
	req2.Header.Set("Content-Type", "application/json")
	resp2, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp2.Body, buf)
	cancel()
	resp2.Body.Close()
	records = gatewaytest.WaitIdle(t, g.Emu)
	if len(records) != 2 || records[1].Outcome != "cancelled" {
		t.Errorf("after a disconnect Bedrock's call ended %+v", records)
	}
}

// TestInvokeAndPolicy: InvokeModel answers Bedrock's body and token
// headers as they came; a model outside the allowlist is Bedrock's
// AccessDeniedException, typed by the SDK, and reaches no upstream.
func TestInvokeAndPolicy(t *testing.T) {
	t.Parallel()
	cfg := gatewaytest.Config()
	cfg.SystemPrompt = "Be kind."
	g := gatewaytest.Start(t, emulator.Options{TokensPerSecond: 1000}, cfg, nil, Register)
	c := runtimeClient(g.URL)
	out, err := c.InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{ModelId: aws.String("emulator.fast-v1"), Body: anthropicBody("whole please", 50), ContentType: aws.String("application/json")})
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Content []struct{ Text string }
		Usage   struct {
			InputTokens int `json:"input_tokens"`
		}
	}
	json.Unmarshal(out.Body, &msg)
	deltas, _ := emulator.Answer("emulator.fast-v1", "whole please", 50)
	if msg.Content[0].Text != strings.Join(deltas, "") || msg.Usage.InputTokens != 4 {
		t.Errorf("answer %s; want the emulator's, with the system prompt's 2 words counted", out.Body)
	}
	_, err = c.InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{ModelId: aws.String("anthropic.claude-opus-4-1-20250805-v1:0"), Body: anthropicBody("no", 50), ContentType: aws.String("application/json")})
	var denied *types.AccessDeniedException
	if !errors.As(err, &denied) {
		t.Errorf("a model not allowed: %v (%T)", err, err)
	}
	_, err = c.InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{ModelId: aws.String("emulator.fast-v1"), Body: []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":"many"}`), ContentType: aws.String("application/json")})
	var invalid *types.ValidationException
	if !errors.As(err, &invalid) {
		t.Errorf("a bad max_tokens: %v (%T)", err, err)
	}
	if records := gatewaytest.WaitIdle(t, g.Emu); len(records) != 1 {
		t.Errorf("%d calls reached Bedrock, want 1", len(records))
	}
}

// TestInferenceProfiles: ListInferenceProfiles through the gateway lists
// Bedrock's profiles that the allowlist names, for the AWS SDK.
func TestInferenceProfiles(t *testing.T) {
	t.Parallel()
	cfg := gatewaytest.Config()
	cfg.AllowedModels = append(cfg.AllowedModels, "us.emulator.fast-v1", "us.emulator.reasoning-v1")
	g := gatewaytest.Start(t, emulator.Options{}, cfg, nil, Register)
	control := bedrock.New(bedrock.Options{Region: "us-east-1", BaseEndpoint: aws.String(g.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	out, err := control.ListInferenceProfiles(t.Context(), &bedrock.ListInferenceProfilesInput{TypeEquals: "SYSTEM_DEFINED"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range out.InferenceProfileSummaries {
		ids = append(ids, aws.ToString(p.InferenceProfileId))
		if p.CreatedAt == nil || len(p.Models) == 0 || p.Status != "ACTIVE" {
			t.Errorf("profile %+v", p)
		}
	}
	if strings.Join(ids, ",") != "us.emulator.fast-v1,us.emulator.reasoning-v1" {
		t.Errorf("profiles %v", ids)
	}
}

// TestModelARNInPath: a model named by its ARN, '/' escaped as %2F as the
// AWS SDKs send it, is one path segment: allowed by its ARN, and passed
// on to Bedrock as the ARN.
func TestModelARNInPath(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:bedrock:us-east-1::foundation-model/emulator.fast-v1"
	cfg := gatewaytest.Config()
	cfg.AllowedModels = append(cfg.AllowedModels, arn)
	g := gatewaytest.Start(t, emulator.Options{TokensPerSecond: 1000}, cfg, nil, Register)
	out, err := runtimeClient(g.URL).InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{ModelId: aws.String(arn), Body: anthropicBody("by arn", 5), ContentType: aws.String("application/json")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out.Body), `"stop_reason":"max_tokens"`) {
		t.Errorf("answer %s", out.Body)
	}
	if r := gatewaytest.WaitIdle(t, g.Emu); r[0].ModelID != arn {
		t.Errorf("Bedrock got model %q", r[0].ModelID)
	}
}

// TestBeforeTheFirstByte: Bedrock silent before its headers gets the
// client Bedrock's ModelTimeoutException (504) once
// UPSTREAM_HEADER_TIMEOUT_SECONDS is past; a client that leaves while it
// waits cancels the call to Bedrock.
func TestBeforeTheFirstByte(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{}, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
			gone <- struct{}{}
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(up.Close)
	cfg := gatewaytest.Config()
	cfg.UpstreamHeaderTimeout = 300 * time.Millisecond
	g := gatewaytest.To(t, up.URL, streaming.Upstreams{}, cfg, nil, Register)
	res := postStream(t, t.Context(), g.URL, "emulator.fast-v1")
	if res.Status != http.StatusGatewayTimeout || res.Header.Get("X-Amzn-ErrorType") != "ModelTimeoutException" {
		t.Errorf("status %d %s: %s", res.Status, res.Header.Get("X-Amzn-ErrorType"), res.Body)
	}
	<-gone

	cfg.UpstreamHeaderTimeout = time.Minute
	g = gatewaytest.To(t, up.URL, streaming.Upstreams{}, cfg, nil, Register)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+"/model/emulator.fast-v1/invoke-with-response-stream", bytes.NewReader(anthropicBody("hi", 10)))
	req.Header.Set("Content-Type", "application/json")
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the request did not time out")
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Error("Bedrock's call still runs 5 s after the client left")
	}
	line := gatewaytest.LastLog(t, g.Logs, "/model/emulator.fast-v1/invoke-with-response-stream")
	if line["clientAborted"] != true {
		t.Errorf("log line %v", line)
	}
}

// TestThinkingWithinTheCap: Claude Code's Bedrock body asks for 32,000
// tokens with a thinking budget just below; under a smaller cap the budget
// goes below the cap (or thinking off when no room is left), so that
// Bedrock does not refuse the call.
func TestThinkingWithinTheCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cap  int
		want string
	}{
		{8000, `{"budget_tokens":7999,"type":"enabled"}`},
		{1024, `{"type":"disabled"}`},
	} {
		cfg := gatewaytest.Config()
		cfg.MaxTokens = tc.cap
		g := gatewaytest.Start(t, emulator.Options{TokensPerSecond: 5000}, cfg, nil, Register)
		body := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":32000,"thinking":{"type":"enabled","budget_tokens":31999},"messages":[{"role":"user","content":"think"}]}`
		_, err := runtimeClient(g.URL).InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{ModelId: aws.String("emulator.reasoning-v1"), Body: []byte(body), ContentType: aws.String("application/json")})
		if err != nil {
			t.Fatalf("cap %d: %v", tc.cap, err)
		}
		var sent struct {
			MaxTokens int             `json:"max_tokens"`
			Thinking  json.RawMessage `json:"thinking"`
		}
		json.Unmarshal(gatewaytest.WaitIdle(t, g.Emu)[0].Body, &sent)
		if sent.MaxTokens != tc.cap || string(sent.Thinking) != tc.want {
			t.Errorf("cap %d: Bedrock got max_tokens %d, thinking %s; want %s", tc.cap, sent.MaxTokens, sent.Thinking, tc.want)
		}
	}
}
