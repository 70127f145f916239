package streaming

import (
	"bytes"
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
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
)

// Upstreams are the AWS services the gateway calls. Only Bedrock is
// required; a route whose service is missing answers 503 not_configured.
type Upstreams struct {
	// Bedrock is the Bedrock Runtime client: Converse, ConverseStream and
	// InvokeModel.
	Bedrock *bedrockruntime.Client
	// Control is the Bedrock control-plane client, for GET /models.
	Control *bedrock.Client
	// S3 stores generated images and presigns their URLs.
	S3 *S3Client
	// Cancels is the store shared by all instances through which a cancel
	// reaches a stream running elsewhere (Lambda); nil = this process only.
	Cancels CancelStore
	// Budgets keeps the token counters of DAILY_TOKEN_BUDGET, shared by
	// all instances (BUDGET_TABLE); nil = counters in this process.
	Budgets BudgetStore
	// Later, if set, fills in Control (or S3) on first use: the
	// first request that needs one of them calls it, once, so that a
	// cold start does not build clients most invocations never call.
	Later func(*Upstreams)
}

// A Dialect is one client protocol: it registers its routes, and the
// envelope of their errors, with the Handler, in one call. Dialects are the
// packages beside this one (streaming/native, streaming/openai, ...); the
// core knows none of them.
type Dialect func(*Handler)

// Handler is the gateway: the routes its dialects registered, the health
// check and the chat page, with their CORS preflights. It is safe for
// concurrent use, and local mode and Lambda mode serve the same Handler.
type Handler struct {
	cfg     Config
	bedrock *bedrockruntime.Client
	up      Upstreams
	log     *slog.Logger
	mux     *http.ServeMux
	keys    [][sha256.Size]byte // hashes of API_KEYS
	cancels *cancels
	budgets *budgets // nil when DAILY_TOKEN_BUDGET is off
	page    http.Handler

	routes   map[string]*route // by pattern
	order    []string          // patterns in the order of registration, for the 404's list
	shapes   []errorShape
	prefixes []string // what dialects put before a request id in their own ids

	// closing ends when Close is called: streams still running end with a
	// shutting_down error event instead of a cut.
	closing context.Context
	close   context.CancelFunc

	later sync.Once // runs up.Later
}

// New returns the gateway for cfg, calling AWS through up (the real SDK
// clients, pointed at the emulators in local mode), speaking each of
// dialects. Each request's log line and metrics go to logger.
func New(cfg Config, up Upstreams, logger *slog.Logger, dialects ...Dialect) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	closing, closeFn := context.WithCancel(context.Background())
	h := &Handler{cfg: cfg, bedrock: up.Bedrock, up: up, log: logger, mux: http.NewServeMux(),
		routes: map[string]*route{}, closing: closing, close: closeFn}
	for _, k := range cfg.APIKeys {
		h.keys = append(h.keys, sha256.Sum256([]byte(k)))
	}
	h.cancels = newCancels(up.Cancels, cfg.CancelPoll, logger)
	h.budgets = newBudgets(cfg.DailyTokenBudget, up.Budgets, logger)
	h.page = pageHandler()

	h.Route("/{$}", Methods{"GET": h.servePage})
	h.Route("/healthz", Methods{"GET": h.serveHealth})
	for _, d := range dialects {
		d(h)
	}
	h.mux.HandleFunc("/", h.notFound)
	return h
}

// Config is the operator's policy the Handler applies. Dialects read it
// (the default model, the allowlist); they never change it.
func (h *Handler) Config() *Config { return &h.cfg }

// Upstreams are the AWS clients the Handler calls, with those that
// Upstreams.Later builds built (by the first call). Control and S3 are
// read through it only.
func (h *Handler) Upstreams() Upstreams {
	h.later.Do(func() {
		if h.up.Later != nil {
			h.up.Later(&h.up)
		}
	})
	return h.up
}

// Methods maps an HTTP method to the handler of one route.
type Methods map[string]http.HandlerFunc

// route is one path's handlers. A path may be served by more than one
// dialect, each for the requests its when accepts (GET /v1/models is
// OpenAI's list, or Anthropic's when the request carries
// anthropic-version); the one registered without a condition takes the
// rest.
type route struct {
	byMethod map[string][]guarded
}

type guarded struct {
	when func(*http.Request) bool
	fn   http.HandlerFunc
}

// Route registers the handlers of one path pattern (ServeMux's syntax,
// without the method), its CORS preflight, and a 405 with Allow for every
// other method.
func (h *Handler) Route(pattern string, byMethod Methods) { h.RouteWhen(pattern, nil, byMethod) }

