//go:build !lambda.norpc

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/streamgate/streamgate/lambda/locals3"
	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gateway"
)

// localSettings are local mode's own settings; the gateway's are in
// streaming.Config.
type localSettings struct {
	host, port string
	upstream   string // "emulator" or "bedrock"
	endpoint   string // BEDROCK_ENDPOINT
	region     string
	grace      time.Duration // SHUTDOWN_GRACE_SECONDS
}

func loadLocalSettings(getenv func(string) string) (localSettings, error) {
	s := localSettings{
		host:     orDefault(getenv("HOST"), "127.0.0.1"),
		port:     orDefault(getenv("PORT"), "8080"),
		upstream: strings.ToLower(orDefault(getenv("UPSTREAM"), "emulator")),
		endpoint: strings.TrimSpace(getenv("BEDROCK_ENDPOINT")),
		region:   getenv("AWS_REGION"),
		grace:    10 * time.Second,
	}
	if p, err := strconv.Atoi(s.port); err != nil || p < 0 || p > 65535 {
		return s, &streaming.ConfigError{Name: "PORT", Value: s.port, Problem: "must be a port number from 0 to 65535"}
	}
	if s.upstream != "emulator" && s.upstream != "bedrock" {
		return s, &streaming.ConfigError{Name: "UPSTREAM", Value: s.upstream, Problem: "must be emulator (the built-in Bedrock emulator) or bedrock (real Bedrock)"}
	}
	if v := getenv("SHUTDOWN_GRACE_SECONDS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 3600 {
			return s, &streaming.ConfigError{Name: "SHUTDOWN_GRACE_SECONDS", Value: v, Problem: "must be a number of seconds from 0 to 3600"}
		}
		s.grace = time.Duration(f * float64(time.Second))
	}
	if s.upstream == "emulator" && s.region == "" {
		s.region = "us-east-1"
	}
	return s, nil
}

// localImagesBucket is the bucket of local mode's in-process S3.
const localImagesBucket = "streamgate-images"

// httpAndH2C is HTTP/1.1 plus HTTP/2 without TLS, so that
// `curl --http2-prior-knowledge` and HTTP/2 clients such as the Node AWS SDK
// are served instead of getting an empty reply.
func httpAndH2C() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

// startLocalS3 serves an in-process S3 with bucket on a loopback port.
func startLocalS3(bucket string) (url string, stop func(), err error) {
	handler, err := locals3.New(bucket)
	if err != nil {
		return "", nil, fmt.Errorf("starting the local S3: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("starting the local S3: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// localAWSConfig is local mode's AWS configuration: the SDK's usual chain
// (environment, shared files, SSO...), with creds instead of its
// credentials when set (the in-process emulators accept any keys).
func localAWSConfig(ctx context.Context, region string, creds aws.CredentialsProvider) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if creds != nil {
		opts = append(opts, config.WithCredentialsProvider(creds))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return aws.Config{}, fmt.Errorf("configuration: AWS_REGION is required to call Bedrock")
	}
	return awsCfg, nil
}

// emulatorCredentials are the keys the in-process emulator is called with:
// it checks that requests are signed, not by whom.
func emulatorCredentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("streamgate-emulator", "streamgate-emulator", "")
}

func corsNote(cfg streaming.Config) string {
	if len(cfg.CORSAllowOrigins) == 0 {
		return "CORS is off: only pages from this origin can call the API (set CORS_ALLOW_ORIGINS to allow others)"
	}
	return "CORS allows " + strings.Join(cfg.CORSAllowOrigins, ", ")
}

func cancelNote(cfg streaming.Config) string {
	if cfg.CancelTable == "" {
		return "DELETE /stream/{id} cancels streams of this process"
	}
	return "cancels are shared through the DynamoDB table " + cfg.CancelTable
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v == "" {
		return def
	}
	return v
}

// withDefaults returns a getenv that answers defaults[name] for settings
// that are unset, so that local mode on the emulator needs no settings.
func withDefaults(getenv func(string) string, defaults map[string]string) func(string) string {
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return defaults[name]
	}
}

