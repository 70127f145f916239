package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming"
)

// messagesRequest is the body of POST /v1/messages (and, without
// max_tokens and stream, of count_tokens): the fields of Anthropic's
// Messages API that the gateway honours. The others are in droppedFields;
// a name in neither is unknown, dropped and logged the same way.
type messagesRequest struct {
	Model         *string         `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	Messages      []messageParam  `json:"messages"`
	System        json.RawMessage `json:"system"`
	Tools         []toolParam     `json:"tools"`
	ToolChoice    *toolChoice     `json:"tool_choice"`
	StopSequences []string        `json:"stop_sequences"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"`
	Thinking      *thinkingParam  `json:"thinking"`
	OutputConfig  *outputConfig   `json:"output_config"`
	Metadata      *struct {
		UserID *string `json:"user_id"`
	} `json:"metadata"`
	Stream       *bool         `json:"stream"`
	CacheControl *cacheControl `json:"cache_control"`
}

// honouredFields are the top-level fields messagesRequest reads.
var honouredFields = []string{"model", "max_tokens", "messages", "system", "tools", "tool_choice", "stop_sequences",
	"temperature", "top_p", "top_k", "thinking", "output_config", "metadata", "stream", "cache_control"}

type messageParam struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type cacheControl struct {
	Type string `json:"type"`
	TTL  string `json:"ttl"`
}

type toolParam struct {
	Type         *string         `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl *cacheControl   `json:"cache_control"`
}

type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
}

type thinkingParam struct {
	Type         string `json:"type"`
	BudgetTokens *int   `json:"budget_tokens"`
	Display      string `json:"display"`
}

type outputConfig struct {
	Effort string          `json:"effort"`
	Format json.RawMessage `json:"format"`
}

// contentBlock is one block of a message's content (or of a tool
// result's content), every type's fields together.
type contentBlock struct {
	Type         string          `json:"type"`
	Text         *string         `json:"text"`
	Source       *blockSource    `json:"source"`
	Title        *string         `json:"title"`
	Context      *string         `json:"context"`
	Citations    json.RawMessage `json:"citations"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	IsError      *bool           `json:"is_error"`
	Thinking     *string         `json:"thinking"`
	Signature    *string         `json:"signature"`
	Data         *string         `json:"data"`
	CacheControl *cacheControl   `json:"cache_control"`
}

type blockSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

// Limits on what a request may carry, as Bedrock's.
const (
	maxImageBytes    = 3_750_000
	maxDocumentBytes = 4_500_000
	minThinking      = 1024
)

// effortBudgets are thinking budgets for output_config.effort, for
// adaptive thinking, which the gateway asks of Bedrock as thinking with a
// budget.
var effortBudgets = map[string]int{"low": 1024, "medium": 4096, "high": 16384, "xhigh": 32000, "max": 64000}

// bedrockBetas are the betas Bedrock honours for Claude on Converse
// (additionalModelRequestFields.anthropic_beta); others are dropped and
// logged.
var bedrockBetas = []string{"interleaved-thinking-2025-05-14", "context-1m-2025-08-07", "token-efficient-tools-2025-02-19"}

// documentName makes a document's title a name Bedrock takes: letters,
// digits, hyphens, parentheses, brackets and single spaces. A loop, not a
// regexp: nothing compiled at a Lambda cold start.
func documentName(title string) string {
	var b strings.Builder
	space := false
	for _, c := range title {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-()[]", c)
		switch {
		case ok:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(c)
			space = false
		default:
			space = true
		}
	}
	return b.String()
}

// parsed is a request read into a Bedrock call.
type parsed struct {
	req  messagesRequest
	call *streaming.Call
	// stopSequences as asked, for message_delta's stop_sequence.
	stopSequences []string
}

