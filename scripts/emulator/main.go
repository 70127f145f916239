// Command emulator serves the built-in Amazon Bedrock emulator alone (the
// Runtime's Converse, ConverseStream, InvokeModel and
// InvokeModelWithResponseStream, and the control plane's
// ListFoundationModels, over HTTP/1.1 and HTTP/2 without TLS), so that a
// gateway, a load test or any AWS SDK client (Go, boto3, the Node SDK v3)
// can be pointed at it (BEDROCK_ENDPOINT=http://127.0.0.1:4010, any static
// AWS keys) without an AWS account.
//
//	go run ./scripts/emulator -addr 127.0.0.1:4010
//
// Timing comes from EMULATOR_TOKENS_PER_SECOND, EMULATOR_SLOW_START_SECONDS
// and EMULATOR_LONG_SECONDS. It prints one startup line on stderr, then one
// JSON log line per request, and shuts down gracefully on SIGINT or SIGTERM.
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

	"github.com/streamgate/streamgate/streaming/emulator"
)

// shutdownGrace is how long in-flight streams may run on after a signal
// before their connections are closed (long-v1 streams last minutes).
const shutdownGrace = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "emulator:", err)
		}
		os.Exit(2)
	}
}

// run serves until ctx ends; it is main without the process globals, so
// that tests can run it.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4010", "`host:port` to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	opts, err := emulator.OptionsFromEnv(getenv)
	if err != nil {
		return err
	}
	opts.Logger = slog.New(slog.NewJSONHandler(stderr, nil))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := emulator.NewServer(emulator.New(opts))
	srv.ErrorLog = slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn)
	fmt.Fprintf(stderr, "bedrock emulator listening on http://%s (HTTP/1.1 and h2c; models: %s; InvokeModel only: %s, %s)\n",
		ln.Addr(), strings.Join(emulator.Models(), ", "), emulator.ImageModelID, emulator.EmbeddingModelID)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Streams still running after the grace period are cut.
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
