package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/streamgate/streamgate/streaming/streamtest"
)

// harness is one emulator behind a real HTTP server, with a real SDK client.
type harness struct {
	emu    *Emulator
	srv    *httptest.Server
	client *bedrockruntime.Client
	paths  chan string // escaped request paths, as they arrived on the wire
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{emu: New(opts), paths: make(chan string, 64)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case h.paths <- r.URL.EscapedPath():
		default:
		}
		h.emu.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	h.client = newClient(h.srv.URL)
	return h
}

func newClient(url string, optFns ...func(*bedrockruntime.Options)) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		HTTPClient:   noWriterTo{awshttp.NewBuildableClient()},
	}, optFns...)
}

// noWriterTo hides the request body's io.WriterTo. The SDK closes the
// request body as soon as the response headers arrive; net/http's write
// loop, after sending Content-Length bytes, probes the body once more for
// extra data, and through WriteTo a closed SDK body answers io.EOF as an
// error, so the transport closes the connection under the response being
// read ("use of closed network connection", aws-sdk-go-v2 #2737). Against a
// loopback server that answers within microseconds this happens often
// enough to break tests. Read on a closed body returns a clean io.EOF, so
// a body without WriteTo removes the cause.
type noWriterTo struct{ next bedrockruntime.HTTPClient }

func (c noWriterTo) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return c.next.Do(r)
}

// records waits for the emulator to go idle and returns its records.
func (h *harness) records(t *testing.T) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.emu.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
	return h.emu.Records()
}

func userMessages(texts ...string) []types.Message {
	var msgs []types.Message
	for i, text := range texts {
		role := types.ConversationRoleUser
		if i%2 == 1 {
			role = types.ConversationRoleAssistant
		}
		msgs = append(msgs, types.Message{Role: role, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: text}}})
	}
	return msgs
}

// streamResult is what a client observed on one ConverseStream call.
type streamResult struct {
	sent           time.Time
	messageStartAt time.Time
	deltas         []string
	deltaAt        []time.Time
	sawStop        bool
	stopReason     types.StopReason
	usage          *types.TokenUsage
	latencyMs      *int64
	err            error // stream.Err()
}

func (s streamResult) text() string { return strings.Join(s.deltas, "") }

// converseStream runs one ConverseStream call; the error is the call's own
// (pre-stream) error, stream errors are in the result. afterDelta, if not
// nil, is called after each delta and may stop the read by returning false.
func converseStream(ctx context.Context, c *bedrockruntime.Client, in *bedrockruntime.ConverseStreamInput, afterDelta func(n int) bool) (streamResult, error) {
	res := streamResult{sent: time.Now()}
	out, err := c.ConverseStream(ctx, in)
	if err != nil {
		return res, err
	}
	stream := out.GetStream()
	defer stream.Close()
	for ev := range stream.Events() {
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberMessageStart:
			res.messageStartAt = time.Now()
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			d, ok := v.Value.Delta.(*types.ContentBlockDeltaMemberText)
			if !ok {
				return res, fmt.Errorf("unexpected delta %T", v.Value.Delta)
			}
			res.deltas = append(res.deltas, d.Value)
			res.deltaAt = append(res.deltaAt, time.Now())
			if afterDelta != nil && !afterDelta(len(res.deltas)) {
				return res, nil
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			res.sawStop = true
			res.stopReason = v.Value.StopReason
		case *types.ConverseStreamOutputMemberMetadata:
			res.usage = v.Value.Usage
			if v.Value.Metrics != nil {
				res.latencyMs = v.Value.Metrics.LatencyMs
			}
		}
	}
	res.err = stream.Err()
	return res, nil
}

