package openai

import (
	"net/http"
	"testing"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
)

// testGateway is this dialect alone on the core, served over real HTTP in
// front of the real SDK client and the Bedrock emulator.
type testGateway = gatewaytest.Gateway

func testConfig() streaming.Config { return gatewaytest.Config() }

func newTestGateway(t *testing.T, opts emulator.Options, cfg streaming.Config, wrap func(http.Handler) http.Handler) *testGateway {
	t.Helper()
	return gatewaytest.Start(t, opts, cfg, wrap, Register)
}
