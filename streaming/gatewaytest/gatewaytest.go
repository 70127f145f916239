// Package gatewaytest starts streamgate for the tests of its packages: a
// streaming.Handler with the dialects a test names, served over real HTTP
// on loopback, in front of the Bedrock emulator through the real SDK
// client, with its log lines kept for the test to read.
package gatewaytest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// Config is LoadConfig's defaults with an emulator model and every
// emulator model allowed.
func Config() streaming.Config {
	cfg, err := streaming.LoadConfig(func(name string) string {
		if name == "MODEL_ID" {
			return "emulator.steady-v1"
		}
		return ""
	})
	if err != nil {
		panic(err)
	}
	cfg.AllowedModels = emulator.Models()
	return cfg
}

// BedrockClient is the real SDK client, as the gateway builds it, pointed
// at endpoint with static test keys.
func BedrockClient(endpoint string) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
	}, streaming.ConfigureClient)
}

// ControlClient is the real Bedrock control-plane client pointed at
// endpoint with static test keys.
func ControlClient(endpoint string) *bedrock.Client {
	return bedrock.New(bedrock.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
	})
}

// Gateway is a gateway served on loopback.
type Gateway struct {
	Emu     *emulator.Emulator // nil when the upstream is not the emulator
	Handler *streaming.Handler
	URL     string
	Logs    *streamtest.Buffer
}

// Start starts the emulator and the gateway with dialects on loopback.
// wrap, if set, wraps the gateway's handler (to give requests a deadline,
// say).
func Start(t testing.TB, opts emulator.Options, cfg streaming.Config, wrap func(http.Handler) http.Handler, dialects ...streaming.Dialect) *Gateway {
	t.Helper()
	emu := emulator.New(opts)
	upstream := httptest.NewServer(emu)
	t.Cleanup(upstream.Close)
	g := To(t, upstream.URL, streaming.Upstreams{}, cfg, wrap, dialects...)
	g.Emu = emu
	return g
}

// To serves the gateway in front of an arbitrary Bedrock endpoint, with
// the other upstreams of up (a shared cancel store, say).
func To(t testing.TB, endpoint string, up streaming.Upstreams, cfg streaming.Config, wrap func(http.Handler) http.Handler, dialects ...streaming.Dialect) *Gateway {
	t.Helper()
	logs := &streamtest.Buffer{}
	up.Bedrock = BedrockClient(endpoint)
	if up.Control == nil {
		up.Control = ControlClient(endpoint)
	}
	h := streaming.New(cfg, up, slog.New(slog.NewJSONHandler(logs, nil)), dialects...)
	var served http.Handler = h
	if wrap != nil {
		served = wrap(h)
	}
	srv := httptest.NewServer(served)
	t.Cleanup(srv.Close)
	return &Gateway{Handler: h, URL: srv.URL, Logs: logs}
}