func streamInput(model, prompt string, maxTokens int32) *bedrockruntime.ConverseStreamInput {
	in := &bedrockruntime.ConverseStreamInput{ModelId: aws.String(model), Messages: userMessages(prompt)}
	if maxTokens > 0 {
		in.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(maxTokens)}
	}
	return in
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConverseStreamAnswers(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 2000, SlowStart: 20 * time.Millisecond, LongDuration: 300 * time.Millisecond})
	tests := []struct {
		model     string
		prompt    string
		maxTokens int32
		wantStop  types.StopReason
	}{
		{"emulator.fast-v1", "What is an event stream?", 0, types.StopReasonEndTurn},
		{"emulator.steady-v1", "Tell me about rivers.", 0, types.StopReasonEndTurn},
		{"emulator.steady-v1", "Tell me about rivers.", 10, types.StopReasonMaxTokens},
		{"emulator.slow-start-v1", "slow", 0, types.StopReasonEndTurn},
		{"emulator.long-v1", "long", 0, types.StopReasonEndTurn},
		{"emulator.long-v1", "long", 250, types.StopReasonMaxTokens},
		{"emulator.code-v1", "Write me a parser", 0, types.StopReasonEndTurn},
		{"emulator.code-v1", "Write me a parser", 300, types.StopReasonMaxTokens},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s/max%d", tt.model, tt.maxTokens), func(t *testing.T) {
			res, err := converseStream(testContext(t), h.client, streamInput(tt.model, tt.prompt, tt.maxTokens), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.err != nil {
				t.Fatalf("stream.Err() = %v", res.err)
			}
			want, wantStop := Answer(tt.model, tt.prompt, int(tt.maxTokens))
			if string(tt.wantStop) != wantStop {
				t.Fatalf("Answer stop = %q, test wants %q", wantStop, tt.wantStop)
			}
			if diff := cmp.Diff(want, res.deltas); diff != "" {
				t.Errorf("deltas (-want +got):\n%s", diff)
			}
			if res.messageStartAt.IsZero() || !res.sawStop || res.stopReason != tt.wantStop {
				t.Errorf("messageStart %v, messageStop %v with %q; want %q", !res.messageStartAt.IsZero(), res.sawStop, res.stopReason, tt.wantStop)
			}
			inTok := int32(len(strings.Fields(tt.prompt)))
			wantUsage := &types.TokenUsage{InputTokens: aws.Int32(inTok), OutputTokens: aws.Int32(int32(len(want))), TotalTokens: aws.Int32(inTok + int32(len(want)))}
			if diff := cmp.Diff(wantUsage, res.usage, cmp.AllowUnexported(types.TokenUsage{})); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if res.latencyMs == nil || *res.latencyMs < 0 || *res.latencyMs > time.Since(res.sent).Milliseconds()+1 {
				t.Errorf("latencyMs = %v, want between 0 and the call's duration", res.latencyMs)
			}
			recs := h.records(t)
			r := recs[i]
			if r.Operation != "ConverseStream" || r.ModelID != tt.model || r.Status != 200 || r.Outcome != "completed" || r.DeltasSent != len(want) || r.End.Before(r.Start) {
				t.Errorf("record = %+v", r)
			}
		})
	}
}

func TestConverseStreamRate(t *testing.T) {
	const rate = 200
	h := newHarness(t, Options{TokensPerSecond: rate})
	res, err := converseStream(testContext(t), h.client, streamInput("emulator.steady-v1", "pace yourself", 0), nil)
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	n := len(res.deltas)
	expected := time.Duration(n-1) * time.Second / rate
	gap := res.deltaAt[n-1].Sub(res.deltaAt[0])
	if gap < expected*7/10 || gap > expected*3+time.Second {
		t.Errorf("%d deltas over %v, want about %v at %d/s", n, gap, expected, rate)
	}
	// Spread evenly, not in a burst at the end: the middle delta arrives
	// around the middle of the stream.
	mid := res.deltaAt[n/2].Sub(res.deltaAt[0])
	if mid < expected*3/10 {
		t.Errorf("middle delta after %v of %v: deltas are bunched", mid, gap)
	}
}

