// Package streamtest reads streamed HTTP responses the way the tests of
// streamgate need to see them: every body Read with the time it returned,
// whether the body ended cleanly or was aborted, and the SSE or NDJSON
// events with the arrival time of the chunk that completed each.
package streamtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming/sse"
)

// Chunk is one Read of a response body and when it returned.
type Chunk struct {
	At   time.Time
	Data []byte
}

// Result is a whole response as the client saw it.
type Result struct {
	Status  int
	Header  http.Header
	Chunks  []Chunk
	Body    []byte
	ReadErr error // nil when the body ended cleanly; set when it was cut
}

// Arrivals returns the times of the chunks.
func (r Result) Arrivals() []time.Time {
	at := make([]time.Time, len(r.Chunks))
	for i, c := range r.Chunks {
		at[i] = c.At
	}
	return at
}

// Post sends body as JSON to url with the Accept header (if any) and reads
// the whole response.
func Post(t testing.TB, ctx context.Context, url, accept, body string) Result {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return Do(t, req)
}

// Do sends req with http.DefaultClient and reads the whole response.
func Do(t testing.TB, req *http.Request) Result {
	t.Helper()
	res, err := Send(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return res
}

// Send is Do for goroutines other than the test's own, where t.Fatal must
// not be called: a transport error is returned instead.
func Send(req *http.Request) (Result, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	res := Result{Status: resp.StatusCode, Header: resp.Header}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			res.Chunks = append(res.Chunks, Chunk{time.Now(), bytes.Clone(buf[:n])})
			res.Body = append(res.Body, buf[:n]...)
		}
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			res.ReadErr = err
			return res, nil
		}
	}
}

// Event is one Server-Sent Event with the arrival time of the chunk that
// completed it. Comments are events named ":" (Data is the comment's text
// without surrounding space) so that keep-alives show in order.
type Event struct {
	Name string // the event field, "" when the event had none
	Data string
	At   time.Time
}

// ParseSSE parses the events of a response body as a browser would
// (package sse), and fails the test on what a browser would silently
// ignore (sse.Options.Strict) and on a body that ends inside an event.
func ParseSSE(t testing.TB, chunks []Chunk) []Event {
	t.Helper()
	body := &chunkReader{chunks: chunks}
	r := sse.NewReader(body, sse.Options{Comments: true, Strict: true})
	var events []Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return events
		}
		if err != nil {
			t.Fatalf("SSE stream after %d events: %v", len(events), err)
			return nil
		}
		// The reader returns an event once its last byte is read and reads
		// a chunk only when it has used the ones before: that byte is in
		// the chunk read last.
		e := Event{Name: ev.Type, Data: ev.Data, At: body.lastAt}
		if ev.Comment {
			e.Name, e.Data = ":", strings.TrimSpace(ev.Data)
		}
		events = append(events, e)
	}
}

// chunkReader reads chunks in order and remembers the arrival time of the
// last one it read from.
type chunkReader struct {
	chunks []Chunk
	off    int
	lastAt time.Time
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && c.off == len(c.chunks[0].Data) {
		c.chunks, c.off = c.chunks[1:], 0
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0].Data[c.off:])
	c.off += n
	c.lastAt = c.chunks[0].At
	return n, nil
}

// Line is one NDJSON object with the arrival time of its chunk.
type Line struct {
	Fields map[string]any
	At     time.Time
}

// ParseNDJSON parses the lines of a response body.
func ParseNDJSON(t testing.TB, chunks []Chunk) []Line {
	t.Helper()
	var lines []Line
	var pending []byte
	for _, c := range chunks {
		pending = append(pending, c.Data...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			var fields map[string]any
			if err := json.Unmarshal(pending[:i], &fields); err != nil {
				t.Fatalf("NDJSON line %q: %v", pending[:i], err)
			}
			lines = append(lines, Line{fields, c.At})
			pending = pending[i+1:]
		}
	}
	if len(pending) > 0 {
		t.Fatalf("NDJSON stream ends inside a line: %q", pending)
	}
	return lines
}

// SSEText joins the text of the delta events and returns it with the
// arrival time of each delta.
func SSEText(t testing.TB, events []Event) (string, []time.Time) {
	t.Helper()
	var text strings.Builder
	var at []time.Time
	for _, ev := range events {
		if ev.Name != "delta" {
			continue
		}
		var d struct{ Text string }
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
			t.Fatalf("delta %q: %v", ev.Data, err)
		}
		text.WriteString(d.Text)
		at = append(at, ev.At)
	}
	return text.String(), at
}

// WindowsWithArrivals splits the time from the first to the last arrival
// into n equal windows and counts those in which something arrived. A
// stream that trickles fills all of them; one held back and sent in a burst
// fills the first and the last.
func WindowsWithArrivals(at []time.Time, n int) int {
	if len(at) < 2 {
		return len(at)
	}
	first, span := at[0], at[len(at)-1].Sub(at[0])
	if span <= 0 {
		return 1
	}
	filled := make(map[int]bool)
	for _, a := range at {
		i := int(a.Sub(first) * time.Duration(n) / span)
		filled[min(i, n-1)] = true
	}
	return len(filled)
}

// DecodeJSON decodes s into a T or fails the test.
func DecodeJSON[T any](t testing.TB, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return v
}

// Buffer is a bytes.Buffer that several goroutines may write (a server's
// logger, child processes' output) while a test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Bytes returns a copy of what was written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// WaitFor polls until re matches what was written, and returns the match
// and its submatches. Output from a child process or a server's logger
// comes a moment after the response that caused it, so tests wait for it
// rather than read it once; after timeout the test fails.
func (b *Buffer) WaitFor(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no match for %v after %v in:\n%s", re, timeout, b.String())
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}
