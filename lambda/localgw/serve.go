package localgw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var (
	errIntegrationTimeout = errors.New("integration timeout")
	errIdleTimeout        = errors.New("idle timeout: no bytes from the function")
	errClientGone         = errors.New("client disconnected")
	errFunctionLost       = errors.New("the function's response connection broke")
)

// invocation is one request travelling to an instance and back.
type invocation struct {
	id          string // Lambda request id
	apigwID     string // API Gateway request id
	event       []byte
	lambdaTrace string

	resultCh   chan *result  // unbuffered: the request takes the function's answer
	clientDone chan struct{} // closed when the request no longer waits (ServeHTTP returned)
	failed     chan struct{} // closed by fail
	failOnce   sync.Once
	failErr    error

	instance atomic.Int32
	timedOut atomic.Bool
	aborted  atomic.Bool // localgw closed the function's response connection

	// Guarded by the mutex of the sandbox the invocation is bound to.
	responded     bool // /response or /error received
	completed     bool // answered for good (202 sent or about to be)
	deadlineTimer *time.Timer
}

func (inv *invocation) fail(err error) {
	inv.failOnce.Do(func() {
		inv.failErr = err
		close(inv.failed)
	})
}

func (inv *invocation) stopDeadline() {
	if inv.deadlineTimer != nil {
		inv.deadlineTimer.Stop()
	}
}

// requeue offers an event that was never sent to a dead child to another
// instance.
func (g *Gateway) requeue(inv *invocation) {
	select {
	case g.invokeCh <- inv:
	case <-inv.clientDone:
	case <-g.closed:
		inv.fail(errGatewayClosed)
	}
}

type resultKind int

const (
	resultStream resultKind = iota
	resultBuffered
	resultError
)

// result is the function's answer, handed from a Runtime API handler to the
// request.
type result struct {
	kind resultKind

	// resultStream: the /response request, whose body the request reads
	// and forwards; done tells the Runtime API handler whether to answer
	// 202 (true) or leave the connection aborted (false).
	req  *http.Request
	conn net.Conn
	done chan bool

	body []byte // resultBuffered

	errType, errMsg string // resultError
}

// exchange is the state of one client request.
type exchange struct {
	g        *Gateway
	w        http.ResponseWriter
	r        *http.Request
	rc       *http.ResponseController
	start    time.Time
	apigwID  string
	lambdaID string
	inv      *invocation

	status      int // sent to the client; 0 until then
	bytes       int64
	outcome     string
	err         error
	level       slog.Level
	clientAbort bool
}

// ServeHTTP turns the request into an API Gateway proxy event, runs it on a
// free instance and sends back the function's response, streamed if the
// function streams. A failure after the first byte aborts the connection
// with panic(http.ErrAbortHandler), which net/http's server recovers: serve
// the Gateway with an http.Server (or httptest.Server), not a bare
// ResponseRecorder.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{
		g:       g,
		w:       w,
		r:       r,
		rc:      http.NewResponseController(w),
		start:   time.Now(),
		apigwID: newUUID(),
		level:   slog.LevelInfo,
	}
	x.serve()
	x.logResult()
	if x.clientAbort {
		panic(http.ErrAbortHandler)
	}
}

func (x *exchange) serve() {
	g, r := x.g, x.r
	traceRoot := newTraceRoot(x.start)
	extID := newExtendedID()
	h := x.w.Header()
	// API Gateway's own response headers, with its spelling.
	h["x-amzn-RequestId"] = []string{x.apigwID}
	h["x-amz-apigw-id"] = []string{extID}
	h["X-Amzn-Trace-Id"] = []string{traceRoot}

	body, err := readBody(x.w, r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			x.fail(http.StatusRequestEntityTooLarge, "Request Too Long", "request_too_large", err)
			return
		}
		x.outcome, x.err = "client_disconnected", fmt.Errorf("reading the request body: %w", err)
		return
	}

	ev := g.buildEvent(r, body, x.apigwID, extID, traceRoot, x.start)
	event, err := json.Marshal(ev)
	if err != nil { // cannot happen with strings and maps
		x.fail(http.StatusInternalServerError, "Internal server error", "event_error", err)
		return
	}
	inv := &invocation{
		id:          newUUID(),
		apigwID:     x.apigwID,
		event:       event,
		lambdaTrace: traceRoot + ";Parent=" + randomHex(8) + ";Sampled=0",
		resultCh:    make(chan *result),
		clientDone:  make(chan struct{}),
		failed:      make(chan struct{}),
	}
	inv.instance.Store(-1)
	x.inv, x.lambdaID = inv, inv.id
	defer close(inv.clientDone)

	ctx, cancel := context.WithDeadlineCause(r.Context(), x.start.Add(g.cfg.Timeout), errIntegrationTimeout)
	defer cancel()

	select {
	case g.invokeCh <- inv:
	case <-ctx.Done():
		x.ended(ctx, "waiting for a free instance")
		return
	case <-g.closed:
		x.fail(http.StatusServiceUnavailable, "Service Unavailable", "gateway_closed", errGatewayClosed)
		return
	}

	var res *result
	select {
	case res = <-inv.resultCh:
	case <-inv.failed:
		x.fail(http.StatusBadGateway, "Internal server error", "function_failed", inv.failErr)
		return
	case <-ctx.Done():
		x.ended(ctx, "waiting for the function's response")
		return
	}

	switch res.kind {
	case resultError:
		x.fail(http.StatusBadGateway, "Internal server error", "function_error",
			fmt.Errorf("%s: %s", res.errType, res.errMsg))
	case resultBuffered:
		x.buffered(res.body)
	case resultStream:
		x.stream(ctx, res)
	}
}