// readRequest reads and checks a Messages body and applies the policy.
// countOnly is count_tokens, where max_tokens is not asked for.
func (d *dialect) readRequest(w http.ResponseWriter, r *http.Request, countOnly bool) (*parsed, *streaming.Error) {
	cfg := d.h.Config()
	body, e := cfg.ReadJSON(w, r)
	if e != nil {
		return nil, e
	}
	p := &parsed{}
	if e := streaming.DecodeLenient(body, &p.req); e != nil {
		return nil, e
	}
	rec := streaming.LogOf(r)
	var top map[string]json.RawMessage
	_ = json.Unmarshal(body, &top)
	for name := range top {
		if !slices.Contains(honouredFields, name) {
			rec.Dropped(name)
		}
	}
	for _, beta := range betas(r) {
		if !slices.Contains(bedrockBetas, beta) {
			rec.Dropped("beta:" + beta)
		}
	}
	req := &p.req
	if !countOnly && req.MaxTokens == nil {
		return nil, streaming.InvalidParam("max_tokens", "max_tokens: Field required")
	}
	if len(req.Messages) == 0 {
		return nil, streaming.InvalidParam("messages", "messages: Field required; send at least one message")
	}
	if len(req.Messages) > streaming.MaxMessages {
		return nil, streaming.InvalidParam("messages", "messages may hold at most %d entries (got %d)", streaming.MaxMessages, len(req.Messages))
	}
	modelID, e := d.modelID(req.Model)
	if e != nil {
		return nil, e
	}
	system, systemCache, e := systemText(req.System)
	if e != nil {
		return nil, e
	}
	messages, inlineSystem, e := conversation(req.Messages, rec)
	if e != nil {
		return nil, e
	}
	system = append(system, inlineSystem...)
	s := streaming.Sampling{
		ModelID: &modelID, MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP,
		Stop: req.StopSequences, System: system,
		Names: streaming.FieldNames{Model: "model", MaxTokens: "max_tokens", Temperature: "temperature", TopP: "top_p", Stop: "stop_sequences"},
	}
	if countOnly {
		s.MaxTokens = nil
	}
	c, e := cfg.NewCall(s, messages)
	if e != nil {
		return nil, e
	}
	p.call, p.stopSequences = c, req.StopSequences
	if systemCache != nil && len(c.System) > 0 {
		c.System = append(c.System, &types.SystemContentBlockMemberCachePoint{Value: cachePoint(systemCache)})
	}
	if req.CacheControl != nil {
		// Top-level cache_control marks the last block of the conversation.
		last := &c.Messages[len(c.Messages)-1]
		last.Content = append(last.Content, &types.ContentBlockMemberCachePoint{Value: cachePoint(req.CacheControl)})
	}
	if e := d.tools(c, req, rec); e != nil {
		return nil, e
	}
	additional := map[string]any{}
	if req.TopK != nil {
		if *req.TopK < 0 {
			return nil, streaming.InvalidParam("top_k", "top_k: must be 0 or more (got %d)", *req.TopK)
		}
		if isClaude(c.ModelID) {
			additional["top_k"] = *req.TopK
		} else {
			rec.Dropped("top_k")
		}
	}
	if e := thinking(c, req, additional, rec); e != nil {
		return nil, e
	}
	if isClaude(c.ModelID) && !strings.HasPrefix(c.ModelID, "emulator.") {
		var honoured []string
		for _, beta := range betas(r) {
			if slices.Contains(bedrockBetas, beta) {
				honoured = append(honoured, beta)
			}
		}
		if len(honoured) > 0 {
			additional["anthropic_beta"] = honoured
		}
	}
	if len(additional) > 0 {
		c.Additional = document.NewLazyDocument(additional)
	}
	if req.OutputConfig != nil && len(req.OutputConfig.Format) > 0 && string(req.OutputConfig.Format) != "null" {
		rec.Dropped("output_config.format")
	}
	if m := req.Metadata; m != nil && m.UserID != nil {
		rec.SetUser(*m.UserID)
	}
	return p, nil
}

// betas are the anthropic-beta header's values.
func betas(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Anthropic-Beta") {
		for b := range strings.SplitSeq(v, ",") {
			if b = strings.TrimSpace(b); b != "" && len(out) < 32 {
				out = append(out, b)
			}
		}
	}
	return out
}

// isClaude says whether a model takes Claude's additional fields
// (thinking, top_k): Anthropic's models on Bedrock, and the emulator's,
// which check them as Claude does.
func isClaude(modelID string) bool {
	return strings.Contains(modelID, "anthropic.claude") || strings.HasPrefix(modelID, "emulator.")
}

