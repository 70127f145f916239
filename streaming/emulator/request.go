package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// converseRequest is the part of the Converse / ConverseStream request body
// the emulator reads. Other fields (document blocks...) are accepted and
// ignored, as a model that does not use them would.
type converseRequest struct {
	Messages []struct {
		Role    string         `json:"role"`
		Content []contentBlock `json:"content"`
	} `json:"messages"`
	System          []contentBlock `json:"system"`
	InferenceConfig *struct {
		MaxTokens     *int     `json:"maxTokens"`
		Temperature   *float64 `json:"temperature"`
		TopP          *float64 `json:"topP"`
		StopSequences []string `json:"stopSequences"`
	} `json:"inferenceConfig"`
	ToolConfig                   *toolConfigJSON      `json:"toolConfig"`
	AdditionalModelRequestFields json.RawMessage      `json:"additionalModelRequestFields"`
	GuardrailConfig              *guardrailConfigJSON `json:"guardrailConfig"`
}

type contentBlock struct {
	Text             *string               `json:"text"`
	Image            *imageBlockJSON       `json:"image"`
	ToolUse          *toolUseJSON          `json:"toolUse"`
	ToolResult       *toolResultJSON       `json:"toolResult"`
	Document         *documentBlockJSON    `json:"document"`
	ReasoningContent *reasoningContentJSON `json:"reasoningContent"`
	CachePoint       *struct {
		Type string `json:"type"`
		TTL  string `json:"ttl"`
	} `json:"cachePoint"`
}

type reasoningContentJSON struct {
	ReasoningText *struct {
		Text      string `json:"text"`
		Signature string `json:"signature"`
	} `json:"reasoningText"`
	RedactedContent *string `json:"redactedContent"`
}

type documentBlockJSON struct {
	Format string `json:"format"`
	Name   string `json:"name"`
	Source *struct {
		Bytes *string `json:"bytes"`
		Text  *string `json:"text"`
	} `json:"source"`
}

type imageBlockJSON struct {
	Format string `json:"format"`
	Source *struct {
		Bytes      *string          `json:"bytes"` // base64, decoded by hand for a clear error
		S3Location *json.RawMessage `json:"s3Location"`
	} `json:"source"`
}

type toolUseJSON struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type toolResultJSON struct {
	ToolUseID string `json:"toolUseId"`
	Content   []struct {
		Text     *string            `json:"text"`
		JSON     json.RawMessage    `json:"json"`
		Image    *imageBlockJSON    `json:"image"`
		Document *documentBlockJSON `json:"document"`
	} `json:"content"`
	Status string `json:"status"`
}

type toolConfigJSON struct {
	Tools []struct {
		ToolSpec *struct {
			Name        string `json:"name"`
			InputSchema *struct {
				JSON json.RawMessage `json:"json"`
			} `json:"inputSchema"`
		} `json:"toolSpec"`
	} `json:"tools"`
	ToolChoice *struct {
		Auto *struct{} `json:"auto"`
		Any  *struct{} `json:"any"`
		Tool *struct {
			Name string `json:"name"`
		} `json:"tool"`
	} `json:"toolChoice"`
}

// Bedrock's limits on one image block.
const maxImageBytes = 3932160 // 3.75 MB

var toolNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// Messages of Bedrock's that several checks share.
const (
	msgToolConfigMissing = "The toolConfig field must be defined when using toolUse and toolResult content blocks."
	msgNoToolUse         = "This model doesn't support tool use."
	msgNoImages          = "This model doesn't support the image content block that you provided. Try again with a model that supports images."
)

