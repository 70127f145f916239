package streaming_test

import (
	"github.com/aws/aws-sdk-go-v2/credentials"

	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// liveStream is a streaming response being read: the request id from its
// X-Request-Id, and the rest of the body once it ends.
type liveStream struct {
	id   string
	resp *http.Response
	rest chan streamtest.Result
}

// openStream starts a stream and returns once its headers and first bytes
// are in, reading the rest in the background.
func openStream(t *testing.T, url, body, accept string, header http.Header) *liveStream {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: status %d: %s", resp.StatusCode, b)
	}
	ls := &liveStream{id: resp.Header.Get("X-Request-Id"), resp: resp, rest: make(chan streamtest.Result, 1)}
	br := bufio.NewReader(resp.Body)
	if _, err := br.Peek(1); err != nil {
		t.Fatalf("no first byte: %v", err)
	}
	go func() {
		defer resp.Body.Close()
		res := streamtest.Result{Status: resp.StatusCode, Header: resp.Header}
		buf := make([]byte, 32<<10)
		for {
			n, err := br.Read(buf)
			if n > 0 {
				res.Chunks = append(res.Chunks, streamtest.Chunk{At: time.Now(), Data: append([]byte(nil), buf[:n]...)})
				res.Body = append(res.Body, buf[:n]...)
			}
			if err != nil {
				if err != io.EOF {
					res.ReadErr = err
				}
				ls.rest <- res
				return
			}
		}
	}()
	return ls
}

// wait returns the rest of the stream; a stream that does not end within
// limit fails the test.
func (ls *liveStream) wait(t *testing.T, limit time.Duration) streamtest.Result {
	t.Helper()
	select {
	case res := <-ls.rest:
		return res
	case <-time.After(limit):
		t.Fatalf("stream %s still running %v after the cancel", ls.id, limit)
		return streamtest.Result{}
	}
}

// cancelStream sends DELETE /stream/{id} (or another cancel path).
func cancelStream(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, url, nil)
	if strings.HasSuffix(url, "/cancel") {
		req.Method = http.MethodPost
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res := streamtest.Do(t, req)
	return res.Status, string(res.Body)
}