func TestFastHasNoDelay(t *testing.T) {
	// At 5 tokens/s a steady answer takes at least 8 s; fast-v1 ignores it.
	h := newHarness(t, Options{TokensPerSecond: 5})
	start := time.Now()
	res, err := converseStream(testContext(t), h.client, streamInput("emulator.fast-v1", "quick", 0), nil)
	if err != nil || res.err != nil || !res.sawStop {
		t.Fatal(err, res.err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("fast-v1 took %v for %d deltas", d, len(res.deltas))
	}
}

func TestSlowStartSilence(t *testing.T) {
	const slow = 300 * time.Millisecond
	h := newHarness(t, Options{TokensPerSecond: 1000, SlowStart: slow})
	res, err := converseStream(testContext(t), h.client, streamInput("emulator.slow-start-v1", "think first", 0), nil)
	if err != nil || res.err != nil || !res.sawStop {
		t.Fatal(err, res.err)
	}
	// The 200 and messageStart come at once; the first delta after the silence.
	if d := res.messageStartAt.Sub(res.sent); d > slow*2/3 {
		t.Errorf("messageStart after %v, want it before the silence", d)
	}
	if d := res.deltaAt[0].Sub(res.messageStartAt); d < slow*9/10 {
		t.Errorf("first delta %v after messageStart, want at least %v", d, slow)
	}
	if d := res.deltaAt[0].Sub(res.sent); d < slow {
		t.Errorf("first delta %v after the request, want at least %v", d, slow)
	}
}

func TestLongPacing(t *testing.T) {
	const long = 500 * time.Millisecond
	h := newHarness(t, Options{LongDuration: long})
	res, err := converseStream(testContext(t), h.client, streamInput("emulator.long-v1", "go on", 0), nil)
	if err != nil || res.err != nil || !res.sawStop {
		t.Fatal(err, res.err)
	}
	if size := len(res.text()); size < 50*1024 {
		t.Errorf("long answer is %d bytes", size)
	}
	if gap := res.deltaAt[len(res.deltaAt)-1].Sub(res.deltaAt[0]); gap < long*7/10 {
		t.Errorf("long answer streamed in %v, want about %v", gap, long)
	}
}

func TestThrottleRetriedThenReported(t *testing.T) {
	h := newHarness(t, Options{})
	// The standard retryer with its default 3 attempts, without the
	// backoff sleeps.
	client := newClient(h.srv.URL, func(o *bedrockruntime.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	for _, op := range []string{"ConverseStream", "Converse"} {
		t.Run(op, func(t *testing.T) {
			before := len(h.records(t))
			var err error
			if op == "ConverseStream" {
				_, err = converseStream(testContext(t), client, streamInput("emulator.throttle-v1", "hi", 0), nil)
			} else {
				_, err = client.Converse(testContext(t), &bedrockruntime.ConverseInput{ModelId: aws.String("emulator.throttle-v1"), Messages: userMessages("hi")})
			}
			var te *types.ThrottlingException
			if !errors.As(err, &te) {
				t.Fatalf("err = %v (%T), want *types.ThrottlingException", err, err)
			}
			recs := h.records(t)[before:]
			if len(recs) != retry.DefaultMaxAttempts {
				t.Fatalf("%d requests reached the emulator, want %d", len(recs), retry.DefaultMaxAttempts)
			}
			for _, r := range recs {
				if r.Operation != op || r.Status != 429 || r.Outcome != "error" || r.DeltasSent != 0 {
					t.Errorf("record = %+v", r)
				}
			}
		})
	}
}

func TestValidationErrors(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	f32 := aws.Float32
	tests := []struct {
		name    string
		model   string
		msgs    []types.Message
		cfg     *types.InferenceConfiguration
		wantMsg string
	}{
		{"unknown model", "anthropic.claude-v9", userMessages("hi"), nil, "The provided model identifier is invalid."},
		{"no messages", "emulator.fast-v1", nil, nil, "must start with a user message"},
		{"starts with assistant", "emulator.fast-v1", userMessages("hi", "there")[1:], nil, "must start with a user message"},
		{"not alternating", "emulator.fast-v1", append(userMessages("a"), userMessages("b")...), nil, "must alternate"},
		{"maxTokens 0", "emulator.fast-v1", userMessages("hi"), &types.InferenceConfiguration{MaxTokens: aws.Int32(0)}, "'inferenceConfig.maxTokens'"},
		{"maxTokens negative", "emulator.fast-v1", userMessages("hi"), &types.InferenceConfiguration{MaxTokens: aws.Int32(-3)}, "Value '-3'"},
		{"temperature high", "emulator.fast-v1", userMessages("hi"), &types.InferenceConfiguration{Temperature: f32(1.5)}, "'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1"},
		{"temperature negative", "emulator.fast-v1", userMessages("hi"), &types.InferenceConfiguration{Temperature: f32(-0.5)}, "greater than or equal to 0"},
		{"topP high", "emulator.fast-v1", userMessages("hi"), &types.InferenceConfiguration{TopP: f32(1.01)}, "'inferenceConfig.topP'"},
		{"empty content", "emulator.fast-v1", []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{}}}, nil, "messages.0 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := converseStream(testContext(t), h.client, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(tt.model), Messages: tt.msgs, InferenceConfig: tt.cfg}, nil)
			var ve *types.ValidationException
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v (%T), want *types.ValidationException", err, err)
			}
			if !strings.Contains(ve.ErrorMessage(), tt.wantMsg) {
				t.Errorf("message %q does not contain %q", ve.ErrorMessage(), tt.wantMsg)
			}
			_, err = h.client.Converse(testContext(t), &bedrockruntime.ConverseInput{ModelId: aws.String(tt.model), Messages: tt.msgs, InferenceConfig: tt.cfg})
			if !errors.As(err, &ve) {
				t.Fatalf("Converse err = %v (%T), want *types.ValidationException", err, err)
			}
		})
	}
	// Valid edge values pass.
	in := streamInput("emulator.fast-v1", "edges", 1)
	in.InferenceConfig.Temperature, in.InferenceConfig.TopP = f32(0), f32(1)
	if res, err := converseStream(testContext(t), h.client, in, nil); err != nil || len(res.deltas) != 1 {
		t.Errorf("edge values: err %v, %d deltas", err, len(res.deltas))
	}
	recs := h.records(t)
	for _, r := range recs[:len(recs)-1] {
		if r.Status != 400 || r.Outcome != "error" {
			t.Errorf("record = %+v", r)
		}
	}
}