// LogLines returns the gateway's JSON log lines.
func LogLines(t testing.TB, logs *streamtest.Buffer) []map[string]any {
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

// LastLog returns the last log line of a request to path, waiting up to 5
// seconds for it (the line is written when the handler returns, which may
// be after the client read the end of the answer).
func LastLog(t testing.TB, logs *streamtest.Buffer, path string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := LogLines(t, logs)
		for i := len(lines) - 1; i >= 0; i-- {
			if lines[i]["path"] == path {
				return lines[i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line for %s in:\n%s", path, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitIdle waits until the emulator has no call in flight and returns
// every call it saw.
func WaitIdle(t testing.TB, emu *emulator.Emulator) []emulator.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := emu.WaitIdle(ctx); err != nil {
		t.Fatalf("emulator still busy: %v", err)
	}
	return emu.Records()
}

// PostStalledBody sends a POST to path that promises a 1,000-byte JSON
// body, sends only prefix of it and stalls, as a slow or broken client
// would. It returns the gateway's answer (read within 20 s) and whether
// the gateway then closed the connection rather than wait for the rest.
func PostStalledBody(t testing.TB, url, path, prefix string) (resp *http.Response, body []byte, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n%s", path, prefix)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	read := bufio.NewReader(conn)
	resp, err = http.ReadResponse(read, nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body on %s: %v", path, err)
	}
	body, _ = io.ReadAll(resp.Body)
	// A closed connection ends the next read with EOF; one left open
	// runs into the read deadline.
	_, err = io.ReadAll(read)
	return resp, body, err == nil
}

// CheckRequestOutcome is what every dialect's request fuzzing asserts of
// one body's outcome: a refusal is a complete 4xx whose message is valid
// UTF-8 (messages quote what the client sent), and an accepted call keeps
// the operator's policy (an allowed model, max tokens within the cap) and
// Bedrock's rule for a conversation: it starts with the user and the roles
// alternate.
func CheckRequestOutcome(t testing.TB, cfg *streaming.Config, c *streaming.Call, refused *streaming.Error) {
	t.Helper()
	if refused != nil {
		if refused.Status < 400 || refused.Status > 499 || refused.Code == "" || refused.Message == "" || !utf8.ValidString(refused.Message) {
			t.Fatalf("refusal %+v is not a complete client error", refused)
		}
		if _, err := json.Marshal(refused); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !slices.Contains(cfg.AllowedModels, c.ModelID) {
		t.Fatalf("accepted model %q outside the allowlist", c.ModelID)
	}
	if c.MaxTokens < 1 || c.MaxTokens > cfg.MaxTokens || c.Inference == nil || c.Inference.MaxTokens == nil || int(*c.Inference.MaxTokens) != c.MaxTokens {
		t.Fatalf("maxTokens %d escapes the cap %d or is not what Bedrock is sent", c.MaxTokens, cfg.MaxTokens)
	}
	if len(c.Messages) == 0 || c.Messages[0].Role != types.ConversationRoleUser {
		t.Fatalf("conversation does not start with the user: %+v", c.Messages)
	}
	for i := 1; i < len(c.Messages); i++ {
		if c.Messages[i].Role == c.Messages[i-1].Role {
			t.Fatalf("messages %d and %d have the same role", i-1, i)
		}
	}
}

// ErrorOf decodes streamgate's JSON error body.
func ErrorOf(t testing.TB, body []byte) streaming.Error {
	t.Helper()
	var got struct{ Error streaming.Error }
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	return got.Error
}

// DiscardWriter is a ResponseWriter that flushes to nowhere, so that the
// benchmarks of encoders measure encoding and the write path, not a
// network.
type DiscardWriter struct{ header http.Header }

// NewDiscardWriter returns an empty DiscardWriter.
func NewDiscardWriter() *DiscardWriter { return &DiscardWriter{header: http.Header{}} }

func (w *DiscardWriter) Header() http.Header         { return w.header }
func (w *DiscardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *DiscardWriter) WriteHeader(int)             {}
func (w *DiscardWriter) Flush()                      {}

// DeltaTexts are typical text deltas: words with a space, a quote, a
// non-ASCII word and a newline, some of them with characters to escape.
func DeltaTexts() []string {
	return []string{"streaming ", "answers ", "\"quoted\" ", "über ", "line\n"}
}

// TextAllocs is the allocations of one enc.Text of a typical delta, once
// the encoder's buffer has grown: what an encoder costs a delta.
func TextAllocs(t testing.TB, enc streaming.Encoder) float64 {
	t.Helper()
	texts := DeltaTexts()
	for _, s := range texts {
		if err := enc.Text(s); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	return testing.AllocsPerRun(100, func() {
		if err := enc.Text(texts[i%len(texts)]); err != nil {
			t.Fatal(err)
		}
		i++
	})
}

// BenchmarkText is the per-delta cost of enc: encode one typical delta,
// write it and flush it. allocs/op is allocations per delta.
func BenchmarkText(b *testing.B, enc streaming.Encoder) {
	texts := DeltaTexts()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := enc.Text(texts[i%len(texts)]); err != nil {
			b.Fatal(err)
		}
	}
}
