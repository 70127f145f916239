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
// chat.completion.chunk, as streaming/format's BenchmarkEncodeDelta
// measures its formats.
func BenchmarkEncodeDelta(b *testing.B) {
	b.Run("openai", func(b *testing.B) { gatewaytest.BenchmarkText(b, newBenchChunkEncoder()) })
}

// TestChunkEncoderDoesNotAllocate: a delta costs no allocation.
func TestChunkEncoderDoesNotAllocate(t *testing.T) {
	if n := gatewaytest.TextAllocs(t, newBenchChunkEncoder()); n != 0 {
		t.Errorf("%v allocations a delta, want 0", n)
	}
}
