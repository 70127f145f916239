package localgw

// The Runtime API (and the little of the Extensions API that aws-lambda-go
// uses) that one sandbox's child talks to: it hands out events and takes
// the function's answers.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Runtime API header and trailer names.
const (
	hdrRequestID     = "Lambda-Runtime-Aws-Request-Id"
	hdrDeadline      = "Lambda-Runtime-Deadline-Ms"
	hdrFunctionARN   = "Lambda-Runtime-Invoked-Function-Arn"
	hdrTraceID       = "Lambda-Runtime-Trace-Id"
	hdrErrorType     = "Lambda-Runtime-Function-Error-Type"
	hdrErrorBody     = "Lambda-Runtime-Function-Error-Body"
	hdrExtName       = "Lambda-Extension-Name"
	hdrExtID         = "Lambda-Extension-Identifier"
	runtimeAPIPath   = "/2018-06-01/runtime"
	extensionAPIPath = "/2020-01-01/extension"
)

func (sb *sandbox) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimeAPIPath+"/invocation/next", sb.handleNext)
	mux.HandleFunc("POST "+runtimeAPIPath+"/invocation/{id}/response", sb.handleResponse)
	mux.HandleFunc("POST "+runtimeAPIPath+"/invocation/{id}/error", sb.handleError)
	mux.HandleFunc("POST "+runtimeAPIPath+"/init/error", sb.handleInitError)
	// Just enough of the Extensions API for an in-process extension such as
	// aws-lambda-go's lambda.WithEnableSIGTERM, which registers one so
	// that Lambda sends SIGTERM before SIGKILL at shutdown (as Close does).
	mux.HandleFunc("POST "+extensionAPIPath+"/register", sb.handleExtensionRegister)
	mux.HandleFunc("GET "+extensionAPIPath+"/event/next", sb.handleExtensionNext)
	return mux
}

// handleNext: GET /2018-06-01/runtime/invocation/next. It ends the previous
// invocation, marks the instance ready (cold start) on its first call, then
// blocks until a request hands it an event.
func (sb *sandbox) handleNext(w http.ResponseWriter, r *http.Request) {
	sb.mu.Lock()
	prev := sb.current
	sb.current = nil
	var unanswered bool
	if prev != nil {
		prev.stopDeadline()
		unanswered = !prev.responded
	}
	first := !sb.ready
	sb.ready = true
	sb.mu.Unlock()
	if unanswered {
		prev.fail(errors.New("the runtime asked for the next invocation without responding to this one"))
	}
	if first {
		sb.p.recordColdStart(sb.idx, sb.pid, time.Since(sb.startedAt))
		close(sb.readyCh)
	}

	var inv *invocation
	select {
	case inv = <-sb.p.invokeCh:
	case <-r.Context().Done():
		return
	}
	deadline, ok := sb.bind(inv)
	if !ok {
		// This child is gone: the event was never sent, so another
		// instance may take it.
		go sb.p.requeue(inv)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(hdrRequestID, inv.id)
	h.Set(hdrDeadline, strconv.FormatInt(deadline.UnixMilli(), 10))
	h.Set(hdrFunctionARN, sb.p.arn)
	h.Set(hdrTraceID, inv.lambdaTrace)
	h.Set("Content-Length", strconv.Itoa(len(inv.event)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.event)
}

// bind makes inv the sandbox's current invocation and arms its deadline.
// The invocation starts now, when its event is handed to the runtime (not
// when the HTTP request arrived: a request that waited for a free instance
// gets the function's whole timeout, as on Lambda). The deadline the
// runtime is told (Lambda-Runtime-Deadline-Ms, whole milliseconds, rounded
// down) and the kill are computed from the same instant, so the function
// is never killed before the deadline it was given.
func (sb *sandbox) bind(inv *invocation) (time.Time, bool) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.exited {
		return time.Time{}, false
	}
	select {
	case <-sb.exitCh:
		return time.Time{}, false
	default:
	}
	sb.current = inv
	inv.instance.Store(int32(sb.idx))
	deadline := time.Now().Add(sb.p.timeout)
	inv.deadlineTimer = time.AfterFunc(time.Until(deadline), func() { sb.timeout(inv) })
	return deadline, true
}

// timeout kills the child if inv is still running at its deadline, as
// Lambda does ("Task timed out").
func (sb *sandbox) timeout(inv *invocation) {
	sb.mu.Lock()
	hit := sb.current == inv && !inv.completed && !sb.exited
	sb.mu.Unlock()
	if !hit {
		return
	}
	inv.timedOut.Store(true)
	sb.g.log.Warn(fmt.Sprintf("Task timed out after %.2f seconds", sb.p.timeout.Seconds()),
		"function", sb.p.name, "instance", sb.idx, "pid", sb.pid, "request_id", inv.apigwID, "lambda_request_id", inv.id)
	sb.kill()
}

// claim checks that id is the current invocation and that it has not been
// answered yet; it returns the Runtime API status to send otherwise.
func (sb *sandbox) claim(id string) (*invocation, int) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	inv := sb.current
	if inv == nil || inv.id != id {
		return nil, http.StatusBadRequest
	}
	if inv.responded {
		return nil, http.StatusForbidden
	}
	inv.responded = true
	return inv, 0
}