// TestCancelStopsAStream: DELETE /stream/{id} ends a running answer as
// cancelled in each protocol — SSE with done {stopReason: cancelled} and
// the usage so far, text with a clean end, OpenAI with finish_reason stop
// then [DONE] — and Bedrock sees its request cancelled. A second DELETE
// gets 202 again.
func TestCancelStopsAStream(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 100}, testConfig(), nil)
	long := `{"prompt":"tell me everything","modelId":"emulator.long-v1"}`
	tests := []struct {
		name, path, body, accept string
		cancelPath               func(id string) string
		check                    func(t *testing.T, res streamtest.Result)
	}{
		{"sse", "/stream", long, "text/event-stream", func(id string) string { return "/stream/" + id },
			func(t *testing.T, res streamtest.Result) {
				events := streamtest.ParseSSE(t, res.Chunks)
				last := events[len(events)-1]
				done := streamtest.DecodeJSON[doneData](t, last.Data)
				_, at := streamtest.SSEText(t, events)
				if last.Name != "done" || done.StopReason != "cancelled" || done.Usage.OutputTokens != len(at) {
					t.Errorf("last event %s %s after %d deltas; want done with stopReason cancelled and outputTokens %d", last.Name, last.Data, len(at), len(at))
				}
			}},
		{"text", "/stream", long, "text/plain", func(id string) string { return "/stream/" + id },
			func(t *testing.T, res streamtest.Result) {
				if res.ReadErr != nil || len(res.Body) == 0 {
					t.Errorf("text stream: read error %v after %d bytes; want a clean end (the client asked for it)", res.ReadErr, len(res.Body))
				}
			}},
		{"openai", "/v1/chat/completions", `{"model":"emulator.long-v1","stream":true,"messages":[{"role":"user","content":"everything"}]}`, "",
			func(id string) string { return "/v1/chat/completions/chatcmpl-" + id + "/cancel" },
			func(t *testing.T, res streamtest.Result) {
				body := string(res.Body)
				if !strings.Contains(body, `"finish_reason":"stop"`) || !strings.HasSuffix(body, "data: [DONE]\n\n") {
					t.Errorf("OpenAI stream ends %q; want finish_reason stop, then [DONE]", body[max(0, len(body)-300):])
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := openStream(t, gw.URL+tt.path, tt.body, tt.accept, nil)
			status, body := cancelStream(t, gw.URL+tt.cancelPath(ls.id), nil)
			if status != http.StatusAccepted || !strings.Contains(body, `"status":"cancelling"`) {
				t.Errorf("cancel: %d %s; want 202 cancelling", status, body)
			}
			tt.check(t, ls.wait(t, 10*time.Second))
			status, body = cancelStream(t, gw.URL+tt.cancelPath(ls.id), nil)
			if status != http.StatusAccepted || !strings.Contains(body, `"status":"cancelled"`) {
				t.Errorf("second cancel: %d %s; want 202 cancelled", status, body)
			}
			if line := lastLog(t, gw.Logs, tt.path); line["cancelled"] != true || line["stopReason"] != "cancelled" {
				t.Errorf("log line %v; want cancelled true", line)
			}
		})
	}
	records := waitIdle(t, gw.Emu)
	if len(records) != len(tests) {
		t.Errorf("the emulator saw %d calls, want %d", len(records), len(tests))
	}
	for _, r := range records {
		if r.Outcome != "cancelled" {
			t.Errorf("emulator record %+v; want the long answer cancelled", r)
		}
	}
}

// TestCancelAnswers: what DELETE /stream/{id} answers when it cannot
// cancel, and that a key holder cannot cancel (or even find) another's
// stream.
func TestCancelAnswers(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	keyA, keyB := "key-aaaaaaaaaaaaaaaaaaaa", "key-bbbbbbbbbbbbbbbbbbbb"
	cfg.APIKeys = []string{keyA, keyB}
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 100}, cfg, nil)
	withKey := func(k string) http.Header { return http.Header{"Authorization": {"Bearer " + k}} }

	ls := openStream(t, gw.URL+"/stream", `{"prompt":"x","modelId":"emulator.long-v1"}`, "text/event-stream", withKey(keyA))
	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantCode   string
	}{
		{"no key", "/stream/" + ls.id, nil, 401, streaming.CodeUnauthorized},
		{"another key", "/stream/" + ls.id, withKey(keyB), 404, streaming.CodeNotFound},
		{"another key, OpenAI path", "/v1/chat/completions/chatcmpl-" + ls.id + "/cancel", http.Header{"X-Api-Key": {keyB}}, 404, streaming.CodeNotFound},
		{"unknown id", "/stream/NOSUCHREQUEST", withKey(keyA), 404, streaming.CodeNotFound},
		{"malformed id", "/stream/bad%20id", withKey(keyA), 400, streaming.CodeInvalidRequest},
	}
	for _, tt := range tests {
		status, body := cancelStream(t, gw.URL+tt.path, tt.header)
		if status != tt.wantStatus || !strings.Contains(body, `"`+tt.wantCode+`"`) {
			t.Errorf("%s: %d %s; want %d %s", tt.name, status, body, tt.wantStatus, tt.wantCode)
		}
	}
	if status, _ := cancelStream(t, gw.URL+"/stream/"+ls.id, http.Header{"X-Api-Key": {keyA}}); status != http.StatusAccepted {
		t.Errorf("the key that started the stream: status %d, want 202", status)
	}
	ls.wait(t, 10*time.Second)

	// A stream that finished by itself: 404, already finished.
	res := streamtest.Do(t, func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/stream", strings.NewReader(`{"prompt":"x","modelId":"emulator.fast-v1"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+keyA)
		return req
	}())
	id := res.Header.Get("X-Request-Id")
	for range 2 {
		status, body := cancelStream(t, gw.URL+"/stream/"+id, withKey(keyA))
		if status != http.StatusNotFound || !strings.Contains(body, "already finished") {
			t.Errorf("finished stream: %d %s; want 404 already finished", status, body)
		}
	}
}

