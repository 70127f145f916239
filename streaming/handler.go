package streaming

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Upstreams are the AWS services the gateway calls. Only Bedrock is
// required; a route whose service is missing answers 503 not_configured.
type Upstreams struct {
	// Bedrock is the Bedrock Runtime client: Converse, ConverseStream and
	// InvokeModel.
	Bedrock *bedrockruntime.Client
	// Control is the Bedrock control-plane client, for GET /models.
	Control *bedrock.Client
	// S3 stores generated images; Presign signs their URLs.
	S3      *s3.Client
	Presign *s3.PresignClient
	// Cancels is the store shared by all instances through which a cancel
	// reaches a stream running elsewhere (Lambda); nil = this process only.
	Cancels CancelStore
}

// Handler is the gateway: every route of the HTTP API and their CORS
// preflights. It is safe for concurrent use, and local mode and Lambda mode
// serve the same Handler.
type Handler struct {
	cfg     Config
	bedrock *bedrockruntime.Client
	up      Upstreams
	log     *slog.Logger
	mux     *http.ServeMux
	keys    [][sha256.Size]byte // hashes of API_KEYS
	cancels *cancels
	models  *modelsCache
	page    http.Handler

	// closing ends when Close is called: streams still running end with a
	// shutting_down error event instead of a cut.
	closing context.Context
	close   context.CancelFunc
}

// New returns the gateway for cfg, calling AWS through up (the real SDK
// clients, pointed at the emulators in local mode). Each request's log
// line and metrics go to logger.
func New(cfg Config, up Upstreams, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	closing, closeFn := context.WithCancel(context.Background())
	h := &Handler{cfg: cfg, bedrock: up.Bedrock, up: up, log: logger, mux: http.NewServeMux(), closing: closing, close: closeFn}
	for _, k := range cfg.APIKeys {
		h.keys = append(h.keys, sha256.Sum256([]byte(k)))
	}
	h.cancels = newCancels(up.Cancels, cfg.CancelPoll, logger)
	h.models = newModelsCache(cfg.ModelsCache)
	h.page = pageHandler()

	h.route("/{$}", map[string]http.HandlerFunc{"GET": h.servePage})
	h.route("/healthz", map[string]http.HandlerFunc{"GET": h.serveHealth})
	h.route("/stream", map[string]http.HandlerFunc{"POST": h.serveStream})
	h.route("/stream/{requestId}", map[string]http.HandlerFunc{"DELETE": h.serveCancel})
	h.route("/v1/chat/completions", map[string]http.HandlerFunc{"POST": h.serveChatCompletions})
	h.route("/v1/chat/completions/{id}/cancel", map[string]http.HandlerFunc{"POST": h.serveCancel})
	h.route("/v1/models", map[string]http.HandlerFunc{"GET": h.serveOpenAIModels})
	h.route("/v1/models/{model...}", map[string]http.HandlerFunc{"GET": h.serveOpenAIModel})
	h.route("/v1/embeddings", map[string]http.HandlerFunc{"POST": h.serveEmbeddings})
	h.route("/v1/images/generations", map[string]http.HandlerFunc{"POST": h.serveOpenAIImages})
	h.route("/generate", map[string]http.HandlerFunc{"POST": h.serveGenerate})
	h.route("/models", map[string]http.HandlerFunc{"GET": h.serveModels})
	h.route("/generate-image", map[string]http.HandlerFunc{"GET": h.serveGenerateImage, "POST": h.serveGenerateImage})
	h.mux.HandleFunc("/", h.notFound)
	return h
}

// route registers the handlers of one path, its CORS preflight, and a 405
// with Allow for every other method.
func (h *Handler) route(pattern string, byMethod map[string]http.HandlerFunc) {
	var methods []string
	for m, fn := range byMethod {
		h.mux.HandleFunc(m+" "+pattern, fn)
		methods = append(methods, m)
		if m == http.MethodGet {
			methods = append(methods, http.MethodHead)
		}
	}
	slices.Sort(methods)
	allow := strings.Join(append(methods, http.MethodOptions), ", ")
	h.mux.HandleFunc("OPTIONS "+pattern, h.preflight(allow))
	h.mux.HandleFunc(pattern, h.methodNotAllowed(allow))
}