// ended handles the end of ctx before anything was sent.
func (x *exchange) ended(ctx context.Context, while string) {
	if errors.Is(context.Cause(ctx), errIntegrationTimeout) {
		x.fail(http.StatusGatewayTimeout, "Endpoint request timed out", "integration_timeout",
			fmt.Errorf("integration timeout (%v) %s", x.g.cfg.Timeout, while))
		return
	}
	x.outcome, x.err = "client_disconnected", fmt.Errorf("client disconnected %s", while)
}

// fail sends an API Gateway error response (nothing has been sent yet).
func (x *exchange) fail(status int, message, outcome string, err error) {
	x.outcome, x.err, x.level = outcome, err, slog.LevelWarn
	b, _ := json.Marshal(message)
	body := []byte(`{"message": ` + string(b) + `}`)
	h := x.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(status)
	x.status = status
	n, _ := x.w.Write(body)
	x.bytes += int64(n)
}

// failLate reports a failure after the status line was sent: the client
// connection is aborted so that the truncated body cannot pass for a
// complete one.
func (x *exchange) failLate(outcome string, err error) {
	x.outcome, x.err, x.level = outcome, err, slog.LevelWarn
	x.clientAbort = true
}

// buffered sends a non-streaming proxy response.
func (x *exchange) buffered(payload []byte) {
	var resp struct {
		StatusCode        int                 `json:"statusCode"`
		Headers           map[string]string   `json:"headers"`
		MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
		Body              string              `json:"body"`
		IsBase64Encoded   bool                `json:"isBase64Encoded"`
	}
	if err := json.Unmarshal(payload, &resp); err != nil {
		x.fail(http.StatusBadGateway, "Internal server error", "malformed_response",
			fmt.Errorf("malformed Lambda proxy response: %v", err))
		return
	}
	if !validStatus(resp.StatusCode) {
		x.fail(http.StatusBadGateway, "Internal server error", "malformed_response",
			fmt.Errorf("malformed Lambda proxy response: statusCode %d", resp.StatusCode))
		return
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			x.fail(http.StatusBadGateway, "Internal server error", "malformed_response",
				fmt.Errorf("malformed Lambda proxy response: body is not base64: %v", err))
			return
		}
		body = b
	}
	h := x.w.Header()
	applyHeaders(h, resp.Headers, resp.MultiValueHeaders, nil)
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(resp.StatusCode)
	x.status = resp.StatusCode
	n, _ := x.w.Write(body)
	x.bytes += int64(n)
	x.outcome = "ok"
}

