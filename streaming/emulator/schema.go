package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// bodySchema is the small part of JSON Schema that Bedrock's InvokeModel
// bodies need. Bedrock validates the Amazon models' bodies (and the top
// level of Anthropic ones) against such schemas and words the first
// violation as the everit validator does ("#/textGenerationConfig/topP: 2
// is not less or equal to 1"), which is what these checks reproduce.
type bodySchema struct {
	typ      string // "object", "string", "integer", "number", "boolean", "array"; "" = any
	props    []namedSchema
	required []string
	open     bool // additional properties allowed
	enum     []string
	min, max *float64
	minLen   int // strings: characters; arrays: items
	maxLen   int // 0: no bound
	items    *bodySchema
}

type namedSchema struct {
	name   string
	schema *bodySchema
}

func bound(v float64) *float64 { return &v }

// decodeBody parses body against schema and then into v; the error is a
// ValidationException message.
func decodeBody(body []byte, schema *bodySchema, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return malformed(fmt.Sprintf("%v", err))
	}
	if dec.More() {
		return malformed("trailing data after the JSON body")
	}
	if err := schema.validate("#", doc); err != nil {
		return malformed(err.Error())
	}
	if err := json.Unmarshal(body, v); err != nil {
		return malformed(fmt.Sprintf("%v", err))
	}
	return nil
}

func malformed(detail string) error {
	return invalidf("Malformed input request: %s, please reformat your input and try again.", detail)
}

func (s *bodySchema) validate(path string, v any) error {
	if s == nil {
		return nil
	}
	if s.typ != "" && !jsonTypeIs(v, s.typ) {
		return fmt.Errorf("%s: expected type: %s, found: %s", path, everitType(s.typ), everitTypeOf(v))
	}
	switch x := v.(type) {
	case map[string]any:
		for _, r := range s.required {
			if _, ok := x[r]; !ok {
				return fmt.Errorf("%s: required key [%s] not found", path, r)
			}
		}
		if !s.open {
			var extra []string
			for k := range x {
				if !slices.ContainsFunc(s.props, func(p namedSchema) bool { return p.name == k }) {
					extra = append(extra, k)
				}
			}
			if len(extra) > 0 {
				slices.Sort(extra)
				return fmt.Errorf("%s: extraneous key [%s] is not permitted", path, capEcho(extra[0]))
			}
		}
		for _, p := range s.props {
			if pv, ok := x[p.name]; ok {
				if err := p.schema.validate(path+"/"+p.name, pv); err != nil {
					return err
				}
			}
		}
	case []any:
		if len(x) < s.minLen {
			return fmt.Errorf("%s: expected minimum item count: %d, found: %d", path, s.minLen, len(x))
		}
		if s.maxLen > 0 && len(x) > s.maxLen {
			return fmt.Errorf("%s: expected maximum item count: %d, found: %d", path, s.maxLen, len(x))
		}
		for i, item := range x {
			if err := s.items.validate(path+"/"+strconv.Itoa(i), item); err != nil {
				return err
			}
		}
	case string:
		n := utf8.RuneCountInString(x)
		if n < s.minLen {
			return fmt.Errorf("%s: expected minLength: %d, actual: %d", path, s.minLen, n)
		}
		if s.maxLen > 0 && n > s.maxLen {
			return fmt.Errorf("%s: expected maxLength: %d, actual: %d", path, s.maxLen, n)
		}
		if len(s.enum) > 0 && !slices.Contains(s.enum, x) {
			return fmt.Errorf("%s: %s is not a valid enum value", path, capEcho(x))
		}
	case json.Number:
		f, _ := x.Float64()
		shown := capEcho(x.String())
		if len(s.enum) > 0 && !slices.Contains(s.enum, strconv.FormatFloat(f, 'g', -1, 64)) {
			return fmt.Errorf("%s: %s is not a valid enum value", path, shown)
		}
		if s.min != nil && f < *s.min {
			return fmt.Errorf("%s: %s is not greater or equal to %s", path, shown, strconv.FormatFloat(*s.min, 'f', -1, 64))
		}
		if s.max != nil && f > *s.max {
			return fmt.Errorf("%s: %s is not less or equal to %s", path, shown, strconv.FormatFloat(*s.max, 'f', -1, 64))
		}
	}
	return nil
}

func jsonTypeIs(v any, typ string) bool {
	switch x := v.(type) {
	case map[string]any:
		return typ == "object"
	case []any:
		return typ == "array"
	case string:
		return typ == "string"
	case bool:
		return typ == "boolean"
	case json.Number:
		if typ == "number" {
			return true
		}
		_, err := strconv.ParseInt(x.String(), 10, 64)
		return typ == "integer" && err == nil
	}
	return false
}

func everitType(typ string) string {
	switch typ {
	case "object":
		return "JSONObject"
	case "array":
		return "JSONArray"
	case "string":
		return "String"
	case "boolean":
		return "Boolean"
	case "integer":
		return "Integer"
	}
	return "Number"
}

func everitTypeOf(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "JSONObject"
	case []any:
		return "JSONArray"
	case string:
		return "String"
	case bool:
		return "Boolean"
	case json.Number:
		if _, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return "Integer"
		}
		return "BigDecimal"
	}
	return "Null"
}