func cachePoint(cc *cacheControl) types.CachePointBlock {
	cp := types.CachePointBlock{Type: types.CachePointTypeDefault}
	if cc.TTL == "1h" {
		cp.Ttl = types.CacheTTLOneHour
	}
	return cp
}

func checkCacheControl(cc *cacheControl, where string) *streaming.Error {
	if cc == nil {
		return nil
	}
	if cc.Type != "ephemeral" {
		return streaming.InvalidParam(where+".cache_control", `%s.cache_control.type: Input should be 'ephemeral' (got %q)`, where, streaming.Truncate(cc.Type, 40))
	}
	if cc.TTL != "" && cc.TTL != "5m" && cc.TTL != "1h" {
		return streaming.InvalidParam(where+".cache_control", `%s.cache_control.ttl: Input should be '5m' or '1h' (got %q)`, where, streaming.Truncate(cc.TTL, 40))
	}
	return nil
}

// systemText reads system: a string or text blocks. A cache_control on a
// block marks the system prompt as a whole (Bedrock takes one cache point
// after the system text); the last mark's settings win.
func systemText(raw json.RawMessage) ([]string, *cacheControl, *streaming.Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil, nil
	}
	blocks, e := decodeBlocks(raw, "system")
	if e != nil {
		return nil, nil, e
	}
	var out []string
	var cc *cacheControl
	for i, b := range blocks {
		where := fmt.Sprintf("system.%d", i)
		if b.Type != "text" || b.Text == nil {
			return nil, nil, streaming.InvalidParam(where, "%s: system blocks must be text blocks with a text", where)
		}
		if e := checkCacheControl(b.CacheControl, where); e != nil {
			return nil, nil, e
		}
		if b.CacheControl != nil {
			cc = b.CacheControl
		}
		out = append(out, *b.Text)
	}
	return out, cc, nil
}

// conversation maps Anthropic's messages to Bedrock's: consecutive
// messages of one role are one turn (Anthropic combines them too), each
// block becomes Bedrock's, and a cache_control mark a cachePoint after
// its block. A system message's text joins the system prompt (Bedrock
// has no system turns).
func conversation(in []messageParam, rec *streaming.RequestLog) ([]types.Message, []string, *streaming.Error) {
	var out []types.Message
	var system []string
	for i, m := range in {
		where := fmt.Sprintf("messages.%d", i)
		var role types.ConversationRole
		switch m.Role {
		case "user":
			role = types.ConversationRoleUser
		case "assistant":
			role = types.ConversationRoleAssistant
		case "system":
			text, _, e := systemText(m.Content)
			if e != nil {
				return nil, nil, streaming.InvalidParam(where+".content", "%s.content: a system message holds text", where)
			}
			system = append(system, text...)
			continue
		default:
			return nil, nil, streaming.InvalidParam(where+".role", "%s.role: Input should be 'user', 'assistant' or 'system' (got %q)", where, streaming.Truncate(m.Role, 40))
		}
		blocks, e := contentBlocks(m.Content, where, role, rec)
		if e != nil {
			return nil, nil, e
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
			continue
		}
		out = append(out, types.Message{Role: role, Content: blocks})
	}
	if len(out) == 0 || out[0].Role != types.ConversationRoleUser {
		return nil, nil, streaming.InvalidParam("messages", `messages: the first message must use the "user" role`)
	}
	return out, system, nil
}

// contentBlocks reads one message's content: a string, or blocks.
func contentBlocks(raw json.RawMessage, where string, role types.ConversationRole, rec *streaming.RequestLog) ([]types.ContentBlock, *streaming.Error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.TrimSpace(s) == "" {
			return nil, streaming.InvalidParam(where+".content", "%s.content: text content must be non-empty", where)
		}
		return []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}, nil
	}
	blocks, e := decodeBlocks(raw, where+".content")
	if e != nil {
		return nil, e
	}
	if len(blocks) == 0 {
		return nil, streaming.InvalidParam(where+".content", "%s.content: Input should be a non-empty string or a non-empty list of content blocks", where)
	}
	var out []types.ContentBlock
	for j := range blocks {
		b := &blocks[j]
		at := fmt.Sprintf("%s.content.%d", where, j)
		if e := checkCacheControl(b.CacheControl, at); e != nil {
			return nil, e
		}
		block, e := bedrockBlock(b, at, role, rec)
		if e != nil {
			return nil, e
		}
		out = append(out, block)
		if b.CacheControl != nil {
			out = append(out, &types.ContentBlockMemberCachePoint{Value: cachePoint(b.CacheControl)})
		}
	}
	return out, nil
}

