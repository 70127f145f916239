package streaming_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gateway"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
)

// TestUpstreamsLaterOnFirstUse: the clients Upstreams.Later builds are
// not built at start, nor by requests that do not need them, and are
// built once by the first requests that do, however many come at once.
func TestUpstreamsLaterOnFirstUse(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(emulator.New(emulator.Options{TokensPerSecond: 1000}))
	t.Cleanup(upstream.Close)
	var built atomic.Int32
	gw := gatewaytest.To(t, upstream.URL, streaming.Upstreams{
		Later: func(up *streaming.Upstreams) {
			built.Add(1)
			up.Control = bedrock.New(bedrock.Options{Region: "us-east-1", BaseEndpoint: aws.String(upstream.URL),
				Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", "")})
		},
	}, testConfig(), nil, gateway.Dialects()...)
	get := func(path string) int {
		resp, err := http.Get(gw.URL + path)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/healthz") != http.StatusOK || get("/") != http.StatusOK || built.Load() != 0 {
		t.Fatalf("after start, /healthz and the page: Later called %d times, want 0", built.Load())
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if code := get("/models"); code != http.StatusOK {
				t.Errorf("GET /models: %d, want 200", code)
			}
		})
	}
	wg.Wait()
	if n := built.Load(); n != 1 {
		t.Errorf("after four GET /models: Later called %d times, want 1", n)
	}
}
