package streaming

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"
)

// ReadJSON reads a request body that must be JSON, within the
// operator's size and time limits. The body is read as it arrives into a
// buffer that grows with what was received (never a whole-body allocation
// from Content-Length), and the whole of it must arrive within
// BodyReadTimeout: a client that stalls gets 408 and its connection closed,
// as nginx does after client_body_timeout.
func (cfg *Config) ReadJSON(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	return cfg.readBody(w, r)
}

func (cfg *Config) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	if r.ContentLength > cfg.MaxBodyBytes {
		return nil, tooLarge(cfg.MaxBodyBytes)
	}
	rc := http.NewResponseController(w)
	// Not every ResponseWriter has a connection to time out (the Lambda
	// bridge holds the whole body in memory already): ErrNotSupported is
	// fine there.
	deadlineSet := rc.SetReadDeadline(time.Now().Add(cfg.BodyReadTimeout)) == nil
	body, err := readChunked(http.MaxBytesReader(w, r.Body, cfg.MaxBodyBytes))
	if deadlineSet && err == nil {
		// Clear it: net/http reads on in the background to notice a
		// client that goes away, and a stale deadline would look like one.
		// After a failure it stays: the server must not wait to drain
		// the rest of a stalled body before it closes the connection.
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return nil, tooLarge(cfg.MaxBodyBytes)
		case errors.Is(err, os.ErrDeadlineExceeded):
			w.Header().Set("Connection", "close")
			return nil, &Error{Status: http.StatusRequestTimeout, Code: CodeBodyTimeout,
				Message: fmt.Sprintf("the request body did not arrive within %v; send the whole body at once", cfg.BodyReadTimeout)}
		}
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the request body could not be read"}
	}
	return body, nil
}

// bodyChunk is the unit in which a body is held while it arrives.
const bodyChunk = 32 << 10

// readChunked reads r to its end in fixed chunks, so that a body that
// stalls pins what it has sent (rounded up to a chunk), not a buffer
// grown by doubling to twice that; a whole body is joined once at the end.
func readChunked(r io.Reader) ([]byte, error) {
	var chunks [][]byte
	for {
		size := bodyChunk
		if len(chunks) == 0 {
			size = 4 << 10 // most bodies are small
		}
		chunk := make([]byte, size)
		n, err := io.ReadFull(r, chunk)
		if n > 0 {
			chunks = append(chunks, chunk[:n])
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			if len(chunks) == 1 {
				return chunks[0], nil
			}
			return bytes.Join(chunks, nil), nil
		case err != nil:
			return nil, err
		}
	}
}

func checkJSONContentType(header string) *Error {
	mediaType, _, err := mime.ParseMediaType(header)
	if header == "" || err != nil || mediaType != "application/json" {
		got := header
		if got == "" {
			got = "none"
		}
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia,
			Message: "the body must be JSON: send Content-Type: application/json (got " + Truncate(got, 80) + ")"}
	}
	return nil
}

func tooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
		Message: fmt.Sprintf("the request body is larger than %d bytes", limit)}
}

// KeySchema describes the keys of the objects of a request, for
// checkKeys: Fields maps each key of an object to the schema of its value,
// Items is the schema of an array's elements. A nil schema is free-form
// (a tool's JSON schema, say): only duplicates are refused there.
type KeySchema struct {
	Fields map[string]*KeySchema
	Items  *KeySchema
}

