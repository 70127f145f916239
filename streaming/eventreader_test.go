package streaming

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"
)

// TestFrameReader reads whole, cut and failed streams with the gateway's
// own event reader: the events, then how the stream ended, as the SDK's
// reader reports them (a cut inside a frame is an end, as smithy-go has
// it; the relay then finds no messageStop).
func TestFrameReader(t *testing.T) {
	t.Parallel()
	text := frameOf(t, eventHeaders("contentBlockDelta"), `{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"ab"}`)
	stop := frameOf(t, eventHeaders("messageStop"), `{"stopReason":"end_turn"}`)
	unknown := frameOf(t, eventHeaders("somethingNew"), `{"x":1}`)
	whole := bytes.Join([][]byte{text, unknown, stop}, nil)
	reset := errors.New("connection reset by peer")
	cases := []struct {
		name    string
		body    io.Reader
		want    []string // event types, in order
		wantErr string
	}{
		{"whole", bytes.NewReader(whole), []string{"delta Hi", "unknown somethingNew", "stop end_turn"}, ""},
		{"cut inside a frame", bytes.NewReader(whole[:len(text)+5]), []string{"delta Hi"}, ""},
		{"connection reset", io.MultiReader(bytes.NewReader(text), failedReader{reset}), []string{"delta Hi"}, reset.Error()},
		{"corrupt frame", bytes.NewReader(append(bytes.Clone(text[:len(text)-1]), text[len(text)-1]^1)), nil, "checksum"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newFrameReader(io.NopCloser(tc.body), newDeltaFrameProtocol())
			defer r.Close()
			var got []string
			for ev := range r.Events() {
				switch v := ev.(type) {
				case *types.ConverseStreamOutputMemberContentBlockDelta:
					got = append(got, "delta "+v.Value.Delta.(*types.ContentBlockDeltaMemberText).Value)
				case *types.ConverseStreamOutputMemberMessageStop:
					got = append(got, "stop "+string(v.Value.StopReason))
				case *types.UnknownUnionMember:
					got = append(got, "unknown "+v.Tag)
				default:
					got = append(got, fmt.Sprintf("%T", ev))
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
			err := r.Err()
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Err() = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestFrameReaderClose: closing the reader while it waits for the next
// frame ends its goroutine (the body is closed under the read) and is not
// reported as the stream's failure.
func TestFrameReaderClose(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	r := newFrameReader(pr, newDeltaFrameProtocol())
	go func() {
		_, _ = pw.Write(frameOf(t, eventHeaders("contentBlockDelta"), `{"contentBlockIndex":0,"delta":{"text":"x"}}`))
	}()
	if ev := <-r.Events(); ev == nil {
		t.Fatal("no first event")
	}
	_ = r.Close() // the reader now waits in a read of the pipe
	select {
	case _, ok := <-r.Events():
		if ok {
			t.Fatal("an event after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Events not closed 10 s after Close: the reader goroutine is stuck")
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err() after Close = %v, want nil", err)
	}
	if _, err := pw.Write([]byte{0}); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("body not closed: a write to it gave %v", err)
	}
}