func TestAccessDeniedWithoutSignature(t *testing.T) {
	h := newHarness(t, Options{})
	// Strip the signature on the way out. (aws.AnonymousCredentials is no
	// way to send an unsigned request: bedrockruntime then falls back to
	// its bearer-token scheme and panics without a token provider.)
	client := newClient(h.srv.URL, func(o *bedrockruntime.Options) {
		next := o.HTTPClient
		o.HTTPClient = httpClientFunc(func(r *http.Request) (*http.Response, error) {
			r.Header.Del("Authorization")
			return next.Do(r)
		})
	})
	_, err := converseStream(testContext(t), client, streamInput("emulator.fast-v1", "hi", 0), nil)
	var ade *types.AccessDeniedException
	if !errors.As(err, &ade) {
		t.Fatalf("err = %v (%T), want *types.AccessDeniedException", err, err)
	}
	if r := h.records(t); len(r) != 1 || r[0].Status != 403 {
		t.Errorf("records = %+v", r)
	}
}

type httpClientFunc func(*http.Request) (*http.Response, error)

func (f httpClientFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// TestRawErrors checks the wire format of errors the SDK never provokes.
func TestRawErrors(t *testing.T) {
	h := newHarness(t, Options{})
	good := `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`
	tests := []struct {
		name, method, path, body string
		auth                     bool
		wantStatus               int
		wantType, wantMsg        string
	}{
		{"bad json", "POST", "/model/emulator.fast-v1/converse-stream", `{"messages":`, true, 400, "ValidationException", "Malformed input request"},
		{"wrong types", "POST", "/model/emulator.fast-v1/converse", `{"messages":"hi"}`, true, 400, "ValidationException", "Malformed input request"},
		{"trailing data", "POST", "/model/emulator.fast-v1/converse", good + `{}`, true, 400, "ValidationException", "trailing data"},
		{"bad role", "POST", "/model/emulator.fast-v1/converse", `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"robot","content":[{"text":"b"}]}]}`, true, 400, "ValidationException", "Value 'robot' at 'messages.2.member.role'"},
		{"no auth", "POST", "/model/emulator.fast-v1/converse-stream", good, false, 403, "AccessDeniedException", "signed"},
		{"unknown route", "POST", "/model/emulator.fast-v1/invoke-sideways", good, true, 404, "UnknownOperationException", "does not exist"},
		{"root", "GET", "/", "", true, 404, "UnknownOperationException", "does not exist"},
		{"wrong method", "GET", "/model/emulator.fast-v1/converse-stream", "", true, 404, "UnknownOperationException", "does not exist"},
		{"extra segment", "POST", "/model/arn:aws:bedrock:us-east-1::foundation-model/emulator.fast-v1/converse", good, true, 404, "UnknownOperationException", "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(testContext(t), tt.method, h.srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth {
				req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Message string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("X-Amzn-ErrorType") != tt.wantType ||
				resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body.Message, tt.wantMsg) {
				t.Errorf("got %d %q %q %q; want %d %q, message containing %q", resp.StatusCode,
					resp.Header.Get("X-Amzn-ErrorType"), resp.Header.Get("Content-Type"), body.Message, tt.wantStatus, tt.wantType, tt.wantMsg)
			}
			if resp.Header.Get("X-Amzn-RequestId") == "" {
				t.Error("no X-Amzn-RequestId")
			}
		})
	}
}

