package streamtest

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aws/smithy-go/eventstream"
)

// EncodeEvent is one Bedrock event-stream frame (an event of eventType
// whose JSON payload is payload), as a stand-in Bedrock server writes it.
func EncodeEvent(t testing.TB, eventType string, payload any) []byte {
	t.Helper()
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	var msg eventstream.Message
	msg.Headers.Set(":message-type", eventstream.StringValue("event"))
	msg.Headers.Set(":event-type", eventstream.StringValue(eventType))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Payload = body
	var buf bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&buf, msg); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ChunkFrame is one InvokeModelWithResponseStream chunk event whose bytes
// are inner (a model's own JSON event, such as Anthropic's
// content_block_delta).
func ChunkFrame(t testing.TB, inner string) []byte {
	t.Helper()
	return EncodeEvent(t, "chunk", map[string][]byte{"bytes": []byte(inner)})
}

// AnthropicChunks are the frames of a short Anthropic answer as Bedrock
// streams it: message_start, a text block of two deltas (one with JSON
// escapes, one not ASCII), message_delta, and message_stop with Bedrock's
// invocation metrics.
func AnthropicChunks(t testing.TB) [][]byte {
	t.Helper()
	return [][]byte{
		ChunkFrame(t, `{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":3,"output_tokens":0}}}`),
		ChunkFrame(t, `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		ChunkFrame(t, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello \"quoted\"\n"}}`),
		ChunkFrame(t, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"über"}}`),
		ChunkFrame(t, `{"type":"content_block_stop","index":0}`),
		ChunkFrame(t, `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`),
		ChunkFrame(t, `{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":3,"outputTokenCount":2}}`),
	}
}
