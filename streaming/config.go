package streaming

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the operator's policy for every request. The operator's caps
// win over the request: a request may ask for less, never for more.
type Config struct {
	ModelID       string   // MODEL_ID: used when a request names no model
	AllowedModels []string // ALLOWED_MODELS: models a request may name; always contains ModelID
	// ModelAliases (MODEL_ALIASES, "name=bedrockId,…") map a name clients
	// send to a Bedrock model id, before ALLOWED_MODELS applies.
	ModelAliases map[string]string
	MaxTokens    int      // MAX_TOKENS: the cap on output tokens, and the default
	Temperature  *float64 // TEMPERATURE: default when the request sets none
	TopP         *float64 // TOP_P: default when the request sets none
	SystemPrompt string   // SYSTEM_PROMPT: always sent, before the request's own system text
	MaxBodyBytes int64    // MAX_BODY_BYTES
	Heartbeat    time.Duration
	// DeadlineMargin is how long before the invocation deadline (the request
	// context's deadline, set by Lambda) the gateway ends a stream itself
	// with an explicit error, rather than being frozen mid-token.
	DeadlineMargin   time.Duration
	CORSAllowOrigins []string // "*" allows any origin
	CORSAllowHeaders []string // CORS_ALLOW_HEADERS: request headers allowed beyond the built-in ones
	LogLevel         slog.Level

	// APIKeys (API_KEYS), when not empty, are the keys a caller must send
	// as "Authorization: Bearer KEY" or "x-api-key: KEY" on every route but
	// GET /, GET /healthz and preflights.
	APIKeys []string

	// BodyReadTimeout bounds the time from the request's headers to the
	// last byte of its body, so that a stalled upload cannot hold a
	// connection and its buffer (BODY_READ_TIMEOUT_SECONDS).
	BodyReadTimeout time.Duration
	// UpstreamHeaderTimeout bounds the wait for Bedrock's response headers
	// (UPSTREAM_HEADER_TIMEOUT_SECONDS). Bedrock answers with headers at
	// once, even when the first token is slow.
	UpstreamHeaderTimeout time.Duration
	// UpstreamIdleTimeout bounds the silence between two events of a
	// Bedrock stream, and the whole of a non-streaming call, which sends
	// nothing until it is done (UPSTREAM_IDLE_TIMEOUT_SECONDS).
	UpstreamIdleTimeout time.Duration

	// CancelTable (CANCEL_TABLE) is the DynamoDB table through which a
	// DELETE /stream/{id} that lands on one Lambda instance stops a stream
	// that runs on another; empty = cancels reach only this process.
	CancelTable string
	// CancelPoll (CANCEL_POLL_SECONDS) is how often a running stream looks
	// for a cancel in CancelTable.
	CancelPoll time.Duration

	ImageModelID     string        // IMAGE_MODEL_ID: /generate-image and /v1/images/generations; empty = off
	ImagesBucket     string        // IMAGES_BUCKET: where generated images are stored
	PresignExpiry    time.Duration // PRESIGN_SECONDS: how long an image URL works
	EmbeddingModelID string        // EMBEDDING_MODEL_ID: /v1/embeddings; empty = off
	ModelsCache      time.Duration // MODELS_CACHE_SECONDS: how long GET /models reuses Bedrock's list

	// DailyTokenBudget (DAILY_TOKEN_BUDGET) is what each API key may spend
	// a UTC day, in tokens (input plus output); 0 = no budget.
	DailyTokenBudget int64
	// BudgetTable (BUDGET_TABLE) is the DynamoDB table that holds the
	// counters and per-key budgets; empty = counters in this process.
	BudgetTable string
	// ModelFallbacks (MODEL_FALLBACKS, "primary=fb1|fb2,…") are the models
	// tried, in order, when a model is throttled or unavailable before
	// the first byte of its answer.
	ModelFallbacks map[string][]string
	// Guardrail (GUARDRAIL_ID, GUARDRAIL_VERSION, GUARDRAIL_STREAM_MODE)
	// is attached to every Converse and ConverseStream call; nil = none.
	Guardrail *Guardrail
	// PromptCache (PROMPT_CACHE) is "auto" to add cache points after the
	// system prompt and the tools for the models that cache, or "" (off).
	PromptCache string
}

