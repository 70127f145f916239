// Command fn is a small real Lambda function (aws-lambda-go, Runtime API)
// used by localgw's tests. Its behaviour is chosen by the request path.
//
// Environment: FN_MODE=init-error posts /runtime/init/error and exits;
// FN_MODE=exit exits before starting; FN_REPORT_DIR is where /hang writes
// what it observed.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func main() {
	switch os.Getenv("FN_MODE") {
	case "init-error":
		body := `{"errorMessage":"missing configuration","errorType":"ConfigError"}`
		req, _ := http.NewRequest("POST", "http://"+os.Getenv("AWS_LAMBDA_RUNTIME_API")+"/2018-06-01/runtime/init/error", bytes.NewBufferString(body))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "ConfigError")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		os.Exit(1)
	case "exit":
		log.Fatal("fn: exiting at init as asked")
	}
	lambda.Start(handle)
}

func handle(ctx context.Context, req events.APIGatewayProxyRequest) (any, error) {
	q := req.QueryStringParameters
	switch req.Path {
	case "/chunks":
		n := atoi(q["n"], 5)
		gap := duration(q["gap"], 50*time.Millisecond)
		return stream(200, map[string]string{"Content-Type": "text/plain"}, func(w *io.PipeWriter) error {
			for i := range n {
				if i > 0 {
					time.Sleep(gap)
				}
				if _, err := fmt.Fprintf(w, "chunk %d\n", i); err != nil {
					return err
				}
			}
			return nil
		}), nil

	case "/status418":
		return &events.APIGatewayProxyStreamingResponse{
			StatusCode:        418,
			Headers:           map[string]string{"Content-Type": "text/plain", "X-Teapot": "short", "Connection": "close"},
			MultiValueHeaders: map[string][]string{"X-Multi": {"a", "b"}},
			Cookies:           []string{"a=1; Path=/", "b=2"},
			Body:              bytes.NewBufferString("I'm a teapot"),
		}, nil

	case "/fail-before":
		return nil, errors.New("boom before the stream")

	case "/fail-mid":
		return stream(200, map[string]string{"Content-Type": "text/plain"}, func(w *io.PipeWriter) error {
			if _, err := io.WriteString(w, "partial"); err != nil {
				return err
			}
			time.Sleep(50 * time.Millisecond)
			return errors.New("boom in the middle")
		}), nil

	case "/slow":
		d := duration(q["d"], time.Second)
		start := time.Now()
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		b, _ := json.Marshal(map[string]any{
			"start": start.UnixNano(), "end": time.Now().UnixNano(), "pid": os.Getpid(),
		})
		return stream(200, map[string]string{"Content-Type": "application/json"}, func(w *io.PipeWriter) error {
			_, err := w.Write(b)
			return err
		}), nil

	case "/sleep-ignore": // ignores its context: only a kill stops it
		time.Sleep(duration(q["d"], 3*time.Second))
		return stream(200, nil, func(w *io.PipeWriter) error {
			_, err := io.WriteString(w, "late")
			return err
		}), nil

	case "/echo":
		decoded := req.Body
		if req.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(req.Body)
			if err != nil {
				return nil, err
			}
			decoded = string(b)
		}
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, _ := ctx.Deadline()
		b, _ := json.Marshal(map[string]any{
			"event":         req,
			"decodedBody":   []byte(decoded),
			"awsRequestId":  lc.AwsRequestID,
			"functionArn":   lc.InvokedFunctionArn,
			"deadlineMs":    deadline.UnixMilli(),
			"functionName":  lambdacontext.FunctionName,
			"memory":        lambdacontext.MemoryLimitInMB,
			"logStreamName": lambdacontext.LogStreamName,
			"env": map[string]string{
				"AWS_REGION":                  os.Getenv("AWS_REGION"),
				"AWS_DEFAULT_REGION":          os.Getenv("AWS_DEFAULT_REGION"),
				"_HANDLER":                    os.Getenv("_HANDLER"),
				"AWS_LAMBDA_FUNCTION_VERSION": os.Getenv("AWS_LAMBDA_FUNCTION_VERSION"),
				"AWS_LAMBDA_LOG_GROUP_NAME":   os.Getenv("AWS_LAMBDA_LOG_GROUP_NAME"),
				"FN_EXTRA":                    os.Getenv("FN_EXTRA"),
				"_X_AMZN_TRACE_ID":            os.Getenv("_X_AMZN_TRACE_ID"),
			},
		})
		return stream(200, map[string]string{"Content-Type": "application/json"}, func(w *io.PipeWriter) error {
			_, err := w.Write(b)
			return err
		}), nil

	case "/buffered":
		resp := events.APIGatewayProxyResponse{
			StatusCode:        201,
			Headers:           map[string]string{"Content-Type": "text/plain", "X-Mode": "buffered"},
			MultiValueHeaders: map[string][]string{"X-Multi": {"1", "2"}},
			Body:              "buffered body",
		}
		if q["b64"] != "" {
			resp.Body = base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff})
			resp.IsBase64Encoded = true
			resp.Headers["Content-Type"] = "application/octet-stream"
		}
		return resp, nil

	case "/hang":
		return hang(ctx, q["id"]), nil

	case "/crash":
		log.Printf("fn: crashing on purpose")
		os.Exit(3)

	case "/crash-mid":
		return stream(200, nil, func(w *io.PipeWriter) error {
			if _, err := io.WriteString(w, "partial"); err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
			os.Exit(4)
			return nil
		}), nil

	case "/log":
		// A JSON log line longer than a pipe buffer, to check line integrity.
		b, _ := json.Marshal(map[string]string{"msg": "big", "pad": string(bytes.Repeat([]byte("x"), 100_000))})
		os.Stdout.Write(append(b, '\n'))
		return stream(200, nil, func(w *io.PipeWriter) error { return nil }), nil
	}
	return &events.APIGatewayProxyStreamingResponse{StatusCode: 404, Body: bytes.NewBufferString("no route " + req.Path)}, nil
}

