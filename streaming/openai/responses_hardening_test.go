package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// openAIErrorOf decodes OpenAI's error envelope.
func openAIErrorOf(t *testing.T, body []byte) openAIError {
	t.Helper()
	var got struct{ Error openAIError }
	if err := json.Unmarshal(body, &got); err != nil || got.Error.Type == "" {
		t.Fatalf("error body %q is not OpenAI's envelope: %v", body, err)
	}
	return got.Error
}

// TestResponsesStalledBody: a client that sends part of its body and
// stops gets 408 body_timeout in OpenAI's envelope, and its connection
// closed, and nothing reaches Bedrock.
func TestResponsesStalledBody(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.BodyReadTimeout = 300 * time.Millisecond
	gw := newTestGateway(t, emulator.Options{}, cfg, nil)
	resp, body, closed := gatewaytest.PostStalledBody(t, gw.URL, "/v1/responses", `{"input":`)
	if e := openAIErrorOf(t, body); resp.StatusCode != http.StatusRequestTimeout || e.Code != streaming.CodeBodyTimeout || !resp.Close || !closed {
		t.Errorf("status %d, close %v (closed: %v), error %+v; want 408 body_timeout and the connection closed", resp.StatusCode, resp.Close, closed, e)
	}
	if n := len(gw.Emu.Records()); n != 0 {
		t.Errorf("the emulator saw %d calls", n)
	}
}

// TestResponsesHugeValues: huge bodies, numbers, strings and lists are
// refused with short messages that echo no more than a capped piece of
// them, and nothing reaches Bedrock; huge names of dropped tools are
// accepted and capped in the log line.
func TestResponsesHugeValues(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxBodyBytes = 256 << 10
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, cfg, nil)
	huge := strings.Repeat("x", 100<<10)
	items := make([]string, streaming.MaxMessages+1)
	for i := range items {
		items[i] = `{"role":"user","content":"a"}`
	}
	tools := make([]string, 65)
	for i := range tools {
		tools[i] = fmt.Sprintf(`{"type":"function","name":"f%d"}`, i)
	}
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"body over MAX_BODY_BYTES", `{"input":"` + strings.Repeat(huge, 3) + `"}`, 413, streaming.CodeBodyTooLarge},
		{"a number of a million digits", `{"input":"hi","max_output_tokens":1` + strings.Repeat("0", 200<<10) + `}`, 400, streaming.CodeInvalidRequest},
		{"a huge role", `{"input":[{"role":"` + huge + `","content":"hi"}]}`, 400, streaming.CodeInvalidRequest},
		{"a huge item type", `{"input":[{"role":"user","content":"hi"},{"type":"` + huge + `"}]}`, 400, streaming.CodeInvalidRequest},
		{"a huge tool choice", `{"input":"hi","tool_choice":{"type":"` + huge + `"}}`, 400, streaming.CodeInvalidRequest},
		{"a huge effort", `{"input":"hi","reasoning":{"effort":"` + huge + `"}}`, 400, streaming.CodeInvalidRequest},
		{"too many items", `{"input":[` + strings.Join(items, ",") + `]}`, 400, streaming.CodeInvalidRequest},
		{"too many tools", `{"input":"hi","tools":[` + strings.Join(tools, ",") + `]}`, 400, streaming.CodeInvalidRequest},
		{"JSON nested too deep", `{"input":"hi","metadata":` + strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000) + `}`, 400, streaming.CodeInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := streamtest.Post(t, t.Context(), gw.URL+"/v1/responses", "", tt.body)
			e := openAIErrorOf(t, res.Body)
			if res.Status != tt.status || e.Code != tt.code || len(res.Body) > 600 {
				t.Errorf("status %d, %d bytes: %s; want %d %s in a short body", res.Status, len(res.Body), streaming.Truncate(string(res.Body), 300), tt.status, tt.code)
			}
		})
	}
	if n := len(gw.Emu.Records()); n != 0 {
		t.Errorf("refused requests reached the emulator: %d", n)
	}

	// Tools Bedrock cannot run are accepted whatever their names; the log
	// line names each once, capped.
	res := streamtest.Post(t, t.Context(), gw.URL+"/v1/responses", "", `{"model":"emulator.fast-v1","input":"hi","tools":[{"type":"web_search"},{"type":"web_search"},{"type":"custom","name":"`+huge+`"}]}`)
	if res.Status != http.StatusOK {
		t.Fatalf("status %d: %s", res.Status, streaming.Truncate(string(res.Body), 300))
	}
	line := gatewaytest.LastLog(t, gw.Logs, "/v1/responses")
	dropped, _ := line["dropped"].([]any)
	if len(dropped) != 2 || dropped[0] != "tools:web_search" || len(dropped[1].(string)) > 80 {
		t.Errorf("log line dropped %v", line["dropped"])
	}
}

