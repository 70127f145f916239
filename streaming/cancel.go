package streaming

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// CancelStore carries a cancel from the process that receives
// DELETE /stream/{id} to the process that runs the stream. On Lambda they
// are different instances (an instance serves one request at a time), and
// Lambda never tells a streaming function that its client left, so this
// store is how a Stop button stops Bedrock there. Keys are
// "requestId#sha256(caller's key)", so a cancel counts only for a stream
// started with the same API key.
type CancelStore interface {
	// Request leaves a cancel for key.
	Request(ctx context.Context, key string) error
	// Requested reports whether a cancel was left for key.
	Requested(ctx context.Context, key string) (bool, error)
}

// cancels is the registry of the streams this process runs, plus the
// shared store (if any) for those it does not.
type cancels struct {
	store CancelStore
	poll  time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	running map[string]*runningStream
	ended   map[string]endedStream
	order   []string // ended ids, oldest first, at most maxEnded
}

// maxEnded bounds how many finished streams the registry remembers, to
// answer a cancel for one of them with 404 (or 202 again when it was
// cancelled).
const maxEnded = 4096

type runningStream struct {
	c       *cancels
	id      string
	keyHash string
	cancel  context.CancelCauseFunc
}

type endedStream struct {
	keyHash   string
	cancelled bool
}

func newCancels(store CancelStore, poll time.Duration, log *slog.Logger) *cancels {
	if poll <= 0 {
		poll = DefaultCancelPoll
	}
	return &cancels{store: store, poll: poll, log: log, running: map[string]*runningStream{}, ended: map[string]endedStream{}}
}

// start registers a stream that a cancel ends through cancel, and, with a
// shared store, polls it on a timer (never per delta) until ctx ends.
func (c *cancels) start(ctx context.Context, id, keyHash string, cancel context.CancelCauseFunc) *runningStream {
	rs := &runningStream{c: c, id: id, keyHash: keyHash, cancel: cancel}
	c.mu.Lock()
	c.running[id] = rs
	c.mu.Unlock()
	if c.store != nil {
		go c.watch(ctx, id+"#"+keyHash, cancel)
	}
	return rs
}

func (c *cancels) watch(ctx context.Context, key string, cancel context.CancelCauseFunc) {
	ticker := time.NewTicker(c.poll)
	defer ticker.Stop()
	logged := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		pollCtx, done := context.WithTimeout(ctx, max(c.poll, 2*time.Second))
		found, err := c.store.Requested(pollCtx, key)
		done()
		switch {
		case found:
			cancel(errCancelled)
			return
		case err != nil && ctx.Err() == nil && !logged:
			// Once per stream: a store outage must not flood the log.
			logged = true
			c.log.Warn("cancel store poll failed; a cancel from another instance may not reach this stream",
				"requestId", strings.Split(key, "#")[0], "err", Truncate(err.Error(), 300))
		}
	}
}

// runningIDs lists the streams running in this process.
func (c *cancels) runningIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.running))
	for id := range c.running {
		ids = append(ids, id)
	}
	return ids
}

// finish unregisters the stream and remembers how it ended.
func (rs *runningStream) finish(cancelled bool) {
	c := rs.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running[rs.id] == rs {
		delete(c.running, rs.id)
	}
	if _, seen := c.ended[rs.id]; !seen {
		c.order = append(c.order, rs.id)
	}
	c.ended[rs.id] = endedStream{keyHash: rs.keyHash, cancelled: cancelled}
	if len(c.order) > maxEnded {
		delete(c.ended, c.order[0])
		c.order = c.order[1:]
	}
}

// cancelOutcome is what a cancel request achieved.
type cancelOutcome string

const (
	cancelling     cancelOutcome = "cancelling" // the stream runs here and is being stopped
	alreadyStopped cancelOutcome = "cancelled"  // it ran here and was cancelled before
	leftForOthers  cancelOutcome = "requested"  // not here: left in the shared store for the instance that runs it
)

// request cancels the stream id for a caller whose key hashes to keyHash.
// A stream started with another key is treated as unknown, so that one key
// holder cannot even learn which ids another's streams have.
func (c *cancels) request(ctx context.Context, id, keyHash string) (cancelOutcome, *Error) {
	c.mu.Lock()
	rs, running := c.running[id]
	ended, wasHere := c.ended[id]
	c.mu.Unlock()
	switch {
	case running && rs.keyHash == keyHash:
		rs.cancel(errCancelled)
		return cancelling, nil
	case !running && wasHere && ended.keyHash == keyHash:
		if ended.cancelled {
			return alreadyStopped, nil
		}
		return "", &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "the answer " + id + " has already finished"}
	case c.store != nil && !running && !wasHere:
		putCtx, done := context.WithTimeout(ctx, 5*time.Second)
		defer done()
		if err := c.store.Request(putCtx, id+"#"+keyHash); err != nil {
			c.log.Warn("cancel store write failed", "requestId", id, "err", Truncate(err.Error(), 300))
			return "", &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Retryable: true,
				Message: "the cancel could not be recorded; retry it"}
		}
		return leftForOthers, nil
	}
	return "", &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no answer with the id " + id + " is running for this API key"}
}

// Cancel stops the answer id (a request id, or a dialect's id of one: a
// prefix given to IDPrefix is removed) for the caller's API key, and
// answers 202 when the answer is being stopped, was stopped, or may run on
// another instance (the cancel is then left in the shared store); 404 when
// it is unknown or already finished. Repeating a cancel gets the same
// answer. Each dialect's cancel route calls it with the id in its path.
func (h *Handler) Cancel(w http.ResponseWriter, r *http.Request, id string) {
	rec := logOf(r)
	for _, p := range h.prefixes {
		if rest, ok := strings.CutPrefix(id, p); ok {
			id = rest
			break
		}
	}
	if !validRequestID(id) {
		writeError(w, rec, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Param: "id",
			Message: "a request id is 1 to 128 letters, digits, - or _ (the X-Request-Id of the answer)"})
		return
	}
	outcome, apiErr := h.cancels.request(r.Context(), id, rec.keyHash)
	if apiErr != nil {
		writeError(w, rec, apiErr)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(struct {
		RequestID string `json:"requestId"`
		Status    string `json:"status"`
	}{id, string(outcome)})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