// Close ends the streams in flight with an error event (text streams are
// aborted) and makes new ones fail the same way. Local mode calls it when
// the shutdown grace period is over.
func (h *Handler) Close() { h.close() }

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

// maxRequestURI bounds the request line's target: longer ones get 414, so
// that a huge path is neither routed nor copied into a log line.
const maxRequestURI = 8 << 10

// ServeHTTP routes the request and writes its log line when it ends,
// however it ends (an aborted text stream ends in a panic).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &requestLog{requestID: requestID(r.Context()), method: truncate(r.Method, 20), path: truncate(r.URL.Path, 200), start: time.Now()}
	defer h.logRequest(r.Context(), rec)
	w = newStatusWriter(w, rec)
	w.Header().Set("X-Request-Id", rec.requestID)
	rec.style = styleFor(r.URL.Path)
	h.allowOrigin(w, r, rec)
	switch {
	case len(r.RequestURI) > maxRequestURI || len(r.URL.Path) > maxRequestURI:
		writeError(w, rec, &Error{Status: http.StatusRequestURITooLong, Code: CodeURITooLong,
			Message: "the request target is longer than 8 KiB"})
		return
	case !isClean(r.URL.Path):
		// ServeMux would redirect to the clean path; an API answers
		// what was asked instead.
		writeError(w, rec, &Error{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: "no such route (the path is not in its clean form: no //, /./ or /../)"})
		return
	}
	if e := h.authorize(r); e != nil {
		if e.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="streamgate"`)
		}
		writeError(w, rec, e)
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestLogKey{}, rec)))
}

func isClean(p string) bool {
	if p == "" || p == "/" {
		return true
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") {
		clean += "/"
	}
	return clean == p
}

// styleFor picks the error envelope a path's clients read.
func styleFor(p string) errorStyle {
	switch {
	case strings.HasPrefix(p, "/v1/"):
		return styleOpenAI
	case p == "/generate":
		return styleGenerate
	}
	return styleStreamgate
}

// authorize checks the caller's API key when API_KEYS is set. The page,
// the health check and preflights are open: a browser sends no key with a
// preflight, and the page is what asks the user for one.
func (h *Handler) authorize(r *http.Request) *Error {
	if len(h.keys) == 0 || r.Method == http.MethodOptions {
		return nil
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.URL.Path == "/" || r.URL.Path == "/healthz") {
		return nil
	}
	key := presentedKey(r)
	if key == "" {
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "this gateway needs an API key: send Authorization: Bearer KEY or x-api-key: KEY"}
	}
	// Compare hashes, all of them: the time taken says nothing about how
	// much of which key matched, nor about the keys' lengths.
	sum := sha256.Sum256([]byte(key))
	match := 0
	for _, k := range h.keys {
		match |= subtle.ConstantTimeCompare(sum[:], k[:])
	}
	if match != 1 {
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "the API key is not valid"}
	}
	return nil
}

// presentedKey is the key a caller sent: the Bearer token of
// Authorization, else x-api-key.
func presentedKey(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		if scheme, token, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}

// callerKeyHash identifies the key a request came with, without holding
// the key: a cancel is accepted only from the key that started the stream.
func callerKeyHash(r *http.Request) string {
	sum := sha256.Sum256([]byte(presentedKey(r)))
	return hex.EncodeToString(sum[:])
}

func logOf(r *http.Request) *requestLog {
	rec := r.Context().Value(requestLogKey{}).(*requestLog)
	rec.route = r.Pattern
	return rec
}

func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	logOf(r)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(`{"status":"ok"}` + "\n"))
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	logOf(r)
	h.page.ServeHTTP(w, r)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, logOf(r), &Error{Status: http.StatusNotFound, Code: CodeNotFound,
		Message: "no such route; the routes are POST /stream, POST /v1/chat/completions, GET /v1/models, POST /generate, GET /models, GET|POST /generate-image, POST /v1/embeddings, POST /v1/images/generations, GET /healthz and GET /"})
}

func (h *Handler) methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, logOf(r), &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: "method " + truncate(r.Method, 20) + " is not allowed on " + truncate(r.URL.Path, 100) + "; allowed: " + allow})
	}
}

// allowOrigin adds the CORS response headers when the request's Origin is
// allowed by CORS_ALLOW_ORIGINS, and notes in the log line when it is not:
// the browser only tells its user "Failed to fetch".
func (h *Handler) allowOrigin(w http.ResponseWriter, r *http.Request, rec *requestLog) {
	origin := r.Header.Get("Origin")
	if origin == "" || sameOrigin(origin, r) {
		// Browsers send Origin on their own page's POSTs too: that is no
		// cross-origin request, and needs no CORS headers.
		return
	}
	if len(h.cfg.CORSAllowOrigins) == 0 {
		rec.cors = "refused: CORS is off (CORS_ALLOW_ORIGINS is empty)"
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
		rec.cors = "refused: origin " + strconv.Quote(truncate(origin, 100)) + " is not in CORS_ALLOW_ORIGINS"
		return
	}
	hdr.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
}

// sameOrigin reports whether origin is the request's own host (the page
// served by this gateway calling its API).
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// corsAllowHeaders are the request headers a browser may always send.
const corsAllowHeaders = "Content-Type, Accept, Authorization, X-Api-Key, X-Request-Id"

func (h *Handler) preflight(methods string) http.HandlerFunc {
	allowHeaders := corsAllowHeaders
	if len(h.cfg.CORSAllowHeaders) > 0 {
		allowHeaders += ", " + strings.Join(h.cfg.CORSAllowHeaders, ", ")
	}
	return func(w http.ResponseWriter, r *http.Request) {
		logOf(r)
		hdr := w.Header()
		hdr.Set("Allow", methods)
		if hdr.Get("Access-Control-Allow-Origin") != "" {
			hdr.Set("Access-Control-Allow-Methods", methods)
			hdr.Set("Access-Control-Allow-Headers", allowHeaders)
			hdr.Set("Access-Control-Max-Age", "600")
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// errorStyle is the envelope of a route's JSON errors.
type errorStyle int

const (
	styleStreamgate errorStyle = iota // {"error": {"code", "message", "retryable"}}
	styleOpenAI                       // {"error": {"message", "type", "code", "param"}}
	styleGenerate                     // streamgate's, plus a top-level "message" as the original /generate had
)

// writeError sends an error that happened before the first byte of the
// answer, with its status, in the envelope of the request's route.
func writeError(w http.ResponseWriter, rec *requestLog, e *Error) {
	rec.errorCode = e.Code
	hdr := w.Header()
	if e.RetryAfter > 0 {
		hdr.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	enc := json.NewEncoder(w)
	switch rec.style {
	case styleOpenAI:
		enc.Encode(openAIErrorBody(e))
	case styleGenerate:
		enc.Encode(struct {
			Error   *Error `json:"error"`
			Message string `json:"message"`
		}{e, e.Message})
	default:
		enc.Encode(struct {
			Error *Error `json:"error"`
		}{e})
	}
}

// statusWriter notes the status a response really got, for the log line,
// whoever wrote it. It passes flushes and hijacks on (Unwrap, FlushError).
type statusWriter struct {
	http.ResponseWriter
	rc  *http.ResponseController
	rec *requestLog
}

func newStatusWriter(w http.ResponseWriter, rec *requestLog) *statusWriter {
	return &statusWriter{ResponseWriter: w, rc: http.NewResponseController(w), rec: rec}
}

func (sw *statusWriter) WriteHeader(status int) {
	if sw.rec.status == 0 && status >= 200 {
		sw.rec.status = status
	}
	sw.ResponseWriter.WriteHeader(status)
}

func (sw *statusWriter) Write(p []byte) (int, error) {
	if sw.rec.status == 0 {
		sw.rec.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(p)
}

func (sw *statusWriter) FlushError() error           { return sw.rc.Flush() }
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }
