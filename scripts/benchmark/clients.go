package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/sse"
)

// streamResult is what a client saw on one stream.
type streamResult struct {
	status   int
	err      error  // transport or protocol failure
	errEvent string // an SSE error event's data
	deltas   int
	done     bool // SSE done event / SDK messageStop
	bytes    int64
	ttfb     time.Duration // request → first event
	lat      []int64       // per delta: receive time − stamp, ns (timestamp model only)
	stamps   []int64       // per delta: the stamp (send time, unix ns)
}

func (r streamResult) ok(want int) bool {
	return r.err == nil && r.status == http.StatusOK && r.errEvent == "" && r.done && (want <= 0 || r.deltas == want)
}

// describe says why a stream failed, briefly.
func (r streamResult) describe(want int) string {
	switch {
	case r.err != nil:
		return r.err.Error()
	case r.status != http.StatusOK:
		return "HTTP " + strconv.Itoa(r.status)
	case r.errEvent != "":
		return "error event " + r.errEvent
	case !r.done:
		return fmt.Sprintf("ended without done after %d deltas", r.deltas)
	case want > 0 && r.deltas != want:
		return fmt.Sprintf("%d deltas, want %d", r.deltas, want)
	}
	return "ok"
}

// newHTTPClient is the benchmark's client for streamgate: loopback only
// (no proxy), no compression, one connection per concurrent stream.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 60 * time.Second,
	}}
}

type streamRequest struct {
	Prompt    string `json:"prompt"`
	ModelID   string `json:"modelId"`
	MaxTokens int    `json:"maxTokens,omitempty"`
}

// requestBody is a /stream request; a prompt unique per stream keeps the
// emulator's answers (and so their lengths) from being all alike.
func requestBody(model string, maxTokens, i int) []byte {
	b, _ := json.Marshal(streamRequest{Prompt: "benchmark stream " + strconv.Itoa(i), ModelID: model, MaxTokens: maxTokens})
	return b
}

// stampPrefix starts the data of a timestamp-v1 delta.
var stampPrefix = []byte(`{"text":"t`)

// readSSE POSTs body to url asking for SSE and reads the stream to its
// end. With stamps, each delta's text is parsed as timestamp-v1's send time
// and its latency recorded; want (if > 0) presizes that slice and bounds
// the read.
func readSSE(ctx context.Context, client *http.Client, url string, body []byte, stamps bool, want int) (res streamResult) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		res.err = err
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	res.status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		res.err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
		return res
	}
	readSSEBody(resp.Body, &res, start, stamps, want)
	return res
}

// readSSEBody reads an SSE body into res; start is when the request was
// sent. It allocates per stream, never per delta: it is the client side of
// a latency measurement, and garbage it made would be collected on the
// same cores as the gateway under test.
func readSSEBody(body io.Reader, res *streamResult, start time.Time, stamps bool, want int) {
	if stamps {
		res.lat, res.stamps = make([]int64, 0, want), make([]int64, 0, want)
	}
	counted := &countingReader{r: body}
	defer func() { res.bytes = counted.n }()
	// Comments too, so that a first keep-alive counts for ttfb and every
	// keep-alive for the bound.
	sr := sse.NewReader(counted, sse.Options{Comments: true, BufferSize: 8 << 10})
	// Bounded: a stream of want deltas has a start and a done event
	// besides; keep-alives add one each (none at these rates).
	maxEvents := 1 << 22
	if want > 0 {
		maxEvents = want + 1000
	}
	for range maxEvents {
		ev, err := sr.NextRaw()
		now := time.Now()
		if err != nil {
			if err != io.EOF && !res.done {
				res.err = err
			}
			return
		}
		if res.ttfb == 0 {
			res.ttfb = now.Sub(start)
		}
		switch string(ev.Type) { // no allocation: compared, not kept
		case "delta":
			res.deltas++
			if stamps {
				ns, ok := parseStamp(ev.Data)
				if !ok {
					res.err = fmt.Errorf("delta %d: %q is not a timestamp-v1 delta", res.deltas, ev.Data)
					return
				}
				res.lat = append(res.lat, now.UnixNano()-ns)
				res.stamps = append(res.stamps, ns)
			}
		case "done":
			res.done = true
		case "error":
			res.errEvent = string(ev.Data)
		}
	}
	res.err = errors.New("stream longer than expected")
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// parseStamp reads {"text":"t<nanos> "}.
func parseStamp(data []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(data, stampPrefix)
	if !ok {
		return 0, false
	}
	return parseNanos(rest)
}

// parseNanos reads the leading decimal digits of b.
func parseNanos(b []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	return n, i > 0
}

// newSDKClient is the real bedrockruntime client as the gateway builds it
// (streaming.ConfigureClient), pointed at endpoint.
func newSDKClient(endpoint string) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:       benchRegion,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("streamgate-bench", "streamgate-bench", ""),
	}, streaming.ConfigureClient)
}