// Guardrail is a Bedrock guardrail the gateway applies.
type Guardrail struct {
	ID, Version string
	// StreamMode is Bedrock's streamProcessingMode: "sync" holds text
	// back until the guardrail has seen it, "async" streams it at once
	// and may end the answer after text went out.
	StreamMode string
}

// Defaults for settings the operator leaves unset.
const (
	DefaultMaxTokens             = 4096
	DefaultMaxBodyBytes          = 1 << 20
	DefaultHeartbeat             = 15 * time.Second
	DefaultDeadlineMargin        = 3 * time.Second
	DefaultBodyReadTimeout       = 30 * time.Second
	DefaultUpstreamHeaderTimeout = 30 * time.Second
	DefaultUpstreamIdleTimeout   = 120 * time.Second
	DefaultCancelPoll            = time.Second
	DefaultPresignExpiry         = time.Hour
	DefaultModelsCache           = 5 * time.Minute
	maxStopSequences             = 4
	maxStopSequenceLen           = 200
	maxTools                     = 64
	maxToolInputBytes            = 1 << 20
)

// MaxMessages is the most turns a conversation may hold, in any dialect.
const MaxMessages = 1000

// ConfigError names the setting that is wrong, so that a bad configuration
// stops the process at start with one clear line.
type ConfigError struct {
	Name, Value, Problem string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("configuration: %s=%q: %s", e.Name, e.Value, e.Problem)
}