// decodeBlocks reads a list of content blocks one by one, so that a
// wrongly typed field is named with its place ("messages.0.content.1.text").
func decodeBlocks(raw json.RawMessage, at string) ([]contentBlock, *streaming.Error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(raw, &raws); err != nil {
		return nil, streaming.InvalidParam(at, "%s: Input should be a valid string or a list of content blocks", at)
	}
	blocks := make([]contentBlock, len(raws))
	for j, rb := range raws {
		if err := json.Unmarshal(rb, &blocks[j]); err != nil {
			where := fmt.Sprintf("%s.%d", at, j)
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) && typ.Field != "" {
				return nil, streaming.InvalidParam(where+"."+typ.Field, "%s.%s: Input has the wrong type (a JSON %s)", where, streaming.Truncate(typ.Field, 60), streaming.Truncate(typ.Value, 20))
			}
			return nil, streaming.InvalidParam(where, "%s: Input should be a content block object", where)
		}
	}
	return blocks, nil
}

// bedrockBlock maps one content block to Bedrock's.
func bedrockBlock(b *contentBlock, at string, role types.ConversationRole, rec *streaming.RequestLog) (types.ContentBlock, *streaming.Error) {
	assistantOnly := func() *streaming.Error {
		if role != types.ConversationRoleAssistant {
			return streaming.InvalidParam(at, "%s: %s blocks may only appear in assistant messages", at, b.Type)
		}
		return nil
	}
	switch b.Type {
	case "text":
		if b.Text == nil || *b.Text == "" {
			return nil, streaming.InvalidParam(at+".text", "%s.text: text content blocks must be non-empty", at)
		}
		if len(b.Citations) > 0 && string(b.Citations) != "null" {
			rec.Dropped("citations")
		}
		return &types.ContentBlockMemberText{Value: *b.Text}, nil
	case "image":
		img, e := imageBlock(b.Source, at)
		if e != nil {
			return nil, e
		}
		return &types.ContentBlockMemberImage{Value: img}, nil
	case "document":
		doc, e := documentBlock(b, at, rec)
		if e != nil {
			return nil, e
		}
		return &types.ContentBlockMemberDocument{Value: doc}, nil
	case "tool_use":
		if e := assistantOnly(); e != nil {
			return nil, e
		}
		if b.ID == "" || b.Name == "" {
			return nil, streaming.InvalidParam(at, "%s: tool_use blocks need an id and a name", at)
		}
		var input any = map[string]any{}
		if len(b.Input) > 0 && string(b.Input) != "null" {
			var obj map[string]any
			if err := json.Unmarshal(b.Input, &obj); err != nil {
				return nil, streaming.InvalidParam(at+".input", "%s.input: Input should be a valid dictionary", at)
			}
			input = obj
		}
		return &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
			ToolUseId: aws.String(b.ID), Name: aws.String(b.Name), Input: document.NewLazyDocument(input),
		}}, nil
	case "tool_result":
		if role != types.ConversationRoleUser {
			return nil, streaming.InvalidParam(at, "%s: tool_result blocks may only appear in user messages", at)
		}
		return toolResultBlock(b, at, rec)
	case "thinking":
		if e := assistantOnly(); e != nil {
			return nil, e
		}
		if b.Thinking == nil || b.Signature == nil {
			return nil, streaming.InvalidParam(at, "%s: thinking blocks need their thinking and signature, as the model gave them", at)
		}
		return &types.ContentBlockMemberReasoningContent{Value: &types.ReasoningContentBlockMemberReasoningText{
			Value: types.ReasoningTextBlock{Text: aws.String(*b.Thinking), Signature: aws.String(*b.Signature)},
		}}, nil
	case "redacted_thinking":
		if e := assistantOnly(); e != nil {
			return nil, e
		}
		if b.Data == nil {
			return nil, streaming.InvalidParam(at+".data", "%s.data: Field required", at)
		}
		data, err := base64.StdEncoding.DecodeString(*b.Data)
		if err != nil || len(data) == 0 {
			return nil, streaming.InvalidParam(at+".data", "%s.data: the redacted thinking must be sent back as the gateway gave it", at)
		}
		return &types.ContentBlockMemberReasoningContent{Value: &types.ReasoningContentBlockMemberRedactedContent{Value: data}}, nil
	case "":
		return nil, streaming.InvalidParam(at+".type", "%s.type: Field required", at)
	}
	return nil, streaming.InvalidParam(at+".type", "%s.type: content blocks of type %q are not supported on Bedrock through this gateway; supported: text, image, document, tool_use, tool_result, thinking, redacted_thinking",
		at, streaming.Truncate(b.Type, 40))
}

