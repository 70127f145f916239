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

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
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
	if local.upstream == "emulator" {
		getenv = withDefaults(getenv, map[string]string{
			"MODEL_ID":       "emulator.steady-v1",
			"ALLOWED_MODELS": strings.Join(emulator.Models(), ","),
			// emulator.long-v1 is ~8,700 one-word deltas: whole by default.
			"MAX_TOKENS": "16384",
		})
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
		emu = &http.Server{Handler: emulator.New(opts), ReadHeaderTimeout: 10 * time.Second}
		go emu.Serve(ln)
		defer emu.Close()
		local.endpoint = "http://" + ln.Addr().String()
		upstream = "built-in Bedrock emulator"
	} else if local.endpoint != "" {
		upstream = "Bedrock at " + local.endpoint
	}
	var creds = emulatorCredentials()
	if local.upstream == "bedrock" {
		creds = nil // the default credential chain
	}
	client, err := newBedrockClient(ctx, local.region, local.endpoint, creds)
	if err != nil {
		return err
	}

	h := streaming.New(cfg, client, newLogger(cfg))
	ln, err := net.Listen("tcp", net.JoinHostPort(local.host, local.port))
	if err != nil {
		return fmt.Errorf("cannot listen on %s:%s: %w (set PORT to another port)", local.host, local.port, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	url := "http://" + ln.Addr().String()
	fmt.Fprintf(os.Stderr, "streamgate: listening on %s (upstream: %s, model: %s); try: curl --no-buffer -H 'Content-Type: application/json' -d '{\"prompt\":\"Tell me about streaming\"}' %s/stream\n",
		url, upstream, cfg.ModelID, url)

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
