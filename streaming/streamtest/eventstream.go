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