// parseConverse decodes and validates a Converse / ConverseStream body for
// model m; its errors carry Bedrock's own ValidationException wording
// where there is one.
func parseConverse(body []byte, m *model) (*conversation, error) {
	var req converseRequest
	if err := decodeStrictJSON(body, &req); err != nil {
		return nil, err
	}
	if len(req.Messages) == 0 || req.Messages[0].Role != "user" {
		if len(req.Messages) > 0 && req.Messages[0].Role != "assistant" {
			return nil, badRole(0, req.Messages[0].Role)
		}
		return nil, invalidf("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
	}
	for i, msg := range req.Messages {
		if msg.Role != "user" && msg.Role != "assistant" {
			return nil, badRole(i, msg.Role)
		}
		if i > 0 && msg.Role == req.Messages[i-1].Role {
			return nil, invalidf("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.")
		}
		if len(msg.Content) == 0 {
			return nil, invalidf("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
	}
	conv := &conversation{}
	if ic := req.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil && *ic.MaxTokens < 1 {
			return nil, constraint(strconv.Itoa(*ic.MaxTokens), "inferenceConfig.maxTokens", "greater than or equal to 1")
		}
		for _, f := range []struct {
			name string
			v    *float64
		}{{"inferenceConfig.temperature", ic.Temperature}, {"inferenceConfig.topP", ic.TopP}} {
			switch {
			case f.v == nil:
			case *f.v < 0:
				return nil, constraint(formatFloat(*f.v), f.name, "greater than or equal to 0")
			case *f.v > 1:
				return nil, constraint(formatFloat(*f.v), f.name, "less than or equal to 1")
			}
		}
		if ic.MaxTokens != nil {
			conv.maxTokens = *ic.MaxTokens
		}
		conv.stopSequences = ic.StopSequences
	}
	if tc := req.ToolConfig; tc != nil {
		if m.kind == kindText {
			return nil, invalidf(msgNoToolUse)
		}
		if err := parseToolConfig(tc, conv); err != nil {
			return nil, err
		}
	}

	// Content blocks: images, tool uses and tool results.
	for i, msg := range req.Messages {
		for j, c := range msg.Content {
			switch {
			case c.Image != nil:
				if m.kind == kindText {
					return nil, invalidf(msgNoImages)
				}
				if err := checkConverseImage(c.Image, fmt.Sprintf("messages.%d.member.content.%d.member.image", i+1, j+1), fmt.Sprintf("messages.%d.content.%d.image", i, j)); err != nil {
					return nil, err
				}
			case c.ToolUse != nil, c.ToolResult != nil:
				if req.ToolConfig == nil {
					return nil, invalidf(msgToolConfigMissing)
				}
			}
			if r := c.ToolResult; r != nil {
				name, ok := "", false
				if i > 0 {
					name, ok = converseToolUseName(req.Messages[i-1].Content, r.ToolUseID)
				}
				if !ok {
					return nil, unmatchedToolResult(i, j, r.ToolUseID, true)
				}
				for k, part := range r.Content {
					if part.Image != nil {
						if err := checkConverseImage(part.Image, fmt.Sprintf("messages.%d.member.content.%d.member.toolResult.content.%d.member.image", i+1, j+1, k+1), fmt.Sprintf("messages.%d.content.%d.content.%d.image", i, j, k)); err != nil {
							return nil, err
						}
					}
				}
				if i == len(req.Messages)-1 && msg.Role == "user" {
					conv.toolResults = append(conv.toolResults, toolResult{
						toolUseID: r.ToolUseID,
						toolName:  name,
						content:   quoteToolResult(r),
						failed:    r.Status == "error",
					})
				}
			}
		}
	}
	roles := make([]string, len(req.Messages))
	blocks := make([][]msgBlock, len(req.Messages))
	for i := range req.Messages {
		roles[i] = req.Messages[i].Role
		for j := range req.Messages[i].Content {
			c := &req.Messages[i].Content[j]
			if d := c.Document; d != nil {
				if err := checkConverseDocument(d, fmt.Sprintf("messages.%d.member.content.%d.member.document", i+1, j+1)); err != nil {
					return nil, err
				}
			}
			blocks[i] = append(blocks[i], kindOfConverse(c))
		}
	}
	// Only a model that thinks asks for its thinking back (tools-v1 calls
	// tools without thinking, whatever the request enables).
	thinks := m.kind == kindReasoning && thinkingEnabled(thinkingType(req.AdditionalModelRequestFields))
	if err := checkThinkingBlocks(roles, blocks, thinks); err != nil {
		return nil, modelErr(err)
	}
	if m.kind == kindReasoning {
		if err := checkThinking(req.AdditionalModelRequestFields, conv, req.InferenceConfig != nil && req.InferenceConfig.Temperature != nil && *req.InferenceConfig.Temperature != 1, true); err != nil {
			return nil, err
		}
		if last := len(req.Messages) - 1; !conv.noReasoning && len(conv.toolResults) > 0 && last > 0 {
			if err := checkThinkingKept(last-1, req.Messages[last-1].Content); err != nil {
				return nil, modelErr(err)
			}
		}
	}

	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			var parts []string
			for _, c := range req.Messages[i].Content {
				if c.Text != nil {
					parts = append(parts, *c.Text)
				}
			}
			conv.prompt = strings.Join(parts, "\n")
			break
		}
	}
	if req.GuardrailConfig != nil {
		g, err := parseGuardrail(req.GuardrailConfig)
		if err != nil {
			return nil, err
		}
		// The guardrail reads the user's text (not tool results: those
		// are checked when the answer quotes them).
		var texts []string
		for _, msg := range req.Messages {
			if msg.Role == "user" {
				for _, c := range msg.Content {
					if c.Text != nil {
						texts = append(texts, *c.Text)
					}
				}
			}
		}
		g.inputBlocked = inputBlocked(texts)
		conv.guardrail = g
	}
	countWords := func(blocks []contentBlock) {
		for _, c := range blocks {
			if c.Text != nil {
				conv.inputTokens += len(strings.Fields(*c.Text))
			}
		}
	}
	for _, msg := range req.Messages {
		countWords(msg.Content)
	}
	countWords(req.System)
	return conv, nil
}