var imageFormats = map[string]types.ImageFormat{
	"image/png": types.ImageFormatPng, "image/jpeg": types.ImageFormatJpeg,
	"image/gif": types.ImageFormatGif, "image/webp": types.ImageFormatWebp,
}

func imageBlock(src *blockSource, at string) (types.ImageBlock, *streaming.Error) {
	if src == nil {
		return types.ImageBlock{}, streaming.InvalidParam(at+".source", "%s.source: Field required", at)
	}
	if src.Type != "base64" {
		return types.ImageBlock{}, streaming.InvalidParam(at+".source.type", "%s.source.type: only base64 images are supported (got %q); the gateway fetches no URLs and keeps no files", at, streaming.Truncate(src.Type, 40))
	}
	format, ok := imageFormats[src.MediaType]
	if !ok {
		return types.ImageBlock{}, streaming.InvalidParam(at+".source.media_type", "%s.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'", at)
	}
	data, e := decodeData(src.Data, maxImageBytes, at)
	if e != nil {
		return types.ImageBlock{}, e
	}
	return types.ImageBlock{Format: format, Source: &types.ImageSourceMemberBytes{Value: data}}, nil
}

func decodeData(s string, limit int, at string) ([]byte, *streaming.Error) {
	if base64.StdEncoding.DecodedLen(len(s)) > limit+3 {
		return nil, streaming.InvalidParam(at+".source.data", "%s.source.data: larger than Bedrock's limit of %d bytes", at, limit)
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(data) == 0 {
		return nil, streaming.InvalidParam(at+".source.data", "%s.source.data: not valid base64", at)
	}
	return data, nil
}

// documentBlock maps a document: a base64 PDF or a plain text source.
// Bedrock needs a name, made of the title (or the block's place).
func documentBlock(b *contentBlock, at string, rec *streaming.RequestLog) (types.DocumentBlock, *streaming.Error) {
	src := b.Source
	if src == nil {
		return types.DocumentBlock{}, streaming.InvalidParam(at+".source", "%s.source: Field required", at)
	}
	var doc types.DocumentBlock
	switch {
	case src.Type == "base64" && src.MediaType == "application/pdf":
		data, e := decodeData(src.Data, maxDocumentBytes, at)
		if e != nil {
			return doc, e
		}
		doc.Format, doc.Source = types.DocumentFormatPdf, &types.DocumentSourceMemberBytes{Value: data}
	case src.Type == "text":
		if src.Data == "" {
			return doc, streaming.InvalidParam(at+".source.data", "%s.source.data: text content must be non-empty", at)
		}
		if len(src.Data) > maxDocumentBytes {
			return doc, streaming.InvalidParam(at+".source.data", "%s.source.data: larger than Bedrock's limit of %d bytes", at, maxDocumentBytes)
		}
		doc.Format, doc.Source = types.DocumentFormatTxt, &types.DocumentSourceMemberBytes{Value: []byte(src.Data)}
	default:
		return doc, streaming.InvalidParam(at+".source", "%s.source: documents must be a base64 PDF (media_type application/pdf) or a text source; the gateway fetches no URLs and keeps no files", at)
	}
	name := ""
	if b.Title != nil {
		name = documentName(*b.Title)
	}
	if name == "" {
		name = "document " + strings.NewReplacer(".", " ").Replace(at)
	}
	doc.Name = aws.String(streaming.Truncate(name, 150))
	if b.Context != nil {
		rec.Dropped("document.context")
	}
	if len(b.Citations) > 0 && string(b.Citations) != "null" {
		rec.Dropped("document.citations")
	}
	return doc, nil
}

// toolResultBlock maps a tool_result: its content a string or text,
// image and document blocks; is_error becomes the error status.
func toolResultBlock(b *contentBlock, at string, rec *streaming.RequestLog) (types.ContentBlock, *streaming.Error) {
	if b.ToolUseID == "" {
		return nil, streaming.InvalidParam(at+".tool_use_id", "%s.tool_use_id: Field required", at)
	}
	result := types.ToolResultBlock{ToolUseId: aws.String(b.ToolUseID)}
	if b.IsError != nil && *b.IsError {
		result.Status = types.ToolResultStatusError
	}
	raw := bytes.TrimSpace(b.Content)
	var s string
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case json.Unmarshal(raw, &s) == nil:
		if s != "" {
			result.Content = append(result.Content, &types.ToolResultContentBlockMemberText{Value: s})
		}
	default:
		parts, e := decodeBlocks(raw, at+".content")
		if e != nil {
			return nil, e
		}
		for k := range parts {
			p := &parts[k]
			pat := fmt.Sprintf("%s.content.%d", at, k)
			switch p.Type {
			case "text":
				if p.Text == nil || *p.Text == "" {
					return nil, streaming.InvalidParam(pat+".text", "%s.text: text content blocks must be non-empty", pat)
				}
				result.Content = append(result.Content, &types.ToolResultContentBlockMemberText{Value: *p.Text})
			case "image":
				img, e := imageBlock(p.Source, pat)
				if e != nil {
					return nil, e
				}
				result.Content = append(result.Content, &types.ToolResultContentBlockMemberImage{Value: img})
			case "document":
				doc, e := documentBlock(p, pat, rec)
				if e != nil {
					return nil, e
				}
				result.Content = append(result.Content, &types.ToolResultContentBlockMemberDocument{Value: doc})
			default:
				return nil, streaming.InvalidParam(pat+".type", "%s.type: a tool result may hold text, image and document blocks (got %q)", pat, streaming.Truncate(p.Type, 40))
			}
		}
	}
	if len(result.Content) == 0 {
		// Bedrock needs content; an empty result says so.
		result.Content = []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: "(empty)"}}
	}
	return &types.ContentBlockMemberToolResult{Value: result}, nil
}

