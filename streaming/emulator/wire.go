package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// writeError writes a pre-stream error as Bedrock does: a JSON body with
// the message and the error's name in X-Amzn-ErrorType, which is what the
// SDK uses to pick the typed error.
func writeError(w http.ResponseWriter, status int, errorType, message string) {
	b, _ := json.Marshal(map[string]string{"message": message})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", errorType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

type usage struct {
	InputTokens           int `json:"inputTokens"`
	OutputTokens          int `json:"outputTokens"`
	TotalTokens           int `json:"totalTokens"`
	CacheReadInputTokens  int `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens int `json:"cacheWriteInputTokens,omitempty"`
}

type metrics struct {
	LatencyMs int64 `json:"latencyMs"`
}

// newUsage is Bedrock's usage of an answer: the prompt's uncached tokens,
// the output, and the cached ones apart; the total counts them all.
func newUsage(conv *conversation, out int) usage {
	return usage{conv.inputTokens, out, conv.inputTokens + out + conv.cacheRead + conv.cacheWrite, conv.cacheRead, conv.cacheWrite}
}

// frameWriter writes event stream frames and flushes each one at once, so
// the client sees every delta as it is generated.
type frameWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	enc *eventstream.Encoder
	buf bytes.Buffer
}

func (f *frameWriter) encode(messageType, typeHeader, typeValue string, payload any) ([]byte, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	var msg eventstream.Message
	msg.Headers.Set(":message-type", eventstream.StringValue(messageType))
	msg.Headers.Set(typeHeader, eventstream.StringValue(typeValue))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Payload = b
	f.buf.Reset()
	if err := f.enc.Encode(&f.buf, msg); err != nil {
		return nil, err
	}
	return f.buf.Bytes(), nil
}

func (f *frameWriter) write(b []byte) error {
	if _, err := f.w.Write(b); err != nil {
		return err
	}
	if err := f.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

func (f *frameWriter) event(eventType string, payload any) error {
	b, err := f.encode("event", ":event-type", eventType, payload)
	if err != nil {
		return err
	}
	return f.write(b)
}

func (f *frameWriter) exception(exceptionType string, payload any) error {
	b, err := f.encode("exception", ":exception-type", exceptionType, payload)
	if err != nil {
		return err
	}
	return f.write(b)
}

// chunkFrame encodes payload as the JSON of one InvokeModelWithResponseStream
// chunk event: {"bytes": base64(JSON)}.
func (f *frameWriter) chunkFrame(payload any) ([]byte, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	return f.encode("event", ":event-type", "chunk", struct {
		Bytes []byte `json:"bytes"`
	}{b})
}

// chunk writes one chunk event and flushes it.
func (f *frameWriter) chunk(payload any) error {
	b, err := f.chunkFrame(payload)
	if err != nil {
		return err
	}
	return f.write(b)
}
