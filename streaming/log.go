package streaming

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// RequestLog collects what one request's log line reports. It never holds
// the prompt or the answer. The core fills most of it; a dialect adds what
// only it knows through the methods below.
type RequestLog struct {
	requestID, method, path, route string
	model, format                  string
	status                         int
	start, firstToken              time.Time
	bytes                          int64
	deltas                         int
	inputTokens, outputTokens      int
	stopReason                     string
	errorCode, cause               string
	clientAborted                  bool
	aborted                        bool       // the response was cut on purpose (text mode failure)
	cancelled                      bool       // stopped by DELETE /stream/{id}
	keyHash                        string     // sha256 of the caller's API key (hex), for budgets and cancels
	keyed                          bool       // the caller sent a key
	requestedModel                 string     // the model asked for, when a fallback answered
	fallbacks                      int        // models tried before the one that answered
	usageKnown                     bool       // the token counts are Bedrock's (not only the deltas relayed)
	inputEstimate                  int        // input tokens estimated from the request, for answers Bedrock did not count
	cacheRead, cacheWrite          int        // input tokens read from and written to the prompt cache
	budget                         string     // what became of the token budget check when it did not pass cleanly
	guardrail                      string     // the guardrail's action, when it acted
	dropped                        []string   // request fields the gateway could not honour: names, never values
	user                           string     // a hash of the end user's id a client sent
	shape                          ErrorShape // the envelope of the request's errors; nil = streamgate's
	cors                           string     // why CORS headers were not given to an Origin
}

// LogOf is the log record of a request the Handler routed to a dialect.
func LogOf(r *http.Request) *RequestLog { return logOf(r) }

func logOf(r *http.Request) *RequestLog {
	rec := r.Context().Value(requestLogKey{}).(*RequestLog)
	rec.route = r.Pattern
	return rec
}

// ID is the request id: the X-Request-Id of the answer, which dialects
// build their own ids from.
func (l *RequestLog) ID() string { return l.requestID }

// Started is when the request arrived.
func (l *RequestLog) Started() time.Time { return l.start }

// SetModel names the model and the response format of a request that
// calls one without the relay (which notes its own).
func (l *RequestLog) SetModel(model, format string) { l.model, l.format = model, format }

// SetCause notes why a request failed, in words for the operator (never
// for the client).
func (l *RequestLog) SetCause(cause string) { l.cause = cause }

// maxDropped bounds the names Dropped keeps: a client that sends a
// thousand unknown fields gets one log line of sensible length.
const maxDropped = 32

// Dropped names request fields (or betas, or tools) the gateway accepted
// but could not honour, so that the operator sees what a client asked for
// in vain. Only names are logged, never values; each is capped.
func (l *RequestLog) Dropped(names ...string) {
	for _, n := range names {
		n = Truncate(n, 60)
		if len(l.dropped) < maxDropped && !slices.Contains(l.dropped, n) {
			l.dropped = append(l.dropped, n)
		}
	}
}

// SetUser notes the end user a client named (Anthropic's metadata.user_id,
// OpenAI's user), as a short hash: enough to tell users apart in the logs,
// never the id itself.
func (l *RequestLog) SetUser(id string) {
	sum := sha256.Sum256([]byte(id))
	l.user = hex.EncodeToString(sum[:8])
}

// SetTokens notes the tokens of an answer the relay did not count, as
// the model reported them; they count against the key's budget.
func (l *RequestLog) SetTokens(input, output int) {
	l.inputTokens, l.outputTokens, l.usageKnown = input, output, true
}

// setUsage notes Bedrock's usage of an answer.
func (l *RequestLog) setUsage(u Usage) {
	l.inputTokens, l.outputTokens, l.usageKnown = u.InputTokens, u.OutputTokens, true
	l.cacheRead, l.cacheWrite = u.CacheReadInputTokens, u.CacheWriteInputTokens
}

// tokensSpent is what the answer cost, for the key's budget: Bedrock's
// count when it gave one, else (an answer stopped, failed or cut before
// Bedrock's usage came) the deltas relayed and an estimate of the input.
func (l *RequestLog) tokensSpent() int {
	if l.usageKnown {
		return l.inputTokens + l.outputTokens + l.cacheRead + l.cacheWrite
	}
	return l.inputEstimate + max(l.outputTokens, l.deltas)
}

// keyID is a short id of the caller's key for metrics and logs: never
// the key, and too short to look one up by.
func (l *RequestLog) keyID() string {
	if !l.keyed {
		return ""
	}
	return l.keyHash[:12]
}

// MetricsNamespace is the CloudWatch namespace of the request metrics.
const MetricsNamespace = "streamgate"