// The bodies' schemas. Read-only after initialisation.
var (
	titanTextSchema = &bodySchema{
		typ:      "object",
		required: []string{"inputText"},
		props: []namedSchema{
			{"inputText", &bodySchema{typ: "string", minLen: 1, maxLen: 50000}},
			{"textGenerationConfig", &bodySchema{typ: "object", props: []namedSchema{
				{"maxTokenCount", &bodySchema{typ: "integer", min: bound(1), max: bound(maxTitanTokens)}},
				{"temperature", &bodySchema{typ: "number", min: bound(0), max: bound(1)}},
				{"topP", &bodySchema{typ: "number", min: bound(0), max: bound(1)}},
				{"stopSequences", &bodySchema{typ: "array", items: &bodySchema{typ: "string"}}},
			}}},
		},
	}

	titanImageSchema = &bodySchema{
		typ:      "object",
		required: []string{"taskType"},
		props: []namedSchema{
			{"taskType", &bodySchema{typ: "string", enum: []string{"TEXT_IMAGE", "INPAINTING", "OUTPAINTING", "IMAGE_VARIATION", "COLOR_GUIDED_GENERATION", "BACKGROUND_REMOVAL", "VIRTUAL_TRY_ON"}}},
			{"textToImageParams", &bodySchema{typ: "object", required: []string{"text"}, props: []namedSchema{
				{"text", &bodySchema{typ: "string", minLen: 1, maxLen: maxImagePrompt}},
				{"negativeText", &bodySchema{typ: "string", minLen: 1, maxLen: maxImagePrompt}},
				{"style", &bodySchema{typ: "string"}},
				{"conditionImage", &bodySchema{typ: "string"}},
				{"controlMode", &bodySchema{typ: "string"}},
				{"controlStrength", &bodySchema{typ: "number"}},
			}}},
			{"imageGenerationConfig", &bodySchema{typ: "object", props: []namedSchema{
				{"numberOfImages", &bodySchema{typ: "integer", min: bound(1), max: bound(maxImages)}},
				{"width", &bodySchema{typ: "integer"}},
				{"height", &bodySchema{typ: "integer"}},
				{"cfgScale", &bodySchema{typ: "number", min: bound(1.1), max: bound(10)}},
				{"seed", &bodySchema{typ: "integer", min: bound(0), max: bound(2147483646)}},
				{"quality", &bodySchema{typ: "string", enum: []string{"standard", "premium"}}},
			}}},
			// Other task types' parameters: accepted here, refused below.
			{"inPaintingParams", &bodySchema{typ: "object", open: true}},
			{"outPaintingParams", &bodySchema{typ: "object", open: true}},
			{"imageVariationParams", &bodySchema{typ: "object", open: true}},
			{"colorGuidedGenerationParams", &bodySchema{typ: "object", open: true}},
			{"backgroundRemovalParams", &bodySchema{typ: "object", open: true}},
			{"virtualTryOnParams", &bodySchema{typ: "object", open: true}},
		},
	}

	titanEmbedSchema = &bodySchema{
		typ:      "object",
		required: []string{"inputText"},
		props: []namedSchema{
			{"inputText", &bodySchema{typ: "string", minLen: 1, maxLen: maxEmbedChars}},
			{"dimensions", &bodySchema{typ: "integer", enum: []string{"256", "512", "1024"}}},
			{"normalize", &bodySchema{typ: "boolean"}},
			{"embeddingTypes", &bodySchema{typ: "array", minLen: 1, maxLen: 2, items: &bodySchema{typ: "string", enum: []string{"float", "binary"}}}},
		},
	}

	anthropicSchema = &bodySchema{
		typ:      "object",
		required: []string{"anthropic_version", "max_tokens", "messages"},
		props: []namedSchema{
			{"anthropic_version", &bodySchema{typ: "string"}},
			{"anthropic_beta", &bodySchema{typ: "array", items: &bodySchema{typ: "string"}}},
			{"max_tokens", &bodySchema{typ: "integer", min: bound(1)}},
			{"messages", &bodySchema{typ: "array", items: &bodySchema{typ: "object", open: true}}},
			{"system", &bodySchema{}},
			{"temperature", &bodySchema{typ: "number", min: bound(0), max: bound(1)}},
			{"top_p", &bodySchema{typ: "number", min: bound(0), max: bound(1)}},
			{"top_k", &bodySchema{typ: "integer", min: bound(0)}},
			{"stop_sequences", &bodySchema{typ: "array", items: &bodySchema{typ: "string"}}},
			{"tools", &bodySchema{typ: "array", items: &bodySchema{typ: "object", open: true}}},
			{"tool_choice", &bodySchema{typ: "object", open: true}},
			{"thinking", &bodySchema{typ: "object", open: true}},
			{"metadata", &bodySchema{typ: "object", open: true}},
		},
	}
)

// Limits of the InvokeModel bodies.
const (
	maxTitanTokens        = 8192  // Titan Text Express's maxTokenCount
	defaultTitanMaxTokens = 512   // its default
	maxImagePrompt        = 512   // Titan Image Generator's text and negativeText, in characters
	maxImages             = 5     // numberOfImages
	maxEmbedChars         = 50000 // Titan Text Embeddings v2's inputText
)