func TestMidstreamError(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	res, err := converseStream(testContext(t), h.client, streamInput("emulator.midstream-error-v1", "fail later", 0), nil)
	if err != nil {
		t.Fatalf("pre-stream error %v; the failure must come mid-stream", err)
	}
	var mse *types.ModelStreamErrorException
	if !errors.As(res.err, &mse) {
		t.Fatalf("stream.Err() = %v (%T), want *types.ModelStreamErrorException", res.err, res.err)
	}
	if mse.ErrorMessage() == "" || aws.ToInt32(mse.OriginalStatusCode) != 500 || aws.ToString(mse.OriginalMessage) == "" {
		t.Errorf("exception fields: %+v", mse)
	}
	want, _ := Answer("emulator.midstream-error-v1", "fail later", 0)
	if len(want) != 5 {
		t.Fatalf("Answer gives %d deltas before the error, want 5", len(want))
	}
	if diff := cmp.Diff(want, res.deltas); diff != "" || res.sawStop {
		t.Errorf("sawStop %v; deltas (-want +got):\n%s", res.sawStop, diff)
	}
	if r := h.records(t); len(r) != 1 || r[0].Outcome != "stream-error" || r[0].Status != 200 || r[0].DeltasSent != 5 {
		t.Errorf("records = %+v (mid-stream errors must not be retried)", r)
	}
}

func TestTruncatedStream(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	res, err := converseStream(testContext(t), h.client, streamInput("emulator.truncated-v1", "cut me off", 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The SDK reports a frame cut short as a clean end: only the missing
	// messageStop tells the truncation apart.
	if res.err != nil || res.sawStop || res.usage != nil {
		t.Errorf("Err() = %v, messageStop %v, metadata %v; want nil, false, nil", res.err, res.sawStop, res.usage != nil)
	}
	want, _ := Answer("emulator.truncated-v1", "cut me off", 0)
	if diff := cmp.Diff(want, res.deltas); diff != "" || len(want) != 5 {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
	if r := h.records(t); len(r) != 1 || r[0].Outcome != "truncated" || r[0].DeltasSent != 5 {
		t.Errorf("records = %+v", r)
	}
}

func TestTruncatedWireCutsMidFrame(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	req, _ := http.NewRequestWithContext(testContext(t), "POST", h.srv.URL+"/model/emulator.truncated-v1/converse-stream",
		strings.NewReader(`{"messages":[{"role":"user","content":[{"text":"x"}]}]}`))
	req.Header.Set("Authorization", "x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the HTTP body must end cleanly: %v", err)
	}
	// Walk the frames by their length prefix: the last one is incomplete.
	frames := 0
	for len(body) >= 4 {
		n := int(body[0])<<24 | int(body[1])<<16 | int(body[2])<<8 | int(body[3])
		if n > len(body) {
			break
		}
		body = body[n:]
		frames++
	}
	if frames != 6 || len(body) == 0 {
		t.Errorf("%d whole frames then %d stray bytes; want 6 (messageStart + 5 deltas) and a partial frame", frames, len(body))
	}
}

func TestClientCancelStopsStream(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 100})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	full, _ := Answer("emulator.steady-v1", "stop early", 0)
	res, err := converseStream(ctx, h.client, streamInput("emulator.steady-v1", "stop early", 0), func(n int) bool {
		if n == 3 {
			cancel()
			return false
		}
		return true
	})
	if err != nil || len(res.deltas) != 3 {
		t.Fatalf("err %v, %d deltas", err, len(res.deltas))
	}
	start := time.Now()
	recs := h.records(t)
	if len(recs) != 1 || recs[0].Outcome != "cancelled" || recs[0].DeltasSent >= len(full) || recs[0].DeltasSent < 3 {
		t.Fatalf("records = %+v; want one cancelled with 3..%d deltas", recs, len(full)-1)
	}
	// The handler noticed at once, not at the natural end of the answer:
	// it must have ended well before the rest would have been sent.
	rest := time.Duration(len(full)-3) * time.Second / 100
	if rest < 300*time.Millisecond {
		t.Fatalf("the answer has %d deltas: too short to tell a prompt stop from a natural end", len(full))
	}
	if end := recs[0].End; end.Sub(start) > rest/2 {
		t.Errorf("handler ended %v after the cancel; the rest of the answer takes %v", end.Sub(start), rest)
	}
}

