package streaming

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestEventStreamReadsDoNotWaitForMore checks that the buffered response
// body hands each event on as soon as its frame has arrived: the server
// sends the next frame only after the client has seen the previous event,
// so a reader that waited to fill its buffer would stall (and time out).
func TestEventStreamReadsDoNotWaitForMore(t *testing.T) {
	const deltas = 5
	seen := make(chan int, deltas)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.WriteHeader(http.StatusOK)
		send := func(eventType string, payload any) {
			_, _ = w.Write(streamtest.EncodeEvent(t, eventType, payload))
			w.(http.Flusher).Flush()
		}
		send("messageStart", map[string]any{"role": "assistant"})
		for i := range deltas {
			send("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"text": "d" + strconv.Itoa(i)}})
			select {
			case <-seen:
			case <-time.After(5 * time.Second):
				return // the client never saw it: the test reports that
			case <-r.Context().Done():
				return
			}
		}
		send("messageStop", map[string]any{"stopReason": "end_turn"})
	}))
	defer upstream.Close()

	// Both readers: the SDK's own, and the gateway's frameReader.
	for _, reader := range []string{"sdk", "gateway"} {
		t.Run(reader, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			call := newConverseStream()
			option := call.options
			if reader == "sdk" {
				option = sdkProtocol
			}
			out, err := newBedrockClient(upstream.URL).ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
				ModelId:  aws.String("emulator.steady-v1"),
				Messages: []types.Message{UserText("hi")},
			}, option)
			if err != nil {
				t.Fatal(err)
			}
			stream := call.events(out)
			if _, ours := stream.(*frameReader); ours != (reader == "gateway") {
				t.Fatalf("events from %T, want the %s reader", stream, reader)
			}
			defer stream.Close()
			var texts []string
			stopped := false
			for ev := range stream.Events() {
				switch v := ev.(type) {
				case *types.ConverseStreamOutputMemberContentBlockDelta:
					texts = append(texts, v.Value.Delta.(*types.ContentBlockDeltaMemberText).Value)
					seen <- len(texts)
				case *types.ConverseStreamOutputMemberMessageStop:
					stopped = true
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(texts, ","); got != "d0,d1,d2,d3,d4" || !stopped {
				t.Errorf("deltas %q, messageStop %v; want d0..d4 one by one, then messageStop", got, stopped)
			}
		})
	}
}

// stubClient answers every request with its response.
type stubClient struct{ resp *http.Response }

func (s stubClient) Do(*http.Request) (*http.Response, error) { return s.resp, nil }

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestOnlyEventStreamBodiesAreBuffered(t *testing.T) {
	tests := []struct {
		contentType  string
		wantBuffered bool
	}{
		{"application/vnd.amazon.eventstream", true},
		{"application/vnd.amazon.eventstream; charset=utf-8", true},
		{"application/json", false},
		{"", false},
		{"not a media type;;", false},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			orig := &closeRecorder{Reader: strings.NewReader("payload")}
			resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {tt.contentType}}, Body: orig}
			got, err := gatewayHTTPClient{stubClient{resp}}.Do(httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}")))
			if err != nil {
				t.Fatal(err)
			}
			_, buffered := got.Body.(bufferedBody)
			if buffered != tt.wantBuffered {
				t.Fatalf("body %T, buffered %v; want %v", got.Body, buffered, tt.wantBuffered)
			}
			if b, _ := io.ReadAll(got.Body); string(b) != "payload" {
				t.Errorf("read %q", b)
			}
			if err := got.Body.Close(); err != nil || !orig.closed {
				t.Errorf("Close: %v, original closed %v; want it closed", err, orig.closed)
			}
		})
	}
}

func TestRequestBodyHidesWriterTo(t *testing.T) {
	var seen io.ReadCloser
	client := gatewayHTTPClient{doFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.Body
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody}, nil
	})}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Body = io.NopCloser(bytes.NewReader([]byte("{}"))) // NopCloser keeps WriterTo
	if _, ok := req.Body.(io.WriterTo); !ok {
		t.Fatal("test setup: the body should have WriteTo")
	}
	if _, err := client.Do(req); err != nil {
		t.Fatal(err)
	}
	if _, ok := seen.(io.WriterTo); ok {
		t.Error("the transport saw a body with WriteTo")
	}
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
