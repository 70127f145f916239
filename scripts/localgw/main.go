// Command localgw serves a built Lambda bootstrap behind an emulated API
// Gateway REST API with response streaming (ResponseTransferMode STREAM)
// and an emulated Lambda Runtime API, so that streaming can be developed
// and tested locally:
//
//	go build -tags lambda.norpc -o /tmp/bootstrap ./lambda
//	go run ./scripts/localgw -bootstrap /tmp/bootstrap -addr 127.0.0.1:3000
//	curl --no-buffer -d '{"prompt":"hi"}' http://127.0.0.1:3000/stream
//
// The stage is served at the root (http://HOST:PORT/stream is stage path
// /local/stream). Gateway logs go to stderr as JSON lines, interleaved with
// the functions' own output; the startup line goes to stdout. SIGINT or
// SIGTERM stops accepting requests and stops the functions.
//
// As on AWS, a client that disconnects does not stop the function: localgw
// drains the rest of its response until the function ends it or times out
// (-on-disconnect drain, the default); -on-disconnect close closes the
// function's response connection instead (not what Lambda does).
//
// With -authorizer-handler, the same bootstrap also runs, with that
// _HANDLER, as a REQUEST Lambda authorizer in front of the guarded routes
// (API key source AUTHORIZER):
//
//	go run ./scripts/localgw -bootstrap /tmp/bootstrap \
//	  -authorizer-handler authorizer -api-keys-file keys.txt
//	curl -H 'Authorization: Bearer KEY' ...
//
// See package github.com/streamgate/streamgate/lambda/localgw for what is
// emulated.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/streamgate/streamgate/lambda/localgw"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; it returns when ctx ends (or on a startup
// error) with the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("localgw", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bootstrap := fs.String("bootstrap", "", "path to the Lambda `bootstrap` binary, built for this machine (required)")
	addr := fs.String("addr", "127.0.0.1:3000", "`HOST:PORT` to serve the emulated API on")
	handler := fs.String("handler", localgw.DefaultHandler, "the function's _HANDLER (its Handler property)")
	instances := fs.Int("instances", localgw.DefaultInstances, "number of function instances (each one invocation at a time)")
	timeout := fs.Duration("timeout", localgw.DefaultTimeout, "integration timeout, counted from the start of the integration request, after the authorizer if any (at most 900s)")
	functionTimeout := fs.Duration("function-timeout", 0, "Lambda function timeout: each invocation's deadline (Lambda-Runtime-Deadline-Ms) is this long after it starts, and the function is killed then (default: -timeout)")
	onDisconnect := fs.String("on-disconnect", string(localgw.Drain), "what to do with a function's response that nobody reads any more (client gone, integration or idle timeout), the `mode`: drain (as on AWS: the function runs on until it ends its response or times out; the rest is discarded) or close (close its response connection; aws-lambda-go then exits)")
	authHandler := fs.String("authorizer-handler", "", "`_HANDLER` of a REQUEST Lambda authorizer run by the same bootstrap (e.g. authorizer); empty: no authorizer")
	authTTL := fs.Duration("authorizer-ttl", 300*time.Second, "authorizer result cache TTL, keyed by the identity sources (0 disables; at most 1h; whole seconds)")
	authSources := fs.String("authorizer-identity-source", "method.request.header.Authorization", "comma list of identity sources (method.request.header.NAME, method.request.querystring.NAME): a request missing one gets 401 without invoking the authorizer")
	authRoutes := fs.String("authorizer-routes", "", "comma list of `patterns` \"METHOD /path\" that the authorizer guards (METHOD may be * or ANY, /path may end with *); default: every route except GET /, GET /healthz and OPTIONS")
	authTimeout := fs.Duration("authorizer-timeout", localgw.DefaultAuthorizerTimeout, "the authorizer function's Lambda timeout; past it the request gets 500")
	authInstances := fs.Int("authorizer-instances", localgw.DefaultAuthorizerInstances, "number of authorizer instances")
	apiKeys := fs.String("api-keys", "", "comma list of the usage plan's API keys: an authorizer Allow whose usageIdentifierKey is not one of them gets 403 Forbidden (empty: no key required)")
	apiKeysFile := fs.String("api-keys-file", "", "file with the usage plan's API keys, one a line (# comments), added to -api-keys")
	idleTimeout := fs.Duration("idle-timeout", localgw.DefaultIdleTimeout, "abort a stream after this long without bytes from the function")
	stage := fs.String("stage", localgw.DefaultStage, "API Gateway stage name")
	functionName := fs.String("function-name", localgw.DefaultFunction, "Lambda function name (AWS_LAMBDA_FUNCTION_NAME, ARN)")
	memory := fs.Int("memory", localgw.DefaultMemorySize, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE in MB (informational)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: localgw -bootstrap PATH [-addr HOST:PORT] [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "localgw: unexpected arguments %q (flags only; see -h)\n", fs.Args())
		return 2
	}
	if *bootstrap == "" {
		fmt.Fprintln(stderr, "localgw: -bootstrap PATH is required (see -h)")
		return 2
	}

	authCfg, err := authorizerConfig(fs, *authHandler, *authTTL, *authSources, *authRoutes, *authTimeout, *authInstances, *apiKeys, *apiKeysFile)
	if err != nil {
		fmt.Fprintf(stderr, "localgw: %v\n", err)
		return 2
	}

	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	gw, err := localgw.New(localgw.Config{
		Bootstrap:       *bootstrap,
		Handler:         *handler,
		Instances:       *instances,
		Timeout:         *timeout,
		FunctionTimeout: *functionTimeout,
		IdleTimeout:     *idleTimeout,
		Stage:           *stage,
		Stderr:          stderr,
		Logger:          logger,
		FunctionName:    *functionName,
		MemorySize:      *memory,
		OnDisconnect:    localgw.DisconnectMode(*onDisconnect),
		Authorizer:      authCfg,
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "localgw: %v\n", err)
		return 1
	}
	defer ln.Close()

	if err := gw.Start(ctx); err != nil {
		gw.Close()
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "localgw: interrupted during startup")
			return 1
		}
		fmt.Fprintln(stderr, err)
		return 1
	}

	srv := &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	cs := gw.ColdStarts()
	var slowest time.Duration
	for _, d := range cs {
		slowest = max(slowest, d)
	}
	auth := "no authorizer"
	if authCfg != nil {
		auth = fmt.Sprintf("authorizer _HANDLER=%s (TTL %v, %d API keys)", authCfg.Handler, authCfg.TTL, len(authCfg.APIKeys))
	}
	fmt.Fprintf(stdout, "localgw: serving http://%s/ (stage %s) with %d instances of %s (_HANDLER=%s), timeout %v, on disconnect %s, %s, slowest cold start %v\n",
		ln.Addr(), *stage, len(cs), *bootstrap, *handler, *timeout, *onDisconnect, auth, slowest.Round(time.Millisecond))

	code := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "localgw: %v\n", err)
		code = 1
	}

	// Stop accepting, stop the functions (which ends the streams in
	// progress), then give the handlers a moment to return.
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(shutdownCtx) }()
	gw.Close()
	if err := <-shut; err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("shutdown", "err", err)
	}
	_ = srv.Close()
	return code
}