// runLocal serves the gateway on HOST:PORT until SIGINT or SIGTERM.
func runLocal(getenv func(string) string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	local, err := loadLocalSettings(getenv)
	if err != nil {
		return err
	}
	var (
		emu      *http.Server
		upstream = "Bedrock in " + local.region
	)
	localS3 := local.upstream == "emulator" && strings.TrimSpace(getenv("S3_ENDPOINT")) == ""
	if local.upstream == "emulator" {
		defaults := map[string]string{
			"MODEL_ID":           "emulator.steady-v1",
			"ALLOWED_MODELS":     strings.Join(emulator.Models(), ","),
			"IMAGE_MODEL_ID":     emulator.ImageModelID,
			"EMBEDDING_MODEL_ID": emulator.EmbeddingModelID,
			// emulator.long-v1 is ~8,700 one-word deltas: whole by default.
			"MAX_TOKENS": "16384",
		}
		if localS3 {
			defaults["IMAGES_BUCKET"] = localImagesBucket
		}
		getenv = withDefaults(getenv, defaults)
	}
	cfg, err := streaming.LoadConfig(getenv)
	if err != nil {
		return err
	}
	if local.upstream == "emulator" && local.endpoint == "" {
		opts, err := emulator.OptionsFromEnv(getenv)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("starting the Bedrock emulator: %w", err)
		}
		emu = emulator.NewServer(emulator.New(opts))
		go emu.Serve(ln)
		defer emu.Close()
		local.endpoint = "http://" + ln.Addr().String()
		upstream = "built-in Bedrock emulator"
	} else if local.endpoint != "" {
		upstream = "Bedrock at " + local.endpoint
	}
	ep := endpointsFrom(getenv)
	ep.bedrock = local.endpoint
	if localS3 && cfg.ImagesBucket != "" {
		s3URL, closeS3, err := startLocalS3(cfg.ImagesBucket)
		if err != nil {
			return err
		}
		defer closeS3()
		ep.s3 = s3URL
	}
	var creds = emulatorCredentials()
	if local.upstream == "bedrock" {
		creds = nil // the default credential chain
	}
	awsCfg, err := localAWSConfig(ctx, local.region, creds)
	if err != nil {
		return err
	}
	up := newUpstreams(cfg, awsCfg, ep)

	h := gateway.New(cfg, up, newLogger(cfg))
	ln, err := net.Listen("tcp", net.JoinHostPort(local.host, local.port))
	if err != nil {
		return fmt.Errorf("cannot listen on %s:%s: %w (set PORT to another port)", local.host, local.port, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, Protocols: httpAndH2C()}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	url := "http://" + ln.Addr().String()
	fmt.Fprintf(os.Stderr, "streamgate: listening on %s (upstream: %s, model: %s); try: curl --no-buffer -H 'Content-Type: application/json' -d '{\"prompt\":\"Tell me about streaming\"}' %s/stream\n",
		url, upstream, cfg.ModelID, url)
	fmt.Fprintf(os.Stderr, "streamgate: chat page at %s/ ; %s; %s\n", url, corsNote(cfg), cancelNote(cfg))

	select {
	case err := <-served:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	stop() // a second signal kills the process the usual way
	fmt.Fprintf(os.Stderr, "streamgate: shutting down; in-flight streams have %s to finish\n", local.grace)
	graceCtx, cancel := context.WithTimeout(context.Background(), local.grace)
	defer cancel()
	if err := srv.Shutdown(graceCtx); errors.Is(err, context.DeadlineExceeded) {
		// Streams still running get an explicit shutting_down error event
		// (or an aborted body in text mode) rather than a silent cut.
		h.Close()
		endCtx, cancelEnd := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelEnd()
		if err := srv.Shutdown(endCtx); err != nil {
			srv.Close()
		}
	}
	return nil
}