// complete marks inv as answered (no timeout kill any more).
func (sb *sandbox) complete(inv *invocation) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	inv.completed = true
	inv.stopDeadline()
}

// deliver hands res to the request waiting for inv; false if that request
// is gone.
func deliver(inv *invocation, res *result) bool {
	select {
	case inv.resultCh <- res:
		return true
	case <-inv.clientDone:
		return false
	}
}

// handleResponse: POST /2018-06-01/runtime/invocation/{id}/response.
func (sb *sandbox) handleResponse(w http.ResponseWriter, r *http.Request) {
	inv, code := sb.claim(r.PathValue("id"))
	if inv == nil {
		runtimeError(w, code)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == StreamingContentType {
		sb.streamResponse(w, r, inv)
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBufferedResponseBytes+1))
	if err != nil {
		deliver(inv, &result{kind: resultError, errType: "Runtime.ExitError",
			errMsg: fmt.Sprintf("reading the function's response: %v", err)})
		return
	}
	if len(body) > MaxBufferedResponseBytes {
		sb.complete(inv)
		deliver(inv, &result{kind: resultError, errType: "Function.ResponseSizeTooLarge",
			errMsg: fmt.Sprintf("response payload size exceeded maximum allowed payload size (%d bytes)", MaxBufferedResponseBytes)})
		runtimeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{
			"errorMessage": fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", MaxBufferedResponseBytes),
			"errorType":    "RequestEntityTooLarge",
		})
		return
	}
	res := &result{kind: resultBuffered, body: body}
	if t, msg := trailerError(r.Trailer); t != "" {
		res = &result{kind: resultError, errType: t, errMsg: msg}
	}
	sb.complete(inv)
	deliver(inv, res)
	accepted(w)
}

// whyRequestEnded is the reason logged when a function starts its streamed
// response after its request stopped waiting (the client left, or a
// timeout answered it).
const whyRequestEnded = "request_ended_before_response"

// streamResponse reads the function's streamed body and hands it, piece
// by piece, to the waiting request, which forwards it. When the request
// stops forwarding (or was gone before the response started), the rest of
// the body is drained (Drain: the function runs on, as on Lambda) or the
// connection is closed (Close). A body that ends cleanly is answered 202.
func (sb *sandbox) streamResponse(w http.ResponseWriter, r *http.Request, inv *invocation) {
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	rs := newResponseStream(conn)
	if !deliver(inv, &result{kind: resultStream, stream: rs}) {
		mode := sb.p.onDisconnect
		if rs.stop(inv, mode, whyRequestEnded) {
			sb.g.logAbandoned(inv, mode, whyRequestEnded)
		}
	}

	buf := make([]byte, 32<<10)
	var discarded int64
	forwarding := !rs.detached()
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			if forwarding {
				select {
				case rs.pieces <- piece{data: buf[:n]}:
					// The request owns these bytes until it acknowledges
					// them, or stops while forwarding them (they count as
					// forwarded: it wrote what it could).
					select {
					case <-rs.ack:
					case <-rs.detach:
						forwarding = false
					}
				case <-rs.detach:
					forwarding = false
					discarded += int64(n)
				}
			} else {
				discarded += int64(n)
			}
		}
		if err == nil {
			continue
		}

		end := piece{end: true}
		if err == io.EOF {
			end.errType, end.errMsg = trailerError(r.Trailer)
		} else {
			end.err = err
		}
		if forwarding {
			select {
			case rs.pieces <- end:
				if end.err == nil {
					sb.complete(inv)
					accepted(w)
				}
				return
			case <-rs.detach:
			}
		}
		// Nobody forwards this response any more.
		if rs.mode == Close {
			if end.err == nil && rs.conn == nil {
				panic(http.ErrAbortHandler) // no connection to close (handler tests)
			}
			return // the request closed the connection
		}
		sb.logDrained(inv, rs, discarded, end)
		if end.err == nil {
			sb.complete(inv)
			accepted(w)
		}
		return
	}
}