func parseToolConfig(tc *toolConfigJSON, conv *conversation) error {
	if len(tc.Tools) == 0 {
		return invalidf("1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	conv.tools = make([]toolSpec, 0, len(tc.Tools))
	for i, t := range tc.Tools {
		spec := t.ToolSpec
		if spec == nil {
			// cachePoint and system tools: nothing the emulator can call.
			continue
		}
		if !toolNamePattern.MatchString(spec.Name) {
			return invalidf("1 validation error detected: Value '%s' at 'toolConfig.tools.%d.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_-]{1,64}$", capEcho(spec.Name), i+1)
		}
		if spec.InputSchema == nil || len(spec.InputSchema.JSON) == 0 || string(spec.InputSchema.JSON) == "null" {
			return invalidf("1 validation error detected: Value null at 'toolConfig.tools.%d.member.toolSpec.inputSchema' failed to satisfy constraint: Member must not be null", i+1)
		}
		schema, err := checkInputSchema(spec.InputSchema.JSON, fmt.Sprintf("tools.%d.custom.input_schema", i))
		if err != nil {
			return modelErr(err)
		}
		for _, prev := range conv.tools {
			if prev.name == spec.Name {
				return modelErr(invalidf("tools: Tool names must be unique."))
			}
		}
		conv.tools = append(conv.tools, toolSpec{name: spec.Name, schema: schema})
	}
	if len(conv.tools) == 0 {
		return invalidf("The toolConfig field must contain at least one toolSpec.")
	}
	conv.toolChoice = toolChoice{mode: "auto"}
	if c := tc.ToolChoice; c != nil {
		set := 0
		for _, b := range []bool{c.Auto != nil, c.Any != nil, c.Tool != nil} {
			if b {
				set++
			}
		}
		if set != 1 {
			return invalidf("Malformed input request: toolConfig.toolChoice must set exactly one of auto, any and tool, please reformat your input and try again.")
		}
		switch {
		case c.Any != nil:
			conv.toolChoice.mode = "any"
		case c.Tool != nil:
			conv.toolChoice = toolChoice{mode: "tool", name: c.Tool.Name}
			if !hasTool(conv.tools, c.Tool.Name) {
				return modelErr(invalidf("tool_choice: Tool '%s' not found in tools.", capEcho(c.Tool.Name)))
			}
		}
	}
	return nil
}

func hasTool(tools []toolSpec, name string) bool {
	for _, t := range tools {
		if t.name == name {
			return true
		}
	}
	return false
}

// checkInputSchema decodes a tool's input schema, which must be a JSON
// object of type object (what Claude requires).
func checkInputSchema(raw json.RawMessage, path string) (map[string]any, error) {
	schema, err := decodeSchema(raw)
	if err != nil {
		return nil, invalidf("%s: Input should be a valid dictionary", path)
	}
	if t, ok := schema["type"]; ok && t != "object" {
		return nil, invalidf("%s.type: Input should be 'object'", path)
	}
	return schema, nil
}

// converseToolUseName finds the toolUse block with id among blocks.
func converseToolUseName(blocks []contentBlock, id string) (string, bool) {
	for _, c := range blocks {
		if c.ToolUse != nil && c.ToolUse.ToolUseID == id {
			return c.ToolUse.Name, true
		}
	}
	return "", false
}

// unmatchedToolResult is Claude's error for a tool result that answers no
// tool use of the previous message; on Converse Bedrock prefixes it.
func unmatchedToolResult(i, j int, id string, converse bool) error {
	msg := fmt.Sprintf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, capEcho(id))
	if converse {
		return modelErr(validationError(msg))
	}
	return validationError(msg)
}

// quoteToolResult renders a Converse toolResult's content as documented
// on ToolResult.Content.
func quoteToolResult(r *toolResultJSON) string {
	var parts []string
	for _, c := range r.Content {
		switch {
		case c.Text != nil:
			parts = append(parts, *c.Text)
		case len(c.JSON) > 0:
			var b bytes.Buffer
			if json.Compact(&b, c.JSON) == nil {
				parts = append(parts, b.String())
			}
		case c.Image != nil:
			parts = append(parts, "[image]")
		case c.Document != nil:
			parts = append(parts, "[document]")
		}
	}
	return quoteContent(parts)
}

// checkConverseImage validates one Converse image block as Bedrock does:
// the format enum and a present source first (Bedrock's own validation,
// with 1-based smithyPath), then the bytes (the model's, with 0-based
// modelPath).
func checkConverseImage(img *imageBlockJSON, smithyPath, modelPath string) error {
	switch img.Format {
	case "png", "jpeg", "gif", "webp":
	default:
		return invalidf("1 validation error detected: Value at '%s.format' failed to satisfy constraint: Member must satisfy enum value set: [gif, jpeg, png, webp]", smithyPath)
	}
	src := img.Source
	if src == nil || (src.Bytes == nil && src.S3Location == nil) {
		return invalidf("1 validation error detected: Value null at '%s.source' failed to satisfy constraint: Member must not be null", smithyPath)
	}
	if src.Bytes == nil {
		return invalidf("This model doesn't support S3 image sources. Send the image as bytes and try again.")
	}
	data, err := base64.StdEncoding.DecodeString(*src.Bytes)
	if err != nil {
		return invalidf("Malformed input request: %s.source.bytes is not valid base64 (%v), please reformat your input and try again.", modelPath, err)
	}
	if len(data) == 0 {
		return invalidf("1 validation error detected: Value at '%s.source.bytes' failed to satisfy constraint: Member must have length greater than or equal to 1", smithyPath)
	}
	if err := checkImageBytes(data, img.Format, modelPath+".source.base64"); err != nil {
		return modelErr(err)
	}
	return nil
}

// checkImageBytes is Claude's check of an image: its size, and that its
// magic bytes are those of the declared format.
func checkImageBytes(data []byte, format, path string) error {
	if len(data) > maxImageBytes {
		return invalidf("%s: image exceeds 3.75 MB maximum: %d bytes > %d bytes", path, len(data), maxImageBytes)
	}
	switch actual := detectImageFormat(data); actual {
	case format:
		return nil
	case "":
		return invalidf("%s: Could not process image", path)
	default:
		return invalidf("%s: The image was specified using the image/%s media type, but the image appears to be a image/%s image", path, format, actual)
	}
}

// checkThinking reads the thinking settings reasoning-v1 honours
// (Claude's extended-thinking rules): type enabled or disabled,
// budget_tokens at least 1024 and below max_tokens, temperature 1 or
// unset while thinking. raw is the Converse additionalModelRequestFields
// (or an object holding the Anthropic body's "thinking").
func checkThinking(raw json.RawMessage, conv *conversation, temperatureNotOne, converse bool) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var fields struct {
		Thinking *struct {
			Type         string `json:"type"`
			BudgetTokens *int   `json:"budget_tokens"`
		} `json:"thinking"`
	}
	if err := json.Unmarshal(raw, &fields); err != nil || fields.Thinking == nil {
		return nil
	}
	wrap := func(err error) error {
		if converse {
			return modelErr(err)
		}
		return err
	}
	t := fields.Thinking
	switch t.Type {
	case "disabled":
		conv.noReasoning = true
		return nil
	case "adaptive":
		return nil
	case "enabled":
	default:
		return wrap(invalidf("thinking: Input tag '%s' found using 'type' does not match any of the expected tags: 'adaptive', 'disabled', 'enabled'", capEcho(t.Type)))
	}
	if t.BudgetTokens == nil {
		return wrap(invalidf("thinking.enabled.budget_tokens: Field required"))
	}
	if *t.BudgetTokens < 1024 {
		return wrap(invalidf("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"))
	}
	if conv.maxTokens > 0 && conv.maxTokens <= *t.BudgetTokens {
		return wrap(invalidf("`max_tokens` must be greater than `thinking.budget_tokens`."))
	}
	if temperatureNotOne {
		return wrap(invalidf("`temperature` may only be set to 1 when thinking is enabled."))
	}
	return nil
}