// TestResponsesUpstreamFailsMidStream: Bedrock goes silent after the
// stream began (keep-alives fill the silence, then the idle timeout ends
// it), or its stream is cut mid-frame: either way the client gets an
// error event and response.failed, and the body ends, with no
// response.completed.
func TestResponsesUpstreamFailsMidStream(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.UpstreamIdleTimeout = 800 * time.Millisecond
	cfg.Heartbeat = 150 * time.Millisecond
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000, SlowStart: time.Minute}, cfg, nil)
	tests := []struct {
		model, code string
		keepAlives  bool
	}{
		{"emulator.slow-start-v1", streaming.CodeUpstreamTimeout, true},
		{"emulator.truncated-v1", streaming.CodeIncompleteStream, false},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			res := streamtest.Post(t, t.Context(), gw.URL+"/v1/responses", "text/event-stream", `{"model":"`+tt.model+`","input":"hello","stream":true}`)
			events := streamtest.ParseSSE(t, res.Chunks)
			var names []string
			keepAlives := 0
			for _, ev := range events {
				if ev.Name == ":" && ev.Data == "keep-alive" {
					keepAlives++
					continue
				}
				names = append(names, ev.Name)
			}
			n := len(names)
			if res.Status != http.StatusOK || res.ReadErr != nil || n < 4 || names[n-2] != "error" || names[n-1] != "response.failed" ||
				!strings.Contains(events[len(events)-2].Data, `"code":"`+tt.code+`"`) || strings.Contains(string(res.Body), "response.completed") {
				t.Errorf("status %d (%v), events %q; want error %s then response.failed", res.Status, res.ReadErr, names, tt.code)
			}
			if tt.keepAlives && keepAlives == 0 {
				t.Error("no keep-alive in the silence")
			}
		})
	}
	for _, r := range gatewaytest.WaitIdle(t, gw.Emu) {
		if r.ModelID == "emulator.slow-start-v1" && r.Outcome != "cancelled" {
			t.Errorf("the silent call was not cancelled: %+v", r)
		}
	}
}

// TestResponsesDisconnectBeforeFirstByte: a client that goes away while
// the model is silent (before any output) cancels the Bedrock call, and
// the log line says so.
func TestResponsesDisconnectBeforeFirstByte(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{SlowStart: time.Minute}, testConfig(), nil)
	for _, stream := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/v1/responses",
			strings.NewReader(fmt.Sprintf(`{"model":"emulator.slow-start-v1","input":"hello","stream":%v}`, stream)))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		cancel()
	}
	records := gatewaytest.WaitIdle(t, gw.Emu)
	if len(records) != 2 {
		t.Fatalf("the emulator saw %d calls, want 2", len(records))
	}
	for _, r := range records {
		if r.Outcome != "cancelled" || r.DeltasSent != 0 {
			t.Errorf("emulator record %+v; want the call cancelled before its first delta", r)
		}
	}
	for _, line := range gatewaytest.LogLines(t, gw.Logs) {
		if line["path"] == "/v1/responses" && line["clientAborted"] != true {
			t.Errorf("log line %v; want clientAborted", line)
		}
	}
}