// logDrained reports the end of a response that localgw drained (Drain).
func (sb *sandbox) logDrained(inv *invocation, rs *responseStream, discarded int64, end piece) {
	how := "complete" // the function ended its response
	switch {
	case end.err != nil && inv.timedOut.Load():
		how = "timed_out" // killed at its timeout
	case end.err != nil:
		how = "connection_lost" // the function exited
	case end.errType != "":
		how = "function_error" // ended with error trailers
	}
	d := time.Since(rs.detachedAt)
	sb.g.log.Info("function response drained", "function", sb.p.name, "instance", sb.idx, "pid", sb.pid,
		"request_id", inv.apigwID, "lambda_request_id", inv.id, "why", rs.why, "end", how,
		"bytes_discarded", discarded, "drain_ms", float64(d.Microseconds())/1000)
}

// handleError: POST /2018-06-01/runtime/invocation/{id}/error.
func (sb *sandbox) handleError(w http.ResponseWriter, r *http.Request) {
	inv, code := sb.claim(r.PathValue("id"))
	if inv == nil {
		runtimeError(w, code)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	t, msg := parseFunctionError(r.Header.Get(hdrErrorType), body)
	sb.complete(inv)
	deliver(inv, &result{kind: resultError, errType: t, errMsg: msg})
	accepted(w)
}

// handleInitError: POST /2018-06-01/runtime/init/error. The instance is
// marked failed; the runtime is expected to exit (and is killed if it does
// not), and the supervisor restarts it.
func (sb *sandbox) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	t, msg := parseFunctionError(r.Header.Get(hdrErrorType), body)
	sb.mu.Lock()
	if sb.ready {
		sb.mu.Unlock()
		runtimeJSON(w, http.StatusForbidden, map[string]string{
			"errorMessage": "init/error is only valid during initialization",
			"errorType":    "InvalidStateTransition",
		})
		return
	}
	if t == "" {
		t = "Runtime.Unknown"
	}
	sb.initErr = fmt.Errorf("init error %s: %s", t, msg)
	sb.mu.Unlock()
	sb.g.log.Error("function init error", "instance", sb.idx, "pid", sb.pid, "error_type", t, "error_message", msg)
	accepted(w)
	go func() {
		select {
		case <-sb.exitCh:
		case <-time.After(initErrorGrace):
			sb.kill()
		}
	}()
}

func (sb *sandbox) handleExtensionRegister(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	sb.g.log.Debug("extension registered", "instance", sb.idx, "name", r.Header.Get(hdrExtName))
	w.Header().Set(hdrExtID, newUUID())
	runtimeJSON(w, http.StatusOK, map[string]string{
		"functionName":    sb.p.name,
		"functionVersion": "$LATEST",
		"handler":         sb.p.handler,
	})
}

// handleExtensionNext blocks: no extension events are emitted (an internal
// extension registered for none, as aws-lambda-go's is, never gets one).
func (sb *sandbox) handleExtensionNext(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
}

func accepted(w http.ResponseWriter) {
	runtimeJSON(w, http.StatusAccepted, map[string]string{"status": "OK"})
}

func runtimeError(w http.ResponseWriter, code int) {
	if code == http.StatusForbidden {
		runtimeJSON(w, code, map[string]string{
			"errorMessage": "the invocation has already been responded to",
			"errorType":    "InvalidStateTransition",
		})
		return
	}
	runtimeJSON(w, http.StatusBadRequest, map[string]string{
		"errorMessage": "Invalid request ID",
		"errorType":    "InvalidRequestID",
	})
}

func runtimeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