// thinkingType is the type of {"thinking": {...}} in raw (Converse's
// additionalModelRequestFields, or an object holding an Anthropic body's
// thinking), or "".
func thinkingType(raw json.RawMessage) string {
	var fields struct {
		Thinking *struct {
			Type string `json:"type"`
		} `json:"thinking"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &fields) != nil || fields.Thinking == nil {
		return ""
	}
	return fields.Thinking.Type
}

// documentFormats are Converse's document formats.
var documentFormats = []string{"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"}

// documentName is Bedrock's rule for a document's name.
var documentName = regexp.MustCompile(`^[a-zA-Z0-9\-()\[\] ]{1,200}$`)

// checkConverseDocument validates a document block as Bedrock does: the
// format enum, a name of letters, digits, spaces, hyphens, parentheses and
// brackets (no two spaces in a row), and bytes that are there, and for a
// PDF start as one.
func checkConverseDocument(d *documentBlockJSON, smithyPath string) error {
	if !slices.Contains(documentFormats, d.Format) {
		return invalidf("1 validation error detected: Value at '%s.format' failed to satisfy constraint: Member must satisfy enum value set: [%s]", smithyPath, strings.Join(documentFormats, ", "))
	}
	if !documentName.MatchString(d.Name) || strings.Contains(d.Name, "  ") {
		return invalidf("The document name can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character.")
	}
	if d.Source == nil || d.Source.Bytes == nil && d.Source.Text == nil {
		return invalidf("1 validation error detected: Value null at '%s.source' failed to satisfy constraint: Member must not be null", smithyPath)
	}
	if d.Source.Bytes != nil {
		data, err := base64.StdEncoding.DecodeString(*d.Source.Bytes)
		if err != nil || len(data) == 0 {
			return invalidf("1 validation error detected: Value at '%s.source.bytes' failed to satisfy constraint: Member must have length greater than or equal to 1", smithyPath)
		}
		if d.Format == "pdf" && !bytes.HasPrefix(data, []byte("%PDF-")) {
			return modelErr(invalidf("The PDF specified was not valid."))
		}
	}
	return nil
}

// checkThinkingKept is Claude's rule for a tool loop with thinking on:
// the assistant message whose tool calls the last user message answers
// (message i) must start with the thinking block it was given, with its
// signature intact (emulator signatures are checked against the text).
func checkThinkingKept(i int, blocks []contentBlock) error {
	if len(blocks) == 0 || blocks[0].ReasoningContent == nil {
		found := "text"
		if len(blocks) > 0 && blocks[0].ToolUse != nil {
			found = "tool_use"
		}
		return invalidf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`.", i, found)
	}
	rc := blocks[0].ReasoningContent
	if rc.RedactedContent != nil {
		return nil
	}
	if rc.ReasoningText == nil || rc.ReasoningText.Signature != signatureOf(rc.ReasoningText.Text) {
		return invalidf("messages.%d.content.0: Invalid `signature` in `thinking` block", i)
	}
	return nil
}

// modelErr is how Bedrock relays a model's own validation error.
func modelErr(err error) error {
	return validationError("The model returned the following errors: " + err.Error())
}

// decodeStrictJSON decodes one JSON value and nothing after it.
func decodeStrictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return invalidf("Malformed input request: %v, please reformat your input and try again.", err)
	}
	if dec.More() {
		return invalidf("Malformed input request: trailing data after the JSON body, please reformat your input and try again.")
	}
	return nil
}

func badRole(i int, role string) error {
	return invalidf("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]", capEcho(role), i+1)
}

func constraint(value, field, rule string) error {
	return invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have value %s", value, field, rule)
}

// validationError is the message of a ValidationException, worded as
// Bedrock words it (full sentences, so not in Go's error style).
type validationError string

func (v validationError) Error() string { return string(v) }

func invalidf(format string, args ...any) error {
	return validationError(fmt.Sprintf(format, args...))
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// maxEcho bounds how much of a client's value an error message repeats.
const maxEcho = 100

func capEcho(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	return truncateUTF8(s, maxEcho) + "..."
}
