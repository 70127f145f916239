package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// toolSpec is one tool a request offers.
type toolSpec struct {
	name   string
	schema map[string]any // the input JSON schema, numbers as json.Number
}

// toolChoice is the request's toolChoice: mode "auto" (also the default),
// "any", or "tool" with name.
type toolChoice struct {
	mode string
	name string
}

// toolResult is one toolResult block of the last user message.
type toolResult struct {
	toolUseID string
	toolName  string // from the matching toolUse block of the previous assistant message
	content   string // what the answer quotes
	failed    bool   // status "error" (Anthropic: is_error)
}

// ToolCall is the call emulator.tools-v1 makes when a request offers
// tools: a toolUse block (contentBlockStart with start.toolUse {toolUseId,
// name}) whose input arrives as toolUse.input deltas, one a fragment, and
// stop reason tool_use.
type ToolCall struct {
	ID        string   // toolUseId: "tooluse_" and 22 characters, deterministic in prompt and name
	Name      string   // the tool's name
	Input     string   // the input, a compact JSON object
	Fragments []string // Input in the pieces the stream sends: strings.Join(Fragments, "") == Input
}

// Bounds of the tool call's input.
const (
	fragmentBytes   = 12  // the size of one input fragment
	maxStringValue  = 200 // bytes of the prompt used as a string value
	maxSchemaDepth  = 8
	maxQuotedResult = 1000 // bytes of a tool result quoted in the answer
)

// ToolCallFor returns the call tools-v1 makes, answering prompt, to the
// tool named name whose input schema is inputSchema (toolSpec.inputSchema.json,
// or an Anthropic tool's input_schema).
//
// Which tool it calls: with toolChoice {"tool": {"name"}} that one; with
// auto (the default) or any, the first tool whose name appears in the
// prompt (case-insensitively), else the first tool. Tools-v1 always calls
// a tool when the request offers some and its last user message holds no
// tool result.
//
// The input is built from the schema: the properties listed in
// "required" (all declared properties when none is required), in
// sorted order, each given a value by its schema: the first "enum"
// value, "const", or "default" when there is one; otherwise a string is
// the prompt (trimmed, at most 200 bytes; the property's name for an
// empty prompt), an integer is its "minimum" or a number from 0 to 99
// derived from the prompt and the property's name (a number: that plus
// 0.5), or its "maximum" when that is lower, a boolean is true, an array holds one item, an object recurses,
// and "anyOf"/"oneOf" take their first alternative.
func ToolCallFor(prompt, name string, inputSchema []byte) (ToolCall, error) {
	schema, err := decodeSchema(inputSchema)
	if err != nil {
		return ToolCall{}, err
	}
	return toolCallFor(prompt, toolSpec{name: name, schema: schema}), nil
}

func decodeSchema(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the input schema is not a JSON object")
	}
	return m, nil
}

func toolCallFor(prompt string, tool toolSpec) ToolCall {
	input := encodeCompact(objectValue(tool.schema, prompt, 0))
	sum := sha256.Sum256([]byte(tool.name + "\x00" + prompt))
	return ToolCall{
		ID:        "tooluse_" + base64.RawURLEncoding.EncodeToString(sum[:16]),
		Name:      tool.name,
		Input:     input,
		Fragments: fragments(input),
	}
}

// chooseTool applies the toolChoice rule documented on ToolCallFor.
func chooseTool(prompt string, tools []toolSpec, choice toolChoice) toolSpec {
	if choice.mode == "tool" {
		for _, t := range tools {
			if t.name == choice.name {
				return t
			}
		}
	}
	lower := strings.ToLower(prompt)
	for _, t := range tools {
		if strings.Contains(lower, strings.ToLower(t.name)) {
			return t
		}
	}
	return tools[0]
}

