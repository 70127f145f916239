package streaming

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/streamgate/streamgate/streaming/chatpage"
)

// Handler is the gateway: POST /stream, GET /healthz and their CORS
// preflights. It is safe for concurrent use, and local mode and Lambda mode
// serve the same Handler.
type Handler struct {
	cfg     Config
	bedrock *bedrockruntime.Client
	log     *slog.Logger
	mux     *http.ServeMux

	// closing is closed by Close: streams still running end with a
	// shutting_down error event instead of a cut.
	closing   chan struct{}
	closeOnce sync.Once
}

// New returns the gateway for cfg, calling Bedrock through client (the
// real SDK client, pointed at the emulator in local mode). Each request's
// log line and metrics go to logger.
func New(cfg Config, client *bedrockruntime.Client, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, bedrock: client, log: logger, mux: http.NewServeMux(), closing: make(chan struct{})}
	h.mux.HandleFunc("POST /stream", h.serveStream)
	h.mux.HandleFunc("OPTIONS /stream", h.preflight("POST, OPTIONS"))
	h.mux.HandleFunc("/stream", h.methodNotAllowed("POST, OPTIONS"))
	h.mux.HandleFunc("GET /healthz", h.serveHealth)
	h.mux.HandleFunc("OPTIONS /healthz", h.preflight("GET, HEAD, OPTIONS"))
	h.mux.HandleFunc("/healthz", h.methodNotAllowed("GET, HEAD, OPTIONS"))
	page := chatpage.New() // the chat page; its log line is a plain 200
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { logOf(r).status = http.StatusOK; page.ServeHTTP(w, r) })
	h.mux.HandleFunc("/", h.notFound)
	return h
}

// Close ends the streams in flight with an error event (text streams are
// aborted) and makes new ones fail the same way. Local mode calls it when
// the shutdown grace period is over.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.closing) })
}

type requestIDKey struct{}

// WithRequestID returns a context that makes the Handler use id as the
// request id (the API Gateway request id in Lambda mode). Without it, the
// Handler makes up a random one.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestID(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		return id
	}
	return rand.Text()
}

type requestLogKey struct{}

// ServeHTTP routes the request and writes its log line when it ends,
// however it ends (an aborted text stream ends in a panic).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &requestLog{requestID: requestID(r.Context()), method: r.Method, path: r.URL.Path, start: time.Now()}
	defer h.logRequest(r.Context(), rec)
	w.Header().Set("X-Request-Id", rec.requestID)
	h.allowOrigin(w, r)
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestLogKey{}, rec)))
}

func logOf(r *http.Request) *requestLog {
	rec := r.Context().Value(requestLogKey{}).(*requestLog)
	rec.route = r.Pattern
	return rec
}

func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	logOf(r).status = http.StatusOK
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(`{"status":"ok"}` + "\n"))
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, logOf(r), &Error{Status: http.StatusNotFound, Code: CodeNotFound,
		Message: "no such route; use POST /stream or GET /healthz"})
}

func (h *Handler) methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, logOf(r), &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: "method " + truncate(r.Method, 20) + " is not allowed on " + r.URL.Path + "; allowed: " + allow})
	}
}

// allowOrigin adds the CORS response headers when the request's Origin is
// allowed by CORS_ALLOW_ORIGINS.
func (h *Handler) allowOrigin(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || len(h.cfg.CORSAllowOrigins) == 0 {
		return
	}
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	switch {
	case slices.Contains(h.cfg.CORSAllowOrigins, "*"):
		hdr.Set("Access-Control-Allow-Origin", "*")
	case slices.Contains(h.cfg.CORSAllowOrigins, origin):
		hdr.Set("Access-Control-Allow-Origin", origin)
	default:
		return
	}
	hdr.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
}

func (h *Handler) preflight(methods string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		logOf(r).status = http.StatusNoContent
		hdr := w.Header()
		hdr.Set("Allow", methods)
		if hdr.Get("Access-Control-Allow-Origin") != "" {
			hdr.Set("Access-Control-Allow-Methods", methods)
			hdr.Set("Access-Control-Allow-Headers", "Content-Type, Accept, Authorization, X-Api-Key, X-Request-Id")
			hdr.Set("Access-Control-Max-Age", "600")
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// writeError sends an error that happened before the first byte of the
// answer as {"error": {...}} with its status.
func writeError(w http.ResponseWriter, rec *requestLog, e *Error) {
	rec.status, rec.errorCode = e.Status, e.Code
	hdr := w.Header()
	if e.RetryAfter > 0 {
		hdr.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(struct {
		Error *Error `json:"error"`
	}{e})
}
