// Command bootstrap is streamgate's one binary. Inside Lambda (the runtime
// sets AWS_LAMBDA_RUNTIME_API) it serves API Gateway REST proxy events with
// response streaming; anywhere else it serves the same streaming.Handler as
// a plain HTTP server on PORT, by default in front of the built-in Bedrock
// emulator (local mode).
//
// The Lambda build (-tags lambda.norpc, scripts/build) leaves local mode
// out: local.go and what only it links (the Bedrock emulator, the
// in-process S3, the AWS SDK's default credential chain) are built without
// that tag only, as by `go run ./lambda`, and lambdaonly.go stands in for
// them. Each package linked is initialised at every cold start, before
// main runs, and on Lambda's microVMs every page it touches is a page
// fault (scripts/bench, section 3; TestLambdaBuildLinksNoLocalCode).
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
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/streamgate/streamgate/lambda/apigw"
	"github.com/streamgate/streamgate/lambda/authorizer"
	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/gateway"
)

func main() {
	var err error
	switch {
	case os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" && os.Getenv("_HANDLER") == authorizer.HandlerName:
		// The stack's second function: the same zip, Handler "authorizer".
		authorizer.Start(slog.New(slog.NewJSONHandler(os.Stdout, nil)))
	case os.Getenv("AWS_LAMBDA_RUNTIME_API") != "":
		err = runLambda(context.Background(), os.Getenv)
	default:
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
	logger := newLogger(cfg)
	awsCfg, err := lambdaAWSConfig(getenv)
	if err != nil {
		return err
	}
	up := newUpstreams(cfg, awsCfg, endpointsFrom(getenv))
	if cfg.DailyTokenBudget > 0 && cfg.BudgetTable == "" {
		logger.Warn("DAILY_TOKEN_BUDGET is set without BUDGET_TABLE: each instance counts its own tokens, so a key may spend the budget once per instance")
	}
	if cfg.CancelTable == "" {
		logger.Warn("CANCEL_TABLE is not set: DELETE /stream/{id} can stop only streams on the same instance, which on Lambda is none")
	}
	h := gateway.New(cfg, up, logger)
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

// endpoints override AWS's endpoints (emulators, moto, a local S3).
type endpoints struct {
	bedrock, s3, dynamodb string
}

func endpointsFrom(getenv func(string) string) endpoints {
	return endpoints{
		bedrock:  strings.TrimSpace(getenv("BEDROCK_ENDPOINT")),
		s3:       strings.TrimSpace(getenv("S3_ENDPOINT")),
		dynamodb: strings.TrimSpace(getenv("DYNAMODB_ENDPOINT")),
	}
}

// lambdaAWSConfig is Lambda mode's AWS configuration, read from the
// variables Lambda sets: AWS_REGION and the execution role's credentials
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). It does
// without config.LoadDefaultConfig, whose credential chain (shared files,
// SSO, STS web identity, the login and container providers) links the
// sts, sso, ssooidc and signin clients, whose package initialisation and
// endpoint tables cost a cold start about 2.5 ms and 350 page faults
// before main runs (scripts/bench, section 3); on Lambda that chain would
// stop at the environment anyway. The SDK clients supply the rest of the
// defaults (standard retryer, HTTP client) as LoadDefaultConfig would.
func lambdaAWSConfig(getenv func(string) string) (aws.Config, error) {
	region := strings.TrimSpace(getenv("AWS_REGION"))
	if region == "" {
		return aws.Config{}, fmt.Errorf("configuration: AWS_REGION is required to call Bedrock")
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return aws.Config{}, fmt.Errorf("configuration: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required in Lambda mode (Lambda sets them from the function's execution role)")
	}
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN")),
	}, nil
}

// newUpstreams returns the clients the gateway calls, configured by
// awsCfg: the SDK's for Bedrock, the gateway's own for S3 (only when the
// configuration uses it) and DynamoDB. The control plane's is built by
// the first request that needs it (Upstreams.Later).
func newUpstreams(cfg streaming.Config, awsCfg aws.Config, ep endpoints) streaming.Upstreams {
	up := streaming.Upstreams{
		Bedrock: bedrockruntime.NewFromConfig(awsCfg, streaming.ConfigureClient, func(o *bedrockruntime.Options) {
			if ep.bedrock != "" {
				o.BaseEndpoint = aws.String(ep.bedrock)
			}
		}),
		Later: func(up *streaming.Upstreams) {
			up.Control = bedrock.NewFromConfig(awsCfg, func(o *bedrock.Options) {
				if ep.bedrock != "" {
					o.BaseEndpoint = aws.String(ep.bedrock)
				}
			})
		},
	}
	if cfg.ImagesBucket != "" {
		// A local endpoint is called path-style: it has no bucket subdomains.
		up.S3 = streaming.NewS3Client(streaming.S3Config{Region: awsCfg.Region, Endpoint: ep.s3, Credentials: awsCfg.Credentials})
	}
	if cfg.CancelTable != "" || cfg.BudgetTable != "" {
		dynamo := streaming.DynamoConfig{Region: awsCfg.Region, Endpoint: ep.dynamodb, Credentials: awsCfg.Credentials}
		if cfg.CancelTable != "" {
			up.Cancels = streaming.NewDynamoCancelStore(dynamo, cfg.CancelTable)
		}
		if cfg.BudgetTable != "" {
			up.Budgets = streaming.NewDynamoBudgetStore(dynamo, cfg.BudgetTable)
		}
	}
	return up
}