// tools maps tools and tool_choice. Client tools (type absent or custom)
// go to Bedrock; Anthropic's server and built-in tools (web search, bash,
// the text editor, ...), which Bedrock's Converse cannot run, are left out
// and named in the log line. A cache_control on a tool puts a cachePoint
// after it.
func (d *dialect) tools(c *streaming.Call, req *messagesRequest, rec *streaming.RequestLog) *streaming.Error {
	var specs []streaming.ToolSpec
	var cacheAfter []int // indexes into specs after which a cache point goes
	for i, t := range req.Tools {
		where := fmt.Sprintf("tools.%d", i)
		if t.Type != nil && *t.Type != "custom" {
			rec.Dropped("tool:" + *t.Type)
			continue
		}
		if e := checkCacheControl(t.CacheControl, where); e != nil {
			return e
		}
		var schema any
		if len(t.InputSchema) == 0 || string(t.InputSchema) == "null" {
			return streaming.InvalidParam(where+".input_schema", "%s.input_schema: Field required", where)
		}
		var obj map[string]any
		if err := json.Unmarshal(t.InputSchema, &obj); err != nil {
			return streaming.InvalidParam(where+".input_schema", "%s.input_schema: Input should be a valid dictionary", where)
		}
		schema = obj
		specs = append(specs, streaming.ToolSpec{Name: t.Name, Description: t.Description, Schema: schema})
		if t.CacheControl != nil {
			cacheAfter = append(cacheAfter, len(specs)-1)
		}
	}
	choice, forced := "auto", ""
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "any", "none":
			choice = tc.Type
		case "tool":
			if tc.Name == "" {
				return streaming.InvalidParam("tool_choice.name", "tool_choice.name: Field required")
			}
			choice, forced = "tool", tc.Name
		default:
			return streaming.InvalidParam("tool_choice.type", "tool_choice.type: Input tag %q does not match any of the expected tags: 'auto', 'any', 'tool', 'none'", streaming.Truncate(tc.Type, 40))
		}
		if tc.DisableParallelToolUse != nil && *tc.DisableParallelToolUse {
			rec.Dropped("tool_choice.disable_parallel_tool_use")
		}
	}
	if len(specs) == 0 && len(req.Tools) > 0 && (choice == "any" || choice == "tool") {
		return streaming.InvalidParam("tool_choice", "tool_choice: the tools Bedrock can call were all left out (server tools), so no tool can be forced")
	}
	cfgTools, e := streaming.ToolConfig(specs, choice, forced, "tools")
	if e != nil {
		return e
	}
	if cfgTools == nil && usesTools(c.Messages) && len(specs) > 0 {
		// tool_choice none with a tool loop in the conversation: Bedrock
		// needs the tools to read the tool blocks; "auto" it is.
		cfgTools, e = streaming.ToolConfig(specs, "auto", "", "tools")
		if e != nil {
			return e
		}
		rec.Dropped("tool_choice.none")
	}
	if cfgTools != nil && len(cacheAfter) > 0 {
		var withCache []types.Tool
		for i, t := range cfgTools.Tools {
			withCache = append(withCache, t)
			if slices.Contains(cacheAfter, i) {
				withCache = append(withCache, &types.ToolMemberCachePoint{Value: types.CachePointBlock{Type: types.CachePointTypeDefault}})
			}
		}
		cfgTools.Tools = withCache
	}
	c.Tools = cfgTools
	return nil
}