// stream returns a streaming response whose body is written by produce in a
// goroutine; an error from produce fails the stream (CloseWithError).
func stream(status int, headers map[string]string, produce func(*io.PipeWriter) error) *events.APIGatewayProxyStreamingResponse {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(produce(pw)) }()
	return &events.APIGatewayProxyStreamingResponse{StatusCode: status, Headers: headers, Body: pr}
}

// hang writes a tick every 50 ms until something stops it, and reports what
// it observed to FN_REPORT_DIR/<id>: the failing write, the context end, and
// Close. Close waits for the writer so that the report is written before
// the runtime exits the process.
func hang(ctx context.Context, id string) *events.APIGatewayProxyStreamingResponse {
	var mu sync.Mutex
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(os.Getenv("FN_REPORT_DIR")+"/"+id, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			log.Printf("fn: report: %v", err)
			return
		}
		fmt.Fprintf(f, format+"\n", args...)
		f.Close()
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(pw, "tick %d\n", i); err != nil {
				report("write failed: %v (ctx err: %v, tick %d)", err, ctx.Err(), i)
				return
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				report("ctx done first: %v", ctx.Err())
				pw.CloseWithError(ctx.Err())
				return
			}
		}
	}()
	return &events.APIGatewayProxyStreamingResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "text/plain"},
		Body: &closeWaiter{PipeReader: pr, done: done, onClose: func() {
			report("body closed")
		}},
	}
}

type closeWaiter struct {
	*io.PipeReader
	done    chan struct{}
	onClose func()
}

func (c *closeWaiter) Close() error {
	c.onClose()
	err := c.PipeReader.Close()
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
	return err
}

func atoi(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

func duration(s string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil {
		return d
	}
	return def
}
