// Package apigw serves API Gateway REST proxy events (payload v1) with an
// http.Handler through Lambda response streaming, as aws-lambda-go's
// lambdaurl package does for Function URLs.
//
// The handler runs in its own goroutine and writes into an io.Pipe; Wrap
// waits until the status and headers are known and returns a pointer to
// events.APIGatewayProxyStreamingResponse whose Body is the pipe's reader
// (a value would be serialized as JSON instead: aws-lambda-go issue #565).
// The Lambda runtime then sends each write on as it happens.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// ErrAborted is the error the response body ends with when the handler
// aborted it mid-stream (panic(http.ErrAbortHandler)). The runtime reports
// it in the Lambda-Runtime-Function-Error-* trailers, and API Gateway cuts
// the client's connection instead of ending the body cleanly.
var ErrAborted = errors.New("apigw: response aborted by the handler")

// Handler is what lambda.Start runs.
type Handler func(context.Context, *events.APIGatewayProxyRequest) (*events.APIGatewayProxyStreamingResponse, error)

// StartWith serves handler inside Lambda; it does not return. withRequest
// is as in Wrap.
func StartWith(handler http.Handler, withRequest func(context.Context, *events.APIGatewayProxyRequest) context.Context, options ...lambda.Option) {
	lambda.StartWithOptions(Wrap(handler, withRequest), options...)
}

// Wrap turns handler into a Lambda handler for API Gateway REST proxy events
// with response streaming. withRequest, when not nil, may add values to the
// request's context (streamgate puts the API Gateway request id there).
func Wrap(handler http.Handler, withRequest func(context.Context, *events.APIGatewayProxyRequest) context.Context) Handler {
	return func(ctx context.Context, event *events.APIGatewayProxyRequest) (*events.APIGatewayProxyStreamingResponse, error) {
		if withRequest != nil {
			ctx = withRequest(ctx, event)
		}
		req, err := NewRequest(ctx, event)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(req.Context())
		req = req.WithContext(ctx)
		ready := make(chan responseHead, 1)
		finished := make(chan struct{})
		pr, pw := io.Pipe()
		w := &responseWriter{header: http.Header{}, body: pw, ready: ready}
		go func() {
			defer close(finished)
			defer func() {
				if p := recover(); p != nil {
					err := ErrAborted
					if p != http.ErrAbortHandler {
						err = fmt.Errorf("apigw: handler panicked: %v", p)
					}
					// Headers not sent yet: a 500 with the error in the
					// trailers; the gateway turns it into a 502.
					w.WriteHeader(http.StatusInternalServerError)
					pw.CloseWithError(err)
					return
				}
				w.WriteHeader(http.StatusOK) // no-op if the handler wrote a status
				pw.Close()
			}()
			handler.ServeHTTP(w, req)
		}()
		head := <-ready
		resp := &events.APIGatewayProxyStreamingResponse{StatusCode: head.status, Body: &body{pr, cancel, finished}}
		if len(head.header) > 0 {
			resp.MultiValueHeaders = head.header
		}
		return resp, nil
	}
}

// NewRequest builds the *http.Request that an API Gateway REST proxy event
// describes: method, path, query string and headers with all their values,
// the body (base64-decoded when the event says so), and the caller's IP.
func NewRequest(ctx context.Context, event *events.APIGatewayProxyRequest) (*http.Request, error) {
	// One copy of the body at most: a string reader over the event's own
	// string, or the decoded bytes.
	var body io.Reader = strings.NewReader(event.Body)
	size := int64(len(event.Body))
	if event.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(event.Body)
		if err != nil {
			return nil, fmt.Errorf("apigw: event body is not valid base64: %w", err)
		}
		body, size = bytes.NewReader(decoded), int64(len(decoded))
	}
	query := url.Values{}
	for k, vs := range event.MultiValueQueryStringParameters {
		query[k] = append([]string(nil), vs...)
	}
	for k, v := range event.QueryStringParameters {
		if _, ok := query[k]; !ok {
			query.Set(k, v)
		}
	}
	path := event.Path
	if path == "" {
		path = "/"
	}
	u := &url.URL{Path: path, RawQuery: query.Encode()}
	method := event.HTTPMethod
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("apigw: cannot build the request: %w", err)
	}
	for k, vs := range event.MultiValueHeaders {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	for k, v := range event.Headers {
		if req.Header.Values(k) == nil {
			req.Header.Set(k, v)
		}
	}
	req.Host = req.Header.Get("Host")
	req.RemoteAddr = event.RequestContext.Identity.SourceIP
	req.ContentLength = size
	req.RequestURI = u.RequestURI()
	return req, nil
}

// handlerGrace bounds how long Close waits for the handler to return.
const handlerGrace = 2 * time.Second

// body is the response body the runtime reads. The runtime closes it when
// the invocation ends — after the last byte, or when its POST to the
// Runtime API failed because the client went away — and in the second case
// aws-lambda-go exits the process right after Close returns. So Close
// cancels the handler's context and waits (briefly) for the handler to
// return: the Bedrock call is cancelled and the request's log line is
// written before the process can end.
type body struct {
	*io.PipeReader
	cancel   context.CancelFunc
	finished <-chan struct{}
}

func (b *body) Close() error {
	b.cancel()
	err := b.PipeReader.Close()
	timer := time.NewTimer(handlerGrace)
	defer timer.Stop()
	select {
	case <-b.finished:
	case <-timer.C:
	}
	return err
}

type responseHead struct {
	status int
	header http.Header
}

// responseWriter is an http.ResponseWriter over the pipe. It has no buffer
// of its own: every Write blocks until the runtime has read it, so Flush
// has nothing to do but release the status and headers.
type responseWriter struct {
	header http.Header
	body   *io.PipeWriter
	ready  chan<- responseHead
	once   sync.Once
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(status int) {
	w.once.Do(func() { w.ready <- responseHead{status, w.header.Clone()} })
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// Flush implements http.Flusher so that handlers which flush (all of
// streamgate's) see the headers go out before the first body byte.
func (w *responseWriter) Flush() { w.WriteHeader(http.StatusOK) }
