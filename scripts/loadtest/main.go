// Command loadtest opens many concurrent long streams against a streamgate
// URL (or anything that speaks its HTTP API) and reports, per stream and in
// aggregate, whether each answer arrived complete and how it arrived: time
// to first byte and first delta, the longest silence between chunks, total
// duration and bytes.
//
//	go run ./scripts/loadtest -url http://127.0.0.1:8080/stream -streams 200 -concurrency 100 -ramp 10s -duration 5m -model emulator.long-v1
//
// It exits 0 when every requested stream completed, 1 when any did not (or
// the -json file could not be written), 2 on a usage error, so that scripts
// and CI can use it as a check.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK         = 0
	exitIncomplete = 1
	exitUsage      = 2
)

const usageHead = `usage: loadtest -url URL [flags]

Opens -streams POST requests to URL, at most -concurrency at a time, reads
each streamed answer to its end and prints a summary. Exit status 0 when
every stream completed, 1 when any did not, 2 on a usage error.

Example:
  go run ./scripts/loadtest -url http://127.0.0.1:8080/stream \
      -streams 200 -concurrency 100 -ramp 10s -duration 5m \
      -model emulator.long-v1 -json result.json

Flags:
`

// headerFlag collects repeated -header 'Key: Value' flags.
type headerFlag struct{ h http.Header }

func (f *headerFlag) String() string { return "" }

func (f *headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, ":")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !ok || k == "" || strings.ContainsAny(k, " \t") {
		return fmt.Errorf("want 'Key: Value', got %q", s)
	}
	f.h.Add(k, v)
	return nil
}

// parseArgs turns the command line into a Config and the -json path.
func parseArgs(args []string, stderr io.Writer) (cfg Config, jsonPath string, err error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	// Errors are printed by realMain in one line with a hint, rather than
	// followed by the whole flag list.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}

	headers := &headerFlag{h: http.Header{}}
	var apiKey string
	fs.StringVar(&cfg.URL, "url", "", "full `URL` to POST to, e.g. http://127.0.0.1:8080/stream (required)")
	fs.IntVar(&cfg.Streams, "streams", 1, "total number of streams `N`")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "streams in flight at most `C` (0: = -streams)")
	fs.DurationVar(&cfg.Ramp, "ramp", 0, "spread the starts of the first -concurrency streams over `D`")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Minute, "hard bound `D` on the whole run: streams still in flight are cancelled and reported as \"deadline\"")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "per-stream timeout `D` (0: none beyond -duration)")
	fs.StringVar(&cfg.Format, "format", FormatSSE, "response format: sse or text")
	fs.StringVar(&cfg.Model, "model", "", "modelId `ID` (default: the server's)")
	fs.StringVar(&cfg.Prompt, "prompt", DefaultPrompt, "prompt `TEXT`")
	fs.IntVar(&cfg.MaxTokens, "max-tokens", 0, "maxTokens `N` (0: the server's)")
	fs.Var(headers, "header", "extra request header `'Key: Value'` (repeatable)")
	fs.StringVar(&apiKey, "api-key", "", "shortcut for -header 'x-api-key: `KEY`'")
	fs.StringVar(&jsonPath, "json", "", "write the full result as JSON to `FILE` (\"-\": stdout, and the summary goes to stderr)")
	fs.DurationVar(&cfg.Progress, "progress", time.Second, "interval `D` of the progress line on stderr (0: off)")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, usageHead)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
		}
		return cfg, "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", fmt.Errorf("unexpected argument %q (flags come before it? every setting is a flag)", fs.Arg(0))
	}
	if apiKey != "" {
		headers.h.Set("X-Api-Key", apiKey)
	}
	if len(headers.h) > 0 {
		cfg.Header = headers.h
	}
	if err := cfg.Validate(); err != nil {
		return cfg, "", err
	}
	return cfg, jsonPath, nil
}

// realMain is the command, with its environment passed in so that tests can
// run it in-process. It returns the exit status.
func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, jsonPath, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\nRun 'loadtest -h' for the flags.\n", err)
		return exitUsage
	}
	res, err := Run(ctx, cfg, stderr)
	if err != nil { // cannot happen: parseArgs validated cfg
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return exitUsage
	}

	summaryOut := stdout
	code := exitOK
	if jsonPath != "" {
		if jsonPath == "-" {
			summaryOut = stderr
		}
		if err := writeJSON(jsonPath, stdout, res); err != nil {
			fmt.Fprintf(stderr, "loadtest: writing -json: %v\n", err)
			code = exitIncomplete
		}
	}
	if err := WriteSummary(summaryOut, res); err != nil {
		fmt.Fprintf(stderr, "loadtest: writing the summary: %v\n", err)
		code = exitIncomplete
	}
	if !res.Summary.OK() {
		code = exitIncomplete
	}
	return code
}

// writeJSON writes res, indented, to path ("-" is stdout).
func writeJSON(path string, stdout io.Writer, res Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err := stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
