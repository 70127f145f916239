package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// The output formats the load tool can ask for.
const (
	FormatSSE  = "sse"
	FormatText = "text"
)

// DefaultPrompt asks for a long answer, because the point of the tool is
// long streams.
const DefaultPrompt = "Write a long, detailed essay about the history of long-distance communication, from smoke signals to the internet."

// Config is one load test. The zero values of the optional fields mean the
// defaults documented on each field; Run applies them (Result.Config shows
// the values in effect).
type Config struct {
	// URL is the full URL to POST to, e.g. http://127.0.0.1:8080/stream.
	URL string
	// Streams is the total number of streams (≥ 1).
	Streams int
	// Concurrency is how many streams are in flight at most; 0 or more than
	// Streams means Streams.
	Concurrency int
	// Ramp spreads the starts of the first Concurrency streams evenly over
	// this time (stream i of them starts at i×Ramp/Concurrency), so that a
	// test of 1000 streams does not open 1000 connections in the same
	// millisecond unless that is what is asked for. Later streams start as
	// soon as a slot frees.
	Ramp time.Duration
	// Duration bounds the whole run (> 0): when it expires, streams in
	// flight are cancelled and reported incomplete with reason "deadline",
	// and streams not started yet are never started.
	Duration time.Duration
	// Timeout bounds each stream (0: only Duration bounds it); a stream cut
	// by it is incomplete with reason "timeout".
	Timeout time.Duration
	// Format is "sse" (default) or "text". SSE is the default because its
	// explicit done event makes "complete" a positive statement, and it
	// gives per-delta numbers.
	Format string
	// Model is the request's modelId; empty omits it (server default).
	Model string
	// Prompt is the request's prompt; empty means DefaultPrompt.
	Prompt string
	// MaxTokens is the request's maxTokens; 0 omits it.
	MaxTokens int
	// Header is added to every request, replacing a default of the same
	// name (Content-Type, Accept). "Host" sets the request's host.
	Header http.Header
	// Progress is the interval of the progress line; 0 disables it.
	Progress time.Duration
}

// withDefaults returns c with the defaults applied.
func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 || c.Concurrency > c.Streams {
		c.Concurrency = c.Streams
	}
	if c.Format == "" {
		c.Format = FormatSSE
	}
	if c.Prompt == "" {
		c.Prompt = DefaultPrompt
	}
	return c
}

// Validate reports the first thing wrong with c, in words that name the
// command-line flag.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("-url is required (the full URL to POST to, e.g. http://127.0.0.1:8080/stream)")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("-url %q must be an absolute http:// or https:// URL: %v", c.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q must be an absolute http:// or https:// URL", c.URL)
	}
	switch {
	case c.Streams < 1:
		return fmt.Errorf("-streams must be at least 1 (got %d)", c.Streams)
	case c.Concurrency < 0:
		return fmt.Errorf("-concurrency must be 0 (= -streams) or more (got %d)", c.Concurrency)
	case c.Ramp < 0:
		return fmt.Errorf("-ramp must not be negative (got %v)", c.Ramp)
	case c.Duration <= 0:
		return fmt.Errorf("-duration must be positive: it bounds the whole run (got %v)", c.Duration)
	case c.Timeout < 0:
		return fmt.Errorf("-timeout must not be negative (got %v)", c.Timeout)
	case c.Progress < 0:
		return fmt.Errorf("-progress must not be negative (got %v)", c.Progress)
	case c.MaxTokens < 0:
		return fmt.Errorf("-max-tokens must not be negative (got %d)", c.MaxTokens)
	}
	if c.Format != "" && c.Format != FormatSSE && c.Format != FormatText {
		return fmt.Errorf("-format must be sse or text (got %q)", c.Format)
	}
	return nil
}

// sensitiveHeaders are written to the -json output as "[redacted]": result
// files get attached to tickets, API keys must not go with them.
var sensitiveHeaders = []string{"X-Api-Key", "Authorization", "Proxy-Authorization", "Cookie"}

// Redacted is what a sensitive header's values become in JSON.
const Redacted = "[redacted]"

// configJSON is Config as written to JSON: durations as Go duration strings
// ("1m30s"), the same spelling as the flags.
type configJSON struct {
	URL         string      `json:"url"`
	Streams     int         `json:"streams"`
	Concurrency int         `json:"concurrency"`
	Ramp        string      `json:"ramp"`
	Duration    string      `json:"duration"`
	Timeout     string      `json:"timeout"`
	Format      string      `json:"format"`
	Model       string      `json:"model,omitempty"`
	Prompt      string      `json:"prompt"`
	MaxTokens   int         `json:"maxTokens,omitempty"`
	Header      http.Header `json:"header,omitempty"`
	Progress    string      `json:"progress"`
}

// MarshalJSON writes c with readable durations and sensitive headers
// redacted.
func (c Config) MarshalJSON() ([]byte, error) {
	h := c.Header.Clone()
	for _, k := range sensitiveHeaders {
		if vs := h.Values(k); len(vs) > 0 {
			h[http.CanonicalHeaderKey(k)] = []string{Redacted}
		}
	}
	return json.Marshal(configJSON{
		URL: c.URL, Streams: c.Streams, Concurrency: c.Concurrency,
		Ramp: c.Ramp.String(), Duration: c.Duration.String(), Timeout: c.Timeout.String(),
		Format: c.Format, Model: c.Model, Prompt: c.Prompt, MaxTokens: c.MaxTokens,
		Header: h, Progress: c.Progress.String(),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Config) UnmarshalJSON(b []byte) error {
	var j configJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var durs [4]time.Duration
	for i, s := range []string{j.Ramp, j.Duration, j.Timeout, j.Progress} {
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		durs[i] = d
	}
	*c = Config{
		URL: j.URL, Streams: j.Streams, Concurrency: j.Concurrency,
		Ramp: durs[0], Duration: durs[1], Timeout: durs[2], Progress: durs[3],
		Format: j.Format, Model: j.Model, Prompt: j.Prompt, MaxTokens: j.MaxTokens,
		Header: j.Header,
	}
	return nil
}
