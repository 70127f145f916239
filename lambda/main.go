// Command bootstrap is streamgate's one binary. Inside Lambda (the runtime
// sets AWS_LAMBDA_RUNTIME_API) it serves API Gateway REST proxy events with
// response streaming; anywhere else it serves the same streaming.Handler as
// a plain HTTP server on PORT, by default in front of the built-in Bedrock
// emulator (local mode).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/streamgate/streamgate/lambda/apigw"
	"github.com/streamgate/streamgate/streaming"
)

func main() {
	var err error
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		err = runLambda(context.Background(), os.Getenv)
	} else {
		err = runLocal(os.Getenv)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamgate:", err)
		os.Exit(1)
	}
}

// runLambda serves API Gateway events until the runtime ends the process.
func runLambda(ctx context.Context, getenv func(string) string) error {
	runtime.GOMAXPROCS(lambdaProcs(getenv, runtime.GOMAXPROCS(0)))
	if limit, ok := lambdaMemoryLimit(getenv); ok {
		debug.SetMemoryLimit(limit)
	}
	cfg, err := streaming.LoadConfig(getenv)
	if err != nil {
		return err
	}
	client, err := newBedrockClient(ctx, getenv("AWS_REGION"), getenv("BEDROCK_ENDPOINT"), nil)
	if err != nil {
		return err
	}
	h := streaming.New(cfg, client, newLogger(cfg))
	apigw.StartWith(h, func(ctx context.Context, event *events.APIGatewayProxyRequest) context.Context {
		return streaming.WithRequestID(ctx, event.RequestContext.RequestID)
	})
	return nil
}

// lambdaProcs is the GOMAXPROCS of Lambda mode: 1 unless GOMAXPROCS is set.
// A Lambda process serves one invocation, so one stream, at a time, and
// each delta passes through several goroutines (the SDK's event reader,
// the handler, the runtime client sending the response). With more than
// one P those hand-offs wake other threads on every delta; with one they
// are plain goroutine switches. Measured on one stream through localgw
// (scripts/bench, section lambdastream): 30% less CPU per delta, the same
// median latency. At 128 MB a function gets a small share of a vCPU, so
// CPU per delta is what keeps it from being throttled.
func lambdaProcs(getenv func(string) string, current int) int {
	if getenv("GOMAXPROCS") != "" {
		return current
	}
	return 1
}

func newLogger(cfg streaming.Config) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
}

// newBedrockClient returns the real SDK client. endpoint, when set,
// replaces Bedrock's (the emulator); creds, when set, replace the default
// credential chain (the in-process emulator accepts any keys).
func newBedrockClient(ctx context.Context, region, endpoint string, creds aws.CredentialsProvider) (*bedrockruntime.Client, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if creds != nil {
		opts = append(opts, config.WithCredentialsProvider(creds))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("configuration: AWS_REGION is required to call Bedrock")
	}
	return bedrockruntime.NewFromConfig(awsCfg, streaming.ConfigureClient, func(o *bedrockruntime.Options) {
		if endpoint = strings.TrimSpace(endpoint); endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// emulatorCredentials are the keys the in-process emulator is called with:
// it checks that requests are signed, not by whom.
func emulatorCredentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("streamgate-emulator", "streamgate-emulator", "")
}
