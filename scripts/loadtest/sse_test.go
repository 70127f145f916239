package main

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readAll reads every event from r until the reader's error, which it
// returns (io.EOF at a clean end).
func readAll(r io.Reader) (events []Event, comments int, err error) {
	return readAllSize(r, 32<<10)
}

// readAllSize is readAll with a buffer of the given size.
func readAllSize(r io.Reader, size int) (events []Event, comments int, err error) {
	sr := newSSEReaderSize(r, size)
	for {
		ev, err := sr.Next()
		if err != nil {
			return events, sr.Comments, err
		}
		events = append(events, ev)
	}
}

func TestSSEReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		want     []Event
		comments int
	}{
		{name: "streamgate stream",
			in: "event: start\ndata: {\"requestId\":\"abc\"}\n\nevent: delta\ndata: {\"text\":\"word \"}\n\n: keep-alive\n\nevent: done\ndata: {}\n\n",
			want: []Event{
				{Type: "start", Data: `{"requestId":"abc"}`},
				{Type: "delta", Data: `{"text":"word "}`},
				{Type: "done", Data: `{}`},
			}, comments: 1},
		{name: "CRLF", in: "event: delta\r\ndata: a\r\n\r\n",
			want: []Event{{Type: "delta", Data: "a"}}},
		{name: "lone CR", in: "event: delta\rdata: a\r\rdata: b\r\r",
			want: []Event{{Type: "delta", Data: "a"}, {Type: "message", Data: "b"}}},
		{name: "multi-line data", in: "data: one\ndata: two\ndata:\ndata:  four\n\n",
			want: []Event{{Type: "message", Data: "one\ntwo\n\n four"}}},
		{name: "no space after colon", in: "event:delta\ndata:x\n\n",
			want: []Event{{Type: "delta", Data: "x"}}},
		{name: "colon inside the value", in: "data: a: b\n\n",
			want: []Event{{Type: "message", Data: "a: b"}}},
		{name: "comments only", in: ": one\n:two\n\n: three\n\n", comments: 3},
		{name: "comment between fields", in: "event: delta\n: keep-alive\ndata: a\n\n",
			want: []Event{{Type: "delta", Data: "a"}}, comments: 1},
		{name: "event without data is not dispatched", in: "event: done\n\ndata: a\n\n",
			want: []Event{{Type: "message", Data: "a"}}},
		{name: "empty data line dispatches", in: "event: ping\ndata\n\n",
			want: []Event{{Type: "ping", Data: ""}}},
		{name: "unterminated last event is dropped", in: "data: a\n\nevent: done\ndata: {}\n",
			want: []Event{{Type: "message", Data: "a"}}},
		{name: "unknown fields and retry ignored", in: "retry: 10\nfoo: bar\ndata: a\n\n",
			want: []Event{{Type: "message", Data: "a"}}},
		{name: "id persists", in: "id: 7\ndata: a\n\ndata: b\n\n",
			want: []Event{{Type: "message", Data: "a", ID: "7"}, {Type: "message", Data: "b", ID: "7"}}},
		{name: "leading BOM", in: "\uFEFFdata: a\n\n",
			want: []Event{{Type: "message", Data: "a"}}},
		{name: "blank lines between events", in: "\n\n\ndata: a\n\n\n\n",
			want: []Event{{Type: "message", Data: "a"}}},
		{name: "empty", in: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, comments, err := readAll(strings.NewReader(tc.in))
			if err != io.EOF {
				t.Errorf("err %v, want io.EOF", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if comments != tc.comments {
				t.Errorf("comments %d, want %d", comments, tc.comments)
			}
		})
	}
}

// chunkReader returns its chunks one per Read, like a body read as the
// network delivers it.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}

// splitStream mixes every line ending, comments, multi-line data and a BOM,
// so that a split can land between any two bytes that matter.
const splitStream = "\uFEFFevent: start\r\ndata: {\"requestId\":\"a\"}\r\n\r\n" +
	": keep-alive\n\n" +
	"event: delta\rdata: {\"text\":\"x\"}\r\r" +
	"event: delta\ndata: line1\ndata: line2\n\n" +
	"event: done\r\ndata: {}\r\n\r\n"

var splitWant = []Event{
	{Type: "start", Data: `{"requestId":"a"}`},
	{Type: "delta", Data: `{"text":"x"}`},
	{Type: "delta", Data: "line1\nline2"},
	{Type: "done", Data: "{}"},
}

