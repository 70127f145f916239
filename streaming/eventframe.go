package streaming

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/eventstream"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"
)

// deltaFrameProtocol is restjson1 with a fast path for the one event that
// is nearly all of a stream: a contentBlockDelta carrying text.
//
// smithy-go decodes every event through its schema-driven deserializer:
// about 55 allocations and several microseconds a delta (header names and
// values, the payload buffer, an fmt.Sprintf of the shape ID, the JSON
// decoder's state), which was most of the gateway's own CPU per delta on
// Lambda. This decoder reads the whole frame into a buffer it reuses, and
// when the frame is intact (both CRCs), is an event of type
// contentBlockDelta, and its payload is exactly
// {"contentBlockIndex":N,"delta":{"text":"..."}} (keys in any order, plus
// Bedrock's string-valued padding "p"), it builds the SDK's own event in
// two allocations. The text is decoded as the SDK's JSON decoder decodes
// it (unquoteText): escapes included, since real answers put a newline or
// a quote in most deltas. Every other frame — other events, other deltas,
// keys with escapes, invalid escapes, exceptions, a broken or cut frame, a
// failed read — is handed, bytes unchanged and the read's error after
// them, to the SDK's decoder, so what comes out is what the SDK alone
// would give (FuzzDeltaFrameProtocol compares the two).
//
// One difference, a limit the SDK lacks: a prelude announcing more than
// the event-stream format's 16 MiB, or lengths that contradict each other,
// is an error here instead of an attempt to read that much.
//
// A protocol is used by one call's event reader goroutine only, so the
// buffer needs no lock.
type deltaFrameProtocol struct {
	*restjson1.Protocol
	frame []byte
	text  []byte // a text with escapes, decoded
}

func newDeltaFrameProtocol() *deltaFrameProtocol {
	return &deltaFrameProtocol{Protocol: restjson1.New(schemas.AmazonBedrockFrontendService)}
}

const (
	framePreludeLen = 12       // total length, headers length, prelude CRC
	frameMinLen     = 16       // the prelude and the message CRC
	frameMaxLen     = 16 << 20 // the event-stream format's limit on a message
)

// errFrameLength wraps the lengths of a prelude that cannot be a frame.
var errFrameLength = errors.New("event-stream frame lengths invalid")

// DeserializeEventMessage reads one frame from r and returns its event.
func (p *deltaFrameProtocol) DeserializeEventMessage(schema *smithy.Schema, registry *smithy.TypeRegistry, r io.Reader) (smithy.Deserializable, error) {
	text, ev, err := p.decode(schema, registry, r)
	if text != nil {
		return &text.member.Value, nil
	}
	return ev, err
}

// decode reads one frame from r: a text delta comes back as text, already
// the union member the relay receives; any other event as the SDK's
// decoder gives it.
func (p *deltaFrameProtocol) decode(schema *smithy.Schema, registry *smithy.TypeRegistry, r io.Reader) (text *textDelta, ev smithy.Deserializable, err error) {
	// The prelude is read into the frame buffer: an array on the stack
	// would escape to the heap through the io.Reader, once a frame.
	if cap(p.frame) < framePreludeLen {
		p.frame = make([]byte, framePreludeLen, 512)
	}
	prelude := p.frame[:framePreludeLen]
	if n, err := io.ReadFull(r, prelude); err != nil {
		ev, err = p.sdkDecode(schema, registry, prelude[:n], err)
		return nil, ev, err
	}
	total := binary.BigEndian.Uint32(prelude[0:4])
	headersLen := binary.BigEndian.Uint32(prelude[4:8])
	if total == 0 || crc32.ChecksumIEEE(prelude[:8]) != binary.BigEndian.Uint32(prelude[8:12]) {
		ev, err = p.sdkDecode(schema, registry, prelude, nil)
		return nil, ev, err
	}
	if total < frameMinLen || total > frameMaxLen || headersLen > total-frameMinLen {
		return nil, nil, fmt.Errorf("decode event: %w: total %d, headers %d (at most %d in all)", errFrameLength, total, headersLen, frameMaxLen)
	}
	if cap(p.frame) < int(total) {
		grown := make([]byte, total)
		copy(grown, prelude)
		p.frame = grown
	}
	frame := p.frame[:total]
	if n, err := io.ReadFull(r, frame[framePreludeLen:]); err != nil {
		ev, err = p.sdkDecode(schema, registry, frame[:framePreludeLen+n], err)
		return nil, ev, err
	}
	if crc32.ChecksumIEEE(frame[:total-4]) == binary.BigEndian.Uint32(frame[total-4:]) &&
		isTextDeltaEvent(frame[framePreludeLen:framePreludeLen+headersLen]) {
		if text := parseTextDelta(frame[framePreludeLen+headersLen:total-4], &p.text); text != nil {
			return text, nil, nil
		}
	}
	ev, err = p.sdkDecode(schema, registry, frame, nil)
	return nil, ev, err
}