// stream forwards a streamed response: prelude → status and headers, then
// every body chunk as it arrives, flushed.
func (x *exchange) stream(ctx context.Context, res *result) {
	g := x.g
	var (
		once   sync.Once
		reason error // why we closed the function's connection; errFunctionLost if it broke by itself
	)
	abort := func(why error) {
		once.Do(func() {
			reason = why
			x.inv.aborted.Store(true)
			_ = res.conn.Close()
		})
	}
	finished := false
	ok := false // answer 202 to the function
	defer func() { res.done <- ok }()

	stopCtx := context.AfterFunc(ctx, func() { abort(context.Cause(ctx)) })
	defer stopCtx()
	idle := time.AfterFunc(g.cfg.IdleTimeout, func() { abort(errIdleTimeout) })
	defer idle.Stop()

	var pp preludeParser
	buf := make([]byte, 32<<10)
	for {
		n, rerr := res.req.Body.Read(buf)
		if n > 0 {
			idle.Reset(g.cfg.IdleTimeout)
			data := buf[:n]
			if !pp.done {
				rest, perr := pp.feed(data)
				if perr != nil {
					abort(perr)
					x.fail(http.StatusBadGateway, "Internal server error", "malformed_response", perr)
					return
				}
				if pp.done {
					if err := x.writePrelude(pp.prelude); err != nil {
						if x.status == 0 { // invalid prelude
							abort(err)
							x.fail(http.StatusBadGateway, "Internal server error", "malformed_response", err)
							return
						}
						abort(errClientGone)
						x.outcome, x.err = "client_disconnected", err
						return
					}
				}
				data = rest
			}
			if len(data) > 0 {
				if err := x.write(data); err != nil {
					abort(errClientGone)
					x.outcome, x.err = "client_disconnected", err
					return
				}
			}
		}
		if rerr == nil {
			continue
		}
		if rerr == io.EOF {
			once.Do(func() { finished = true })
		} else {
			once.Do(func() { reason = errFunctionLost })
		}
		break
	}

	if finished {
		ok = true
		if t, msg := trailerError(res.req.Trailer); t != "" {
			err := fmt.Errorf("function error during the stream: %s: %s", t, msg)
			if x.status == 0 {
				x.fail(http.StatusBadGateway, "Internal server error", "function_error", err)
			} else {
				x.failLate("function_error", err)
			}
			return
		}
		if !pp.done {
			x.fail(http.StatusBadGateway, "Internal server error", "malformed_response",
				errors.New("the streamed response ended before its prelude delimiter (8 NUL bytes)"))
			return
		}
		x.outcome = "ok"
		return
	}

	// The function's connection was closed: by us (timeout, idle, client)
	// or because the function died.
	var outcome, message string
	status := http.StatusBadGateway
	err := reason
	switch {
	case errors.Is(reason, errIntegrationTimeout):
		outcome, message, status = "integration_timeout", "Endpoint request timed out", http.StatusGatewayTimeout
		err = fmt.Errorf("integration timeout (%v) during the stream", g.cfg.Timeout)
	case errors.Is(reason, errIdleTimeout):
		outcome, message, status = "idle_timeout", "Endpoint request timed out", http.StatusGatewayTimeout
		err = fmt.Errorf("idle timeout: no bytes from the function for %v", g.cfg.IdleTimeout)
	case errors.Is(reason, errFunctionLost):
		outcome, message = "function_failed", "Internal server error"
		if x.inv.timedOut.Load() {
			err = fmt.Errorf("function timed out after %v", g.cfg.FunctionTimeout)
		}
	default: // client gone
		x.outcome, x.err = "client_disconnected", errClientGone
		return
	}
	if x.status == 0 {
		x.fail(status, message, outcome, err)
		return
	}
	x.failLate(outcome, err)
}

func (x *exchange) writePrelude(p prelude) error {
	status := p.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	if !validStatus(status) {
		return fmt.Errorf("invalid statusCode %d in the streamed response prelude", p.StatusCode)
	}
	h := x.w.Header()
	applyHeaders(h, p.Headers, p.MultiValueHeaders, p.Cookies)
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	x.w.WriteHeader(status)
	x.status = status
	return x.rc.Flush()
}

func (x *exchange) write(p []byte) error {
	n, err := x.w.Write(p)
	x.bytes += int64(n)
	if err != nil {
		return err
	}
	return x.rc.Flush()
}

func validStatus(code int) bool { return code >= 200 && code <= 599 }

func (x *exchange) logResult() {
	d := time.Since(x.start)
	attrs := []slog.Attr{
		slog.String("request_id", x.apigwID),
		slog.String("method", x.r.Method),
		slog.String("path", x.r.URL.Path),
		slog.Int("status", x.status),
		slog.Int64("bytes", x.bytes),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("outcome", x.outcome),
	}
	if x.lambdaID != "" {
		attrs = append(attrs, slog.String("lambda_request_id", x.lambdaID),
			slog.Int("instance", int(x.inv.instance.Load())))
	}
	if x.clientAbort {
		attrs = append(attrs, slog.Bool("client_connection_aborted", true))
	}
	if x.err != nil {
		attrs = append(attrs, slog.String("error", x.err.Error()))
	}
	x.g.log.LogAttrs(context.Background(), x.level, "request", attrs...)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxRequestBodyBytes {
		return nil, &http.MaxBytesError{Limit: MaxRequestBodyBytes}
	}
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBodyBytes))
}