// readSDK streams one timestamp-v1 answer of n deltas through the SDK
// directly: the baseline, with no gateway in between.
func readSDK(ctx context.Context, client *bedrockruntime.Client, n, i int) streamResult {
	return readSDKModel(ctx, client, timestampModel, n, i)
}

// readSDKModel is readSDK on another model: its deltas are counted, and
// their latency recorded only for timestamp-v1.
func readSDKModel(ctx context.Context, client *bedrockruntime.Client, model string, n, i int) (res streamResult) {
	start := time.Now()
	stamps := model == timestampModel
	out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
		ModelId: aws.String(model),
		Messages: []types.Message{{
			Role:    types.ConversationRoleUser,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "benchmark stream " + strconv.Itoa(i)}},
		}},
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(int32(n))},
	})
	if err != nil {
		res.err = err
		return res
	}
	res.status = http.StatusOK
	if stamps {
		res.lat, res.stamps = make([]int64, 0, n), make([]int64, 0, n)
	}
	stream := out.GetStream()
	defer stream.Close()
	for ev := range stream.Events() {
		now := time.Now()
		if res.ttfb == 0 {
			res.ttfb = now.Sub(start)
		}
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			t, ok := v.Value.Delta.(*types.ContentBlockDeltaMemberText)
			if ok && !stamps {
				res.deltas++
				res.bytes += int64(len(t.Value))
				continue
			}
			if !ok || len(t.Value) < 2 || t.Value[0] != 't' {
				res.err = fmt.Errorf("unexpected delta %T", v.Value.Delta)
				return res
			}
			ns, ok := parseNanos([]byte(t.Value[1:]))
			if !ok {
				res.err = fmt.Errorf("delta %q is not a timestamp-v1 delta", t.Value)
				return res
			}
			res.deltas++
			res.bytes += int64(len(t.Value))
			res.lat = append(res.lat, now.UnixNano()-ns)
			res.stamps = append(res.stamps, ns)
		case *types.ConverseStreamOutputMemberMessageStop:
			res.done = true
		}
	}
	if err := stream.Err(); err != nil {
		res.err = err
	}
	return res
}

// runStreams runs n streams concurrently, starting them evenly over ramp,
// and waits for all of them.
func runStreams(ctx context.Context, n int, ramp time.Duration, fn func(ctx context.Context, i int) streamResult) []streamResult {
	res, _ := runStreamsRamp(ctx, n, ramp, fn)
	return res
}

// runStreamsRamp is runStreams that also says when the last stream started.
func runStreamsRamp(ctx context.Context, n int, ramp time.Duration, fn func(ctx context.Context, i int) streamResult) ([]streamResult, time.Time) {
	res := make([]streamResult, n)
	var last time.Time
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if ramp > 0 && i > 0 {
			if d := time.Until(start.Add(ramp * time.Duration(i) / time.Duration(n))); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
		}
		if err := ctx.Err(); err != nil {
			res[i].err = err
			continue
		}
		last = time.Now()
		wg.Go(func() { res[i] = fn(ctx, i) })
	}
	wg.Wait()
	return res, last
}

// latencyStats summarises latencies.
type latencyStats struct {
	N             int
	P50, P99, Max time.Duration
	Min           time.Duration
	Over10ms      int // samples above 10 ms: the outliers
}

func summarize(samples []int64) latencyStats {
	if len(samples) == 0 {
		return latencyStats{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	st := latencyStats{
		N:   len(s),
		Min: time.Duration(s[0]),
		P50: time.Duration(percentile(s, 0.50)),
		P99: time.Duration(percentile(s, 0.99)),
		Max: time.Duration(s[len(s)-1]),
	}
	i, _ := slices.BinarySearch(s, int64(10*time.Millisecond)+1)
	st.Over10ms = len(s) - i
	return st
}

// percentile is the nearest-rank percentile of sorted s.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted))+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

func allLatencies(rs []streamResult) []int64 {
	n := 0
	for _, r := range rs {
		n += len(r.lat)
	}
	out := make([]int64, 0, n)
	for _, r := range rs {
		out = append(out, r.lat...)
	}
	return out
}

// latenciesSince is the latencies of the deltas stamped at or after t.
func latenciesSince(rs []streamResult, t time.Time) []int64 {
	from := t.UnixNano()
	var out []int64
	for _, r := range rs {
		for i, st := range r.stamps {
			if st >= from {
				out = append(out, r.lat[i])
			}
		}
	}
	return out
}

// failures counts the streams that did not complete with want deltas and
// gives the first reason.
func failures(rs []streamResult, want int) (n int, first string) {
	for _, r := range rs {
		if !r.ok(want) {
			if n == 0 {
				first = r.describe(want)
			}
			n++
		}
	}
	return n, first
}