// LoadConfig reads the gateway's settings from the environment through
// getenv (os.Getenv in production). MODEL_ID is required.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := Config{
		MaxTokens:      DefaultMaxTokens,
		MaxBodyBytes:   DefaultMaxBodyBytes,
		Heartbeat:      DefaultHeartbeat,
		DeadlineMargin: DefaultDeadlineMargin,
		LogLevel:       slog.LevelInfo,

		BodyReadTimeout:       DefaultBodyReadTimeout,
		UpstreamHeaderTimeout: DefaultUpstreamHeaderTimeout,
		UpstreamIdleTimeout:   DefaultUpstreamIdleTimeout,
		CancelPoll:            DefaultCancelPoll,
		PresignExpiry:         DefaultPresignExpiry,
		ModelsCache:           DefaultModelsCache,
	}
	cfg.ModelID = strings.TrimSpace(getenv("MODEL_ID"))
	if cfg.ModelID == "" {
		return Config{}, &ConfigError{"MODEL_ID", "", "is required (a Bedrock model id, inference profile id or ARN)"}
	}
	cfg.AllowedModels = splitList(getenv("ALLOWED_MODELS"))
	if len(cfg.AllowedModels) == 0 {
		cfg.AllowedModels = []string{cfg.ModelID}
	} else if !slices.Contains(cfg.AllowedModels, cfg.ModelID) {
		return Config{}, &ConfigError{"ALLOWED_MODELS", getenv("ALLOWED_MODELS"), "must include MODEL_ID " + cfg.ModelID}
	}
	var err error
	if cfg.ModelAliases, err = aliasesSetting(getenv("MODEL_ALIASES")); err != nil {
		return Config{}, err
	}
	if cfg.MaxTokens, err = intSetting(getenv, "MAX_TOKENS", cfg.MaxTokens, 1, 1_000_000); err != nil {
		return Config{}, err
	}
	if cfg.Temperature, err = unitSetting(getenv, "TEMPERATURE"); err != nil {
		return Config{}, err
	}
	if cfg.TopP, err = unitSetting(getenv, "TOP_P"); err != nil {
		return Config{}, err
	}
	cfg.SystemPrompt = getenv("SYSTEM_PROMPT")
	maxBody, err := intSetting(getenv, "MAX_BODY_BYTES", int(cfg.MaxBodyBytes), 64, 10<<20)
	if err != nil {
		return Config{}, err
	}
	cfg.MaxBodyBytes = int64(maxBody)
	if cfg.Heartbeat, err = secondsSetting(getenv, "HEARTBEAT_SECONDS", cfg.Heartbeat); err != nil {
		return Config{}, err
	}
	if cfg.DeadlineMargin, err = secondsSetting(getenv, "DEADLINE_MARGIN_SECONDS", cfg.DeadlineMargin); err != nil {
		return Config{}, err
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{
		{"BODY_READ_TIMEOUT_SECONDS", &cfg.BodyReadTimeout},
		{"UPSTREAM_HEADER_TIMEOUT_SECONDS", &cfg.UpstreamHeaderTimeout},
		{"UPSTREAM_IDLE_TIMEOUT_SECONDS", &cfg.UpstreamIdleTimeout},
		{"CANCEL_POLL_SECONDS", &cfg.CancelPoll},
	} {
		if *d.to, err = secondsSetting(getenv, d.name, *d.to); err != nil {
			return Config{}, err
		}
	}
	// 0 turns the cache of GET /models off.
	cache, err := intSetting(getenv, "MODELS_CACHE_SECONDS", int(DefaultModelsCache/time.Second), 0, 86400)
	if err != nil {
		return Config{}, err
	}
	cfg.ModelsCache = time.Duration(cache) * time.Second
	presign, err := intSetting(getenv, "PRESIGN_SECONDS", int(DefaultPresignExpiry/time.Second), 1, 7*24*3600)
	if err != nil {
		return Config{}, err
	}
	cfg.PresignExpiry = time.Duration(presign) * time.Second
	cfg.CORSAllowOrigins = splitList(getenv("CORS_ALLOW_ORIGINS"))
	cfg.CORSAllowHeaders = splitList(getenv("CORS_ALLOW_HEADERS"))
	for _, h := range cfg.CORSAllowHeaders {
		if !validHeaderName(h) {
			return Config{}, &ConfigError{"CORS_ALLOW_HEADERS", getenv("CORS_ALLOW_HEADERS"), "must be a comma list of header names (letters, digits and -)"}
		}
	}
	cfg.APIKeys = splitList(getenv("API_KEYS"))
	for _, k := range cfg.APIKeys {
		if len(k) < 16 {
			// The value itself is a secret: never echo it.
			return Config{}, &ConfigError{"API_KEYS", "(hidden)", "every key must be at least 16 characters long"}
		}
	}
	cfg.CancelTable = strings.TrimSpace(getenv("CANCEL_TABLE"))
	budget, err := intSetting(getenv, "DAILY_TOKEN_BUDGET", 0, 0, 1<<50)
	if err != nil {
		return Config{}, err
	}
	cfg.DailyTokenBudget = int64(budget)
	cfg.BudgetTable = strings.TrimSpace(getenv("BUDGET_TABLE"))
	if cfg.ModelFallbacks, err = ParseModelFallbacks(getenv("MODEL_FALLBACKS"), cfg.AllowedModels); err != nil {
		return Config{}, err
	}
	if cfg.Guardrail, err = guardrailSetting(getenv); err != nil {
		return Config{}, err
	}
	switch cfg.PromptCache = strings.ToLower(strings.TrimSpace(getenv("PROMPT_CACHE"))); cfg.PromptCache {
	case "", "auto":
	case "off", "none":
		cfg.PromptCache = ""
	default:
		return Config{}, &ConfigError{"PROMPT_CACHE", getenv("PROMPT_CACHE"), "must be auto or off"}
	}
	cfg.ImageModelID = strings.TrimSpace(getenv("IMAGE_MODEL_ID"))
	cfg.ImagesBucket = strings.TrimSpace(getenv("IMAGES_BUCKET"))
	cfg.EmbeddingModelID = strings.TrimSpace(getenv("EMBEDDING_MODEL_ID"))
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return Config{}, &ConfigError{"LOG_LEVEL", v, "must be debug, info, warn or error"}
		}
	}
	return cfg, nil
}

// AllowsFoundationModel reports whether ALLOWED_MODELS names the foundation model id, or
// an inference profile of it ("us." + id) or an ARN ending in it.
func (cfg *Config) AllowsFoundationModel(modelID string) bool {
	for _, a := range cfg.AllowedModels {
		if i := strings.LastIndexByte(a, '/'); i >= 0 {
			a = a[i+1:]
		}
		if a == modelID || strings.HasSuffix(a, "."+modelID) && !strings.Contains(strings.TrimSuffix(a, "."+modelID), ".") {
			return true
		}
	}
	return false
}