// authorizerConfig builds Config.Authorizer from the flags: nil without
// -authorizer-handler, in which case no other authorizer flag may be set.
func authorizerConfig(fs *flag.FlagSet, handler string, ttl time.Duration, sources, routes string, timeout time.Duration, instances int, keys, keysFile string) (*localgw.AuthorizerConfig, error) {
	if handler == "" {
		var set []string
		fs.Visit(func(f *flag.Flag) {
			if strings.HasPrefix(f.Name, "authorizer-") || strings.HasPrefix(f.Name, "api-keys") {
				set = append(set, "-"+f.Name)
			}
		})
		if len(set) > 0 {
			return nil, fmt.Errorf("%s need -authorizer-handler (the authorizer's _HANDLER, e.g. authorizer)", strings.Join(set, ", "))
		}
		return nil, nil
	}
	ac := &localgw.AuthorizerConfig{
		Handler:         handler,
		TTL:             ttl,
		IdentitySources: splitList(sources),
		Timeout:         timeout,
		Instances:       instances,
		APIKeys:         splitList(keys),
	}
	if instances < 1 {
		return nil, fmt.Errorf("-authorizer-instances must be at least 1, got %d", instances)
	}
	if routes != "" {
		req, err := localgw.RoutePatterns(splitList(routes))
		if err != nil {
			return nil, fmt.Errorf("-authorizer-routes: %w", err)
		}
		ac.Requires = req
	}
	if keysFile != "" {
		b, err := os.ReadFile(keysFile)
		if err != nil {
			return nil, fmt.Errorf("-api-keys-file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				ac.APIKeys = append(ac.APIKeys, line)
			}
		}
	}
	return ac, nil
}

// splitList splits a comma list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
