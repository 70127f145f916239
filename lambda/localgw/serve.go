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

// invocation is one event travelling to an instance and back.
type invocation struct {
	p           *pool
	id          string // Lambda request id
	apigwID     string // API Gateway request id
	event       []byte
	lambdaTrace string

	resultCh   chan *result  // unbuffered: the request takes the function's answer
	clientDone chan struct{} // closed when the request no longer waits for the answer
	failed     chan struct{} // closed by fail
	failOnce   sync.Once
	failErr    error

	instance atomic.Int32
	timedOut atomic.Bool
	aborted  atomic.Bool // localgw closed the function's response connection (Close mode)

	// Guarded by the mutex of the sandbox the invocation is bound to.
	responded     bool // /response or /error received
	completed     bool // answered for good (202 sent or about to be)
	deadlineTimer *time.Timer
}

func (p *pool) newInvocation(apigwID, traceRoot string, event []byte) *invocation {
	inv := &invocation{
		p:           p,
		id:          newUUID(),
		apigwID:     apigwID,
		event:       event,
		lambdaTrace: traceRoot + ";Parent=" + randomHex(8) + ";Sampled=0",
		resultCh:    make(chan *result),
		clientDone:  make(chan struct{}),
		failed:      make(chan struct{}),
	}
	inv.instance.Store(-1)
	return inv
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
func (p *pool) requeue(inv *invocation) {
	select {
	case p.invokeCh <- inv:
	case <-inv.clientDone:
	case <-p.g.closed:
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

	stream *responseStream // resultStream

	body []byte // resultBuffered

	errType, errMsg string // resultError
}

// responseStream hands a streamed /response body from the Runtime API
// handler that reads it to the request that forwards it, one piece at a
// time. The handler is the only reader of the body, so that the request
// can stop forwarding at any moment (client gone, timeouts) without
// touching the function's connection: it detaches, and the handler either
// drains the rest (Drain) or finds its connection closed (Close).
type responseStream struct {
	conn   net.Conn
	pieces chan piece    // unbuffered, handler → request
	ack    chan struct{} // request → handler: the data piece was forwarded, its buffer is free
	detach chan struct{} // closed by the request when it stops forwarding

	detachOnce sync.Once
	mode       DisconnectMode // set before detach is closed
	why        string         // set before detach is closed: the request's outcome
	detachedAt time.Time      // set before detach is closed
}

// piece is either body bytes (valid until acknowledged) or the end of the
// body: a clean end (err nil, with the error trailers if the function
// failed mid-stream) or a broken connection.
type piece struct {
	data            []byte
	end             bool
	err             error
	errType, errMsg string
}

func newResponseStream(conn net.Conn) *responseStream {
	return &responseStream{
		conn:   conn,
		pieces: make(chan piece),
		ack:    make(chan struct{}),
		detach: make(chan struct{}),
	}
}

// stop detaches the request from the stream; it reports whether this call
// did it (the first one). In Close mode it closes the function's
// connection at once (safe from any goroutine; it unblocks the handler's
// pending Read); in Drain mode the handler reads on and discards.
func (rs *responseStream) stop(inv *invocation, mode DisconnectMode, why string) bool {
	first := false
	rs.detachOnce.Do(func() {
		first = true
		rs.mode, rs.why, rs.detachedAt = mode, why, time.Now()
		if mode == Close {
			inv.aborted.Store(true)
			if rs.conn != nil {
				_ = rs.conn.Close()
			}
		}
		close(rs.detach)
	})
	return first
}

func (rs *responseStream) detached() bool {
	select {
	case <-rs.detach:
		return true
	default:
		return false
	}
}

// logAbandoned records that a function's response stream lost its reader.
func (g *Gateway) logAbandoned(inv *invocation, mode DisconnectMode, why string) {
	attrs := []any{"function", inv.p.name, "instance", int(inv.instance.Load()),
		"request_id", inv.apigwID, "lambda_request_id", inv.id, "why", why, "on_disconnect", string(mode)}
	if mode == Close {
		g.log.Info("function response abandoned; closing its connection", attrs...)
		return
	}
	g.log.Info("function response abandoned; draining it until the function ends it or times out", attrs...)
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

	auth authLog // what the authorizer step did; zero without one
}

// ServeHTTP turns the request into an API Gateway proxy event, authorizes
// it if an authorizer guards its route, runs it on a free instance and
// sends back the function's response, streamed if the function streams.
// A failure after the first byte aborts the connection with
// panic(http.ErrAbortHandler), which net/http's server recovers: serve the
// Gateway with an http.Server (or httptest.Server), not a bare
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
	integrationStart := x.start
	if g.auth != nil && g.auth.requires(r.Method, ev.Path) {
		if !x.authorize(ev, traceRoot) {
			return
		}
		// API Gateway's integration timeout does not include the
		// authorizer's time.
		integrationStart = time.Now()
	}
	event, err := json.Marshal(ev)
	if err != nil { // cannot happen with strings and maps
		x.fail(http.StatusInternalServerError, "Internal server error", "event_error", err)
		return
	}
	inv := g.fn.newInvocation(x.apigwID, traceRoot, event)
	x.inv, x.lambdaID = inv, inv.id
	defer close(inv.clientDone)

	ctx, cancel := context.WithDeadlineCause(r.Context(), integrationStart.Add(g.cfg.Timeout), errIntegrationTimeout)
	defer cancel()

	select {
	case g.fn.invokeCh <- inv:
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
		x.stream(ctx, res.stream)
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

// fail sends an API Gateway error response {"message": message} (nothing
// has been sent yet).
func (x *exchange) fail(status int, message, outcome string, err error) {
	b, _ := json.Marshal(message)
	x.failWith(status, []byte(`{"message": `+string(b)+`}`), outcome, err)
}

// failWith sends an API Gateway error response with the given JSON body.
func (x *exchange) failWith(status int, body []byte, outcome string, err error) {
	x.outcome, x.err, x.level = outcome, err, slog.LevelWarn
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
// every body piece as it arrives, flushed. It stops forwarding when the
// client goes away or a timeout ends the client's response; what then
// happens to the function's response is Config.OnDisconnect's.
func (x *exchange) stream(ctx context.Context, rs *responseStream) {
	g := x.g
	ended := false
	defer func() {
		if !ended {
			mode := x.inv.p.onDisconnect
			if rs.stop(x.inv, mode, x.outcome) {
				g.logAbandoned(x.inv, mode, x.outcome)
			}
		}
	}()
	idle := time.NewTimer(g.cfg.IdleTimeout)
	defer idle.Stop()

	var pp preludeParser
	for {
		select {
		case p := <-rs.pieces:
			if p.end {
				ended = true
				x.streamEnded(p, &pp)
				return
			}
			idle.Reset(g.cfg.IdleTimeout)
			if !x.forward(p.data, &pp) {
				return
			}
			rs.ack <- struct{}{}
		case <-ctx.Done():
			x.gaveUp(context.Cause(ctx))
			return
		case <-idle.C:
			x.gaveUp(errIdleTimeout)
			return
		}
	}
}

// forward sends one piece of the function's body to the client; false
// means the exchange stopped (outcome set).
func (x *exchange) forward(data []byte, pp *preludeParser) bool {
	if !pp.done {
		rest, err := pp.feed(data)
		if err != nil {
			x.fail(http.StatusBadGateway, "Internal server error", "malformed_response", err)
			return false
		}
		if !pp.done {
			return true
		}
		if err := x.writePrelude(pp.prelude); err != nil {
			if x.status == 0 { // invalid prelude
				x.fail(http.StatusBadGateway, "Internal server error", "malformed_response", err)
				return false
			}
			x.outcome, x.err = "client_disconnected", err
			return false
		}
		data = rest
	}
	if len(data) > 0 {
		if err := x.write(data); err != nil {
			x.outcome, x.err = "client_disconnected", err
			return false
		}
	}
	return true
}

// streamEnded handles the end of the function's body while forwarding it.
func (x *exchange) streamEnded(p piece, pp *preludeParser) {
	if p.err != nil { // the connection broke: the function died, or was killed at its timeout
		err := fmt.Errorf("%w: %v", errFunctionLost, p.err)
		if x.inv.timedOut.Load() {
			err = fmt.Errorf("function timed out after %v", x.inv.p.timeout)
		}
		if x.status == 0 {
			x.fail(http.StatusBadGateway, "Internal server error", "function_failed", err)
			return
		}
		x.failLate("function_failed", err)
		return
	}
	if p.errType != "" {
		err := fmt.Errorf("function error during the stream: %s: %s", p.errType, p.errMsg)
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
}

// gaveUp answers the client when the exchange stops waiting for the
// function's stream: a timeout (504, or an abort once bytes were sent), or
// the client's own departure.
func (x *exchange) gaveUp(reason error) {
	var outcome string
	var err error
	switch {
	case errors.Is(reason, errIntegrationTimeout):
		outcome, err = "integration_timeout", fmt.Errorf("integration timeout (%v) during the stream", x.g.cfg.Timeout)
	case errors.Is(reason, errIdleTimeout):
		outcome, err = "idle_timeout", fmt.Errorf("idle timeout: no bytes from the function for %v", x.g.cfg.IdleTimeout)
	default:
		x.outcome, x.err = "client_disconnected", errClientGone
		return
	}
	if x.status == 0 {
		x.fail(http.StatusGatewayTimeout, "Endpoint request timed out", outcome, err)
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
	if x.auth.result != "" {
		attrs = append(attrs, slog.String("authorizer", x.auth.result), slog.Bool("authorizer_cached", x.auth.cached),
			slog.Float64("authorizer_ms", x.auth.ms))
		if x.auth.principalID != "" {
			attrs = append(attrs, slog.String("principal_id", x.auth.principalID))
		}
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
