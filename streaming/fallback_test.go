package streaming_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestFallbackBeforeTheFirstByte (issue 22): with
// MODEL_FALLBACKS=emulator.throttle-v1=emulator.steady-v1, a request for
// the throttled model is answered by the fallback, once tried without the
// SDK's retries; the answer names the model that answered (native start
// event, OpenAI's model, the X-Streamgate-Model header on every route) and
// the log line counts the fallback. Anthropic's model stays the name the
// client asked for, as its clients expect; the header says which answered.
func TestFallbackBeforeTheFirstByte(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	var err error
	cfg.ModelFallbacks, err = streaming.ParseModelFallbacks("emulator.throttle-v1=emulator.steady-v1", cfg.AllowedModels)
	if err != nil {
		t.Fatal(err)
	}
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, cfg, nil)
	deltas, _ := emulator.Answer("emulator.steady-v1", "hello there", 0)

	res := streamtest.Post(t, t.Context(), gw.URL+"/stream", "text/event-stream", `{"prompt":"hello there","modelId":"emulator.throttle-v1"}`)
	events := streamtest.ParseSSE(t, res.Chunks)
	if res.Status != http.StatusOK || len(events) == 0 || events[0].Name != "start" {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if start := streamtest.DecodeJSON[startData](t, events[0].Data); start.ModelID != "emulator.steady-v1" {
		t.Errorf("start modelId %q; want the fallback emulator.steady-v1", start.ModelID)
	}
	if text, _ := streamtest.SSEText(t, events); text != strings.Join(deltas, "") {
		t.Errorf("the answer is not the fallback's: %q", text)
	}
	if got := res.Header.Get(streaming.ModelHeader); got != "emulator.steady-v1" {
		t.Errorf("%s = %q; want emulator.steady-v1", streaming.ModelHeader, got)
	}
	line := lastLog(t, gw.Logs, "/stream")
	if line["model"] != "emulator.steady-v1" || line["requestedModel"] != "emulator.throttle-v1" || line["fallbacks"] != 1.0 {
		t.Errorf("log line %v; want model steady, requestedModel throttle, 1 fallback", line)
	}
	checkEMF(t, line)

	chat := streamtest.Post(t, t.Context(), gw.URL+"/v1/chat/completions", "",
		`{"model":"emulator.throttle-v1","messages":[{"role":"user","content":"hello there"}]}`)
	if chat.Status != http.StatusOK || !strings.Contains(string(chat.Body), `"model":"emulator.steady-v1"`) || chat.Header.Get(streaming.ModelHeader) != "emulator.steady-v1" {
		t.Errorf("chat completion: %d %s %v; want the fallback's model", chat.Status, chat.Body, chat.Header)
	}

	msgReq, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gw.URL+"/v1/messages",
		strings.NewReader(`{"model":"emulator.throttle-v1","max_tokens":50,"messages":[{"role":"user","content":"hello there"}]}`))
	msgReq.Header.Set("Content-Type", "application/json")
	msgReq.Header.Set("Anthropic-Version", "2023-06-01")
	msg := streamtest.Do(t, msgReq)
	if msg.Status != http.StatusOK || !strings.Contains(string(msg.Body), `"model":"emulator.throttle-v1"`) || msg.Header.Get(streaming.ModelHeader) != "emulator.steady-v1" {
		t.Errorf("Anthropic message: %d %s %s=%q; want the name asked for in the body and the fallback in the header", msg.Status, msg.Body, streaming.ModelHeader, msg.Header.Get(streaming.ModelHeader))
	}

	// Each request tried the throttled model once (no SDK retries before
	// a fallback), then the fallback.
	var models []string
	for _, r := range waitIdle(t, gw.Emu) {
		models = append(models, r.ModelID)
	}
	want := strings.Repeat("emulator.throttle-v1 emulator.steady-v1 ", 3)
	if got := strings.Join(models, " ") + " "; got != want {
		t.Errorf("the emulator saw %s; want %s", got, want)
	}
}

// TestNoFallbackAfterTheFirstByte: a model that fails mid-stream is not
// retried with its fallback: the client has part of an answer already.
func TestNoFallbackAfterTheFirstByte(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	var err error
	cfg.ModelFallbacks, err = streaming.ParseModelFallbacks("emulator.midstream-error-v1=emulator.steady-v1", cfg.AllowedModels)
	if err != nil {
		t.Fatal(err)
	}
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, cfg, nil)
	res := streamtest.Post(t, t.Context(), gw.URL+"/stream", "text/event-stream", `{"prompt":"hello","modelId":"emulator.midstream-error-v1"}`)
	events := streamtest.ParseSSE(t, res.Chunks)
	if last := events[len(events)-1]; last.Name != "error" {
		t.Errorf("last event %s %s; want the mid-stream error", last.Name, last.Data)
	}
	records := waitIdle(t, gw.Emu)
	if len(records) != 1 || records[0].ModelID != "emulator.midstream-error-v1" {
		t.Errorf("the emulator saw %+v; want the one failing call and no fallback", records)
	}
	if line := gatewaytest.LastLog(t, gw.Logs, "/stream"); line["fallbacks"] != nil {
		t.Errorf("log line %v; want no fallback", line)
	}
}
