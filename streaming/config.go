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
	MaxTokens     int      // MAX_TOKENS: the cap on output tokens, and the default
	Temperature   *float64 // TEMPERATURE: default when the request sets none
	TopP          *float64 // TOP_P: default when the request sets none
	SystemPrompt  string   // SYSTEM_PROMPT: always sent, before the request's own system text
	MaxBodyBytes  int64    // MAX_BODY_BYTES
	Heartbeat     time.Duration
	// DeadlineMargin is how long before the invocation deadline (the request
	// context's deadline, set by Lambda) the gateway ends a stream itself
	// with an explicit error, rather than being frozen mid-token.
	DeadlineMargin   time.Duration
	CORSAllowOrigins []string // "*" allows any origin
	LogLevel         slog.Level
}

// Defaults for settings the operator leaves unset.
const (
	DefaultMaxTokens      = 4096
	DefaultMaxBodyBytes   = 1 << 20
	DefaultHeartbeat      = 15 * time.Second
	DefaultDeadlineMargin = 3 * time.Second
	maxStopSequences      = 4
	maxStopSequenceLen    = 200
	maxMessages           = 1000
)

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
	cfg.CORSAllowOrigins = splitList(getenv("CORS_ALLOW_ORIGINS"))
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return Config{}, &ConfigError{"LOG_LEVEL", v, "must be debug, info, warn or error"}
		}
	}
	return cfg, nil
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