func TestClientCancelDuringSlowStart(t *testing.T) {
	h := newHarness(t, Options{SlowStart: time.Minute})
	ctx, cancel := context.WithCancel(testContext(t))
	out, err := h.client.ConverseStream(ctx, streamInput("emulator.slow-start-v1", "never mind", 0))
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	<-stream.Events() // messageStart
	cancel()
	stream.Close()
	recs := h.records(t)
	if len(recs) != 1 || recs[0].Outcome != "cancelled" || recs[0].DeltasSent != 0 {
		t.Errorf("records = %+v", recs)
	}
}

func TestTimestampModel(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 500})
	res, err := converseStream(testContext(t), h.client, streamInput("emulator.timestamp-v1", "when", 0), nil)
	if err != nil || res.err != nil || !res.sawStop {
		t.Fatal(err, res.err)
	}
	steady, _ := Answer("emulator.steady-v1", "when", 0)
	if len(res.deltas) != len(steady) {
		t.Errorf("%d deltas, want %d (steady's length)", len(res.deltas), len(steady))
	}
	var prev time.Time
	for i, d := range res.deltas {
		if !strings.HasPrefix(d, "t") || !strings.HasSuffix(d, " ") {
			t.Fatalf("delta %d = %q, want \"t<ns> \"", i, d)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(d[1:]), 10, 64)
		if err != nil {
			t.Fatalf("delta %d = %q: %v", i, d, err)
		}
		ts := time.Unix(0, ns)
		if ts.Before(res.sent) || ts.After(res.deltaAt[i]) || ts.Before(prev) {
			t.Errorf("delta %d stamped %v: not between the request (%v) and its arrival (%v), or out of order", i, ts, res.sent, res.deltaAt[i])
		}
		prev = ts
	}
}

// TestTimestampModelMaxTokens: with maxTokens set, timestamp-v1 sends
// exactly that many deltas, more or fewer than its natural length, so that
// a benchmark can ask for a stream of any length.
func TestTimestampModelMaxTokens(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 5000})
	natural, _ := Answer("emulator.steady-v1", "when", 0)
	for _, n := range []int{1, 3, len(natural) + 250} {
		res, err := converseStream(testContext(t), h.client, streamInput("emulator.timestamp-v1", "when", int32(n)), nil)
		if err != nil || res.err != nil || !res.sawStop {
			t.Fatalf("maxTokens %d: %v %v (saw stop %v)", n, err, res.err, res.sawStop)
		}
		if len(res.deltas) != n || res.stopReason != types.StopReasonMaxTokens {
			t.Errorf("maxTokens %d: %d deltas, stop %q; want %d, max_tokens", n, len(res.deltas), res.stopReason, n)
		}
		if res.usage == nil || aws.ToInt32(res.usage.OutputTokens) != int32(n) {
			t.Errorf("maxTokens %d: usage %+v", n, res.usage)
		}
		for i, d := range res.deltas {
			if _, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(d, "t")), 10, 64); err != nil || d[0] != 't' {
				t.Fatalf("maxTokens %d: delta %d = %q, want \"t<ns> \"", n, i, d)
			}
		}
	}
	// A huge maxTokens is bounded, not allocated.
	if d, stop := answerFor(kindTimestamp, "when", 1<<30, nil); len(d) != maxTimestampDeltas || stop != stopEndTurn {
		t.Errorf("maxTokens 2^30: %d deltas, stop %q; want %d, end_turn", len(d), stop, maxTimestampDeltas)
	}
}