// emf is the CloudWatch Embedded Metric Format directive. It makes the
// request's own log line carry its metrics, so dashboards and alarms need
// neither a PutMetricData call nor a second line.
type emf struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// logRequest writes the request's one JSON line.
func (h *Handler) logRequest(ctx context.Context, rec *RequestLog) {
	end := time.Now()
	route := rec.route
	if route == "" {
		route = "unmatched"
	}
	failed := 0
	if rec.errorCode != "" {
		failed = 1
	}
	aborted, cancels := 0, 0
	if rec.clientAborted {
		aborted = 1
	}
	if rec.cancelled {
		cancels = 1
	}
	metrics := []emfMetric{
		{"durationMs", "Milliseconds"},
		{"errors", "Count"},
		{"clientAborts", "Count"},
		{"cancels", "Count"},
	}
	attrs := []slog.Attr{
		slog.String("requestId", rec.requestID),
		slog.String("route", route),
		slog.String("method", rec.method),
		slog.String("path", rec.path),
		slog.Int("status", rec.status),
		slog.Int64("durationMs", end.Sub(rec.start).Milliseconds()),
		slog.Int("errors", failed),
		slog.Int("clientAborts", aborted),
		slog.Bool("clientAborted", rec.clientAborted),
		slog.Int("cancels", cancels),
		slog.Bool("cancelled", rec.cancelled),
	}
	dimensions := [][]string{{"route"}}
	if rec.model != "" {
		dimensions = append(dimensions, []string{"route", "model"})
		metrics = append(metrics, emfMetric{"bytes", "Bytes"}, emfMetric{"outputTokens", "Count"}, emfMetric{"inputTokens", "Count"})
		attrs = append(attrs,
			slog.String("model", rec.model),
			slog.String("format", rec.format),
			slog.Int64("bytes", rec.bytes),
			slog.Int("deltas", rec.deltas),
			slog.Int("inputTokens", rec.inputTokens),
			slog.Int("outputTokens", rec.outputTokens),
			slog.String("stopReason", rec.stopReason),
		)
	}
	if !rec.firstToken.IsZero() {
		metrics = append(metrics, emfMetric{"ttftMs", "Milliseconds"})
		attrs = append(attrs, slog.Int64("ttftMs", rec.firstToken.Sub(rec.start).Milliseconds()))
	}
	if rec.errorCode != "" {
		attrs = append(attrs, slog.String("error", rec.errorCode))
	}
	if rec.cause != "" {
		attrs = append(attrs, slog.String("cause", rec.cause))
	}
	if rec.aborted {
		attrs = append(attrs, slog.Bool("responseAborted", true))
	}
	if rec.cors != "" {
		attrs = append(attrs, slog.String("cors", rec.cors))
	}
	if len(rec.dropped) > 0 {
		attrs = append(attrs, slog.Any("dropped", rec.dropped))
	}
	if rec.user != "" {
		attrs = append(attrs, slog.String("user", rec.user))
	}
	if rec.fallbacks > 0 {
		metrics = append(metrics, emfMetric{"fallbacks", "Count"})
		attrs = append(attrs, slog.String("requestedModel", rec.requestedModel), slog.Int("fallbacks", rec.fallbacks))
	}
	if rec.cacheRead > 0 || rec.cacheWrite > 0 {
		metrics = append(metrics, emfMetric{"cacheReadInputTokens", "Count"}, emfMetric{"cacheWriteInputTokens", "Count"})
		attrs = append(attrs, slog.Int("cacheReadInputTokens", rec.cacheRead), slog.Int("cacheWriteInputTokens", rec.cacheWrite))
	}
	if rec.budget != "" {
		attrs = append(attrs, slog.String("budget", rec.budget))
	}
	if rec.guardrail != "" {
		attrs = append(attrs, slog.String("guardrail", rec.guardrail))
	}
	directives := []emfDirective{{Namespace: MetricsNamespace, Dimensions: dimensions, Metrics: metrics}}
	if spent := rec.tokensSpent(); spent > 0 {
		// Tokens per key, apart: one metric per key, not every metric of
		// the line once more per key (CloudWatch bills each).
		attrs = append(attrs, slog.Int("tokens", spent))
		if id := rec.keyID(); id != "" {
			attrs = append(attrs, slog.String("keyId", id))
			directives = append(directives, emfDirective{Namespace: MetricsNamespace, Dimensions: [][]string{{"keyId"}}, Metrics: []emfMetric{{"tokens", "Count"}}})
		}
	}
	attrs = append(attrs, slog.Any("_aws", emf{Timestamp: end.UnixMilli(), CloudWatchMetrics: directives}))
	h.log.LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, "request", attrs...)
}
