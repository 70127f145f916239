package emulator

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/google/go-cmp/cmp"
)

// serve runs NewServer(e) on a loopback port until the test ends.
func serve(t *testing.T, e *Emulator) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(e)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP, as the Node
// SDK's NodeHttp2Handler does against an http:// endpoint.
func h2cClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = &p
	})
}

func TestNewServerSpeaksHTTP1AndH2C(t *testing.T) {
	emu := New(Options{TokensPerSecond: 1000})
	url := serve(t, emu)
	h2 := newClient(url, func(o *bedrockruntime.Options) { o.HTTPClient = noWriterTo{h2cClient()} })
	h1 := newClient(url)

	const prompt = "over two protocols"
	want, _ := Answer("emulator.fast-v1", prompt, 0)
	for _, c := range []*bedrockruntime.Client{h2, h1} {
		res, err := converseStream(testContext(t), c, streamInput("emulator.fast-v1", prompt, 0), nil)
		if err != nil || res.err != nil {
			t.Fatal(err, res.err)
		}
		if diff := cmp.Diff(want, res.deltas); diff != "" {
			t.Errorf("deltas (-want +got):\n%s", diff)
		}
	}
	res, err := streamChunks(testContext(t), h2, "emulator.fast-v1", anthropicBody(prompt, 100, nil))
	if err != nil || res.err != nil || strings.Join(res.deltas("text_delta", "text"), "") != strings.Join(want, "") {
		t.Errorf("InvokeModelWithResponseStream over h2c: %v %v %q", err, res.err, res.deltas("text_delta", "text"))
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := emu.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	var protos []string
	for _, r := range emu.Records() {
		protos = append(protos, r.Operation+" "+r.Proto)
	}
	wantProtos := []string{"ConverseStream HTTP/2.0", "ConverseStream HTTP/1.1", "InvokeModelWithResponseStream HTTP/2.0"}
	if diff := cmp.Diff(wantProtos, protos); diff != "" {
		t.Errorf("protocols (-want +got):\n%s", diff)
	}
}

func TestNewServerSettings(t *testing.T) {
	srv := NewServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.IdleTimeout <= 0 || srv.WriteTimeout != 0 || srv.ReadTimeout != 0 {
		t.Errorf("timeouts: header %v idle %v write %v read %v", srv.ReadHeaderTimeout, srv.IdleTimeout, srv.WriteTimeout, srv.ReadTimeout)
	}
	if p := srv.Protocols; p == nil || !p.HTTP1() || !p.UnencryptedHTTP2() {
		t.Errorf("protocols %v", p)
	}
}

// TestH2CStreamFlushesEachDelta checks that HTTP/2 does not hold deltas
// back: they arrive spread over the generation time, as over HTTP/1.1.
func TestH2CStreamFlushesEachDelta(t *testing.T) {
	const rate = 100
	url := serve(t, New(Options{TokensPerSecond: rate}))
	c := newClient(url, func(o *bedrockruntime.Options) { o.HTTPClient = noWriterTo{h2cClient()} })
	res, err := converseStream(testContext(t), c, streamInput("emulator.steady-v1", "h2 pacing", 0), nil)
	if err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	n := len(res.deltas)
	expected := time.Duration(n-1) * time.Second / rate
	if mid := res.deltaAt[n/2].Sub(res.deltaAt[0]); mid < expected*3/10 {
		t.Errorf("middle delta after %v of about %v: deltas are bunched over h2c", mid, expected)
	}
}