// RouteWhen is Route for the requests when accepts: a dialect that shares
// a path with another one answers only its own clients there.
func (h *Handler) RouteWhen(pattern string, when func(*http.Request) bool, byMethod Methods) {
	rt := h.routes[pattern]
	if rt == nil {
		rt = &route{byMethod: map[string][]guarded{}}
		h.routes[pattern] = rt
		h.order = append(h.order, pattern)
		h.mux.HandleFunc("OPTIONS "+pattern, func(w http.ResponseWriter, r *http.Request) { h.preflight(w, r, rt.allow()) })
		h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { h.methodNotAllowed(w, r, rt.allow()) })
	}
	for m, fn := range byMethod {
		if _, seen := rt.byMethod[m]; !seen {
			h.mux.HandleFunc(m+" "+pattern, func(w http.ResponseWriter, r *http.Request) { rt.serve(w, r) })
		}
		g := guarded{when, fn}
		if when == nil {
			rt.byMethod[m] = append(rt.byMethod[m], g) // the fallback goes last
		} else {
			rt.byMethod[m] = append([]guarded{g}, rt.byMethod[m]...)
		}
	}
}

func (rt *route) serve(w http.ResponseWriter, r *http.Request) {
	m := r.Method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	for _, g := range rt.byMethod[m] {
		if g.when == nil || g.when(r) {
			g.fn(w, r)
			return
		}
	}
	writeError(w, logOf(r), &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such route for this request"})
}

func (rt *route) allow() string {
	var methods []string
	for m := range rt.byMethod {
		methods = append(methods, m)
		if m == http.MethodGet {
			methods = append(methods, http.MethodHead)
		}
	}
	slices.Sort(methods)
	return strings.Join(append(methods, http.MethodOptions), ", ")
}

// An ErrorShape is a protocol's envelope for errors that happen before the
// first byte of an answer: the status it uses for e (Anthropic's 529, say)
// and the JSON body. It may add headers to hdr.
type ErrorShape func(hdr http.Header, e *Error) (status int, body any)

type errorShape struct {
	path  string // "/v1/" is a prefix, "/generate" a whole path
	when  func(*http.Request) bool
	shape ErrorShape
}

// ShapeErrors makes the errors of requests to path (a prefix when it ends
// in "/", else the whole path) for which when is true (nil: all) take
// shape, so that a client gets even a 401 or 404 in its own protocol's
// envelope. The longest matching path wins; at the same path, one with a
// condition wins over one without. Other paths get streamgate's
// {"error": {"code", "message", "retryable"}}.
func (h *Handler) ShapeErrors(path string, when func(*http.Request) bool, shape ErrorShape) {
	h.shapes = append(h.shapes, errorShape{path, when, shape})
}

func (h *Handler) shapeFor(r *http.Request) ErrorShape {
	var best *errorShape
	for i := range h.shapes {
		s := &h.shapes[i]
		matches := r.URL.Path == s.path || strings.HasSuffix(s.path, "/") && strings.HasPrefix(r.URL.Path, s.path)
		if !matches || s.when != nil && !s.when(r) {
			continue
		}
		if best == nil || len(s.path) > len(best.path) || len(s.path) == len(best.path) && s.when != nil {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	return best.shape
}

// IDPrefix tells the cancel routes that a dialect's answer ids are prefix
// plus the request id ("chatcmpl-", "msg_"), so that a client can stop an
// answer by the id it was given.
func (h *Handler) IDPrefix(prefix string) { h.prefixes = append(h.prefixes, prefix) }

// Close ends the streams in flight with an error event (text streams are
// aborted) and makes new ones fail the same way. Local mode calls it when
// the shutdown grace period is over.
func (h *Handler) Close() { h.close() }

// Running lists the ids of the answers running in this process.
func (h *Handler) Running() []string { return h.cancels.runningIDs() }

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
	rec := &RequestLog{requestID: requestID(r.Context()), method: Truncate(r.Method, 20), path: Truncate(r.URL.Path, 200), start: time.Now()}
	key := presentedKey(r)
	rec.keyHash, rec.keyed = hashKey(key), key != ""
	defer func() {
		// Also when an aborted text stream panics: its tokens were spent.
		h.budgets.charge(r.Context(), rec)
		h.logRequest(r.Context(), rec)
	}()
	w = newStatusWriter(w, rec)
	w.Header().Set("X-Request-Id", rec.requestID)
	rec.shape = h.shapeFor(r)
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

// hashKey identifies the key a request came with, without holding the
// key: a cancel is accepted only from the key that started the stream,
// and tokens are counted against it.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Admit applies what a request must pass before it may spend tokens: its
// key's daily budget (DAILY_TOKEN_BUDGET). Relay, Converse and
// GenerateImages admit their requests themselves; a dialect that calls
// Bedrock another way (InvokeJSON, a pass-through) calls Admit once first.
func (h *Handler) Admit(r *http.Request) *Error { return h.budgets.check(r.Context(), logOf(r)) }

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
	var listed []string
	for _, pattern := range h.order {
		if strings.Contains(pattern, "{") && pattern != "/{$}" {
			continue // the cancel routes and the like: named by their answers
		}
		methods := strings.TrimSuffix(h.routes[pattern].allow(), ", OPTIONS")
		methods = strings.ReplaceAll(strings.ReplaceAll(methods, ", HEAD", ""), ", ", "|")
		listed = append(listed, methods+" "+strings.TrimSuffix(pattern, "{$}"))
	}
	writeError(w, logOf(r), &Error{Status: http.StatusNotFound, Code: CodeNotFound,
		Message: "no such route; the routes are " + strings.Join(listed, ", ")})
}

func (h *Handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, logOf(r), &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
		Message: "method " + Truncate(r.Method, 20) + " is not allowed on " + Truncate(r.URL.Path, 100) + "; allowed: " + allow})
}

