package apigw

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
)

func TestNewRequest(t *testing.T) {
	binary := []byte{0x00, 0xff, 0x10, 'o', 'k'}
	tests := []struct {
		name      string
		event     events.APIGatewayProxyRequest
		wantURL   string
		wantBody  []byte
		wantHeads http.Header
	}{
		{
			name: "base64 body, multi-value headers and query",
			event: events.APIGatewayProxyRequest{
				HTTPMethod:      "POST",
				Path:            "/stream",
				Body:            base64.StdEncoding.EncodeToString(binary),
				IsBase64Encoded: true,
				Headers:         map[string]string{"Accept": "text/event-stream", "X-Forwarded-For": "b"},
				MultiValueHeaders: map[string][]string{
					"Accept":          {"text/event-stream"},
					"X-Forwarded-For": {"a", "b"},
				},
				QueryStringParameters:           map[string]string{"format": "sse", "tag": "y"},
				MultiValueQueryStringParameters: map[string][]string{"format": {"sse"}, "tag": {"x", "y"}},
				RequestContext:                  events.APIGatewayProxyRequestContext{Identity: events.APIGatewayRequestIdentity{SourceIP: "203.0.113.9"}},
			},
			wantURL:   "/stream?format=sse&tag=x&tag=y",
			wantBody:  binary,
			wantHeads: http.Header{"Accept": {"text/event-stream"}, "X-Forwarded-For": {"a", "b"}},
		},
		{
			name: "plain body, single-value maps only",
			event: events.APIGatewayProxyRequest{
				HTTPMethod:            "POST",
				Path:                  "/stream",
				Body:                  `{"prompt":"héllo"}`,
				Headers:               map[string]string{"Content-Type": "application/json"},
				QueryStringParameters: map[string]string{"q": "a b&c"},
			},
			wantURL:   "/stream?q=a+b%26c",
			wantBody:  []byte(`{"prompt":"héllo"}`),
			wantHeads: http.Header{"Content-Type": {"application/json"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := NewRequest(context.Background(), &tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if got := req.URL.RequestURI(); got != tt.wantURL {
				t.Errorf("URL %q, want %q", got, tt.wantURL)
			}
			body, _ := io.ReadAll(req.Body)
			if !cmp.Equal(body, tt.wantBody) || req.ContentLength != int64(len(tt.wantBody)) {
				t.Errorf("body %q (length %d), want %q", body, req.ContentLength, tt.wantBody)
			}
			if diff := cmp.Diff(tt.wantHeads, req.Header); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if req.Method != tt.event.HTTPMethod || req.RemoteAddr != tt.event.RequestContext.Identity.SourceIP {
				t.Errorf("method %s remote %s", req.Method, req.RemoteAddr)
			}
		})
	}

	if _, err := NewRequest(context.Background(), &events.APIGatewayProxyRequest{Body: "%%%", IsBase64Encoded: true}); err == nil {
		t.Error("invalid base64 body accepted")
	}
}

// TestWrapStreams checks that the status and headers are returned before
// the handler finishes, and that the body arrives write by write.
func TestWrapStreams(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusAccepted)
		http.NewResponseController(w).Flush()
		w.Write([]byte("first "))
		<-release
		w.Write([]byte("second"))
	})
	resp, err := Wrap(h, nil)(context.Background(), &events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted || resp.MultiValueHeaders["Content-Type"][0] != "text/event-stream" ||
		!cmp.Equal(resp.MultiValueHeaders["Set-Cookie"], []string{"a=1", "b=2"}) {
		t.Errorf("head = %d %v", resp.StatusCode, resp.MultiValueHeaders)
	}
	buf := make([]byte, 64)
	n, _ := resp.Body.Read(buf)
	if got := string(buf[:n]); got != "first " {
		t.Errorf("first read %q, want the first write alone", got)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" {
		t.Errorf("rest %q, %v", rest, err)
	}
}

// TestWrapAbort checks that a handler's abort becomes a read error of the
// body (the runtime's error trailers), not a clean end.
func TestWrapAbort(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("partial"))
		panic(http.ErrAbortHandler)
	})
	resp, err := Wrap(h, nil)(context.Background(), &events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if string(body) != "partial" || !errors.Is(err, ErrAborted) {
		t.Errorf("body %q, error %v; want the partial body then ErrAborted", body, err)
	}
}

// TestWrapClientGone checks that closing the body (what the runtime does
// when its POST fails) makes the handler's next write fail, and that the
// request context carries the invocation's deadline and values.
func TestWrapClientGone(t *testing.T) {
	type key struct{}
	writeErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Deadline(); !ok || r.Context().Value(key{}) != "req-123" {
			t.Error("request context lost the deadline or the request id")
		}
		w.WriteHeader(http.StatusOK)
		for {
			if _, err := w.Write([]byte("x")); err != nil {
				writeErr <- err
				return
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	withID := func(ctx context.Context, e *events.APIGatewayProxyRequest) context.Context {
		return context.WithValue(ctx, key{}, e.RequestContext.RequestID)
	}
	resp, err := Wrap(h, withID)(ctx, &events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/",
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "req-123"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 1))
	resp.Close()
	select {
	case err := <-writeErr:
		if !errors.Is(err, io.ErrClosedPipe) {
			t.Errorf("write error %v, want io.ErrClosedPipe", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's writes did not fail after the body was closed")
	}
}

// TestCloseWaitsForTheHandler checks that closing the body (the runtime's
// last act before aws-lambda-go exits the process after a failed POST)
// cancels a handler that is waiting for upstream events, and returns only
// after the handler has finished its cleanup.
func TestCloseWaitsForTheHandler(t *testing.T) {
	cleanedUp := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		<-r.Context().Done() // a model thinking before its first token
		time.Sleep(50 * time.Millisecond)
		close(cleanedUp) // cancel Bedrock, write the log line
	})
	resp, err := Wrap(h, nil)(context.Background(), &events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Close()
	select {
	case <-cleanedUp:
	default:
		t.Fatal("Close returned before the handler had finished")
	}
}