func usesTools(messages []types.Message) bool {
	for _, m := range messages {
		for _, b := range m.Content {
			switch b.(type) {
			case *types.ContentBlockMemberToolUse, *types.ContentBlockMemberToolResult:
				return true
			}
		}
	}
	return false
}

// thinking maps thinking (and output_config.effort) to Claude's
// thinking in additionalModelRequestFields: enabled keeps its budget
// (within max_tokens after the cap), adaptive takes the effort's budget,
// disabled says so. Thinking needs temperature and top-p left to the
// model unless the request set them.
func thinking(c *streaming.Call, req *messagesRequest, additional map[string]any, rec *streaming.RequestLog) *streaming.Error {
	t := req.Thinking
	if t == nil {
		if req.OutputConfig != nil && req.OutputConfig.Effort != "" {
			rec.Dropped("output_config.effort")
		}
		return nil
	}
	budget := 0
	switch t.Type {
	case "disabled":
		if isClaude(c.ModelID) {
			additional["thinking"] = map[string]any{"type": "disabled"}
		}
		return nil
	case "enabled":
		if t.BudgetTokens == nil {
			return streaming.InvalidParam("thinking.budget_tokens", "thinking.enabled.budget_tokens: Field required")
		}
		if *t.BudgetTokens < minThinking {
			return streaming.InvalidParam("thinking.budget_tokens", "thinking.enabled.budget_tokens: Input should be greater than or equal to %d", minThinking)
		}
		if req.MaxTokens != nil && *t.BudgetTokens >= *req.MaxTokens {
			return streaming.InvalidParam("thinking.budget_tokens", "`max_tokens` must be greater than `thinking.budget_tokens`")
		}
		budget = *t.BudgetTokens
	case "adaptive", "between_tools":
		effort := "high"
		if req.OutputConfig != nil && req.OutputConfig.Effort != "" {
			effort = req.OutputConfig.Effort
		}
		b, ok := effortBudgets[effort]
		if !ok {
			return streaming.InvalidParam("output_config.effort", "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max' (got %q)", streaming.Truncate(effort, 20))
		}
		budget = b
	default:
		return streaming.InvalidParam("thinking.type", "thinking.type: Input tag %q does not match any of the expected tags: 'adaptive', 'between_tools', 'disabled', 'enabled'", streaming.Truncate(t.Type, 40))
	}
	if !isClaude(c.ModelID) {
		rec.Dropped("thinking")
		return nil
	}
	// The operator's cap may leave less room than the client planned for.
	budget = min(budget, c.MaxTokens-1)
	if budget < minThinking {
		rec.Dropped("thinking")
		return nil
	}
	additional["thinking"] = map[string]any{"type": "enabled", "budget_tokens": budget}
	if req.Temperature == nil {
		c.Inference.Temperature = nil
	}
	if req.TopP == nil {
		c.Inference.TopP = nil
	}
	return nil
}
