package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3/option"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestAuthorizerPath (issue 13): the stack's REQUEST authorizer — the same
// bootstrap binary with _HANDLER=authorizer — in front of the gateway
// under localgw, as API Gateway runs it with ApiKeySourceType AUTHORIZER:
// an OpenAI client's Bearer token (or x-api-key) becomes the usage-plan
// key; the page and the health check stay open; a missing or unknown key
// never reaches the function.
func TestAuthorizerPath(t *testing.T) {
	t.Parallel()
	const key, otherKey = "sk-usage-plan-key-0123456789", "sk-not-in-the-plan-987654321"
	lp := startLambdaPath(t, emulator.Options{TokensPerSecond: 1000}, localgw.Config{
		Instances:  1,
		Authorizer: &localgw.AuthorizerConfig{Handler: "authorizer", Instances: 1, APIKeys: []string{key}},
	})
	tests := []struct {
		name, method, path, body string
		header                   http.Header
		wantStatus               int
		wantBody                 string
	}{
		{"page without a key", "GET", "/", "", nil, 200, "<!doctype html>"},
		{"health without a key", "GET", "/healthz", "", nil, 200, `"ok"`},
		{"stream without a key", "POST", "/stream", `{"prompt":"hi"}`, nil, 401, `{"message":"Unauthorized"}`},
		{"stream with a key outside the plan", "POST", "/stream", `{"prompt":"hi"}`, http.Header{"Authorization": {"Bearer " + otherKey}}, 403, `{"message":"Forbidden"}`},
		{"stream with a Bearer key", "POST", "/stream", `{"prompt":"hi","maxTokens":3}`, http.Header{"Authorization": {"Bearer " + key}}, 200, ""},
		{"stream with x-api-key", "POST", "/stream", `{"prompt":"hi","maxTokens":3}`, http.Header{"X-Api-Key": {key}}, 200, ""},
	}
	for _, tt := range tests {
		req := mustRequest(t, tt.method, lp.url+tt.path, tt.body)
		for k, v := range tt.header {
			req.Header[k] = v
		}
		res := streamtest.Do(t, req)
		if res.Status != tt.wantStatus || !strings.Contains(strings.ToLower(string(res.Body)), strings.ToLower(tt.wantBody)) {
			t.Errorf("%s: %d %.200s; want %d %s", tt.name, res.Status, res.Body, tt.wantStatus, tt.wantBody)
		}
	}
	if want, _ := emulator.Answer("emulator.steady-v1", "hi", 3); len(lp.emu.Records()) != 2 {
		t.Errorf("the emulator saw %d calls; want only the 2 authorized streams (%q each)", len(lp.emu.Records()), strings.Join(want, ""))
	}

	client := openAIClient(lp.url, option.WithAPIKey(key))
	got, err := client.Chat.Completions.New(t.Context(), chat("emulator.fast-v1", "hello through the authorizer"))
	if err != nil {
		t.Fatalf("OpenAI client with the plan's key: %v", err)
	}
	if want, _ := emulator.Answer("emulator.fast-v1", "hello through the authorizer", 0); got.Choices[0].Message.Content != strings.Join(want, "") {
		t.Errorf("answer %q", got.Choices[0].Message.Content)
	}
	// The key itself is never written to a log line.
	time.Sleep(100 * time.Millisecond)
	if strings.Contains(lp.logs.String(), key) || strings.Contains(lp.gwLogs.String(), key) {
		t.Error("a log line holds the API key")
	}
}