// sdkDecode hands the bytes read so far, and then the error that ended the
// read if any, to the SDK's decoder: whatever went wrong, in whichever
// part of a frame, the outcome is exactly the SDK's. (It takes a stream
// that ends, even inside a frame, for the end of the events; the relay
// then reports the answer incomplete, since no messageStop came.)
func (p *deltaFrameProtocol) sdkDecode(schema *smithy.Schema, registry *smithy.TypeRegistry, have []byte, readErr error) (smithy.Deserializable, error) {
	var r io.Reader = bytes.NewReader(have)
	if readErr != nil && !errors.Is(readErr, io.EOF) && !errors.Is(readErr, io.ErrUnexpectedEOF) {
		r = io.MultiReader(r, failedReader{readErr})
	}
	return p.Protocol.DeserializeEventMessage(schema, registry, r)
}

// failedReader returns its error.
type failedReader struct{ err error }

func (f failedReader) Read([]byte) (int, error) { return 0, f.err }

// isTextDeltaEvent reports whether the headers say :message-type event and
// :event-type contentBlockDelta, each once, as well-formed headers; any
// doubt answers false, and the SDK decodes the frame.
func isTextDeltaEvent(h []byte) bool {
	var messageType, eventType int
	for len(h) > 0 {
		nameLen := int(h[0])
		if len(h) < 1+nameLen+1 {
			return false
		}
		name := h[1 : 1+nameLen]
		kind := h[1+nameLen]
		h = h[1+nameLen+1:]
		n, ok := headerValueLen(kind, h)
		if !ok {
			return false
		}
		value := h[:n]
		h = h[n:]
		switch string(name) {
		case eventstream.MessageTypeHeader:
			if kind != stringHeader || string(value[2:]) != eventstream.EventMessageType {
				return false
			}
			messageType++
		case eventstream.EventTypeHeader:
			if kind != stringHeader || string(value[2:]) != "contentBlockDelta" {
				return false
			}
			eventType++
		}
	}
	return messageType == 1 && eventType == 1
}

// The header value types of the event-stream format.
const (
	boolTrueHeader = iota
	boolFalseHeader
	byteHeader
	int16Header
	int32Header
	int64Header
	bytesHeader
	stringHeader
	timestampHeader
	uuidHeader
)

// headerValueLen is the length of a header value of the given type at the
// start of h, with its length prefix where it has one.
func headerValueLen(kind byte, h []byte) (int, bool) {
	var n int
	switch kind {
	case boolTrueHeader, boolFalseHeader:
		n = 0
	case byteHeader:
		n = 1
	case int16Header:
		n = 2
	case int32Header:
		n = 4
	case int64Header, timestampHeader:
		n = 8
	case uuidHeader:
		n = 16
	case bytesHeader, stringHeader:
		if len(h) < 2 {
			return 0, false
		}
		n = 2 + int(binary.BigEndian.Uint16(h))
	default:
		return 0, false
	}
	return n, len(h) >= n
}

// textDelta is a text delta event as the SDK's event stream hands it out
// (the union member, its index and its delta), in one allocation.
type textDelta struct {
	member types.ConverseStreamOutputMemberContentBlockDelta
	index  int32
	text   types.ContentBlockDeltaMemberText
}

// parseTextDelta parses {"contentBlockIndex":N,"delta":{"text":"..."}}
// with optional string-valued other keys; nil for anything else, including
// what would be valid JSON in other shapes. A text with escapes is decoded
// into *scratch, which is kept for the next frame.
func parseTextDelta(b []byte, scratch *[]byte) *textDelta {
	s := jsonScanner{b: b}
	var (
		index               int32
		text                []byte
		haveIndex, haveText bool
	)
	if !s.consume('{') {
		return nil
	}
	for {
		key, ok := s.plainString()
		if !ok || !s.consume(':') {
			return nil
		}
		switch string(key) {
		case "contentBlockIndex":
			if haveIndex {
				return nil
			}
			if index, ok = s.smallUint(); !ok {
				return nil
			}
			haveIndex = true
		case "delta":
			if haveText || !s.consume('{') {
				return nil
			}
			if k, ok := s.plainString(); !ok || string(k) != "text" || !s.consume(':') {
				return nil
			}
			if text, ok = s.textString(scratch); !ok || !s.consume('}') {
				return nil
			}
			haveText = true
		default:
			if !s.skipString() {
				return nil
			}
		}
		if s.consume(',') {
			continue
		}
		if !s.consume('}') || !s.atEnd() || !haveIndex || !haveText {
			return nil
		}
		break
	}
	d := &textDelta{index: index}
	d.text.Value = string(text)
	d.member.Value.ContentBlockIndex = &d.index
	d.member.Value.Delta = &d.text
	return d
}