func encodeCompact(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "{}"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// schemaValue is the value of one schema, as documented on ToolCallFor.
func schemaValue(schema map[string]any, name, prompt string, depth int) any {
	if depth > maxSchemaDepth {
		return nil
	}
	if enum, ok := schema["enum"].([]any); ok && len(enum) > 0 {
		return enum[0]
	}
	if v, ok := schema["const"]; ok {
		return v
	}
	if v, ok := schema["default"]; ok {
		return v
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := schema[key].([]any); ok && len(alts) > 0 {
			if alt, ok := alts[0].(map[string]any); ok {
				return schemaValue(alt, name, prompt, depth+1)
			}
		}
	}
	typ := schemaType(schema)
	switch typ {
	case "object":
		return objectValue(schema, prompt, depth)
	case "array":
		items, _ := schema["items"].(map[string]any)
		return []any{schemaValue(items, name, prompt, depth+1)}
	case "integer", "number":
		if m, ok := schema["minimum"].(json.Number); ok {
			return m
		}
		h := fnv.New32a()
		h.Write([]byte(prompt + "\x00" + name))
		v := int64(h.Sum32() % 100)
		n := json.Number(strconv.FormatInt(v, 10))
		if typ == "number" {
			n += ".5"
		}
		if mx, ok := schema["maximum"].(json.Number); ok {
			if f, err := mx.Float64(); err == nil && float64(v) > f {
				return mx
			}
		}
		return n
	case "boolean":
		return true
	case "null":
		return nil
	}
	s := strings.TrimSpace(prompt)
	if s == "" {
		return name
	}
	return truncateUTF8(s, maxStringValue)
}

// objectValue is the value of an object schema (a tool's input schema is
// always one, typed or not).
func objectValue(schema map[string]any, prompt string, depth int) map[string]any {
	props, _ := schema["properties"].(map[string]any)
	var keys []string
	if req, ok := schema["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok && !slices.Contains(keys, s) {
				keys = append(keys, s)
			}
		}
	}
	if len(keys) == 0 {
		for k := range props {
			keys = append(keys, k)
		}
	}
	obj := make(map[string]any, len(keys))
	for _, k := range keys {
		sub, _ := props[k].(map[string]any)
		obj[k] = schemaValue(sub, k, prompt, depth+1)
	}
	return obj
}

// schemaType is a schema's "type" (the first non-null one of a list);
// an untyped schema with properties is an object, any other a string.
func schemaType(schema map[string]any) string {
	switch t := schema["type"].(type) {
	case string:
		return t
	case []any:
		for _, v := range t {
			if s, ok := v.(string); ok && s != "null" {
				return s
			}
		}
	}
	if _, ok := schema["properties"]; ok {
		return "object"
	}
	return "string"
}

// fragments splits s into pieces of about fragmentBytes at rune
// boundaries; a string of two bytes or more gives at least two pieces.
func fragments(s string) []string {
	size := fragmentBytes
	if len(s) < 2*size {
		size = max(1, len(s)/2)
	}
	var out []string
	for len(s) > 0 {
		n := min(size, len(s))
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n++
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ToolResult is one tool result, as ToolResultAnswer quotes it.
type ToolResult struct {
	ToolName string // the name of the tool whose toolUse the result answers
	// Content is what is quoted: the result's content blocks in order,
	// text as it is and json compacted (encoding/json's Compact, key order
	// kept), an image as "[image]" and a document as "[document]", joined
	// with single spaces and cut to 1000 bytes.
	Content string
	Failed  bool // status "error"
}

// ToolResultAnswer returns the deltas tools-v1 answers (stop reason
// end_turn) when the last user message holds tool results: for each
// result, in order, the sentence
//
//	The NAME tool returned "CONTENT".
//
// or, for a failed one, The NAME tool reported an error: "CONTENT".,
// sentences joined with a space, one word (with the spaces after it) a
// delta.
func ToolResultAnswer(results ...ToolResult) []string {
	var b strings.Builder
	for i, r := range results {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("The " + r.ToolName + " tool ")
		if r.Failed {
			b.WriteString("reported an error: ")
		} else {
			b.WriteString("returned ")
		}
		b.WriteString(`"` + truncateUTF8(r.Content, maxQuotedResult) + `".`)
	}
	return splitWords(b.String())
}

func toolResultAnswer(results []toolResult) []string {
	rs := make([]ToolResult, len(results))
	for i, r := range results {
		rs[i] = ToolResult{ToolName: r.toolName, Content: r.content, Failed: r.failed}
	}
	return ToolResultAnswer(rs...)
}

// splitWords cuts s after each run of spaces, so that the pieces joined
// give s back exactly.
func splitWords(s string) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			out = append(out, s)
			break
		}
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		out = append(out, s[:j])
		s = s[j:]
	}
	return out
}

// quoteContent renders toolResult content blocks as ToolResult.Content
// documents.
func quoteContent(parts []string) string {
	return truncateUTF8(strings.Join(parts, " "), maxQuotedResult)
}
