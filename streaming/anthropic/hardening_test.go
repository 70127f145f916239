package anthropic

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// sseEvents reads an Anthropic event stream's event names and data.
func sseEvents(t *testing.T, body string) (names []string, data []string) {
	t.Helper()
	for _, ev := range streamtest.ParseSSE(t, []streamtest.Chunk{{Data: []byte(body)}}) {
		names = append(names, ev.Name)
		data = append(data, ev.Data)
	}
	return names, data
}

const streamBody = `{"model":"%s","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hello"}]}`

func streamReq(model string) string { return strings.Replace(streamBody, "%s", model, 1) }

// TestUpstreamFailsMidStream: an upstream that stalls, or whose stream is
// cut, after the first delta ends the client's stream with an error event
// in Anthropic's shape and no message_stop: a truncated answer never looks
// complete.
func TestUpstreamFailsMidStream(t *testing.T) {
	t.Parallel()
	stalling := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.Write(streamtest.EncodeEvent(t, "messageStart", map[string]string{"role": "assistant"}))
		w.Write(streamtest.EncodeEvent(t, "contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]string{"text": "Hello "}}))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(stalling.Close)
	cfg := gatewaytest.Config()
	cfg.UpstreamIdleTimeout = 300 * time.Millisecond
	stalled := gatewaytest.To(t, stalling.URL, streaming.Upstreams{}, cfg, nil, Register)
	cut := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, gatewaytest.Config())
	for _, tc := range []struct{ name, url, model, typ string }{
		{"upstream stalls", stalled.URL, "emulator.fast-v1", "api_error"},
		{"stream cut in a frame", cut.URL, "emulator.truncated-v1", "api_error"},
		{"model fails", cut.URL, "emulator.midstream-error-v1", "api_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := post(t, tc.url+"/v1/messages", streamReq(tc.model), nil)
			names, data := sseEvents(t, string(body))
			last := len(names) - 1
			if resp.StatusCode != 200 || last < 2 || names[last] != "error" || strings.Contains(string(body), "message_stop") {
				t.Fatalf("events %v; want deltas, then an error event and no message_stop", names)
			}
			var e errorEnvelope
			if err := json.Unmarshal([]byte(data[last]), &e); err != nil || e.Type != "error" || e.Error.Type != tc.typ || e.Error.Message == "" {
				t.Errorf("error event %s", data[last])
			}
		})
	}
}

// TestPingInSilence: a model that thinks before its first token gets
// ping events in the silence, and the answer after them.
func TestPingInSilence(t *testing.T) {
	t.Parallel()
	cfg := gatewaytest.Config()
	cfg.Heartbeat = 100 * time.Millisecond
	gw := newTestGateway(t, emulator.Options{SlowStart: 600 * time.Millisecond, TokensPerSecond: 1000}, cfg)
	_, body := post(t, gw.URL+"/v1/messages", streamReq("emulator.slow-start-v1"), nil)
	names, data := sseEvents(t, string(body))
	pings := 0
	for i, n := range names {
		if n == "ping" {
			pings++
			if data[i] != `{"type":"ping"}` {
				t.Errorf("ping data %s", data[i])
			}
		}
	}
	if pings < 2 || names[0] != "message_start" || names[len(names)-1] != "message_stop" {
		t.Errorf("events %v; want pings in the silence, and the message", names)
	}
}

// TestClientGoesAway: a client that disconnects mid-stream cancels the
// Bedrock call at once.
func TestClientGoesAway(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 20}, gatewaytest.Config())
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/v1/messages", strings.NewReader(streamReq("emulator.long-v1")))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(resp.Body)
	for deltas := 0; deltas < 3; {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "event: content_block_delta\n" {
			deltas++
		}
	}
	cancel()
	resp.Body.Close()
	records := gatewaytest.WaitIdle(t, gw.Emu)
	if records[0].Outcome != "cancelled" || records[0].DeltasSent > 20 {
		t.Errorf("Bedrock's call %+v; want it cancelled soon after the client left", records[0])
	}
	line := gatewaytest.LastLog(t, gw.Logs, "/v1/messages")
	if line["clientAborted"] != true {
		t.Errorf("log line %v", line)
	}
}

// TestSlowAndHugeBodies: a body that stalls gets 408 and one too large
// 413, both in Anthropic's shape; a huge number is named, not echoed.
func TestSlowAndHugeBodies(t *testing.T) {
	t.Parallel()
	cfg := gatewaytest.Config()
	cfg.BodyReadTimeout = 300 * time.Millisecond
	cfg.MaxBodyBytes = 64 << 10
	gw := newTestGateway(t, emulator.Options{}, cfg)

	resp, b, closed := gatewaytest.PostStalledBody(t, gw.URL, "/v1/messages", `{"model":`)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), `"type":"error"`) || !closed {
		t.Errorf("stalled body: %d %s (connection closed: %v)", resp.StatusCode, b, closed)
	}

	big, body := post(t, gw.URL+"/v1/messages", `{"model":"emulator.fast-v1","max_tokens":1,"messages":[{"role":"user","content":"`+strings.Repeat("x", 100<<10)+`"}]}`, nil)
	if big.StatusCode != 413 || !strings.Contains(string(body), "request_too_large") {
		t.Errorf("huge body: %d %s", big.StatusCode, body)
	}
	digits := strings.Repeat("9", 5000)
	huge, body := post(t, gw.URL+"/v1/messages", `{"model":"emulator.fast-v1","max_tokens":`+digits+`,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if huge.StatusCode != 400 || strings.Contains(string(body), "99999") || len(body) > 1000 {
		t.Errorf("huge number: %d %s", huge.StatusCode, body)
	}
	deep, body := post(t, gw.URL+"/v1/messages", `{"model":"emulator.fast-v1","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"hi","citations":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+`}]}]}`, nil)
	if deep.StatusCode != 400 {
		t.Errorf("deep nesting: %d %s", deep.StatusCode, body)
	}
	if records := gatewaytest.WaitIdle(t, gw.Emu); len(records) != 0 {
		t.Errorf("%d calls reached Bedrock", len(records))
	}
}

// TestBrowserPreflight: a page on an allowed origin may send what the
// Anthropic TypeScript SDK sends from a browser, and read request-id.
func TestBrowserPreflight(t *testing.T) {
	t.Parallel()
	cfg := gatewaytest.Config()
	cfg.CORSAllowOrigins = []string{"https://chat.example.com"}
	gw := newTestGateway(t, emulator.Options{}, cfg)
	req, _ := http.NewRequest(http.MethodOptions, gw.URL+"/v1/messages", nil)
	req.Header.Set("Origin", "https://chat.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	res := streamtest.Do(t, req)
	allowed := strings.ToLower(res.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"content-type", "x-api-key", "anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access",
		"x-stainless-os", "x-stainless-lang", "x-stainless-package-version", "x-stainless-runtime", "x-stainless-runtime-version", "x-stainless-arch", "x-stainless-retry-count", "x-stainless-timeout"} {
		if !strings.Contains(allowed, h) {
			t.Errorf("preflight does not allow %s: %q", h, allowed)
		}
	}
	resp, _ := post(t, gw.URL+"/v1/messages", `{}`, map[string]string{"Origin": "https://chat.example.com"})
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Request-Id") {
		t.Errorf("expose headers %q", resp.Header.Get("Access-Control-Expose-Headers"))
	}
}