// aliasesSetting reads MODEL_ALIASES: "name=bedrockId" pairs, comma
// separated.
func aliasesSetting(v string) (map[string]string, error) {
	aliases := map[string]string{}
	for _, pair := range splitList(v) {
		name, id, ok := strings.Cut(pair, "=")
		name, id = strings.TrimSpace(name), strings.TrimSpace(id)
		if !ok || name == "" || id == "" || strings.Contains(id, "=") {
			return nil, &ConfigError{"MODEL_ALIASES", v, "must be a comma list of name=bedrockModelId pairs"}
		}
		if _, twice := aliases[name]; twice {
			return nil, &ConfigError{"MODEL_ALIASES", v, "names " + name + " twice"}
		}
		aliases[name] = id
	}
	return aliases, nil
}

// ParseModelFallbacks reads MODEL_FALLBACKS: "primary=fb1|fb2" entries,
// comma separated; every fallback must be an allowed model.
func ParseModelFallbacks(v string, allowed []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, entry := range splitList(v) {
		primary, list, ok := strings.Cut(entry, "=")
		primary = strings.TrimSpace(primary)
		if !ok || primary == "" {
			return nil, &ConfigError{"MODEL_FALLBACKS", v, "must be a comma list of primary=fallback1|fallback2 entries"}
		}
		if _, twice := out[primary]; twice {
			return nil, &ConfigError{"MODEL_FALLBACKS", v, "names " + primary + " twice"}
		}
		var fbs []string
		for fb := range strings.SplitSeq(list, "|") {
			fb = strings.TrimSpace(fb)
			switch {
			case fb == "":
				return nil, &ConfigError{"MODEL_FALLBACKS", v, "has an empty fallback for " + primary}
			case fb == primary || slices.Contains(fbs, fb):
				return nil, &ConfigError{"MODEL_FALLBACKS", v, "names " + fb + " twice for " + primary}
			case !slices.Contains(allowed, fb):
				return nil, &ConfigError{"MODEL_FALLBACKS", v, "names " + fb + ", which ALLOWED_MODELS does not allow"}
			}
			fbs = append(fbs, fb)
		}
		out[primary] = fbs
	}
	return out, nil
}

// guardrailSetting reads GUARDRAIL_ID, GUARDRAIL_VERSION and
// GUARDRAIL_STREAM_MODE: an id needs a version (a number or DRAFT).
func guardrailSetting(getenv func(string) string) (*Guardrail, error) {
	id, version := strings.TrimSpace(getenv("GUARDRAIL_ID")), strings.TrimSpace(getenv("GUARDRAIL_VERSION"))
	mode := strings.ToLower(strings.TrimSpace(getenv("GUARDRAIL_STREAM_MODE")))
	switch {
	case id == "" && version == "" && mode == "":
		return nil, nil
	case id == "":
		return nil, &ConfigError{"GUARDRAIL_ID", "", "is required when GUARDRAIL_VERSION or GUARDRAIL_STREAM_MODE is set"}
	case version == "":
		return nil, &ConfigError{"GUARDRAIL_VERSION", "", "is required with GUARDRAIL_ID (a version number, or DRAFT)"}
	case version != "DRAFT" && strings.Trim(version, "0123456789") != "":
		return nil, &ConfigError{"GUARDRAIL_VERSION", version, "must be a version number or DRAFT"}
	}
	switch mode {
	case "":
		mode = "sync"
	case "sync", "async":
	default:
		return nil, &ConfigError{"GUARDRAIL_STREAM_MODE", mode, "must be sync or async"}
	}
	return &Guardrail{ID: id, Version: version, StreamMode: mode}, nil
}

func validHeaderName(h string) bool {
	if h == "" || len(h) > 100 {
		return false
	}
	for _, c := range h {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" && !slices.Contains(out, part) {
			out = append(out, part)
		}
	}
	return out
}

func intSetting(getenv func(string) string, name string, def, lo, hi int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, &ConfigError{name, v, fmt.Sprintf("must be a whole number from %d to %d", lo, hi)}
	}
	return n, nil
}

func unitSetting(getenv func(string) string, name string) (*float64, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
		return nil, &ConfigError{name, v, "must be a number from 0 to 1"}
	}
	return &f, nil
}

func secondsSetting(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > 3600 {
		return 0, &ConfigError{name, v, "must be a number of seconds greater than 0 and at most 3600"}
	}
	return time.Duration(f * float64(time.Second)), nil
}
