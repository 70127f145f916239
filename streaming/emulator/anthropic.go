package emulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// anthropicVersion is the only anthropic_version Bedrock accepts.
const anthropicVersion = "bedrock-2023-05-31"

type anthropicRequest struct {
	AnthropicVersion string `json:"anthropic_version"`
	MaxTokens        int    `json:"max_tokens"`
	Messages         []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	System        json.RawMessage `json:"system"`
	Temperature   *float64        `json:"temperature"`
	StopSequences []string        `json:"stop_sequences"`
	Tools         []struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
	Thinking json.RawMessage `json:"thinking"`

	rawTools []json.RawMessage // the tools as sent, for the cache's prefix
}

type anthropicBlock struct {
	Type   string  `json:"type"`
	Text   *string `json:"text"`
	Source *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
	} `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
	Thinking  *string         `json:"thinking"`
	Signature string          `json:"signature"`
}

// anthropicBlocks decodes a content field: a string is one text block.
func anthropicBlocks(raw json.RawMessage) ([]anthropicBlock, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []anthropicBlock{{Type: "text", Text: &s}}, nil
	}
	var blocks []anthropicBlock
	err := json.Unmarshal(raw, &blocks)
	return blocks, err
}

// parseAnthropic decodes and validates an Anthropic Messages body as
// Bedrock and Claude do: the top level against Bedrock's schema, the
// messages with Claude's own wording.
func parseAnthropic(body []byte, m *model) (*conversation, error) {
	var req anthropicRequest
	if err := decodeBody(body, anthropicSchema, &req); err != nil {
		return nil, err
	}
	if req.AnthropicVersion != anthropicVersion {
		return nil, invalidf("anthropic_version: unsupported value %q; use %q", capEcho(req.AnthropicVersion), anthropicVersion)
	}
	if len(req.Messages) == 0 {
		return nil, invalidf("messages: at least one message is required")
	}
	var rt struct {
		Tools []json.RawMessage `json:"tools"`
	}
	_ = json.Unmarshal(body, &rt)
	req.rawTools = rt.Tools
	conv := &conversation{maxTokens: req.MaxTokens, stopSequences: req.StopSequences}
	if len(req.Tools) > 0 {
		for i, t := range req.Tools {
			if !toolNamePattern.MatchString(t.Name) {
				return nil, invalidf("tools.%d.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'", i)
			}
			if len(t.InputSchema) == 0 {
				return nil, invalidf("tools.%d.custom.input_schema: Field required", i)
			}
			schema, err := checkInputSchema(t.InputSchema, fmt.Sprintf("tools.%d.custom.input_schema", i))
			if err != nil {
				return nil, err
			}
			if hasTool(conv.tools, t.Name) {
				return nil, invalidf("tools: Tool names must be unique.")
			}
			conv.tools = append(conv.tools, toolSpec{name: t.Name, schema: schema})
		}
		conv.toolChoice = toolChoice{mode: "auto"}
	}
	offersTools := len(conv.tools) > 0
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "any":
			conv.toolChoice.mode = tc.Type
		case "tool":
			if !hasTool(conv.tools, tc.Name) {
				return nil, invalidf("tool_choice: Tool '%s' not found in tools.", capEcho(tc.Name))
			}
			conv.toolChoice = toolChoice{mode: "tool", name: tc.Name}
		case "none":
			// Tools are defined but the model must not call one.
			conv.tools = nil
		default:
			return nil, invalidf("tool_choice: Input tag '%s' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'", capEcho(tc.Type))
		}
	}

	messages := make([][]anthropicBlock, len(req.Messages))
	rawBlocks := make([][]json.RawMessage, len(req.Messages))
	roles := make([]string, len(req.Messages))
	kinds := make([][]msgBlock, len(req.Messages))
	// System messages (text the newer Claude models take among the turns,
	// as Claude Code sends them) stand apart from the alternation.
	prevRole := ""
	for i, msg := range req.Messages {
		if msg.Role != "user" && msg.Role != "assistant" && msg.Role != "system" {
			return nil, invalidf("messages.%d.role: Input should be 'user', 'assistant' or 'system'", i)
		}
		if prevRole == "" && msg.Role == "assistant" {
			return nil, invalidf(`messages: first message must use the "user" role`)
		}
		if msg.Role != "system" {
			if msg.Role == prevRole {
				return nil, invalidf(`messages: roles must alternate between "user" and "assistant", but found multiple %q roles in a row`, msg.Role)
			}
			prevRole = msg.Role
		}
		blocks, err := anthropicBlocks(msg.Content)
		if err != nil {
			return nil, invalidf("messages.%d.content: Input should be a valid list", i)
		}
		if len(blocks) == 0 {
			return nil, invalidf("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
		}
		messages[i] = blocks
		roles[i] = msg.Role
		if c := bytes.TrimSpace(msg.Content); len(c) > 0 && c[0] == '[' {
			_ = json.Unmarshal(c, &rawBlocks[i])
		}
		for j, b := range blocks {
			kinds[i] = append(kinds[i], kindOfAnthropic(&blocks[j]))
			path := fmt.Sprintf("messages.%d.content.%d", i, j)
			switch b.Type {
			case "text":
				if b.Text == nil {
					return nil, invalidf("%s.text.text: Field required", path)
				}
			case "image":
				if err := checkAnthropicImage(&b, path); err != nil {
					return nil, err
				}
			case "tool_use", "tool_result":
				if !offersTools {
					return nil, invalidf("Requests which include `tool_use` or `tool_result` blocks must define tools.")
				}
				if b.Type == "tool_result" {
					name, ok := "", false
					if i > 0 {
						name, ok = anthropicToolUseName(messages[i-1], b.ToolUseID)
					}
					if !ok {
						return nil, unmatchedToolResult(i, j, b.ToolUseID, false)
					}
					if i == len(req.Messages)-1 && msg.Role == "user" {
						conv.toolResults = append(conv.toolResults, toolResult{
							toolUseID: b.ToolUseID, toolName: name, content: quoteAnthropicResult(b.Content), failed: b.IsError,
						})
					}
				}
			case "thinking", "redacted_thinking", "document":
			default:
				return nil, invalidf("%s: Input tag '%s' found using 'type' does not match any of the expected tags: 'text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking', 'document'", path, capEcho(b.Type))
			}
		}
	}
	if prevRole == "" {
		return nil, invalidf("messages: at least one user message is required")
	}
	thinking, _ := json.Marshal(map[string]json.RawMessage{"thinking": req.Thinking})
	if err := checkThinkingBlocks(roles, kinds, m.kind == kindReasoning && len(req.Thinking) > 0 && thinkingEnabled(thinkingType(thinking))); err != nil {
		return nil, err
	}
	if m.kind == kindReasoning && len(req.Thinking) > 0 {
		raw, _ := json.Marshal(map[string]json.RawMessage{"thinking": req.Thinking})
		if err := checkThinking(raw, conv, req.Temperature != nil && *req.Temperature != 1, false); err != nil {
			return nil, err
		}
	}

	for i := len(messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			conv.prompt = anthropicText(messages[i])
			break
		}
	}
	for _, blocks := range messages {
		conv.inputTokens += len(strings.Fields(anthropicText(blocks)))
	}
	if len(req.System) > 0 {
		if blocks, err := anthropicBlocks(req.System); err == nil {
			conv.inputTokens += len(strings.Fields(anthropicText(blocks)))
		}
	}
	conv.cachePoints = anthropicCachePoints(m.id, &req, messages, rawBlocks)
	return conv, nil
}

// anthropicText joins the text blocks with newlines.
func anthropicText(blocks []anthropicBlock) string {
	var parts []string
	for _, b := range blocks {
		if b.Type == "text" && b.Text != nil {
			parts = append(parts, *b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func anthropicToolUseName(blocks []anthropicBlock, id string) (string, bool) {
	for _, b := range blocks {
		if b.Type == "tool_use" && b.ID == id {
			return b.Name, true
		}
	}
	return "", false
}

// quoteAnthropicResult renders a tool_result's content (a string or
// blocks) as ToolResult.Content documents.
func quoteAnthropicResult(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	blocks, err := anthropicBlocks(raw)
	if err != nil {
		return ""
	}
	var parts []string
	for _, b := range blocks {
		switch b.Type {
		case "text":
			if b.Text != nil {
				parts = append(parts, *b.Text)
			}
		case "image":
			parts = append(parts, "[image]")
		case "document":
			parts = append(parts, "[document]")
		}
	}
	return quoteContent(parts)
}

func checkAnthropicImage(b *anthropicBlock, path string) error {
	src := b.Source
	if src == nil {
		return invalidf("%s.image.source: Field required", path)
	}
	if src.Type != "base64" {
		return invalidf("%s.image.source: Input tag '%s' found using 'type' does not match any of the expected tags: 'base64'", path, capEcho(src.Type))
	}
	format, ok := strings.CutPrefix(src.MediaType, "image/")
	switch format {
	case "jpeg", "png", "gif", "webp":
	default:
		ok = false
	}
	if !ok {
		return invalidf("%s.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'", path)
	}
	data, err := base64.StdEncoding.DecodeString(src.Data)
	if err != nil || len(data) == 0 {
		return invalidf("%s.image.source.base64.data: The image data is not valid base64", path)
	}
	return checkImageBytes(data, format, path+".image.source.base64")
}

// anthropicID is a message id in Bedrock's form, derived from the request
// so that answers are deterministic.
func anthropicID(body []byte) string {
	sum := sha256.Sum256(body)
	return "msg_bdrk_01" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// anthropicContent is the content of an Anthropic message answer; the
// stop reasons are spelt as Bedrock's.
func anthropicContent(p *plan, col *collector) []map[string]any {
	content := make([]map[string]any, len(p.blocks))
	for i := range p.blocks {
		b := &p.blocks[i]
		text := col.text(i)
		switch b.typ {
		case blockReasoning:
			content[i] = map[string]any{"type": "thinking", "thinking": text, "signature": b.signature}
		case blockToolUse:
			content[i] = map[string]any{"type": "tool_use", "id": b.toolUseID, "name": b.toolName, "input": jsonOrEmpty(text)}
		default:
			content[i] = map[string]any{"type": "text", "text": text}
		}
	}
	return content
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// anthropicUsage is an Anthropic body's usage, with its cache counts.
func anthropicUsage(conv *conversation, out int) map[string]int {
	return map[string]int{"input_tokens": conv.inputTokens, "output_tokens": out,
		"cache_creation_input_tokens": conv.cacheWrite, "cache_read_input_tokens": conv.cacheRead}
}

// tokenHeaders are the headers with which InvokeModel reports usage.
func tokenHeaders(in, out int, start time.Time) http.Header {
	return http.Header{
		"X-Amzn-Bedrock-Input-Token-Count":  {strconv.Itoa(in)},
		"X-Amzn-Bedrock-Output-Token-Count": {strconv.Itoa(out)},
		"X-Amzn-Bedrock-Invocation-Latency": {strconv.FormatInt(time.Since(start).Milliseconds(), 10)},
	}
}

// invokeAnthropic answers InvokeModel with an Anthropic Messages body: it
// takes the generation time, then writes the message.
func (e *Emulator) invokeAnthropic(ctx context.Context, w http.ResponseWriter, rec *Record, m *model, p *plan, conv *conversation, body []byte, start time.Time) result {
	res, col, stop, ok := e.generateWhole(ctx, w, rec, p, conv)
	if !ok {
		return res
	}
	return writeJSONAnswer(w, res, p, stop, map[string]any{
		"id":            anthropicID(body),
		"type":          "message",
		"role":          "assistant",
		"model":         m.id,
		"content":       anthropicContent(p, col),
		"stop_reason":   stop,
		"stop_sequence": nullable(p.stopSequence),
		"usage":         anthropicUsage(conv, res.deltas),
	}, tokenHeaders(res.inputTokens, res.deltas, start))
}

// anthropicRenderer writes Anthropic streaming events, each the payload
// of one InvokeModelWithResponseStream chunk.
type anthropicRenderer struct{ fw *frameWriter }

func (a anthropicRenderer) blockStart(i int, b *block) error {
	var cb map[string]any
	switch b.typ {
	case blockReasoning:
		cb = map[string]any{"type": "thinking", "thinking": ""}
	case blockToolUse:
		cb = map[string]any{"type": "tool_use", "id": b.toolUseID, "name": b.toolName, "input": map[string]any{}}
	default:
		cb = map[string]any{"type": "text", "text": ""}
	}
	return a.fw.chunk(map[string]any{"type": "content_block_start", "index": i, "content_block": cb})
}

func (a anthropicRenderer) delta(i int, b *block, text string) error {
	return a.fw.chunk(anthropicDelta(i, b.typ, text))
}

func anthropicDelta(i int, typ blockType, text string) map[string]any {
	var d map[string]any
	switch typ {
	case blockReasoning:
		d = map[string]any{"type": "thinking_delta", "thinking": text}
	case blockToolUse:
		d = map[string]any{"type": "input_json_delta", "partial_json": text}
	default:
		d = map[string]any{"type": "text_delta", "text": text}
	}
	return map[string]any{"type": "content_block_delta", "index": i, "delta": d}
}

func (a anthropicRenderer) blockStop(i int, b *block) error {
	if b.typ == blockReasoning && b.signature != "" {
		if err := a.fw.chunk(map[string]any{"type": "content_block_delta", "index": i,
			"delta": map[string]any{"type": "signature_delta", "signature": b.signature}}); err != nil {
			return err
		}
	}
	return a.fw.chunk(map[string]any{"type": "content_block_stop", "index": i})
}

// invocationMetrics is the "amazon-bedrock-invocationMetrics" object
// Bedrock adds to the last chunk of a stream.
func invocationMetrics(in, out int, start, firstByte time.Time) map[string]any {
	return map[string]any{
		"inputTokenCount":   in,
		"outputTokenCount":  out,
		"invocationLatency": time.Since(start).Milliseconds(),
		"firstByteLatency":  firstByte.Sub(start).Milliseconds(),
	}
}

// streamAnthropic answers InvokeModelWithResponseStream with an Anthropic
// Messages body: message_start at once, then each block's start, deltas
// and stop on schedule, then message_delta and message_stop.
func (e *Emulator) streamAnthropic(ctx context.Context, w http.ResponseWriter, rec *Record, m *model, p *plan, conv *conversation, body []byte, start time.Time) result {
	res := result{status: http.StatusOK, inputTokens: conv.inputTokens}
	fw := startEventStream(w)
	firstByte := time.Now()
	cancelled := func() result {
		res.outcome = outcomeCancelled
		return res
	}
	if err := fw.chunk(map[string]any{"type": "message_start", "message": map[string]any{
		"id": anthropicID(body), "type": "message", "role": "assistant", "model": m.id,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": anthropicUsage(conv, 0),
	}}); err != nil {
		return cancelled()
	}
	var err error
	res.deltas, err = generate(ctx, p, anthropicRenderer{fw}, e.counter(rec))
	if err != nil {
		return cancelled()
	}
	if done, r := endFailingStream(fw, p, res, func() any {
		return anthropicDelta(len(p.blocks)-1, blockText, p.nextWord)
	}); done {
		return r
	}
	res.stopReason = p.stopReason
	if err := fw.chunk(map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": p.stopReason, "stop_sequence": nullable(p.stopSequence)},
		"usage": map[string]int{"output_tokens": res.deltas},
	}); err != nil {
		return cancelled()
	}
	if err := fw.chunk(map[string]any{"type": "message_stop",
		"amazon-bedrock-invocationMetrics": invocationMetrics(res.inputTokens, res.deltas, start, firstByte),
	}); err != nil {
		return cancelled()
	}
	res.outcome = outcomeCompleted
	return res
}

// endFailingStream ends an InvokeModelWithResponseStream answer of the
// failing models: midstream-error-v1 with a modelStreamErrorException
// event, truncated-v1 with half of the chunk that next carries
// nextChunk(). done is false for the other models.
func endFailingStream(fw *frameWriter, p *plan, res result, nextChunk func() any) (done bool, _ result) {
	switch p.kind {
	case kindMidstreamError:
		res.outcome, res.errorType, res.errorMessage = outcomeStreamError, "modelStreamErrorException", msgModelStreamError
		if err := fw.exception("modelStreamErrorException", modelStreamErrorPayload()); err != nil {
			res.outcome = outcomeCancelled
		}
		return true, res
	case kindTruncated:
		res.outcome = outcomeTruncated
		b, err := fw.chunkFrame(nextChunk())
		if err != nil || cutFrame(fw, b) != nil {
			res.outcome = outcomeCancelled
		}
		return true, res
	}
	return false, res
}
