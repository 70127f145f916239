package streaming_test

// The core's relay, limits, errors, logs and cancels are tested through
// the whole gateway (every dialect, as deployed), mostly over /stream.

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gateway"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// testGateway is the whole gateway served over real HTTP in front of the
// real SDK client and the Bedrock emulator.
type testGateway = gatewaytest.Gateway

func testConfig() streaming.Config { return gatewaytest.Config() }

func newBedrockClient(endpoint string) *bedrockruntime.Client {
	return gatewaytest.BedrockClient(endpoint)
}

// newTestGateway starts the emulator and the gateway on loopback. wrap, if
// set, wraps the gateway's handler (to give requests a deadline, say).
func newTestGateway(t *testing.T, opts emulator.Options, cfg streaming.Config, wrap func(http.Handler) http.Handler) *testGateway {
	t.Helper()
	return gatewaytest.Start(t, opts, cfg, wrap, gateway.Dialects()...)
}

// gatewayTo serves the gateway in front of an arbitrary upstream URL.
func gatewayTo(t *testing.T, upstream string, cfg streaming.Config, wrap func(http.Handler) http.Handler) (*streaming.Handler, string, *streamtest.Buffer) {
	t.Helper()
	g := gatewaytest.To(t, upstream, streaming.Upstreams{}, cfg, wrap, gateway.Dialects()...)
	return g.Handler, g.URL, g.Logs
}

// newGatewayOn serves a gateway in front of an existing emulator, with a
// shared cancel store: one of several "instances".
func newGatewayOn(t *testing.T, emu *emulator.Emulator, cfg streaming.Config, store streaming.CancelStore) string {
	t.Helper()
	upstream := httptest.NewServer(emu)
	t.Cleanup(upstream.Close)
	return gatewaytest.To(t, upstream.URL, streaming.Upstreams{Cancels: store}, cfg, nil, gateway.Dialects()...).URL
}

func logLines(t *testing.T, logs *streamtest.Buffer) []map[string]any {
	return gatewaytest.LogLines(t, logs)
}

func lastLog(t *testing.T, logs *streamtest.Buffer, path string) map[string]any {
	return gatewaytest.LastLog(t, logs, path)
}

func waitIdle(t *testing.T, emu *emulator.Emulator) []emulator.Record {
	return gatewaytest.WaitIdle(t, emu)
}

func errorOf(t *testing.T, body []byte) streaming.Error { return gatewaytest.ErrorOf(t, body) }

// blackhole is a Bedrock endpoint that hangs.
func blackhole(t *testing.T) string {
	url, _ := streamtest.Blackhole(t)
	return url
}

// sdkProtocol gives a ConverseStream call the SDK's own protocol, with its
// own decoder and reader goroutines, in an instance of its own (the
// client's shared one is smithy-go issue #714's data race).
func sdkProtocol(o *bedrockruntime.Options) {
	o.Protocol = restjson1.New(schemas.AmazonBedrockFrontendService)
}
