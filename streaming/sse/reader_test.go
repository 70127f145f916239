package sse

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

// readAll reads every event from r until the reader's error, which it
// returns (io.EOF at a clean end).
func readAll(r io.Reader) (events []Event, comments int, err error) {
	return readAllOpts(r, Options{})
}

// readAllOpts is readAll with options.
func readAllOpts(r io.Reader, opts Options) (events []Event, comments int, err error) {
	sr := NewReader(r, opts)
	for {
		ev, err := sr.Next()
		if err != nil {
			return events, sr.Comments(), err
		}
		events = append(events, ev)
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		want     []Event
		comments int
		err      error // io.EOF when nil
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
			want: []Event{{Type: "delta", Data: "a"}, {Data: "b"}}},
		{name: "multi-line data", in: "data: one\ndata: two\ndata:\ndata:  four\n\n",
			want: []Event{{Data: "one\ntwo\n\n four"}}},
		{name: "no space after colon", in: "event:delta\ndata:x\n\n",
			want: []Event{{Type: "delta", Data: "x"}}},
		{name: "colon inside the value", in: "data: a: b\n\n",
			want: []Event{{Data: "a: b"}}},
		{name: "comments only", in: ": one\n:two\n\n: three\n\n", comments: 3},
		{name: "comment between fields", in: "event: delta\n: keep-alive\ndata: a\n\n",
			want: []Event{{Type: "delta", Data: "a"}}, comments: 1},
		{name: "event without data is not dispatched", in: "event: done\n\ndata: a\n\n",
			want: []Event{{Data: "a"}}},
		{name: "empty data line dispatches", in: "event: ping\ndata\n\n",
			want: []Event{{Type: "ping", Data: ""}}},
		{name: "unterminated last event is dropped", in: "data: a\n\nevent: done\ndata: {}\n",
			want: []Event{{Data: "a"}}, err: ErrTruncated},
		{name: "a partial line is dropped", in: "data: a\n\nevent: do",
			want: []Event{{Data: "a"}}, err: ErrTruncated},
		{name: "a field without its blank line is dropped", in: "data: a\n\nretry: 10\r",
			want: []Event{{Data: "a"}}, err: ErrTruncated},
		{name: "a comment after the last event ends cleanly", in: "data: a\n\n: keep-alive\n",
			want: []Event{{Data: "a"}}, comments: 1},
		{name: "a lone CR ends the last line", in: "data: a\r\r",
			want: []Event{{Data: "a"}}},
		{name: "only a BOM", in: "\uFEFF"},
		{name: "unknown fields and retry ignored", in: "retry: 10\nfoo: bar\ndata: a\n\n",
			want: []Event{{Data: "a"}}},
		{name: "id persists", in: "id: 7\ndata: a\n\ndata: b\n\n",
			want: []Event{{Data: "a", ID: "7"}, {Data: "b", ID: "7"}}},
		{name: "leading BOM", in: "\uFEFFdata: a\n\n",
			want: []Event{{Data: "a"}}},
		{name: "blank lines between events", in: "\n\n\ndata: a\n\n\n\n",
			want: []Event{{Data: "a"}}},
		{name: "empty", in: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, comments, err := readAll(strings.NewReader(tc.in))
			if want := cmp.Or(tc.err, io.EOF); !errors.Is(err, want) {
				t.Errorf("err %v, want %v", err, want)
			}
			if diff := gocmp.Diff(tc.want, got); diff != "" {
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

func TestReaderAcrossEverySplit(t *testing.T) {
	t.Parallel()
	in := splitStream
	check := func(t *testing.T, what string, r io.Reader) {
		t.Helper()
		got, comments, err := readAll(r)
		if err != io.EOF || comments != 1 {
			t.Fatalf("%s: err %v comments %d, want io.EOF 1", what, err, comments)
		}
		if diff := gocmp.Diff(splitWant, got); diff != "" {
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
			got, comments, err := readAllOpts(&chunkReader{chunks: slices.Clone(chunks)}, Options{BufferSize: 16})
			if err != io.EOF || comments != 1 || !gocmp.Equal(splitWant, got) {
				t.Fatalf("chunks %q: err %v comments %d events (-want +got):\n%s", chunks, err, comments, gocmp.Diff(splitWant, got))
			}
		}
	}
}

// FuzzReaderSplit checks that where the stream is cut into reads never
// changes the events: the same input whole, split at one point, and one
// byte a read must give the same events and end, with and without the
// options.
func FuzzReaderSplit(f *testing.F) {
	f.Add([]byte(splitStream), uint(17))
	f.Add([]byte("data: a\r\n\r\ndata: b\r\r\n"), uint(4))
	f.Add([]byte("event: x\r"), uint(8))
	f.Add([]byte("event: x\n\nfoo\n: c\n"), uint(3))
	f.Fuzz(func(t *testing.T, in []byte, at uint) {
		for _, opts := range []Options{{}, {Comments: true, Strict: true}} {
			whole, wc, werr := readAllOpts(strings.NewReader(string(in)), opts)
			i := int(at % uint(len(in)+1))
			split, sc, serr := readAllOpts(&chunkReader{chunks: []string{string(in[:i]), string(in[i:])}}, opts)
			bytewise, bc, berr := readAllOpts(iotest.OneByteReader(strings.NewReader(string(in))), opts)
			// Errors compared by text: a *SyntaxError is a new value each time.
			we, se, be := fmt.Sprint(werr), fmt.Sprint(serr), fmt.Sprint(berr)
			if !gocmp.Equal(whole, split) || !gocmp.Equal(whole, bytewise) || wc != sc || wc != bc || we != se || we != be {
				t.Errorf("%+v: input %q split at %d: whole %v %d %v, split %v %d %v, bytewise %v %d %v",
					opts, in, i, whole, wc, werr, split, sc, serr, bytewise, bc, berr)
			}
		}
	})
}

// An event must be returned as soon as its blank line is read, without
// waiting for more bytes, even when the line ending is a lone CR that an
// LF might follow. Otherwise first-delta times would include the next
// event's delay.
func TestReaderDoesNotWaitForMoreBytes(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"data: a\n\n", "data: a\r\n\r\n", "data: a\r\r"} {
		pr, pw := io.Pipe()
		go func() { _, _ = io.WriteString(pw, in) }()
		got := make(chan Event, 1)
		go func() {
			ev, _ := NewReader(pr, Options{}).Next()
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

func TestReaderReturnsReadErrors(t *testing.T) {
	t.Parallel()
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(io.ErrUnexpectedEOF))
	got, _, err := readAll(r)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err %v, want io.ErrUnexpectedEOF", err)
	}
	if diff := gocmp.Diff([]Event{{Data: "a"}}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestReaderBoundsLineLength(t *testing.T) {
	t.Parallel()
	in := "data: " + strings.Repeat("x", maxLine) + "\n\n"
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

func TestReaderOptions(t *testing.T) {
	t.Parallel()
	in := "\uFEFF: hello\nevent: start\ndata: {}\n\n:keep-alive\n\n:  two spaces\nevent: delta\n: inside\ndata: a\n\n"
	tests := []struct {
		name string
		opts Options
		in   string
		want []Event
		err  string // "" for io.EOF
	}{
		{name: "comments skipped by default", in: in,
			want: []Event{{Type: "start", Data: "{}"}, {Type: "delta", Data: "a"}}},
		{name: "comments in stream order", opts: Options{Comments: true}, in: in,
			want: []Event{{Comment: true, Data: "hello"}, {Type: "start", Data: "{}"}, {Comment: true, Data: "keep-alive"},
				{Comment: true, Data: " two spaces"}, {Comment: true, Data: "inside"}, {Type: "delta", Data: "a"}}},
		{name: "strict accepts every field a browser knows", opts: Options{Strict: true},
			in:   "retry: 100\n\nid: 1\n\nid: 2\nevent: delta\ndata\n\ndata: x\n\n",
			want: []Event{{Type: "delta", ID: "2"}, {Data: "x", ID: "2"}}},
		{name: "lenient ignores an unknown field", in: "event: delta\ngarbage here\ndata: a\n\n",
			want: []Event{{Type: "delta", Data: "a"}}},
		{name: "strict refuses an unknown field", opts: Options{Strict: true}, in: "data: a\n\nevent: delta\ngarbage here\ndata: a\n\n",
			want: []Event{{Data: "a"}}, err: `sse: line 4: not a comment nor an event, data, id or retry field: "garbage here"`},
		{name: "strict refuses a misspelt field", opts: Options{Strict: true}, in: "event: delta\ndata : a\n\n",
			err: `sse: line 2: not a comment nor an event, data, id or retry field: "data : a"`},
		{name: "lenient drops an event without data", in: "event: done\n\ndata: a\n\n",
			want: []Event{{Data: "a"}}},
		{name: "strict refuses an event without data", opts: Options{Strict: true}, in: "event: done\n\ndata: a\n\n",
			err: `sse: line 2: event "done" has no data, so a browser never dispatches it`},
		{name: "strict quotes at most 100 bytes", opts: Options{Strict: true}, in: strings.Repeat("x", 5000) + "\n\n",
			err: `sse: line 1: not a comment nor an event, data, id or retry field: "` + strings.Repeat("x", 100) + `…"`},
		{name: "strict still drops a truncated event", opts: Options{Strict: true}, in: "data: a\n\nevent: done\ndata: {}\n",
			want: []Event{{Data: "a"}}, err: ErrTruncated.Error()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _, err := readAllOpts(strings.NewReader(tc.in), tc.opts)
			if tc.err == "" && err != io.EOF || tc.err != "" && (err == nil || err.Error() != tc.err) {
				t.Errorf("err %v, want %q", err, cmp.Or(tc.err, "EOF"))
			}
			if diff := gocmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReaderSyntaxErrorIsTyped(t *testing.T) {
	t.Parallel()
	_, _, err := readAllOpts(strings.NewReader("data: a\n\nbogus\n"), Options{Strict: true})
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 3 || se.Text != "bogus" {
		t.Errorf("err %#v, want a *SyntaxError for line 3", err)
	}
}

// Once the stream has ended or failed, the reader keeps saying so rather
// than reading on or reporting a clean end.
func TestReaderErrorsAreSticky(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   io.Reader
		want error
	}{
		{strings.NewReader("data: a\n\n"), io.EOF},
		{strings.NewReader("data: a\n\ndata: b"), ErrTruncated},
		{io.MultiReader(strings.NewReader("data: a\n\n"), iotest.ErrReader(io.ErrUnexpectedEOF), strings.NewReader("data: c\n\n")), io.ErrUnexpectedEOF},
	} {
		r := NewReader(tc.in, Options{})
		if ev, err := r.Next(); err != nil || ev.Data != "a" {
			t.Fatalf("first event %+v, %v", ev, err)
		}
		for range 3 {
			if _, err := r.Next(); err != tc.want {
				t.Errorf("err %v, want %v every time", err, tc.want)
			}
		}
	}
}

// NextRaw's slices stay valid until the next call, even when the bytes
// behind them have left the read buffer (a 16-byte buffer is refilled many
// times per event here).
func TestNextRawSlicesLastUntilTheNextCall(t *testing.T) {
	t.Parallel()
	in := "id: first-id\nevent: a-long-event-name\ndata: line one of a long event\ndata: line two\n\n" +
		": a comment longer than the buffer\nevent: b\ndata: " + strings.Repeat("y", 100) + "\n\n"
	r := NewReader(iotest.OneByteReader(strings.NewReader(in)), Options{BufferSize: 16, Comments: true})
	var got []Event
	for {
		raw, err := r.NextRaw()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, Event{Type: string(raw.Type), Data: string(raw.Data), ID: string(raw.ID), Comment: raw.Comment})
	}
	want := []Event{
		{Type: "a-long-event-name", Data: "line one of a long event\nline two", ID: "first-id"},
		{Comment: true, Data: "a comment longer than the buffer"},
		{Type: "b", Data: strings.Repeat("y", 100), ID: "first-id"},
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// NextRaw allocates per stream (its buffers), never per event: the
// benchmark's client reads with it while it measures the gateway. 2,000
// events must cost what 20 cost; the tolerance absorbs a stray allocation
// elsewhere in the process and is far below one an event.
func TestNextRawAllocatesNothingPerEvent(t *testing.T) {
	const short, long = 20, 2000
	allocs := func(n int) float64 {
		chunks := streamOf(n)
		return testing.AllocsPerRun(20, func() {
			r := NewReader(&chunkBytesReader{chunks: chunks}, Options{Comments: true})
			for i := 0; ; i++ {
				_, err := r.NextRaw()
				if err == io.EOF {
					if i != 2*n {
						t.Fatalf("%d events, want %d", i, 2*n)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	s, l := allocs(short), allocs(long)
	if perEvent := (l - s) / (2 * (long - short)); perEvent > 0.05 {
		t.Errorf("%v allocations a stream of %d events, %v for %d: %.3f an event, want 0", s, 2*short, l, 2*long, perEvent)
	}
}

// streamOf is n delta events, each followed by a keep-alive, one chunk
// each, with an id, multi-line data and every line ending.
func streamOf(n int) [][]byte {
	var chunks [][]byte
	for i := range n {
		chunks = append(chunks, fmt.Appendf(nil, "id: %d\r\nevent: delta\rdata: {\"text\":\ndata: \"t%d \"}\n\n", i, i), []byte(": keep-alive\n\n"))
	}
	return chunks
}

// chunkBytesReader returns one chunk per Read and allocates nothing.
type chunkBytesReader struct {
	chunks [][]byte
	off    int
}

func (c *chunkBytesReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0][c.off:])
	c.off += n
	if c.off == len(c.chunks[0]) {
		c.chunks, c.off = c.chunks[1:], 0
	}
	return n, nil
}

// BenchmarkNextRaw is the reader's cost per event, on a stream delivered
// one event per Read.
//
// go test -run '^$' -bench . -benchmem ./streaming/sse/
func BenchmarkNextRaw(b *testing.B) {
	const events = 1000
	chunks := streamOf(events / 2)
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(&chunkBytesReader{chunks: chunks}, Options{Comments: true})
		for {
			if _, err := r.NextRaw(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}