// TestCancelBeforeBedrockAnswers: a cancel that arrives while the gateway
// still waits for Bedrock's headers ends the request as cancelled, at
// once.
func TestCancelBeforeBedrockAnswers(t *testing.T) {
	t.Parallel()
	h, url, _ := gatewayTo(t, blackhole(t), testConfig(), nil)
	got := make(chan streamtest.Result, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/stream", strings.NewReader(`{"prompt":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		res, _ := streamtest.Send(req)
		got <- res
	}()
	var ids []string
	for ids = h.Running(); len(ids) == 0; ids = h.Running() {
		time.Sleep(20 * time.Millisecond)
	}
	if status, body := cancelStream(t, url+"/stream/"+ids[0], nil); status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", status, body)
	}
	select {
	case res := <-got:
		events := streamtest.ParseSSE(t, res.Chunks)
		if res.Status != http.StatusOK || events[len(events)-1].Name != "done" || !strings.Contains(events[len(events)-1].Data, `"stopReason":"cancelled"`) {
			t.Errorf("status %d, events %+v; want start then done cancelled", res.Status, events)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request still waits for Bedrock after the cancel")
	}
}

// TestCancelAcrossInstances: two gateways share a DynamoDB cancel table (a
// real DynamoDB API: moto). A DELETE that lands on the gateway that does
// not run the stream is left in the table, and the one that runs it stops
// at its next poll; Bedrock sees the request cancelled.
func TestCancelAcrossInstances(t *testing.T) {
	t.Parallel()
	moto := streamtest.Moto(t)
	if _, err := streamtest.CreateCancelTable(t.Context(), moto); err != nil {
		t.Fatal(err)
	}
	table := streamtest.CancelTable

	cfg := testConfig()
	cfg.CancelTable, cfg.CancelPoll = table, 200*time.Millisecond
	emu := emulator.New(emulator.Options{TokensPerSecond: 100})
	dynamo := streaming.DynamoConfig{Region: "us-east-1", Endpoint: moto, Credentials: credentials.NewStaticCredentialsProvider("AKIDMOTO", "moto-secret", "")}
	a := newGatewayOn(t, emu, cfg, streaming.NewDynamoCancelStore(dynamo, table))
	b := newGatewayOn(t, emu, cfg, streaming.NewDynamoCancelStore(dynamo, table))

	ls := openStream(t, a+"/stream", `{"prompt":"x","modelId":"emulator.long-v1"}`, "text/event-stream", nil)
	cancelled := time.Now()
	status, body := cancelStream(t, b+"/stream/"+ls.id, nil)
	if status != http.StatusAccepted || !strings.Contains(body, `"status":"requested"`) {
		t.Fatalf("cancel on the other gateway: %d %s; want 202 requested", status, body)
	}
	res := ls.wait(t, 10*time.Second)
	stopped := time.Since(cancelled)
	events := streamtest.ParseSSE(t, res.Chunks)
	if last := events[len(events)-1]; last.Name != "done" || !strings.Contains(last.Data, `"stopReason":"cancelled"`) {
		t.Errorf("last event %+v; want done cancelled", last)
	}
	records := waitIdle(t, emu)
	if len(records) != 1 || records[0].Outcome != "cancelled" {
		t.Errorf("emulator records %+v; want one, cancelled", records)
	}
	t.Logf("stopped %v after the DELETE (poll every %v)", stopped, cfg.CancelPoll)
}
