// Command fn is a small real Lambda function (aws-lambda-go, Runtime API)
// used by localgw's tests. Its behaviour is chosen by the request path.
// With _HANDLER=authorizer it is a REQUEST Lambda authorizer instead,
// whose answer is chosen by the bearer token (see authorize).
//
// Environment: FN_MODE=init-error posts /runtime/init/error and exits;
// FN_MODE=exit exits before starting; FN_REPORT_DIR is where /hang,
// /gated and the authorizer write what they observed.
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
	"strings"
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
	if os.Getenv("_HANDLER") == "authorizer" {
		lambda.Start(authorize)
		return
	}
	lambda.Start(handle)
}

// authorize is a REQUEST authorizer. It records each event it gets
// (FN_REPORT_DIR/authorizer.log, one line each: token, methodArn; and the
// last whole event in authorizer-event.json), then answers by the token of
// "Authorization: Bearer TOKEN":
//
//	allow-KEY    Allow on every method of the stage, usageIdentifierKey KEY,
//	             principalId user-KEY, a context of a string, a number and a bool
//	allow        the same without a usageIdentifierKey
//	method-KEY   Allow on this request's methodArn only, key KEY
//	deny         an explicit Deny on every method of the stage
//	unauthorized the error "Unauthorized"
//	boom         another error
//	no-policy    an answer without policyDocument
//	nested       a context value that is an object
//	slow         sleeps 3 s (ignoring its deadline) and allows
func authorize(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (any, error) {
	token := strings.TrimPrefix(ev.Headers["Authorization"], "Bearer ")
	if token == "" {
		token = ev.QueryStringParameters["token"]
	}
	appendReport("authorizer.log", "%s %s", token, ev.MethodArn)
	if b, err := json.Marshal(ev); err == nil {
		_ = os.WriteFile(os.Getenv("FN_REPORT_DIR")+"/authorizer-event.json", b, 0o644)
	}
	// arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH → every
	// method and path of the stage.
	parts := strings.SplitN(ev.MethodArn, "/", 3)
	stageWide := parts[0] + "/" + parts[1] + "/*/*"
	policy := func(effect, resource string) events.APIGatewayCustomAuthorizerPolicy {
		return events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{
			{Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: []string{resource}},
		}}
	}
	allow := func(key, resource string) events.APIGatewayCustomAuthorizerResponse {
		return events.APIGatewayCustomAuthorizerResponse{
			PrincipalID:        "user-" + key,
			PolicyDocument:     policy("Allow", resource),
			Context:            map[string]any{"tenant": "acme", "tier": 3, "beta": true},
			UsageIdentifierKey: key,
		}
	}
	switch {
	case strings.HasPrefix(token, "allow-"):
		return allow(strings.TrimPrefix(token, "allow-"), stageWide), nil
	case token == "allow":
		return allow("", stageWide), nil
	case strings.HasPrefix(token, "method-"):
		return allow(strings.TrimPrefix(token, "method-"), ev.MethodArn), nil
	case token == "deny":
		return events.APIGatewayCustomAuthorizerResponse{PrincipalID: "denied", PolicyDocument: policy("Deny", stageWide)}, nil
	case token == "unauthorized":
		return nil, errors.New("Unauthorized")
	case token == "no-policy":
		return map[string]any{"principalId": "x"}, nil
	case token == "nested":
		r := allow("k1", stageWide)
		r.Context = map[string]any{"obj": map[string]any{"a": 1}}
		return r, nil
	case token == "slow":
		time.Sleep(3 * time.Second)
		return allow("k1", stageWide), nil
	}
	return nil, errors.New("boom: unknown token")
}

// appendReport appends one line to FN_REPORT_DIR/name.
func appendReport(name, format string, args ...any) {
	f, err := os.OpenFile(os.Getenv("FN_REPORT_DIR")+"/"+name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		log.Printf("fn: report: %v", err)
		return
	}
	fmt.Fprintf(f, format+"\n", args...)
	f.Close()
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
		if q["ignore-ctx"] != "" { // ticks on past its deadline, until killed
			ctx = context.WithoutCancel(ctx)
		}
		return hang(ctx, q["id"]), nil

	case "/gated":
		// "before\n", then, once the test creates FN_REPORT_DIR/<id>.gate,
		// n lines "after i\n"; it reports how its writes went.
		id, n := q["id"], atoi(q["n"], 5)
		return stream(200, map[string]string{"Content-Type": "text/plain"}, func(w *io.PipeWriter) error {
			if _, err := io.WriteString(w, "before\n"); err != nil {
				appendReport(id, "write failed before the gate: %v", err)
				return err
			}
			gate := os.Getenv("FN_REPORT_DIR") + "/" + id + ".gate"
			for wait := time.Now(); ; time.Sleep(10 * time.Millisecond) {
				if _, err := os.Stat(gate); err == nil {
					break
				}
				if time.Since(wait) > 20*time.Second {
					appendReport(id, "gate never opened")
					return errors.New("gate never opened")
				}
			}
			for i := range n {
				if _, err := fmt.Fprintf(w, "after %d\n", i); err != nil {
					appendReport(id, "write %d failed: %v (ctx err: %v)", i, err, ctx.Err())
					return err
				}
			}
			appendReport(id, "wrote all %d (ctx err: %v)", n, ctx.Err())
			return nil
		}), nil

	case "/deadline":
		// When the invocation started (as the function saw it) and the
		// deadline it was given, after an optional sleep.
		start := time.Now()
		deadline, _ := ctx.Deadline()
		time.Sleep(duration(q["sleep"], 0))
		b, _ := json.Marshal(map[string]int64{"startMs": start.UnixMilli(), "deadlineMs": deadline.UnixMilli()})
		return stream(200, map[string]string{"Content-Type": "application/json"}, func(w *io.PipeWriter) error {
			_, err := w.Write(b)
			return err
		}), nil

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
