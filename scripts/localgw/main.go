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
	instances := fs.Int("instances", localgw.DefaultInstances, "number of function instances (each one invocation at a time)")
	timeout := fs.Duration("timeout", localgw.DefaultTimeout, "integration timeout, counted from the start of each request (at most 900s)")
	functionTimeout := fs.Duration("function-timeout", 0, "Lambda function timeout, for Lambda-Runtime-Deadline-Ms (default: -timeout)")
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

	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	gw, err := localgw.New(localgw.Config{
		Bootstrap:       *bootstrap,
		Instances:       *instances,
		Timeout:         *timeout,
		FunctionTimeout: *functionTimeout,
		IdleTimeout:     *idleTimeout,
		Stage:           *stage,
		Stderr:          stderr,
		Logger:          logger,
		FunctionName:    *functionName,
		MemorySize:      *memory,
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
	fmt.Fprintf(stdout, "localgw: serving http://%s/ (stage %s) with %d instances of %s, timeout %v, slowest cold start %v\n",
		ln.Addr(), *stage, len(cs), *bootstrap, *timeout, slowest.Round(time.Millisecond))

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
