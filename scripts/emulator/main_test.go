package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// noWriterTo hides the request body's io.WriterTo: see the emulator's
// tests (aws-sdk-go-v2 #2737).
type noWriterTo struct{ next bedrockruntime.HTTPClient }

func (c noWriterTo) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return c.next.Do(r)
}

func TestRunServesAndShutsDown(t *testing.T) {
	var stderr streamtest.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	env := map[string]string{"EMULATOR_TOKENS_PER_SECOND": "1000"}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, &stderr)
	}()

	m := stderr.WaitFor(t, regexp.MustCompile(`^bedrock emulator listening on (http://127\.0\.0\.1:\d+) \(HTTP/1\.1 and h2c; models: ([^;]*); InvokeModel only: emulator\.image-v1, emulator\.embed-v1\)\n`), 10*time.Second)
	if want := strings.Join(emulator.Models(), ", "); m[2] != want {
		t.Errorf("startup line lists %q, want %q", m[2], want)
	}
	client := bedrockruntime.New(bedrockruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m[1]),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		HTTPClient:   noWriterTo{awshttp.NewBuildableClient()},
	})
	start := time.Now()
	out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
		ModelId:  aws.String("emulator.steady-v1"),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hello"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for ev := range out.GetStream().Events() {
		if d, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
			text.WriteString(d.Value.Delta.(*types.ContentBlockDeltaMemberText).Value)
		}
	}
	if err := out.GetStream().Close(); err != nil {
		t.Fatal(err)
	}
	deltas, _ := emulator.Answer("emulator.steady-v1", "hello", 0)
	if text.String() != strings.Join(deltas, "") {
		t.Errorf("text %q, want %q", text.String(), strings.Join(deltas, ""))
	}
	// The env rate applies: 1000/s, not the default 50/s (≥ 0.8 s here).
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("stream took %v: EMULATOR_TOKENS_PER_SECOND ignored?", d)
	}

	line := stderr.WaitFor(t, regexp.MustCompile(`(?m)^(\{.*"msg":"bedrock emulator request".*\})$`), 10*time.Second)[1]
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	if rec["operation"] != "ConverseStream" || rec["model"] != "emulator.steady-v1" || rec["outcome"] != "completed" || rec["status"] != 200.0 {
		t.Errorf("log line = %v", rec)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after shutdown = %v, want nil", err)
		}
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatal("run did not return after its context ended")
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(m[1], "http://"), time.Second); err == nil {
		t.Error("still listening after shutdown")
	}
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"bad env", []string{"-addr", "127.0.0.1:0"}, map[string]string{"EMULATOR_LONG_SECONDS": "soon"}, `EMULATOR_LONG_SECONDS="soon": not a number`},
		{"unknown flag", []string{"-port", "1"}, nil, "flag provided but not defined: -port"},
		{"extra argument", []string{"serve"}, nil, `unexpected arguments ["serve"]`},
		{"address in use", []string{"-addr", busy.Addr().String()}, nil, "address already in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr streamtest.Buffer
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := run(ctx, tt.args, func(k string) string { return tt.env[k] }, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Error("run served instead of failing")
			}
		})
	}
}
