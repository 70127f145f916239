package streaming

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/eventstream"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"
	"github.com/google/go-cmp/cmp"
)

// frameOf encodes one event-stream message as Bedrock sends it.
func frameOf(t testing.TB, headers eventstream.Headers, payload string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, eventstream.Message{Headers: headers, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func eventHeaders(eventType string) eventstream.Headers {
	return eventstream.Headers{
		{Name: eventstream.EventTypeHeader, Value: eventstream.StringValue(eventType)},
		{Name: eventstream.ContentTypeHeader, Value: eventstream.StringValue("application/json")},
		{Name: eventstream.MessageTypeHeader, Value: eventstream.StringValue("event")},
	}
}

// decoded is what one DeserializeEventMessage call gave.
type decoded struct {
	Event smithy.Deserializable
	Err   string
}

// deserializer is the SDK's protocol and ours.
type deserializer interface {
	DeserializeEventMessage(*smithy.Schema, *smithy.TypeRegistry, io.Reader) (smithy.Deserializable, error)
}

// decodeAll reads every event of a stream until the first error, with p.
func decodeAll(p deserializer, stream []byte) []decoded {
	r := bytes.NewReader(stream)
	var out []decoded
	for range 100 {
		ev, err := p.DeserializeEventMessage(schemas.ConverseStreamOutput, bedrockruntime.TypeRegistry, r)
		d := decoded{Event: ev}
		if err != nil {
			d.Err = err.Error()
		}
		out = append(out, d)
		if err != nil {
			break
		}
	}
	return out
}

// allFields compares the SDK's types with their unexported markers.
var allFields = cmp.Exporter(func(reflect.Type) bool { return true })

// diffWithSDK decodes stream with deltaFrameProtocol and with the SDK's own
// restjson1 protocol and reports how the results differ.
func diffWithSDK(stream []byte) string {
	got := decodeAll(newDeltaFrameProtocol(), stream)
	want := decodeAll(restjson1.New(schemas.AmazonBedrockFrontendService), stream)
	return cmp.Diff(want, got, allFields)
}

// TestDeltaFrameProtocolMatchesSDK decodes every kind of frame a stream can
// hold, and frames that bend the format, with both decoders: the events and
// errors must be the same. The fast column says which frames the fast path
// must take (measured by allocations: the SDK needs dozens a delta).
//
// Not parallel: testing.AllocsPerRun counts the whole process's allocations.
func TestDeltaFrameProtocolMatchesSDK(t *testing.T) {
	delta := eventHeaders("contentBlockDelta")
	cases := []struct {
		name    string
		headers eventstream.Headers
		payload string
		fast    bool
	}{
		{"text delta as Bedrock sends it", delta, `{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"}`, true},
		{"keys reordered, white space", delta, " {\n \"p\" : \"x\" , \"delta\" : { \"text\" : \" world\" } ,\t\"contentBlockIndex\" : 12 }\r\n", true},
		{"no padding", delta, `{"contentBlockIndex":3,"delta":{"text":"a"}}`, true},
		{"multi-byte UTF-8", delta, `{"contentBlockIndex":0,"delta":{"text":"héllo 世界 😀"}}`, true},
		{"empty text", delta, `{"contentBlockIndex":0,"delta":{"text":""}}`, true},
		{"largest index", delta, `{"contentBlockIndex":999999999,"delta":{"text":"x"}}`, true},
		{"padding with escapes", delta, `{"contentBlockIndex":0,"delta":{"text":"x"},"p":"a\"b\\c\u0041"}`, true},
		{"escapes in the text", delta, `{"contentBlockIndex":0,"delta":{"text":"a\"b\\c\nd\u00e9\ud83d\ude00\/"}}`, true},
		{"every short escape", delta, `{"contentBlockIndex":0,"delta":{"text":"\"\\\/\b\f\n\r\t"},"p":"ab"}`, true},
		{"code with escapes", delta, "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"```go\\nfunc main() {\\n\\tfmt.Println(\\\"héllo\\\\n\\\")\\n}\\n```\"},\"p\":\"abcdefgh\"}", true},
		{"escape first and last", delta, `{"contentBlockIndex":0,"delta":{"text":"\nmiddle\n"}}`, true},
		{"only an escape", delta, `{"contentBlockIndex":0,"delta":{"text":"\n"}}`, true},
		{"unicode escapes, upper and lower hex", delta, `{"contentBlockIndex":0,"delta":{"text":"\u0041\u00E9\u00e9\u4E16\u0000\u001f\u007F"}}`, true},
		{"line and paragraph separators", delta, `{"contentBlockIndex":0,"delta":{"text":"a\u2028b\u2029c"}}`, true},
		{"surrogate pair, upper case", delta, `{"contentBlockIndex":0,"delta":{"text":"\uD83D\uDE00!"}}`, true},
		{"lone high surrogate", delta, `{"contentBlockIndex":0,"delta":{"text":"\ud800"}}`, true},
		{"lone high surrogate then text", delta, `{"contentBlockIndex":0,"delta":{"text":"\ud800abcdef"}}`, true},
		{"lone low surrogate", delta, `{"contentBlockIndex":0,"delta":{"text":"x\udc00y"}}`, true},
		{"low then high surrogate", delta, `{"contentBlockIndex":0,"delta":{"text":"\ude00\ud83d"}}`, true},
		{"high surrogate twice, then its pair", delta, `{"contentBlockIndex":0,"delta":{"text":"\ud83d\ud83d\ude00"}}`, true},
		{"high surrogate then a plain escape", delta, `{"contentBlockIndex":0,"delta":{"text":"\ud83d\n\u0041"}}`, true},
		{"high surrogate then a BMP escape", delta, `{"contentBlockIndex":0,"delta":{"text":"\ud83d\u0041"}}`, true},
		{"invalid UTF-8", delta, "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\xff\xfeb\"}}", true},
		{"invalid UTF-8 with an escape", delta, "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\xff\\n\xe4\xb8b\"}}", true},
		{"UTF-8 of a surrogate with an escape", delta, "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"\xed\xa0\x80\\t\"}}", true},
		{"invalid escape", delta, `{"contentBlockIndex":0,"delta":{"text":"a\xb"}}`, false},
		{"single-quote escape", delta, `{"contentBlockIndex":0,"delta":{"text":"it\'s"}}`, false},
		{"unicode escape, bad digit", delta, `{"contentBlockIndex":0,"delta":{"text":"\u12G4"}}`, false},
		{"unicode escape, too short", delta, `{"contentBlockIndex":0,"delta":{"text":"\u12"}}`, false},
		{"backslash before the closing quote", delta, `{"contentBlockIndex":0,"delta":{"text":"a\"}}`, false},
		{"escaped key", delta, `{"contentBlockIndex":0,"delta":{"te\u0078t":"x"}}`, false},
		{"raw control character", delta, "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\x01b\"}}", false},
		{"raw newline with an escape", delta, "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\\n\nb\"}}", false},
		{"index beyond nine digits", delta, `{"contentBlockIndex":2147483647,"delta":{"text":"x"}}`, false},
		{"index overflowing int32", delta, `{"contentBlockIndex":99999999999,"delta":{"text":"x"}}`, false},
		{"index with leading zero", delta, `{"contentBlockIndex":01,"delta":{"text":"x"}}`, false},
		{"negative index", delta, `{"contentBlockIndex":-1,"delta":{"text":"x"}}`, false},
		{"index with fraction", delta, `{"contentBlockIndex":1.0,"delta":{"text":"x"}}`, false},
		{"index with exponent", delta, `{"contentBlockIndex":1e2,"delta":{"text":"x"}}`, false},
		{"null index", delta, `{"contentBlockIndex":null,"delta":{"text":"x"}}`, false},
		{"no index", delta, `{"delta":{"text":"x"}}`, false},
		{"no delta", delta, `{"contentBlockIndex":0}`, false},
		{"null text", delta, `{"contentBlockIndex":0,"delta":{"text":null}}`, false},
		{"duplicate index", delta, `{"contentBlockIndex":0,"contentBlockIndex":1,"delta":{"text":"x"}}`, false},
		{"duplicate delta", delta, `{"contentBlockIndex":0,"delta":{"text":"x"},"delta":{"text":"y"}}`, false},
		{"padding not a string", delta, `{"contentBlockIndex":0,"delta":{"text":"x"},"p":5}`, false},
		{"trailing bytes", delta, `{"contentBlockIndex":0,"delta":{"text":"x"}} x`, false},
		{"truncated JSON", delta, `{"contentBlockIndex":0,"delta":{"text":"x"`, false},
		{"reasoning delta", delta, `{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"think"}}}`, false},
		{"tool-use delta", delta, `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":1}"}}}`, false},
		{"two members in the delta", delta, `{"contentBlockIndex":0,"delta":{"text":"x","toolUse":{"input":"{}"}}}`, false},
		{"empty payload", delta, ``, false},
		{"message start", eventHeaders("messageStart"), `{"role":"assistant","p":"abc"}`, false},
		{"block start", eventHeaders("contentBlockStart"), `{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}}`, false},
		{"block stop", eventHeaders("contentBlockStop"), `{"contentBlockIndex":0}`, false},
		{"message stop", eventHeaders("messageStop"), `{"stopReason":"end_turn"}`, false},
		{"metadata", eventHeaders("metadata"), `{"usage":{"inputTokens":3,"outputTokens":5,"totalTokens":8},"metrics":{"latencyMs":42}}`, false},
		{"unknown event", eventHeaders("somethingNew"), `{"x":1}`, false},
		{"exception", eventstream.Headers{
			{Name: eventstream.ExceptionTypeHeader, Value: eventstream.StringValue("throttlingException")},
			{Name: eventstream.MessageTypeHeader, Value: eventstream.StringValue("exception")},
		}, `{"message":"slow down"}`, false},
		{"unknown exception", eventstream.Headers{
			{Name: eventstream.ExceptionTypeHeader, Value: eventstream.StringValue("weirdException")},
			{Name: eventstream.MessageTypeHeader, Value: eventstream.StringValue("exception")},
		}, `{"message":"odd"}`, false},
		{"error message", eventstream.Headers{
			{Name: eventstream.ErrorCodeHeader, Value: eventstream.StringValue("InternalFailure")},
			{Name: eventstream.ErrorMessageHeader, Value: eventstream.StringValue("broken")},
			{Name: eventstream.MessageTypeHeader, Value: eventstream.StringValue("error")},
		}, ``, false},
		{"no message type", eventstream.Headers{
			{Name: eventstream.EventTypeHeader, Value: eventstream.StringValue("contentBlockDelta")},
		}, `{"contentBlockIndex":0,"delta":{"text":"x"}}`, false},
		{"event type as bytes", eventstream.Headers{
			{Name: eventstream.EventTypeHeader, Value: eventstream.BytesValue("contentBlockDelta")},
			{Name: eventstream.MessageTypeHeader, Value: eventstream.StringValue("event")},
		}, `{"contentBlockIndex":0,"delta":{"text":"x"}}`, false},
		{"event type twice", append(eventHeaders("contentBlockDelta"), eventstream.Header{Name: eventstream.EventTypeHeader, Value: eventstream.StringValue("contentBlockDelta")}),
			`{"contentBlockIndex":0,"delta":{"text":"x"}}`, false},
		{"headers of every type", append(eventHeaders("contentBlockDelta"),
			eventstream.Header{Name: "t", Value: eventstream.BoolValue(true)},
			eventstream.Header{Name: "f", Value: eventstream.BoolValue(false)},
			eventstream.Header{Name: "b", Value: eventstream.Int8Value(-3)},
			eventstream.Header{Name: "s", Value: eventstream.Int16Value(300)},
			eventstream.Header{Name: "i", Value: eventstream.Int32Value(70000)},
			eventstream.Header{Name: "l", Value: eventstream.Int64Value(1 << 40)},
			eventstream.Header{Name: "y", Value: eventstream.BytesValue([]byte{0, 1, 2})},
			eventstream.Header{Name: "u", Value: eventstream.UUIDValue{1, 2, 3}},
			eventstream.Header{Name: ":chunk-signature", Value: eventstream.BytesValue(bytes.Repeat([]byte{9}, 32))},
		), `{"contentBlockIndex":0,"delta":{"text":"x"}}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame := frameOf(t, tc.headers, tc.payload)
			// The frame alone, and twice in a row then a clean end.
			for _, stream := range [][]byte{frame, append(bytes.Clone(frame), frame...)} {
				if d := diffWithSDK(stream); d != "" {
					t.Errorf("deltaFrameProtocol and the SDK differ (-SDK +ours):\n%s", d)
				}
			}
			// The fast path allocates 2 (the event and its text), the SDK
			// dozens; the line between leaves room for stray allocations
			// of other goroutines.
			got := fastPathAllocs(t, frame)
			t.Logf("%v allocations a frame", got)
			if (got <= 8) != tc.fast {
				t.Errorf("%v allocations a frame: fast path taken = %v, want %v", got, got <= 8, tc.fast)
			}
		})
	}
}

// fastPathAllocs is the allocations of decoding frame once (after a first
// decode has sized the protocol's buffer).
func fastPathAllocs(t *testing.T, frame []byte) float64 {
	t.Helper()
	p := newDeltaFrameProtocol()
	r := bytes.NewReader(frame)
	decode := func() {
		r.Reset(frame)
		_, _ = p.DeserializeEventMessage(schemas.ConverseStreamOutput, bedrockruntime.TypeRegistry, r)
	}
	decode()
	return testing.AllocsPerRun(20, decode)
}

// TestDeltaFrameProtocolBrokenStreams cuts and corrupts a stream of real
// frames: both decoders end or fail the same way.
func TestDeltaFrameProtocolBrokenStreams(t *testing.T) {
	t.Parallel()
	text := frameOf(t, eventHeaders("contentBlockDelta"), `{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcd"}`)
	stop := frameOf(t, eventHeaders("messageStop"), `{"stopReason":"end_turn"}`)
	stream := append(append(bytes.Clone(text), text...), stop...)
	corrupt := func(at int) []byte {
		b := bytes.Clone(stream)
		b[at] ^= 0x40
		return b
	}
	cases := map[string][]byte{
		"whole":                   stream,
		"empty":                   nil,
		"cut in a prelude":        stream[:len(text)+5],
		"cut after a prelude":     stream[:len(text)+12],
		"cut in the headers":      stream[:len(text)+20],
		"cut in the payload":      stream[:len(text)+len(text)-10],
		"cut before the last crc": stream[:len(stream)-2],
		"prelude CRC wrong":       corrupt(len(text) + 9),
		"length wrong":            corrupt(len(text) + 3),
		"header byte wrong":       corrupt(len(text) + 14),
		"payload byte wrong":      corrupt(len(text) + len(text) - 8),
		"message CRC wrong":       corrupt(2*len(text) - 1),
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			if d := diffWithSDK(s); d != "" {
				t.Errorf("deltaFrameProtocol and the SDK differ (-SDK +ours):\n%s", d)
			}
		})
	}
}

// TestDeltaFrameProtocolRefusesImpossibleLengths: a prelude whose lengths
// cannot be a frame is an error at once, where the SDK would try to read
// up to 4 GiB into memory.
func TestDeltaFrameProtocolRefusesImpossibleLengths(t *testing.T) {
	t.Parallel()
	for name, lens := range map[string][2]uint32{
		"over 16 MiB":               {frameMaxLen + 1, 0},
		"4 GiB":                     {1<<32 - 1, 0},
		"shorter than a prelude":    {15, 0},
		"headers longer than frame": {100, 90},
	} {
		t.Run(name, func(t *testing.T) {
			prelude := make([]byte, 12, 64)
			binary.BigEndian.PutUint32(prelude[0:], lens[0])
			binary.BigEndian.PutUint32(prelude[4:], lens[1])
			binary.BigEndian.PutUint32(prelude[8:], crc32.ChecksumIEEE(prelude[:8]))
			stream := append(prelude, bytes.Repeat([]byte{'x'}, 52)...)
			_, err := newDeltaFrameProtocol().DeserializeEventMessage(schemas.ConverseStreamOutput, bedrockruntime.TypeRegistry, bytes.NewReader(stream))
			if !errors.Is(err, errFrameLength) {
				t.Errorf("err = %v, want errFrameLength", err)
			}
		})
	}
}

// TestDeltaFrameProtocolKeepsNoReference: an event's text is its own copy,
// not a view of the buffer the next frame is read into.
func TestDeltaFrameProtocolKeepsNoReference(t *testing.T) {
	t.Parallel()
	first := frameOf(t, eventHeaders("contentBlockDelta"), `{"contentBlockIndex":0,"delta":{"text":"first"}}`)
	second := frameOf(t, eventHeaders("contentBlockDelta"), `{"contentBlockIndex":1,"delta":{"text":"other"}}`)
	events := decodeAll(newDeltaFrameProtocol(), append(bytes.Clone(first), second...))
	if len(events) != 3 || events[2].Err != io.EOF.Error() {
		t.Fatalf("events = %+v, want two and io.EOF", events)
	}
	for i, want := range []string{"first", "other"} {
		ev := events[i].Event.(*types.ContentBlockDeltaEvent)
		if got := ev.Delta.(*types.ContentBlockDeltaMemberText).Value; got != want || *ev.ContentBlockIndex != int32(i) {
			t.Errorf("event %d = %q at %d, want %q at %d", i, got, *ev.ContentBlockIndex, want, i)
		}
	}
}

// FuzzDeltaFrameProtocol feeds arbitrary payloads under the delta event
// headers, and arbitrary bytes as a whole stream, to both decoders: the
// results must be the same, except that the fast decoder refuses lengths
// no frame can have.
func FuzzDeltaFrameProtocol(f *testing.F) {
	for _, seed := range []string{
		`{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abc"}`,
		`{"contentBlockIndex":0,"delta":{"text":"a\nb"}}`,
		`{"p":"\\","contentBlockIndex":7,"delta":{"text":"é"}}`,
		`{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"x"}}}`,
		`{"contentBlockIndex":00,"delta":{"text":"x"}}`,
		`{"contentBlockIndex":0,"delta":{"text":"\"q\" \\ \/ \b\f\n\r\t"}}`,
		`{"contentBlockIndex":0,"delta":{"text":"\ud83d\ude00 \ud800 \udc00\ud800\u2028\u0000"}}`,
		`{"contentBlockIndex":0,"delta":{"text":"\ud83d\u0041\ud83d"}}`,
		"{\"contentBlockIndex\":0,\"delta\":{\"text\":\"\xff\\n\xed\xa0\x80\"}}",
		`{"contentBlockIndex":0,"delta":{"text":"a\x \' \u12G4"}}`,
		`{}`, ``, `null`,
	} {
		f.Add([]byte(seed), false)
	}
	f.Add(frameOf(f, eventHeaders("contentBlockDelta"), `{"contentBlockIndex":0,"delta":{"text":"x"}}`), true)
	f.Fuzz(func(t *testing.T, b []byte, raw bool) {
		stream := b
		if !raw {
			stream = frameOf(t, eventHeaders("contentBlockDelta"), string(b))
		}
		got := decodeAll(newDeltaFrameProtocol(), stream)
		if last := got[len(got)-1]; raw && last.Err != "" && bytes.Contains([]byte(last.Err), []byte(errFrameLength.Error())) {
			return
		}
		want := decodeAll(restjson1.New(schemas.AmazonBedrockFrontendService), stream)
		if d := cmp.Diff(want, got, allFields); d != "" {
			t.Errorf("deltaFrameProtocol and the SDK differ (-SDK +ours):\n%s", d)
		}
	})
}

// TestDeltaFrameProtocolReadErrors cuts the connection at every byte of a
// two-frame stream: both decoders report the same events and then the
// same error.
func TestDeltaFrameProtocolReadErrors(t *testing.T) {
	t.Parallel()
	text := frameOf(t, eventHeaders("contentBlockDelta"), `{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcd"}`)
	stream := append(bytes.Clone(text), text...)
	cut := errors.New("connection reset by peer")
	decode := func(p deserializer, at int) []decoded {
		r := io.MultiReader(bytes.NewReader(stream[:at]), failedReader{cut})
		var out []decoded
		for range 3 {
			ev, err := p.DeserializeEventMessage(schemas.ConverseStreamOutput, bedrockruntime.TypeRegistry, r)
			out = append(out, decoded{Event: ev})
			if err != nil {
				out[len(out)-1].Err = err.Error()
				break
			}
		}
		return out
	}
	for at := range len(stream) {
		want := decode(restjson1.New(schemas.AmazonBedrockFrontendService), at)
		got := decode(newDeltaFrameProtocol(), at)
		if d := cmp.Diff(want, got, allFields); d != "" {
			t.Errorf("cut at byte %d: deltaFrameProtocol and the SDK differ (-SDK +ours):\n%s", at, d)
		}
		if last := got[len(got)-1]; !strings.Contains(last.Err, cut.Error()) {
			t.Errorf("cut at byte %d: last error %q does not say why the read failed", at, last.Err)
		}
	}
}