func TestSSEReaderAcrossEverySplit(t *testing.T) {
	t.Parallel()
	in := splitStream
	check := func(t *testing.T, what string, r io.Reader) {
		t.Helper()
		got, comments, err := readAll(r)
		if err != io.EOF || comments != 1 {
			t.Fatalf("%s: err %v comments %d, want io.EOF 1", what, err, comments)
		}
		if diff := cmp.Diff(splitWant, got); diff != "" {
			t.Fatalf("%s: events (-want +got):\n%s", what, diff)
		}
	}
	check(t, "whole", strings.NewReader(in))
	check(t, "one byte a read", iotest.OneByteReader(strings.NewReader(in)))
	check(t, "half reads", iotest.HalfReader(strings.NewReader(in)))
	check(t, "EOF with the last data", iotest.DataErrReader(strings.NewReader(in)))
	// Every pair of split points, so that each line ending, field and
	// event boundary is cut in every way. The 16-byte buffer (bufio's
	// smallest) also makes most lines span several buffer fills.
	for i := 0; i <= len(in); i++ {
		for j := i; j <= len(in); j++ {
			chunks := []string{in[:i], in[i:j], in[j:]}
			got, comments, err := readAllSize(&chunkReader{chunks: slices.Clone(chunks)}, 16)
			if err != io.EOF || comments != 1 || !cmp.Equal(splitWant, got) {
				t.Fatalf("chunks %q: err %v comments %d events (-want +got):\n%s", chunks, err, comments, cmp.Diff(splitWant, got))
			}
		}
	}
}

// FuzzSSEReaderSplit checks that where the stream is cut into reads never
// changes the events: the same input whole, split at one point, and one
// byte a read must give the same events.
func FuzzSSEReaderSplit(f *testing.F) {
	f.Add([]byte(splitStream), uint(17))
	f.Add([]byte("data: a\r\n\r\ndata: b\r\r\n"), uint(4))
	f.Add([]byte("event: x\r"), uint(8))
	f.Fuzz(func(t *testing.T, in []byte, at uint) {
		whole, wc, werr := readAll(strings.NewReader(string(in)))
		i := int(at % uint(len(in)+1))
		split, sc, serr := readAll(&chunkReader{chunks: []string{string(in[:i]), string(in[i:])}})
		bytewise, bc, berr := readAll(iotest.OneByteReader(strings.NewReader(string(in))))
		if !cmp.Equal(whole, split) || !cmp.Equal(whole, bytewise) || wc != sc || wc != bc || werr != serr || werr != berr {
			t.Errorf("input %q split at %d: whole %v %d %v, split %v %d %v, bytewise %v %d %v",
				in, i, whole, wc, werr, split, sc, serr, bytewise, bc, berr)
		}
	})
}

// An event must be returned as soon as its blank line is read, without
// waiting for more bytes, even when the line ending is a lone CR that an
// LF might follow. Otherwise first-delta times would include the next
// event's delay.
func TestSSEReaderDoesNotWaitForMoreBytes(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"data: a\n\n", "data: a\r\n\r\n", "data: a\r\r"} {
		pr, pw := io.Pipe()
		go func() { _, _ = io.WriteString(pw, in) }()
		got := make(chan Event, 1)
		go func() {
			ev, _ := NewSSEReader(pr).Next()
			got <- ev
		}()
		select {
		case ev := <-got:
			if ev.Data != "a" {
				t.Errorf("%q: event %+v", in, ev)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("%q: Next still waiting after its event's blank line", in)
		}
		pw.Close()
	}
}

func TestSSEReaderReturnsReadErrors(t *testing.T) {
	t.Parallel()
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(io.ErrUnexpectedEOF))
	got, _, err := readAll(r)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err %v, want io.ErrUnexpectedEOF", err)
	}
	if diff := cmp.Diff([]Event{{Type: "message", Data: "a"}}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestSSEReaderBoundsLineLength(t *testing.T) {
	t.Parallel()
	in := "data: " + strings.Repeat("x", maxSSELine) + "\n\n"
	if _, _, err := readAll(strings.NewReader(in)); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("err %v, want ErrLineTooLong", err)
	}
	// A long line that fits is read whole across many buffer fills.
	in = "data: " + strings.Repeat("x", 100_000) + "\n\n"
	got, _, err := readAll(iotest.HalfReader(strings.NewReader(in)))
	if err != io.EOF || len(got) != 1 || len(got[0].Data) != 100_000 {
		t.Errorf("long line: err %v, %d events", err, len(got))
	}
}
