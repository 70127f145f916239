package streaming

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/streamgate/streamgate/streaming/emulator"
)

// testGateway is the gateway served over real HTTP in front of the real
// SDK client and the Bedrock emulator.
type testGateway struct {
	emu     *emulator.Emulator
	handler *Handler
	url     string
	logs    *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testConfig() Config {
	return Config{
		ModelID:        "emulator.steady-v1",
		AllowedModels:  emulator.Models(),
		MaxTokens:      DefaultMaxTokens,
		MaxBodyBytes:   DefaultMaxBodyBytes,
		Heartbeat:      DefaultHeartbeat,
		DeadlineMargin: DefaultDeadlineMargin,
	}
}

func newBedrockClient(endpoint string) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
	}, ConfigureClient)
}

// newTestGateway starts the emulator and the gateway on loopback. wrap, if
// set, wraps the gateway's handler (to give requests a deadline, say).
func newTestGateway(t *testing.T, opts emulator.Options, cfg Config, wrap func(http.Handler) http.Handler) *testGateway {
	t.Helper()
	emu := emulator.New(opts)
	upstream := httptest.NewServer(emu)
	t.Cleanup(upstream.Close)
	logs := &syncBuffer{}
	h := New(cfg, newBedrockClient(upstream.URL), slog.New(slog.NewJSONHandler(logs, nil)))
	var served http.Handler = h
	if wrap != nil {
		served = wrap(h)
	}
	srv := httptest.NewServer(served)
	t.Cleanup(srv.Close)
	return &testGateway{emu: emu, handler: h, url: srv.URL, logs: logs}
}

// chunk is one Read of the response body and when it returned.
type chunk struct {
	at   time.Time
	data []byte
}

type streamResult struct {
	status  int
	header  http.Header
	chunks  []chunk
	body    []byte
	readErr error // nil when the body ended cleanly
}

func post(t *testing.T, ctx context.Context, url, accept, body string) streamResult {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) streamResult {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	res := streamResult{status: resp.StatusCode, header: resp.Header}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			res.chunks = append(res.chunks, chunk{time.Now(), bytes.Clone(buf[:n])})
			res.body = append(res.body, buf[:n]...)
		}
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			res.readErr = err
			return res
		}
	}
}

// sseEvent is one parsed Server-Sent Event, with the arrival time of the
// chunk that completed it.
type sseEvent struct {
	name string
	data string
	at   time.Time
}

// parseSSE parses the events of a response, keeping comments as events
// named ":" so that tests can see keep-alives in order.
func parseSSE(t *testing.T, chunks []chunk) []sseEvent {
	t.Helper()
	var events []sseEvent
	var pending []byte
	for _, c := range chunks {
		pending = append(pending, c.data...)
		for {
			i := bytes.Index(pending, []byte("\n\n"))
			if i < 0 {
				break
			}
			block := string(pending[:i])
			pending = pending[i+2:]
			ev := sseEvent{at: c.at}
			for line := range strings.SplitSeq(block, "\n") {
				switch {
				case strings.HasPrefix(line, ":"):
					ev.name = ":"
					ev.data = strings.TrimSpace(line[1:])
				case strings.HasPrefix(line, "event: "):
					ev.name = line[len("event: "):]
				case strings.HasPrefix(line, "data: "):
					ev.data += line[len("data: "):]
				default:
					t.Fatalf("unexpected SSE line %q", line)
				}
			}
			events = append(events, ev)
		}
	}
	if len(pending) > 0 {
		t.Fatalf("SSE stream ends inside an event: %q", pending)
	}
	return events
}

// ndjsonLine is one parsed NDJSON event with its arrival time.
type ndjsonLine struct {
	fields map[string]any
	at     time.Time
}

func parseNDJSON(t *testing.T, chunks []chunk) []ndjsonLine {
	t.Helper()
	var lines []ndjsonLine
	var pending []byte
	for _, c := range chunks {
		pending = append(pending, c.data...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			var fields map[string]any
			if err := json.Unmarshal(pending[:i], &fields); err != nil {
				t.Fatalf("NDJSON line %q: %v", pending[:i], err)
			}
			lines = append(lines, ndjsonLine{fields, c.at})
			pending = pending[i+1:]
		}
	}
	if len(pending) > 0 {
		t.Fatalf("NDJSON stream ends inside a line: %q", pending)
	}
	return lines
}

// logLines returns the gateway's JSON log lines.
func logLines(t *testing.T, logs *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return v
}

func waitIdle(t *testing.T, emu *emulator.Emulator) []emulator.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := emu.WaitIdle(ctx); err != nil {
		t.Fatalf("emulator still busy: %v", err)
	}
	return emu.Records()
}

// windowsWithArrivals splits the time from the first to the last arrival
// into n equal windows and counts those in which something arrived. A
// stream that trickles fills all of them; one held back and sent in a burst
// fills the first and the last.
func windowsWithArrivals(at []time.Time, n int) int {
	if len(at) < 2 {
		return len(at)
	}
	first, span := at[0], at[len(at)-1].Sub(at[0])
	if span <= 0 {
		return 1
	}
	filled := make(map[int]bool)
	for _, a := range at {
		i := int(a.Sub(first) * time.Duration(n) / span)
		filled[min(i, n-1)] = true
	}
	return len(filled)
}
