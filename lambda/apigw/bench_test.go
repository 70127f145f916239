package apigw_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/lambda/apigw"
	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gateway"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// relayDeltas is the length of one benchmarked answer: long enough that
// per-stream work (request parsing, signing, the log line) is a small
// share of the per-delta numbers.
const relayDeltas = 500

// BenchmarkLambdaRelay pins the cost of one relayed delta on the Lambda
// path, with its allocations: the real SDK client (streaming.ConfigureClient)
// reads a recorded ConverseStream answer from a loopback server that sends
// it one frame per flush, as Bedrock does; the gateway relays it as SSE
// through apigw.Wrap's pipe; the benchmark reads the body as aws-lambda-go's
// runtime client does (io.Copy into the Runtime API request). The upstream
// writes pre-encoded bytes, so the allocations per delta are the client's
// and the gateway's, not an emulator's.
//
//   - sdk: the SDK alone reading the same answer, with its own event
//     decoder (what any client pays);
//   - lambda-sse: the whole Lambda path, whose ConverseStream calls decode
//     text-delta frames themselves (streaming.deltaFrameProtocol): below
//     sdk, because the SDK's decoding costs more than the whole relay.
//
// Each on two answers: plain words without escapes (timestamp-v1, whose
// texts are send stamps) and an answer with code (code-v1, suffix -code),
// most of whose deltas carry JSON escapes (newlines, quotes, backslashes,
// tabs), as real answers do.
//
// go test -run '^$' -bench LambdaRelay -benchmem ./lambda/apigw/
func BenchmarkLambdaRelay(b *testing.B) {
	for _, answer := range []struct{ suffix, model string }{
		{"", relayModel},
		{"-code", codeModel},
	} {
		benchmarkLambdaRelay(b, answer.suffix, answer.model)
	}
}

func benchmarkLambdaRelay(b *testing.B, suffix, model string) {
	frames := recordAnswer(b, model, relayDeltas)
	upstream := httptest.NewServer(replay(frames))
	defer upstream.Close()
	client := bedrockruntime.New(bedrockruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(upstream.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDBENCH", "SECRETBENCH", ""),
	}, streaming.ConfigureClient)

	b.Run("sdk"+suffix, func(b *testing.B) {
		input := &bedrockruntime.ConverseStreamInput{
			ModelId:         aws.String(model),
			Messages:        []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "benchmark"}}}},
			InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(relayDeltas)},
		}
		streamtest.PerDelta(b, relayDeltas, func() error {
			out, err := client.ConverseStream(context.Background(), input)
			if err != nil {
				return err
			}
			stream := out.GetStream()
			defer stream.Close()
			n := 0
			for ev := range stream.Events() {
				if _, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
					n++
				}
			}
			if err := stream.Err(); err != nil {
				return err
			}
			if n != relayDeltas {
				return fmt.Errorf("%d deltas, want %d", n, relayDeltas)
			}
			return nil
		})
	})

	b.Run("lambda-sse"+suffix, func(b *testing.B) {
		cfg, err := streaming.LoadConfig(func(k string) string {
			return map[string]string{"MODEL_ID": model}[k]
		})
		if err != nil {
			b.Fatal(err)
		}
		handler := apigw.Wrap(gateway.New(cfg, streaming.Upstreams{Bedrock: client}, slog.New(slog.DiscardHandler)), nil)
		event := &events.APIGatewayProxyRequest{
			HTTPMethod: http.MethodPost,
			Path:       "/stream",
			Headers:    map[string]string{"Content-Type": "application/json", "Accept": "text/event-stream"},
			Body:       fmt.Sprintf(`{"prompt":"benchmark","maxTokens":%d}`, relayDeltas),
		}
		copyBuf := make([]byte, 32<<10)
		streamtest.PerDelta(b, relayDeltas, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			resp, err := handler(ctx, event)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			body := resp.Body.(io.ReadCloser)
			defer body.Close()
			// Like the runtime's errorCapturingReader: a plain Reader, so
			// io.Copy reads once per handler Write.
			var sink deltaCounter
			if _, err := io.CopyBuffer(&sink, struct{ io.Reader }{body}, copyBuf); err != nil {
				return err
			}
			if sink.deltas != relayDeltas || !sink.done {
				return fmt.Errorf("%d deltas, done %v; want %d and done", sink.deltas, sink.done, relayDeltas)
			}
			return nil
		})
	})
}

// relayModel sends exactly maxTokens deltas (its texts are send stamps);
// codeModel's answers are longer than relayDeltas, so it sends exactly
// that many too.
const (
	relayModel = "emulator.timestamp-v1"
	codeModel  = "emulator.code-v1"
)

// recordAnswer has the emulator answer once (no network) and returns the
// event-stream frames of that answer, one slice per frame.
func recordAnswer(b *testing.B, model string, deltas int) [][]byte {
	b.Helper()
	body := fmt.Sprintf(`{"messages":[{"role":"user","content":[{"text":"benchmark"}]}],"inferenceConfig":{"maxTokens":%d}}`, deltas)
	req := httptest.NewRequest(http.MethodPost, "/model/"+model+"/converse-stream", strings.NewReader(body))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 benchmark")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	emulator.New(emulator.Options{TokensPerSecond: 1e6}).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("emulator: %d %s", rec.Code, rec.Body)
	}
	raw := rec.Body.Bytes()
	var frames [][]byte
	for len(raw) > 0 {
		if len(raw) < 4 {
			b.Fatal("truncated frame")
		}
		n := int(binary.BigEndian.Uint32(raw))
		if n < 16 || n > len(raw) {
			b.Fatalf("bad frame length %d", n)
		}
		frames = append(frames, raw[:n])
		raw = raw[n:]
	}
	if len(frames) < deltas {
		b.Fatalf("the recorded answer has %d frames, want at least %d (the answer is shorter than maxTokens)", len(frames), deltas)
	}
	return frames
}

// replay answers every request with the recorded frames, one write and
// flush each.
func replay(frames [][]byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.WriteHeader(http.StatusOK)
		f := w.(http.Flusher)
		for _, fr := range frames {
			if _, err := w.Write(fr); err != nil {
				return
			}
			f.Flush()
		}
	})
}

var (
	sseDelta = []byte("event: delta\n")
	sseDone  = []byte("event: done\n")
	sseError = []byte("event: error\n")
)

// deltaCounter counts SSE delta events and notes the done event; it holds
// nothing, so that it allocates nothing.
type deltaCounter struct {
	deltas int
	done   bool
}

func (c *deltaCounter) Write(p []byte) (int, error) {
	c.deltas += bytes.Count(p, sseDelta)
	if bytes.Contains(p, sseDone) {
		c.done = true
	}
	if bytes.Contains(p, sseError) {
		return 0, errors.New("error event: " + string(p))
	}
	return len(p), nil
}
