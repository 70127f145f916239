package streaming

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// discardWriter is a ResponseWriter that flushes to nowhere, so that the
// benchmarks measure encoding and the write path, not a network.
type discardWriter struct{ header http.Header }

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Flush()                      {}

// BenchmarkEncodeDelta is the per-delta cost of each format, OpenAI's
// chat.completion.chunk included: encode one typical delta (a word and a
// space, with a character to escape now and then), write it and flush it.
// allocs/op is allocations per delta, and must stay 0.
func BenchmarkEncodeDelta(b *testing.B) {
	encoders := map[string]func(fw *flushWriter) encoder{
		"openai": func(fw *flushWriter) encoder {
			return newChatChunkEncoder(fw, chatMeta{id: "chatcmpl-ABCDEFGHIJKLMNOPQRSTUVWXYZ", model: "us.anthropic.claude-sonnet-4-20250514-v1:0", created: 1795910192})
		},
	}
	for _, f := range []Format{FormatText, FormatSSE, FormatNDJSON} {
		encoders[string(f)] = func(fw *flushWriter) encoder { return newEncoder(f, fw) }
	}
	for _, name := range []string{"text", "sse", "ndjson", "openai"} {
		b.Run(name, func(b *testing.B) {
			enc := encoders[name](newFlushWriter(&discardWriter{header: http.Header{}}))
			texts := []string{"streaming ", "answers ", "\"quoted\" ", "über ", "line\n"}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := enc.delta(texts[i%len(texts)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadRequest is the cost of parsing and validating a typical
// request body, once per request.
func BenchmarkReadRequest(b *testing.B) {
	cfg := testConfig()
	body := []byte(`{"messages":[{"role":"user","content":"What is response streaming?"},{"role":"assistant","content":"It sends the answer as it is made."},{"role":"user","content":"Show me with curl."}],"system":"Be brief.","maxTokens":512,"temperature":0.5}`)
	b.ReportAllocs()
	for b.Loop() {
		req, apiErr := decodeRequest(body)
		if apiErr != nil {
			b.Fatal(apiErr)
		}
		if _, apiErr := cfg.streamCall(req); apiErr != nil {
			b.Fatal(apiErr)
		}
	}
}

// BenchmarkStream compares one whole emulator.fast-v1 answer consumed
// directly with the SDK (the baseline: what any Bedrock client pays) with
// the same answer relayed by the gateway as SSE over loopback HTTP. The
// difference is what the gateway adds. Both run the emulator in the same
// process, so per-delta numbers include it in both columns alike.
func BenchmarkStream(b *testing.B) {
	const prompt = "benchmark prompt"
	deltas, _ := emulator.Answer("emulator.fast-v1", prompt, 0)
	emu := emulator.New(emulator.Options{})
	upstream := httptest.NewServer(emu)
	defer upstream.Close()
	client := newBedrockClient(upstream.URL)

	b.Run("direct-sdk", func(b *testing.B) {
		input := &bedrockruntime.ConverseStreamInput{
			ModelId:  aws.String("emulator.fast-v1"),
			Messages: []types.Message{userText(prompt)},
		}
		streamtest.PerDelta(b, len(deltas), func() error {
			out, err := client.ConverseStream(context.Background(), input, sdkProtocol)
			if err != nil {
				return err
			}
			stream := out.GetStream()
			defer stream.Close()
			for range stream.Events() {
			}
			return stream.Err()
		})
	})
	b.Run("gateway-sse", func(b *testing.B) {
		gw := httptest.NewServer(New(testConfig(), Upstreams{Bedrock: client}, nil))
		defer gw.Close()
		body := `{"prompt":"` + prompt + `","modelId":"emulator.fast-v1"}`
		streamtest.PerDelta(b, len(deltas), func() error {
			resp, err := http.Post(gw.URL+"/stream?format=sse", "application/json", strings.NewReader(body))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.Copy(io.Discard, resp.Body)
			return err
		})
	})
}
