package streaming_test

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

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gateway"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

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
			Messages: []types.Message{streaming.UserText(prompt)},
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
		gw := httptest.NewServer(gateway.New(testConfig(), streaming.Upstreams{Bedrock: client}, nil))
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