// allowOrigin adds the CORS response headers when the request's Origin is
// allowed by CORS_ALLOW_ORIGINS, and notes in the log line when it is not:
// the browser only tells its user "Failed to fetch".
func (h *Handler) allowOrigin(w http.ResponseWriter, r *http.Request, rec *RequestLog) {
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
		rec.cors = "refused: origin " + strconv.Quote(Truncate(origin, 100)) + " is not in CORS_ALLOW_ORIGINS"
		return
	}
	hdr.Set("Access-Control-Expose-Headers", "X-Request-Id, Request-Id, Retry-After, "+ModelHeader)
}

// sameOrigin reports whether origin is the request's own host (the page
// served by this gateway calling its API).
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// corsAllowHeaders are the request headers a browser may always send:
// the gateway's own, and those the Anthropic and OpenAI SDKs send from a
// page (anthropic-version and -beta, the direct-browser-access opt-in,
// and the SDKs' X-Stainless-* client description).
const corsAllowHeaders = "Content-Type, Accept, Authorization, X-Api-Key, X-Request-Id, " +
	"Anthropic-Version, Anthropic-Beta, Anthropic-Dangerous-Direct-Browser-Access, " +
	"X-Stainless-Arch, X-Stainless-Lang, X-Stainless-Os, X-Stainless-Package-Version, X-Stainless-Retry-Count, " +
	"X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Timeout, X-Stainless-Helper-Method"

func (h *Handler) preflight(w http.ResponseWriter, r *http.Request, methods string) {
	logOf(r)
	hdr := w.Header()
	hdr.Set("Allow", methods)
	if hdr.Get("Access-Control-Allow-Origin") != "" {
		allowHeaders := corsAllowHeaders
		if len(h.cfg.CORSAllowHeaders) > 0 {
			allowHeaders += ", " + strings.Join(h.cfg.CORSAllowHeaders, ", ")
		}
		hdr.Set("Access-Control-Allow-Methods", methods)
		hdr.Set("Access-Control-Allow-Headers", allowHeaders)
		hdr.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

// WriteError sends an error that happened before the first byte of the
// answer, with its status, in the envelope of the protocol the request
// speaks (the ErrorShape registered for its path).
func WriteError(w http.ResponseWriter, r *http.Request, e *Error) { writeError(w, logOf(r), e) }

func writeError(w http.ResponseWriter, rec *RequestLog, e *Error) {
	rec.errorCode = e.Code
	hdr := w.Header()
	if e.RetryAfter > 0 {
		hdr.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	status, body := e.Status, any(struct {
		Error *Error `json:"error"`
	}{e})
	if rec.shape != nil {
		status, body = rec.shape(hdr, e)
	}
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// WriteJSON sends a whole JSON answer.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// URLs (presigned ones hold &) stay readable to curl and shell users.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// statusWriter notes the status a response really got, for the log line,
// whoever wrote it. It passes flushes and hijacks on (Unwrap, FlushError).
type statusWriter struct {
	http.ResponseWriter
	rc  *http.ResponseController
	rec *RequestLog
}

func newStatusWriter(w http.ResponseWriter, rec *RequestLog) *statusWriter {
	return &statusWriter{ResponseWriter: w, rc: http.NewResponseController(w), rec: rec}
}

func (sw *statusWriter) WriteHeader(status int) {
	if sw.rec.status == 0 && status >= 200 {
		sw.rec.status = status
		sw.modelHeader()
	}
	sw.ResponseWriter.WriteHeader(status)
}

func (sw *statusWriter) Write(p []byte) (int, error) {
	if sw.rec.status == 0 {
		sw.rec.status = http.StatusOK
		sw.modelHeader()
	}
	return sw.ResponseWriter.Write(p)
}

// ModelHeader names the Bedrock model that answered (or was called),
// on every route that calls one: with MODEL_FALLBACKS it may not be the
// one asked for.
const ModelHeader = "X-Streamgate-Model"

func (sw *statusWriter) modelHeader() {
	if sw.rec.model != "" {
		sw.Header().Set(ModelHeader, sw.rec.model)
	}
}

func (sw *statusWriter) FlushError() error           { return sw.rc.Flush() }
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }
