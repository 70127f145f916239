package openai

import (
	"testing"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
)

func newBenchChunkEncoder() *chatChunkEncoder {
	return newChatChunkEncoder(streaming.NewFlushWriter(gatewaytest.NewDiscardWriter()),
		chatMeta{id: "chatcmpl-ABCDEFGHIJKLMNOPQRSTUVWXYZ", model: "us.anthropic.claude-sonnet-4-20250514-v1:0", created: 1795910192})
}

// BenchmarkEncodeDelta/openai is the per-delta cost of a
// chat.completion.chunk, and /responses of a response.output_text.delta
// event (with the text kept for the .done events), as streaming/format's BenchmarkEncodeDelta
// measures its formats.
func BenchmarkEncodeDelta(b *testing.B) {
	b.Run("openai", func(b *testing.B) { gatewaytest.BenchmarkText(b, newBenchChunkEncoder()) })
	b.Run("responses", func(b *testing.B) { gatewaytest.BenchmarkText(b, newBenchResponsesEncoder(b)) })
}

// TestChunkEncoderDoesNotAllocate: a delta costs no allocation.
func TestChunkEncoderDoesNotAllocate(t *testing.T) {
	if n := gatewaytest.TextAllocs(t, newBenchChunkEncoder()); n != 0 {
		t.Errorf("%v allocations a delta, want 0", n)
	}
}

func newBenchResponsesEncoder(t testing.TB) *responsesEncoder {
	enc := newResponsesEncoder(streaming.NewFlushWriter(gatewaytest.NewDiscardWriter()), responseMeta{
		id: "resp_ABCDEFGHIJKLMNOPQRSTUVWXYZ", requestID: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", created: 1795910192, echo: &responseEcho{}})
	if err := enc.Start(streaming.StartEvent{ModelID: "us.anthropic.claude-sonnet-4-20250514-v1:0"}); err != nil {
		t.Fatal(err)
	}
	return enc
}

// TestResponsesEncoderDoesNotAllocate: a text delta costs no allocation,
// though the encoder keeps the whole text for the .done events, and so
// does a reasoning delta.
func TestResponsesEncoderDoesNotAllocate(t *testing.T) {
	enc := newBenchResponsesEncoder(t)
	if n := gatewaytest.TextAllocs(t, enc); n != 0 {
		t.Errorf("%v allocations a text delta, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { enc.Reasoning("thinking ") }); n != 0 {
		t.Errorf("%v allocations a reasoning delta, want 0", n)
	}
}
