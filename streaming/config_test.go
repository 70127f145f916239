package streaming

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestLoadConfig(t *testing.T) {
	half, one := 0.5, 1.0
	got, err := LoadConfig(env(map[string]string{
		"MODEL_ID": "m1", "ALLOWED_MODELS": "m1, m2,m2", "MAX_TOKENS": "256", "TEMPERATURE": "0.5", "TOP_P": "1",
		"SYSTEM_PROMPT": "be kind", "MAX_BODY_BYTES": "2048", "HEARTBEAT_SECONDS": "2.5", "DEADLINE_MARGIN_SECONDS": "4",
		"CORS_ALLOW_ORIGINS": "https://a.example,https://b.example", "LOG_LEVEL": "debug",
		"CORS_ALLOW_HEADERS": "X-Trace, x-user", "API_KEYS": "key-aaaaaaaaaaaaaaaa, key-bbbbbbbbbbbbbbbb",
		"BODY_READ_TIMEOUT_SECONDS": "5", "UPSTREAM_HEADER_TIMEOUT_SECONDS": "6", "UPSTREAM_IDLE_TIMEOUT_SECONDS": "7",
		"CANCEL_TABLE": "cancels", "CANCEL_POLL_SECONDS": "0.5", "IMAGE_MODEL_ID": "img", "IMAGES_BUCKET": "bucket",
		"PRESIGN_SECONDS": "60", "EMBEDDING_MODEL_ID": "emb", "MODELS_CACHE_SECONDS": "9",
		"MODEL_ALIASES":      "fast = m2, claude-x=us.anthropic.claude-x-v1:0",
		"DAILY_TOKEN_BUDGET": "50000", "BUDGET_TABLE": "budgets", "MODEL_FALLBACKS": "m1=m2",
		"GUARDRAIL_ID": "gr-1", "GUARDRAIL_VERSION": "3", "GUARDRAIL_STREAM_MODE": "ASYNC", "PROMPT_CACHE": "auto",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ModelID: "m1", AllowedModels: []string{"m1", "m2"}, ModelAliases: map[string]string{"fast": "m2", "claude-x": "us.anthropic.claude-x-v1:0"}, MaxTokens: 256, Temperature: &half, TopP: &one,
		SystemPrompt: "be kind", MaxBodyBytes: 2048, Heartbeat: 2500 * time.Millisecond, DeadlineMargin: 4 * time.Second,
		CORSAllowOrigins: []string{"https://a.example", "https://b.example"}, LogLevel: slog.LevelDebug,
		CORSAllowHeaders: []string{"X-Trace", "x-user"}, APIKeys: []string{"key-aaaaaaaaaaaaaaaa", "key-bbbbbbbbbbbbbbbb"},
		BodyReadTimeout: 5 * time.Second, UpstreamHeaderTimeout: 6 * time.Second, UpstreamIdleTimeout: 7 * time.Second,
		CancelTable: "cancels", CancelPoll: 500 * time.Millisecond, ImageModelID: "img", ImagesBucket: "bucket",
		PresignExpiry: time.Minute, EmbeddingModelID: "emb", ModelsCache: 9 * time.Second,
		DailyTokenBudget: 50000, BudgetTable: "budgets", ModelFallbacks: map[string][]string{"m1": {"m2"}},
		Guardrail: &Guardrail{ID: "gr-1", Version: "3", StreamMode: "async"}, PromptCache: "auto",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadConfig mismatch (-want +got):\n%s", diff)
	}

	defaults, err := LoadConfig(env(map[string]string{"MODEL_ID": "m1"}))
	if err != nil {
		t.Fatal(err)
	}
	if defaults.MaxTokens != DefaultMaxTokens || defaults.Heartbeat != DefaultHeartbeat || !cmp.Equal(defaults.AllowedModels, []string{"m1"}) ||
		defaults.BodyReadTimeout != 30*time.Second || defaults.UpstreamHeaderTimeout != 30*time.Second || defaults.UpstreamIdleTimeout != 120*time.Second ||
		defaults.PresignExpiry != time.Hour || defaults.ModelsCache != 5*time.Minute || defaults.CancelPoll != time.Second {
		t.Errorf("defaults = %+v", defaults)
	}
}

func TestLoadConfigRejects(t *testing.T) {
	tests := []struct {
		name     string
		vars     map[string]string
		wantName string
	}{
		{"no model", map[string]string{}, "MODEL_ID"},
		{"default not allowed", map[string]string{"MODEL_ID": "m1", "ALLOWED_MODELS": "m2"}, "ALLOWED_MODELS"},
		{"max tokens not a number", map[string]string{"MODEL_ID": "m", "MAX_TOKENS": "lots"}, "MAX_TOKENS"},
		{"max tokens zero", map[string]string{"MODEL_ID": "m", "MAX_TOKENS": "0"}, "MAX_TOKENS"},
		{"temperature above 1", map[string]string{"MODEL_ID": "m", "TEMPERATURE": "1.2"}, "TEMPERATURE"},
		{"top p NaN", map[string]string{"MODEL_ID": "m", "TOP_P": "NaN"}, "TOP_P"},
		{"body limit too small", map[string]string{"MODEL_ID": "m", "MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES"},
		{"heartbeat zero", map[string]string{"MODEL_ID": "m", "HEARTBEAT_SECONDS": "0"}, "HEARTBEAT_SECONDS"},
		{"margin negative", map[string]string{"MODEL_ID": "m", "DEADLINE_MARGIN_SECONDS": "-1"}, "DEADLINE_MARGIN_SECONDS"},
		{"log level", map[string]string{"MODEL_ID": "m", "LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"body timeout zero", map[string]string{"MODEL_ID": "m", "BODY_READ_TIMEOUT_SECONDS": "0"}, "BODY_READ_TIMEOUT_SECONDS"},
		{"header timeout not a number", map[string]string{"MODEL_ID": "m", "UPSTREAM_HEADER_TIMEOUT_SECONDS": "soon"}, "UPSTREAM_HEADER_TIMEOUT_SECONDS"},
		{"idle timeout too long", map[string]string{"MODEL_ID": "m", "UPSTREAM_IDLE_TIMEOUT_SECONDS": "99999"}, "UPSTREAM_IDLE_TIMEOUT_SECONDS"},
		{"cancel poll negative", map[string]string{"MODEL_ID": "m", "CANCEL_POLL_SECONDS": "-1"}, "CANCEL_POLL_SECONDS"},
		{"presign zero", map[string]string{"MODEL_ID": "m", "PRESIGN_SECONDS": "0"}, "PRESIGN_SECONDS"},
		{"presign beyond a week", map[string]string{"MODEL_ID": "m", "PRESIGN_SECONDS": "604801"}, "PRESIGN_SECONDS"},
		{"models cache negative", map[string]string{"MODEL_ID": "m", "MODELS_CACHE_SECONDS": "-1"}, "MODELS_CACHE_SECONDS"},
		{"short API key", map[string]string{"MODEL_ID": "m", "API_KEYS": "short"}, "API_KEYS"},
		{"alias without a model", map[string]string{"MODEL_ID": "m", "MODEL_ALIASES": "fast="}, "MODEL_ALIASES"},
		{"alias without =", map[string]string{"MODEL_ID": "m", "MODEL_ALIASES": "fast"}, "MODEL_ALIASES"},
		{"alias named twice", map[string]string{"MODEL_ID": "m", "MODEL_ALIASES": "a=m,a=n"}, "MODEL_ALIASES"},
		{"budget not a number", map[string]string{"MODEL_ID": "m", "DAILY_TOKEN_BUDGET": "lots"}, "DAILY_TOKEN_BUDGET"},
		{"budget negative", map[string]string{"MODEL_ID": "m", "DAILY_TOKEN_BUDGET": "-5"}, "DAILY_TOKEN_BUDGET"},
		{"fallback not allowed", map[string]string{"MODEL_ID": "m", "MODEL_FALLBACKS": "m=other"}, "MODEL_FALLBACKS"},
		{"fallback to itself", map[string]string{"MODEL_ID": "m", "ALLOWED_MODELS": "m,n", "MODEL_FALLBACKS": "m=n|m"}, "MODEL_FALLBACKS"},
		{"fallback empty", map[string]string{"MODEL_ID": "m", "ALLOWED_MODELS": "m,n", "MODEL_FALLBACKS": "m=n|"}, "MODEL_FALLBACKS"},
		{"fallbacks without =", map[string]string{"MODEL_ID": "m", "ALLOWED_MODELS": "m,n", "MODEL_FALLBACKS": "m"}, "MODEL_FALLBACKS"},
		{"guardrail without version", map[string]string{"MODEL_ID": "m", "GUARDRAIL_ID": "g"}, "GUARDRAIL_VERSION"},
		{"guardrail version not a number", map[string]string{"MODEL_ID": "m", "GUARDRAIL_ID": "g", "GUARDRAIL_VERSION": "v1"}, "GUARDRAIL_VERSION"},
		{"guardrail mode without id", map[string]string{"MODEL_ID": "m", "GUARDRAIL_STREAM_MODE": "sync"}, "GUARDRAIL_ID"},
		{"guardrail mode unknown", map[string]string{"MODEL_ID": "m", "GUARDRAIL_ID": "g", "GUARDRAIL_VERSION": "1", "GUARDRAIL_STREAM_MODE": "later"}, "GUARDRAIL_STREAM_MODE"},
		{"prompt cache unknown", map[string]string{"MODEL_ID": "m", "PROMPT_CACHE": "always"}, "PROMPT_CACHE"},
		{"bad CORS header name", map[string]string{"MODEL_ID": "m", "CORS_ALLOW_HEADERS": "X-Ok, bad header"}, "CORS_ALLOW_HEADERS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(env(tt.vars))
			var cfgErr *ConfigError
			if !errors.As(err, &cfgErr) || cfgErr.Name != tt.wantName {
				t.Fatalf("LoadConfig error = %v, want a ConfigError for %s", err, tt.wantName)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tt.wantName) || strings.Contains(msg, "short") && tt.wantName == "API_KEYS" {
				t.Errorf("error %q is not one clear line naming %s", msg, tt.wantName)
			}
		})
	}
}

// TestCheckModelAliases: MODEL_ALIASES maps a name to a Bedrock id before
// ALLOWED_MODELS applies, and an alias to a model that is not allowed is
// refused naming both.
func TestCheckModelAliases(t *testing.T) {
	cfg, err := LoadConfig(env(map[string]string{"MODEL_ID": "m1", "ALLOWED_MODELS": "m1,m2", "MODEL_ALIASES": "fast=m2,big=m3"}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		asked, want, wantErr string
	}{
		{"fast", "m2", ""},
		{"m2", "m2", ""},
		{" fast ", "m2", ""},
		{"big", "", `model "big (m3)" is not allowed`},
		{"m3", "", `model "m3" is not allowed`},
	}
	for _, tt := range tests {
		got, e := cfg.CheckModel(&tt.asked, "model")
		switch {
		case tt.wantErr == "" && (e != nil || got != tt.want):
			t.Errorf("CheckModel(%q) = %q, %v; want %q", tt.asked, got, e, tt.want)
		case tt.wantErr != "" && (e == nil || e.Status != 403 || !strings.Contains(e.Message, tt.wantErr)):
			t.Errorf("CheckModel(%q) = %q, %v; want a 403 saying %s", tt.asked, got, e, tt.wantErr)
		}
	}
}