func TestModelIDRouting(t *testing.T) {
	h := newHarness(t, Options{})
	tests := []struct{ id, wantPath string }{
		{"emulator.fast-v1", "/model/emulator.fast-v1/converse-stream"},
		{"emulator.fast-v1:0", "/model/emulator.fast-v1%3A0/converse-stream"},
		{"us.emulator.fast-v1:0", "/model/us.emulator.fast-v1%3A0/converse-stream"},
		{"arn:aws:bedrock:us-east-1::foundation-model/emulator.fast-v1",
			"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Femulator.fast-v1/converse-stream"},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.emulator.fast-v1:0",
			"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.emulator.fast-v1%3A0/converse-stream"},
	}
	want, _ := Answer("emulator.fast-v1", "route me", 0)
	for i, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			res, err := converseStream(testContext(t), h.client, streamInput(tt.id, "route me", 0), nil)
			if err != nil || res.err != nil {
				t.Fatal(err, res.err)
			}
			if got := <-h.paths; got != tt.wantPath {
				t.Errorf("wire path %q, want %q", got, tt.wantPath)
			}
			if diff := cmp.Diff(want, res.deltas); diff != "" {
				t.Errorf("deltas (-want +got):\n%s", diff)
			}
			if r := h.records(t)[i]; r.ModelID != tt.id || r.Outcome != "completed" {
				t.Errorf("record = %+v", r)
			}
		})
	}
	_, err := converseStream(testContext(t), h.client, streamInput("arn:aws:bedrock:us-east-1::foundation-model/emulator.nope-v1", "x", 0), nil)
	var ve *types.ValidationException
	if !errors.As(err, &ve) || ve.ErrorMessage() != "The provided model identifier is invalid." {
		t.Errorf("unknown ARN: err = %v", err)
	}
}

func TestConverse(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 2000})
	tests := []struct {
		model     string
		maxTokens int32
		wantStop  types.StopReason
	}{
		{"emulator.fast-v1", 0, types.StopReasonEndTurn},
		{"emulator.steady-v1", 0, types.StopReasonEndTurn},
		{"emulator.steady-v1", 12, types.StopReasonMaxTokens},
	}
	const prompt = "answer all at once"
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/max%d", tt.model, tt.maxTokens), func(t *testing.T) {
			in := &bedrockruntime.ConverseInput{ModelId: aws.String(tt.model), Messages: userMessages(prompt),
				System: []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "be brief"}}}
			if tt.maxTokens > 0 {
				in.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(tt.maxTokens)}
			}
			out, err := h.client.Converse(testContext(t), in)
			if err != nil {
				t.Fatal(err)
			}
			deltas, _ := Answer(tt.model, prompt, int(tt.maxTokens))
			msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
			if !ok || msg.Value.Role != types.ConversationRoleAssistant || len(msg.Value.Content) != 1 {
				t.Fatalf("output = %#v", out.Output)
			}
			text, ok := msg.Value.Content[0].(*types.ContentBlockMemberText)
			if !ok || text.Value != strings.Join(deltas, "") {
				t.Errorf("text = %#v, want %q", msg.Value.Content[0], strings.Join(deltas, ""))
			}
			if out.StopReason != tt.wantStop {
				t.Errorf("stop = %q, want %q", out.StopReason, tt.wantStop)
			}
			in4, out4 := int32(len(strings.Fields(prompt))+2), int32(len(deltas))
			if u := out.Usage; u == nil || aws.ToInt32(u.InputTokens) != in4 || aws.ToInt32(u.OutputTokens) != out4 || aws.ToInt32(u.TotalTokens) != in4+out4 {
				t.Errorf("usage = %+v, want %d in, %d out", u, in4, out4)
			}
			if out.Metrics == nil || out.Metrics.LatencyMs == nil {
				t.Error("no latency metric")
			}
		})
	}
	t.Run("midstream-error", func(t *testing.T) {
		_, err := h.client.Converse(testContext(t), &bedrockruntime.ConverseInput{ModelId: aws.String("emulator.midstream-error-v1"), Messages: userMessages("x")})
		var me *types.ModelErrorException
		if !errors.As(err, &me) || aws.ToInt32(me.OriginalStatusCode) != 500 {
			t.Errorf("err = %v (%T), want *types.ModelErrorException", err, err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		before := len(h.records(t))
		out, err := h.client.Converse(testContext(t), &bedrockruntime.ConverseInput{ModelId: aws.String("emulator.truncated-v1"), Messages: userMessages("x")})
		if err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
			t.Errorf("Converse on a cut body = %v, %v; want an unexpected EOF error", out, err)
		}
		if r := h.records(t)[before:]; len(r) != 1 || r[0].Outcome != "truncated" {
			t.Errorf("records = %+v", r)
		}
	})
	for _, r := range h.records(t) {
		if r.Operation != "Converse" {
			t.Errorf("record = %+v", r)
		}
	}
}

