package streaming

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"

	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// testGateway is the gateway served over real HTTP in front of the real
// SDK client and the Bedrock emulator.
type testGateway struct {
	emu     *emulator.Emulator
	handler *Handler
	url     string
	logs    *streamtest.Buffer
}

// testConfig is LoadConfig's defaults with an emulator model and every
// emulator model allowed.
func testConfig() Config {
	cfg, err := LoadConfig(func(name string) string {
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
	logs := &streamtest.Buffer{}
	h := New(cfg, Upstreams{Bedrock: newBedrockClient(upstream.URL)}, slog.New(slog.NewJSONHandler(logs, nil)))
	var served http.Handler = h
	if wrap != nil {
		served = wrap(h)
	}
	srv := httptest.NewServer(served)
	t.Cleanup(srv.Close)
	return &testGateway{emu: emu, handler: h, url: srv.URL, logs: logs}
}

// logLines returns the gateway's JSON log lines.
func logLines(t *testing.T, logs *streamtest.Buffer) []map[string]any {
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

func waitIdle(t *testing.T, emu *emulator.Emulator) []emulator.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := emu.WaitIdle(ctx); err != nil {
		t.Fatalf("emulator still busy: %v", err)
	}
	return emu.Records()
}

// newGatewayOn serves a gateway in front of an existing emulator, with a
// shared cancel store: one of several "instances".
func newGatewayOn(t *testing.T, emu *emulator.Emulator, cfg Config, store CancelStore) string {
	t.Helper()
	upstream := httptest.NewServer(emu)
	t.Cleanup(upstream.Close)
	h := New(cfg, Upstreams{Bedrock: newBedrockClient(upstream.URL), Cancels: store}, nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// sdkProtocol gives a ConverseStream call the SDK's own protocol, with its
// own decoder and reader goroutines, in an instance of its own (the
// client's shared one is smithy-go issue #714's data race).
func sdkProtocol(o *bedrockruntime.Options) {
	o.Protocol = restjson1.New(schemas.AmazonBedrockFrontendService)
}