// checkKeys walks a JSON document and refuses an object that names a key
// twice, and, where schema knows the object, a key that differs only in
// case from a known one. encoding/json would take the last of duplicate
// keys and match keys without regard to case, so a validator or WAF in
// front of the gateway could read a different request from the one the
// gateway runs.
func checkKeys(body []byte, schema *KeySchema) *Error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		schema *KeySchema
		seen   map[string]bool
		key    string // object: the key whose value comes next, "" = a key comes next
		hasKey bool
	}
	var stack []*frame
	child := func(f *frame) *KeySchema {
		switch {
		case f == nil:
			return schema
		case f.schema == nil:
			return nil
		case f.object:
			return f.schema.Fields[f.key]
		default:
			return f.schema.Items
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			// Syntax errors are reported by the decoder that runs next,
			// with its better message.
			return nil
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && !top.hasKey {
			if key, ok := tok.(string); ok {
				if top.seen[key] {
					return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Param: key,
						Message: fmt.Sprintf("the key %q appears twice in one object; send each key once", Truncate(key, 60))}
				}
				top.seen[key] = true
				if top.schema != nil && top.schema.Fields[key] == nil {
					if _, known := top.schema.Fields[key]; !known {
						for name := range top.schema.Fields {
							if strings.EqualFold(name, key) {
								return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Param: key,
									Message: fmt.Sprintf("the key %q must be spelt %q: keys are case-sensitive", Truncate(key, 60), name)}
							}
						}
					}
				}
				top.key, top.hasKey = key, true
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			stack = append(stack, &frame{object: tok == json.Delim('{'), schema: child(top), seen: map[string]bool{}})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return nil
			}
			top = stack[len(stack)-1]
		}
		if top == nil {
			return nil
		}
		if top.object {
			top.hasKey = false // the value is done: a key comes next
		}
	}
}

// FieldsOf is the Fields of a KeySchema whose keys' values are free-form.
func FieldsOf(names ...string) map[string]*KeySchema {
	m := make(map[string]*KeySchema, len(names))
	for _, n := range names {
		m[n] = nil
	}
	return m
}

// DecodeStrict decodes a body strictly into v: duplicate keys, keys in the
// wrong case (where schema knows the object) and unknown fields are
// errors, so that a misspelt "max_tokens" is reported instead of silently
// ignored. known lists the fields for that message; want, when not nil,
// names the JSON a wrongly typed field must be, in the protocol's words
// (nil: the Go type's kind).
func DecodeStrict(body []byte, v any, schema *KeySchema, known string, want func(field string) string) *Error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON,
			Message: `the body is empty; send a JSON object such as {"prompt": "Hello"}`}
	}
	if e := checkKeys(body, schema); e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, known, want)
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON,
			Message: "the body must be a single JSON object; found more data after it"}
	}
	return nil
}

// DecodeLenient decodes a body into v where clients send many fields
// (OpenAI's and Anthropic's protocols): unknown fields are ignored,
// duplicate keys are not.
func DecodeLenient(body []byte, v any) *Error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON, Message: "the body is empty; send a JSON object"}
	}
	if e := checkKeys(body, nil); e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err, "", nil)
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON,
			Message: "the body must be a single JSON object; found more data after it"}
	}
	return nil
}

func jsonError(err error, known string, want func(field string) string) *Error {
	e := &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		e.Message = fmt.Sprintf("the body is not valid JSON (at byte %d): %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ) && typ.Field == "":
		e.Message = "the body must be a JSON object"
	case errors.As(err, &typ):
		e.Code = CodeInvalidRequest
		e.Param = typ.Field
		// typ.Value holds the literal for numbers ("number 1111…"): name
		// only its kind, so that a huge literal is never echoed.
		kind, _, _ := strings.Cut(typ.Value, " ")
		words := kindName(typ.Type)
		if want != nil {
			if w := want(typ.Field); w != "" {
				words = w
			}
		}
		e.Message = fmt.Sprintf("field %q must be %s, not a JSON %s", Truncate(typ.Field, 100), words, Truncate(kind, 20))
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.Message = "the body is not valid JSON: it ends too early"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		e.Code = CodeInvalidRequest
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		e.Message = "unknown field " + Truncate(field, 60)
		if known != "" {
			e.Message += "; known fields are " + known
		}
	default:
		e.Message = "the body is not valid JSON"
	}
	return e
}

// kindName says what JSON a Go type decodes from.
func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}