func TestConverseTakesGenerationTime(t *testing.T) {
	const slow = 300 * time.Millisecond
	h := newHarness(t, Options{TokensPerSecond: 1000, SlowStart: slow})
	start := time.Now()
	_, err := h.client.Converse(testContext(t), &bedrockruntime.ConverseInput{ModelId: aws.String("emulator.slow-start-v1"), Messages: userMessages("x")})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < slow {
		t.Errorf("Converse on slow-start-v1 answered after %v, want at least %v", d, slow)
	}
}

func TestInputTokensAndStopSequences(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 2000})
	const prompt = "the final question here"
	full, _ := Answer("emulator.fast-v1", prompt, 0)
	stopWord := strings.TrimRight(full[len(full)/2], ". ")
	at := len(full) / 2
	for i := range full[:at] {
		if strings.TrimRight(full[i], ". ") == stopWord {
			at = i
			break
		}
	}
	in := &bedrockruntime.ConverseStreamInput{
		ModelId:  aws.String("emulator.fast-v1"),
		Messages: userMessages("one two three", "four  five\nsix", prompt),
		System: []types.SystemContentBlock{
			&types.SystemContentBlockMemberText{Value: "sys one"},
			&types.SystemContentBlockMemberText{Value: "sys two three"},
		},
		InferenceConfig: &types.InferenceConfiguration{StopSequences: []string{stopWord}},
	}
	res, err := converseStream(testContext(t), h.client, in, nil)
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	// The prompt is the last user message only.
	if diff := cmp.Diff(full[:at], res.deltas); diff != "" || res.stopReason != types.StopReasonStopSequence {
		t.Errorf("stop %q; deltas (-want +got):\n%s", res.stopReason, diff)
	}
	if got := aws.ToInt32(res.usage.InputTokens); got != 3+3+4+2+3 {
		t.Errorf("inputTokens = %d, want 15", got)
	}
	if got := aws.ToInt32(res.usage.OutputTokens); got != int32(at) {
		t.Errorf("outputTokens = %d, want %d", got, at)
	}
}

func TestConcurrentStreams(t *testing.T) {
	h := newHarness(t, Options{TokensPerSecond: 1000})
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		// One SDK client per stream: concurrent event streams on a single
		// client race on the protocol's shared eventstream codec (benign
		// today, but -race reports it: smithy-go issue #714).
		client := newClient(h.srv.URL)
		wg.Go(func() {
			prompt := fmt.Sprintf("prompt %d", i)
			res, err := converseStream(testContext(t), client, streamInput("emulator.steady-v1", prompt, 0), nil)
			want, _ := Answer("emulator.steady-v1", prompt, 0)
			switch {
			case err != nil:
				errs <- err
			case res.err != nil:
				errs <- res.err
			case res.text() != strings.Join(want, ""):
				errs <- fmt.Errorf("%s: wrong text", prompt)
			}
			_ = h.emu.Records() // concurrent snapshots are safe
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	recs := h.records(t)
	if len(recs) != n {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		if r.Outcome != "completed" {
			t.Errorf("record = %+v", r)
		}
	}
}

func TestRecordsWhileInFlight(t *testing.T) {
	h := newHarness(t, Options{SlowStart: time.Minute})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	out, err := h.client.ConverseStream(ctx, streamInput("emulator.slow-start-v1", "wait", 0))
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	<-stream.Events()
	recs := h.emu.Records()
	if len(recs) != 1 || recs[0].Outcome != "" || !recs[0].End.IsZero() {
		t.Errorf("in-flight record = %+v", recs[0])
	}
	short, cancelShort := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancelShort()
	if err := h.emu.WaitIdle(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitIdle with a request in flight = %v, want deadline exceeded", err)
	}
}

func TestLogLine(t *testing.T) {
	var buf streamtest.Buffer
	h := newHarness(t, Options{Logger: newJSONLogger(&buf)})
	if _, err := converseStream(testContext(t), h.client, streamInput("emulator.fast-v1", "secret prompt words", 0), nil); err != nil {
		t.Fatal(err)
	}
	h.records(t)
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &line); err != nil {
		t.Fatalf("log %q: %v", buf.Bytes(), err)
	}
	for _, k := range []string{"request_id", "operation", "model", "status", "outcome", "deltas", "duration_ms", "input_tokens", "output_tokens", "stop_reason"} {
		if _, ok := line[k]; !ok {
			t.Errorf("log line lacks %q: %v", k, line)
		}
	}
	if strings.Contains(buf.String(), "secret") {
		t.Error("the prompt was logged")
	}
}

func newJSONLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