// jsonScanner reads the few JSON forms parseTextDelta accepts.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips white space and then c, if c is next.
func (s *jsonScanner) consume(c byte) bool {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *jsonScanner) atEnd() bool {
	s.skipSpace()
	return s.i == len(s.b)
}

// plainString reads a string without escapes whose bytes are valid UTF-8
// and free of control characters: exactly the bytes it stands for.
func (s *jsonScanner) plainString() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start, ascii := s.i, true
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			str := s.b[start:s.i]
			s.i++
			return str, ascii || utf8.Valid(str)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// textString reads a string value as the SDK's JSON decoder reads it
// (smithy-go's copy of encoding/json's unquote): a string without escapes
// is its bytes as they are, even invalid UTF-8; one with escapes is
// decoded into *scratch by unquoteText. A raw control character or an
// invalid escape answers false: the SDK refuses those.
func (s *jsonScanner) textString(scratch *[]byte) ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start, escaped := s.i, false
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			str := s.b[start:s.i]
			s.i++
			if !escaped {
				return str, true
			}
			*scratch = unquoteText((*scratch)[:0], str)
			return *scratch, true
		case c == '\\':
			if !s.escape() {
				return nil, false
			}
			escaped = true
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// unquoteText appends to dst the text that the inside of a JSON string
// stands for, decoded exactly as smithy-go's stdlib.UnquoteBytes (a copy
// of encoding/json's unquoteBytes) decodes it: \uXXXX as UTF-16, a
// surrogate pair as one rune, a lone surrogate as U+FFFD (the escape
// after a high surrogate that does not pair with it is decoded on its
// own), and, in a string with escapes, each byte of invalid UTF-8 as
// U+FFFD. s must be well-formed: every escape valid (jsonScanner.escape),
// no quote or control character.
func unquoteText(dst, s []byte) []byte {
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			i = len(s)
		}
		if run := s[:i]; utf8.Valid(run) {
			dst = append(dst, run...)
		} else {
			for len(run) > 0 {
				r, size := utf8.DecodeRune(run)
				dst = utf8.AppendRune(dst, r)
				run = run[size:]
			}
		}
		s = s[i:]
		if len(s) == 0 {
			break
		}
		switch c := s[1]; c {
		case 'u':
			r := hex4(s[2:6])
			s = s[6:]
			if utf16.IsSurrogate(r) {
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					if pair := utf16.DecodeRune(r, hex4(s[2:6])); pair != utf8.RuneError {
						dst = utf8.AppendRune(dst, pair)
						s = s[6:]
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		s = s[2:]
	}
	return dst
}

// hex4 is the value of four hex digits (checked by jsonScanner.escape).
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// skipString passes over any well-formed string, escapes included.
func (s *jsonScanner) skipString() bool {
	if !s.consume('"') {
		return false
	}
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return true
		case c == '\\':
			if !s.escape() {
				return false
			}
		case c < 0x20:
			return false
		}
	}
	return false
}

// escape passes over one escape sequence, the backslash at s.i: the
// SDK's JSON decoder refuses other escapes even in keys it ignores.
func (s *jsonScanner) escape() bool {
	if s.i+1 >= len(s.b) {
		return false
	}
	s.i++
	switch s.b[s.i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return true
	case 'u':
		if s.i+4 >= len(s.b) {
			return false
		}
		for _, h := range s.b[s.i+1 : s.i+5] {
			if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
				return false
			}
		}
		s.i += 4
		return true
	}
	return false
}

// smallUint reads a JSON integer from 0 to 999,999,999 (no sign, no
// leading zero, no fraction or exponent): every block index there is.
func (s *jsonScanner) smallUint() (int32, bool) {
	s.skipSpace()
	start := s.i
	var v int32
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' && s.i-start < 9 {
		v = v*10 + int32(s.b[s.i]-'0')
		s.i++
	}
	n := s.i - start
	if n == 0 || (n > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E', '-', '+', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return 0, false
		}
	}
	return v, true
}
