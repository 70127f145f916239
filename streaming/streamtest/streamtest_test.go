package streamtest

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The helpers here decide other tests' verdicts, so they are tested too.

func TestParseSSE(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name   string
		chunks []Chunk
		want   []Event
	}{
		{
			name:   "one event a chunk",
			chunks: []Chunk{{At: at(0), Data: []byte("event: start\ndata: {}\n\n")}, {At: at(5), Data: []byte("event: delta\ndata: {\"text\":\"a\"}\n\n")}},
			want:   []Event{{Name: "start", Data: "{}", At: at(0)}, {Name: "delta", Data: `{"text":"a"}`, At: at(5)}},
		},
		{
			// An event split over two reads arrived when its last byte did.
			name:   "an event split across chunks",
			chunks: []Chunk{{At: at(0), Data: []byte("event: delta\nda")}, {At: at(40), Data: []byte("ta: {\"text\":\"b\"}\n\n: keep-alive\n\n")}},
			want:   []Event{{Name: "delta", Data: `{"text":"b"}`, At: at(40)}, {Name: ":", Data: "keep-alive", At: at(40)}},
		},
		{
			// Keep-alives show where they came, each with its own time.
			name: "keep-alives in order",
			chunks: []Chunk{{At: at(0), Data: []byte("event: start\ndata: {}\n\n: keep-alive\n\n")}, {At: at(15), Data: []byte(": keep-alive\n\n")},
				{At: at(20), Data: []byte("event: delta\ndata: {\"text\":\"c\"}\n")}, {At: at(21), Data: []byte("\n")}},
			want: []Event{{Name: "start", Data: "{}", At: at(0)}, {Name: ":", Data: "keep-alive", At: at(0)}, {Name: ":", Data: "keep-alive", At: at(15)},
				{Name: "delta", Data: `{"text":"c"}`, At: at(21)}},
		},
		{
			// Any line ending a browser accepts; the second chunk
			// completes two events, the third chunk none.
			name: "CRLF, several events a chunk, one empty",
			chunks: []Chunk{{At: at(0), Data: []byte("event: start\r\ndata: {}\r\n\r\nevent: delta\r\ndata: {\"text\":")},
				{At: at(7), Data: []byte("\"d\"}\r\n\r\n:keep-alive \r\n\r\nevent: done\r")}, {At: at(8)}, {At: at(9), Data: []byte("\ndata: {}\r\n\r\n")}},
			want: []Event{{Name: "start", Data: "{}", At: at(0)}, {Name: "delta", Data: `{"text":"d"}`, At: at(7)},
				{Name: ":", Data: "keep-alive", At: at(7)}, {Name: "done", Data: "{}", At: at(9)}},
		},
		{
			name:   "no chunks",
			chunks: nil,
			want:   nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ParseSSE(t, tc.chunks)); diff != "" {
				t.Errorf("ParseSSE (-want +got):\n%s", diff)
			}
		})
	}
}

// fatalRecorder stands in for a test that ParseSSE should fail: Fatalf
// records the message and ends the goroutine, as testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// parseFails runs ParseSSE on chunks with a recorder and returns the
// message it failed with ("" if it did not).
func parseFails(t *testing.T, chunks []Chunk) string {
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ParseSSE(rec, chunks)
	}()
	<-done
	return rec.msg
}

func TestParseSSEFailsOnMalformedStreams(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"ends inside an event", "event: start\ndata: {}\n\nevent: done\ndata: {", "ends inside an event"},
		{"a line that is no field", "event: delta\ngarbage here\ndata: {}\n\n", "garbage here"},
		{"an event without data", "event: start\ndata: {}\n\nevent: done\n\n", `event "done" has no data`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := parseFails(t, []Chunk{{At: time.Now(), Data: []byte(tc.in)}})
			if !strings.Contains(msg, tc.want) {
				t.Errorf("ParseSSE(%q) failed with %q, want a failure naming %q", tc.in, msg, tc.want)
			}
		})
	}
	if msg := parseFails(t, []Chunk{{At: time.Now(), Data: []byte("event: done\ndata: {}\n\n")}}); msg != "" {
		t.Errorf("a well-formed stream failed: %s", msg)
	}
}

func TestSSEText(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	events := []Event{
		{Name: "start", Data: "{}", At: t0},
		{Name: "delta", Data: `{"text":"Hello, "}`, At: t0.Add(time.Millisecond)},
		{Name: ":", Data: "keep-alive", At: t0.Add(2 * time.Millisecond)},
		{Name: "delta", Data: `{"text":"world\n"}`, At: t0.Add(3 * time.Millisecond)},
		{Name: "done", Data: "{}", At: t0.Add(4 * time.Millisecond)},
	}
	text, at := SSEText(t, events)
	if text != "Hello, world\n" {
		t.Errorf("text %q", text)
	}
	if diff := cmp.Diff([]time.Time{t0.Add(time.Millisecond), t0.Add(3 * time.Millisecond)}, at); diff != "" {
		t.Errorf("arrival times (-want +got):\n%s", diff)
	}
}

func TestWindowsWithArrivals(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	spread := func(n int, gap time.Duration) []time.Time {
		var at []time.Time
		for i := range n {
			at = append(at, t0.Add(time.Duration(i)*gap))
		}
		return at
	}
	burst := append(spread(50, 0), t0.Add(time.Second)) // all at once, then one straggler
	for _, tc := range []struct {
		name string
		at   []time.Time
		want int
	}{
		{"evenly spread", spread(100, 10*time.Millisecond), 10},
		{"one burst and a straggler", burst, 2},
		{"all at the same instant", spread(5, 0), 1},
		{"one arrival", spread(1, 0), 1},
		{"none", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := WindowsWithArrivals(tc.at, 10); got != tc.want {
				t.Errorf("WindowsWithArrivals = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestBufferWaitFor(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "writer %d line %d\n", i, j)
			}
		})
	}
	go func() {
		wg.Wait()
		b.Write([]byte("done after 400 lines\n"))
	}()
	m := b.WaitFor(t, regexp.MustCompile(`done after (\d+) lines`), 10*time.Second)
	if m[1] != "400" {
		t.Errorf("submatch %q, want 400", m[1])
	}
	if lines := regexp.MustCompile(`(?m)^writer \d line \d+$`).FindAllString(b.String(), -1); len(lines) != 400 {
		t.Errorf("%d whole lines, want 400: concurrent writes interleaved", len(lines))
	}
	if string(b.Bytes()) != b.String() {
		t.Error("Bytes and String disagree")
	}
}
