package streaming

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// chatRequest is the body of POST /v1/chat/completions, OpenAI's Chat
// Completions request. Unknown fields are ignored (clients send many);
// fields that streamgate cannot honour are refused by name.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	Tools               []chatTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ReasoningEffort     string          `json:"reasoning_effort"`

	// Refused unless they ask for what streamgate does anyway.
	N                *int            `json:"n"`
	Logprobs         *bool           `json:"logprobs"`
	TopLogprobs      *int            `json:"top_logprobs"`
	Audio            json.RawMessage `json:"audio"`
	Modalities       []string        `json:"modalities"`
	ResponseFormat   json.RawMessage `json:"response_format"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	LogitBias        map[string]any  `json:"logit_bias"`
	Seed             *int64          `json:"seed"`
	Prediction       json.RawMessage `json:"prediction"`
	WebSearchOptions json.RawMessage `json:"web_search_options"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"` // a string, an array of parts, or null
	ToolCalls  []chatToolCall  `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
	Name       string          `json:"name"`
}

type chatPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Parameters  any    `json:"parameters"`
	} `json:"function"`
}

// Limits on what a chat request may carry.
const (
	maxImageBytes = 3_750_000 // Bedrock's limit for one image
	// thinkingBudgets are Claude's thinking budgets for reasoning_effort.
	minThinkingBudget = 1024
)

var thinkingBudgets = map[string]int{"low": 1024, "medium": 4096, "high": 16384}

// openAINames are Chat Completions' names for the sampling fields.
var openAINames = sampling{modelParam: "model", maxTokensName: "max_tokens", temperatureName: "temperature", topPName: "top_p", stopName: "stop"}

// chatCall maps a Chat Completions request to a Bedrock conversation with
// the operator's policy applied (DESIGN §2a).
func (cfg *Config) chatCall(req *chatRequest) (*call, *Error) {
	if e := refuseUnsupported(req); e != nil {
		return nil, e
	}
	messages, system, e := chatConversation(req.Messages)
	if e != nil {
		return nil, e
	}
	s := openAINames
	if req.Model != "" {
		s.modelID = &req.Model
	}
	s.maxTokens = req.MaxTokens
	if req.MaxCompletionTokens != nil {
		s.maxTokens, s.maxTokensName = req.MaxCompletionTokens, "max_completion_tokens"
	}
	s.temperature, s.topP, s.system = req.Temperature, req.TopP, system
	if s.stop, e = stopList(req.Stop); e != nil {
		return nil, e
	}
	c, e := cfg.newCall(s, messages)
	if e != nil {
		return nil, e
	}
	choice, forced, e := openAIToolChoice(req.ToolChoice)
	if e != nil {
		return nil, e
	}
	specs := make([]toolSpec, len(req.Tools))
	for i, t := range req.Tools {
		if t.Type != "function" {
			return nil, invalidParam("tools", "tools[%d].type must be \"function\" (got %q)", i, truncate(t.Type, 40))
		}
		specs[i] = toolSpec{t.Function.Name, t.Function.Description, t.Function.Parameters}
	}
	if c.tools, e = toolConfig(specs, choice, forced, "tools"); e != nil {
		return nil, e
	}
	if req.ReasoningEffort != "" {
		if e := c.think(req.ReasoningEffort); e != nil {
			return nil, e
		}
	}
	return c, nil
}

// think turns reasoning_effort into Claude's extended thinking: a budget
// below max_tokens, and temperature and top-p left to the model, as
// thinking requires.
func (c *call) think(effort string) *Error {
	budget, ok := thinkingBudgets[effort]
	if !ok {
		return invalidParam("reasoning_effort", `reasoning_effort must be "low", "medium" or "high" (got %q)`, truncate(effort, 20))
	}
	if !strings.Contains(c.modelID, "anthropic.claude") {
		return invalidParam("reasoning_effort", "reasoning_effort is supported for Anthropic Claude models only, not %s", c.modelID)
	}
	budget = min(budget, c.maxTokens-1)
	if budget < minThinkingBudget {
		return invalidParam("reasoning_effort", "reasoning_effort needs max_tokens above %d (the smallest thinking budget); got %d", minThinkingBudget, c.maxTokens)
	}
	c.additional = document.NewLazyDocument(map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": budget}})
	c.inference.Temperature, c.inference.TopP = nil, nil
	return nil
}

func refuseUnsupported(req *chatRequest) *Error {
	refuse := func(param, why string) *Error {
		return invalidParam(param, "%s is not supported by this gateway: %s", param, why)
	}
	switch {
	case req.N != nil && *req.N != 1:
		return refuse("n", "Bedrock generates one choice per request; send n=1 or leave it out")
	case req.Logprobs != nil && *req.Logprobs:
		return refuse("logprobs", "Bedrock does not return token log probabilities")
	case req.TopLogprobs != nil && *req.TopLogprobs > 0:
		return refuse("top_logprobs", "Bedrock does not return token log probabilities")
	case len(req.Audio) > 0 && string(req.Audio) != "null":
		return refuse("audio", "only text output is supported")
	case req.PresencePenalty != nil && *req.PresencePenalty != 0:
		return refuse("presence_penalty", "Bedrock's Converse API has no presence penalty")
	case req.FrequencyPenalty != nil && *req.FrequencyPenalty != 0:
		return refuse("frequency_penalty", "Bedrock's Converse API has no frequency penalty")
	case len(req.LogitBias) > 0:
		return refuse("logit_bias", "Bedrock's Converse API has no logit bias")
	case req.Seed != nil:
		return refuse("seed", "Bedrock's Converse API has no seed, so answers cannot be made repeatable")
	case len(req.Prediction) > 0 && string(req.Prediction) != "null":
		return refuse("prediction", "predicted outputs are an OpenAI feature")
	case len(req.WebSearchOptions) > 0 && string(req.WebSearchOptions) != "null":
		return refuse("web_search_options", "the gateway does not search the web")
	}
	for _, m := range req.Modalities {
		if m != "text" {
			return refuse("modalities", fmt.Sprintf("only text output is supported (got %q)", truncate(m, 20)))
		}
	}
	if len(req.ResponseFormat) > 0 && string(req.ResponseFormat) != "null" {
		var rf struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(req.ResponseFormat, &rf); err != nil || rf.Type != "text" {
			return refuse("response_format", `only {"type": "text"} is supported; ask for JSON in the prompt, or define a tool whose input schema is the JSON you want`)
		}
	}
	return nil
}

func stopList(raw json.RawMessage) ([]string, *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalidParam("stop", "stop must be a string or an array of strings")
	}
	return list, nil
}

func openAIToolChoice(raw json.RawMessage) (choice, forced string, e *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "auto", "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "none":
			return s, "", nil
		case "required":
			return "any", "", nil
		}
		return "", "", invalidParam("tool_choice", `tool_choice must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}} (got %q)`, truncate(s, 40))
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Type != "function" || named.Function.Name == "" {
		return "", "", invalidParam("tool_choice", `tool_choice must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}}`)
	}
	return "tool", named.Function.Name, nil
}

// chatConversation maps OpenAI messages to Bedrock's: system and developer
// messages become system text; user and assistant messages become turns,
// consecutive ones of the same role merged (Bedrock requires turns to
// alternate); assistant tool_calls become toolUse blocks; tool messages
// become toolResult blocks in a user turn.
func chatConversation(in []chatMessage) ([]types.Message, []string, *Error) {
	if len(in) == 0 {
		return nil, nil, invalidParam("messages", "messages is empty; it must hold at least one user message")
	}
	if len(in) > maxMessages {
		return nil, nil, invalidParam("messages", "messages may hold at most %d entries (got %d)", maxMessages, len(in))
	}
	var system []string
	var out []types.Message
	add := func(role types.ConversationRole, blocks ...types.ContentBlock) {
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
			return
		}
		out = append(out, types.Message{Role: role, Content: blocks})
	}
	for i, m := range in {
		param := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer":
			text, e := textContent(m.Content, param)
			if e != nil {
				return nil, nil, e
			}
			system = append(system, text)
		case "user":
			blocks, e := userContent(m.Content, param)
			if e != nil {
				return nil, nil, e
			}
			add(types.ConversationRoleUser, blocks...)
		case "assistant":
			var blocks []types.ContentBlock
			if len(m.Content) > 0 && string(m.Content) != "null" {
				text, e := textContent(m.Content, param)
				if e != nil {
					return nil, nil, e
				}
				if strings.TrimSpace(text) != "" {
					blocks = append(blocks, &types.ContentBlockMemberText{Value: text})
				}
			}
			for j, tc := range m.ToolCalls {
				use, e := toolUseBlock(tc, fmt.Sprintf("%s.tool_calls[%d]", param, j))
				if e != nil {
					return nil, nil, e
				}
				blocks = append(blocks, use)
			}
			if len(blocks) == 0 {
				return nil, nil, invalidParam(param, "%s (assistant) has neither content nor tool_calls", param)
			}
			add(types.ConversationRoleAssistant, blocks...)
		case "tool":
			if m.ToolCallID == "" {
				return nil, nil, invalidParam(param+".tool_call_id", "%s.tool_call_id is required: it names the tool call this result answers", param)
			}
			text, e := textContent(m.Content, param)
			if e != nil {
				return nil, nil, e
			}
			add(types.ConversationRoleUser, &types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
				ToolUseId: aws.String(m.ToolCallID),
				Content:   []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: text}},
			}})
		default:
			return nil, nil, invalidParam(param+".role", `%s.role must be "system", "developer", "user", "assistant" or "tool" (got %q)`, param, truncate(m.Role, 40))
		}
	}
	if len(out) == 0 {
		return nil, nil, invalidParam("messages", "messages holds no user message")
	}
	if out[0].Role != types.ConversationRoleUser {
		return nil, nil, invalidParam("messages", "the first message after the system messages must be from the user")
	}
	return out, system, nil
}

// textContent reads content that must be text: a string, or an array of
// text parts (joined).
func textContent(raw json.RawMessage, param string) (string, *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []chatPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", invalidParam(param+".content", "%s.content must be a string or an array of content parts", param)
	}
	var b strings.Builder
	for j, p := range parts {
		if p.Type != "text" {
			return "", invalidParam(param+".content", "%s.content[%d] has type %q; only text parts are allowed here", param, j, truncate(p.Type, 40))
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// userContent reads a user message's content: text, and images given as
// data: URLs. The gateway never fetches a URL.
func userContent(raw json.RawMessage, param string) ([]types.ContentBlock, *Error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.TrimSpace(s) == "" {
			return nil, invalidParam(param+".content", "%s.content is empty", param)
		}
		return []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}, nil
	}
	var parts []chatPart
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) == 0 {
		return nil, invalidParam(param+".content", "%s.content must be a string or a non-empty array of content parts", param)
	}
	var blocks []types.ContentBlock
	for j, p := range parts {
		where := fmt.Sprintf("%s.content[%d]", param, j)
		switch p.Type {
		case "text":
			if p.Text != "" {
				blocks = append(blocks, &types.ContentBlockMemberText{Value: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil {
				return nil, invalidParam(where, "%s.image_url.url is required", where)
			}
			img, e := imageBlock(p.ImageURL.URL, where)
			if e != nil {
				return nil, e
			}
			blocks = append(blocks, img)
		default:
			return nil, invalidParam(where, "%s has type %q; supported content parts are text and image_url", where, truncate(p.Type, 40))
		}
	}
	if len(blocks) == 0 {
		return nil, invalidParam(param+".content", "%s.content is empty", param)
	}
	return blocks, nil
}

var imageFormats = map[string]types.ImageFormat{
	"image/png": types.ImageFormatPng, "image/jpeg": types.ImageFormatJpeg,
	"image/gif": types.ImageFormatGif, "image/webp": types.ImageFormatWebp,
}

func imageBlock(url, where string) (types.ContentBlock, *Error) {
	mediaType, data, ok := strings.Cut(strings.TrimPrefix(url, "data:"), ";base64,")
	format, known := imageFormats[mediaType]
	if !strings.HasPrefix(url, "data:") || !ok || !known {
		return nil, invalidParam(where, "%s: images must be data: URLs (data:image/png|jpeg|gif|webp;base64,...); the gateway does not fetch remote URLs", where)
	}
	if base64.StdEncoding.DecodedLen(len(data)) > maxImageBytes+3 {
		return nil, invalidParam(where, "%s: the image is larger than %d bytes", where, maxImageBytes)
	}
	img, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(img) == 0 {
		return nil, invalidParam(where, "%s: the image data is not valid base64", where)
	}
	return &types.ContentBlockMemberImage{Value: types.ImageBlock{Format: format, Source: &types.ImageSourceMemberBytes{Value: img}}}, nil
}

func toolUseBlock(tc chatToolCall, param string) (types.ContentBlock, *Error) {
	if tc.ID == "" || tc.Function.Name == "" {
		return nil, invalidParam(param, "%s needs an id and a function.name", param)
	}
	var input any = map[string]any{}
	if args := strings.TrimSpace(tc.Function.Arguments); args != "" {
		if err := json.Unmarshal([]byte(args), &input); err != nil {
			return nil, invalidParam(param+".function.arguments", "%s.function.arguments is not valid JSON", param)
		}
	}
	return &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
		ToolUseId: aws.String(tc.ID), Name: aws.String(tc.Function.Name), Input: document.NewLazyDocument(input),
	}}, nil
}

// serveChatCompletions answers POST /v1/chat/completions: streamed on the
// same relay as /stream with the chunk encoder, or one chat.completion
// from Converse.
func (h *Handler) serveChatCompletions(w http.ResponseWriter, r *http.Request) {
	rec := logOf(r)
	body, e := h.cfg.readJSONBody(w, r)
	if e != nil {
		writeError(w, rec, e)
		return
	}
	var req chatRequest
	if e := decodeLenient(body, &req); e != nil {
		writeError(w, rec, e)
		return
	}
	c, e := h.cfg.chatCall(&req)
	if e != nil {
		writeError(w, rec, e)
		return
	}
	meta := chatMeta{id: "chatcmpl-" + rec.requestID, model: c.modelID, created: rec.start.Unix(),
		includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
	if req.Stream {
		h.relay(w, r, c, encoding{
			format:      "openai",
			contentType: "text/event-stream; charset=utf-8",
			newEncoder:  func(fw *flushWriter) encoder { return newChatChunkEncoder(fw, meta) },
			keepAlives:  true,
		})
		return
	}
	rec.model, rec.format = c.modelID, "openai-json"
	a, e := h.converse(r, c)
	if e != nil {
		writeError(w, rec, e)
		return
	}
	writeJSON(w, http.StatusOK, chatCompletion(meta, a))
}

// chatMeta is what every chunk of one completion repeats.
type chatMeta struct {
	id, model    string
	created      int64
	includeUsage bool
}

// finishReason maps Bedrock's stop reason to OpenAI's finish_reason.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "guardrail_intervened", "content_filtered":
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence, cancelled
}

// chatChunkEncoder writes chat.completion.chunk events. Each chunk's fixed
// head (id, object, created, model) is made once per stream, so that a
// delta costs an append of its text and no allocation.
type chatChunkEncoder struct {
	*flushWriter
	meta chatMeta
	head []byte // `data: {"id":...,"model":...,"choices":[{"index":0,`
}

func newChatChunkEncoder(fw *flushWriter, meta chatMeta) *chatChunkEncoder {
	head := append([]byte(nil), `data: {"id":`...)
	head = appendJSONString(head, meta.id)
	head = append(head, `,"object":"chat.completion.chunk","created":`...)
	head = fmt.Appendf(head, "%d", meta.created)
	head = append(head, `,"model":`...)
	head = appendJSONString(head, meta.model)
	head = append(head, `,"choices":[{"index":0,`...)
	return &chatChunkEncoder{flushWriter: fw, meta: meta, head: head}
}

const chunkTail = `},"logprobs":null,"finish_reason":null}]}` + "\n\n"

func (e *chatChunkEncoder) start(startEvent) error {
	e.buf = append(append(e.buf[:0], e.head...), `"delta":{"role":"assistant","content":""`...)
	return e.emit(append(e.buf, chunkTail...))
}

func (e *chatChunkEncoder) delta(text string) error {
	e.buf = append(append(e.buf[:0], e.head...), `"delta":{"content":`...)
	e.buf = appendJSONString(e.buf, text)
	return e.emit(append(e.buf, chunkTail...))
}

func (e *chatChunkEncoder) reasoning(text string) error {
	e.buf = append(append(e.buf[:0], e.head...), `"delta":{"reasoning_content":`...)
	e.buf = appendJSONString(e.buf, text)
	return e.emit(append(e.buf, chunkTail...))
}

func (e *chatChunkEncoder) toolStart(tc *toolCall) error {
	e.buf = append(append(e.buf[:0], e.head...), `"delta":{"tool_calls":[{"index":`...)
	e.buf = fmt.Appendf(e.buf, "%d", tc.index)
	e.buf = append(e.buf, `,"id":`...)
	e.buf = appendJSONString(e.buf, tc.id)
	e.buf = append(e.buf, `,"type":"function","function":{"name":`...)
	e.buf = appendJSONString(e.buf, tc.name)
	e.buf = append(e.buf, `,"arguments":""}}]`...)
	return e.emit(append(e.buf, chunkTail...))
}

func (e *chatChunkEncoder) toolInput(tc *toolCall, fragment string) error {
	e.buf = append(append(e.buf[:0], e.head...), `"delta":{"tool_calls":[{"index":`...)
	e.buf = fmt.Appendf(e.buf, "%d", tc.index)
	e.buf = append(e.buf, `,"function":{"arguments":`...)
	e.buf = appendJSONString(e.buf, fragment)
	e.buf = append(e.buf, `}}]`...)
	return e.emit(append(e.buf, chunkTail...))
}

func (e *chatChunkEncoder) toolEnd(*toolCall) error { return nil }

func (e *chatChunkEncoder) keepAlive() error { return e.emitString(": keep-alive\n\n") }

// done writes the chunk with finish_reason, the usage chunk when asked
// for, and [DONE], in one write.
func (e *chatChunkEncoder) done(ev doneEvent) error {
	e.buf = append(append(e.buf[:0], e.head...), `"delta":{},"logprobs":null,"finish_reason":`...)
	e.buf = appendJSONString(e.buf, finishReason(ev.StopReason))
	e.buf = append(e.buf, "}]}\n\n"...)
	if e.meta.includeUsage {
		e.buf = append(e.buf, `data: {"id":`...)
		e.buf = appendJSONString(e.buf, e.meta.id)
		e.buf = fmt.Appendf(e.buf, `,"object":"chat.completion.chunk","created":%d,"model":`, e.meta.created)
		e.buf = appendJSONString(e.buf, e.meta.model)
		e.buf = fmt.Appendf(e.buf, `,"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`+"\n\n",
			ev.Usage.InputTokens, ev.Usage.OutputTokens, ev.Usage.TotalTokens)
	}
	e.buf = append(e.buf, "data: [DONE]\n\n"...)
	return e.emit(e.buf)
}

// fail writes the error as OpenAI streams one, and no [DONE]: the body
// then ends, and the client cannot take the answer for a whole one.
func (e *chatChunkEncoder) fail(apiErr *Error) error {
	b, _ := json.Marshal(openAIErrorBody(apiErr))
	e.buf = append(append(append(e.buf[:0], "data: "...), b...), "\n\n"...)
	return e.emit(e.buf)
}

// openAIError is OpenAI's error object.
type openAIError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Code    string  `json:"code"`
	Param   *string `json:"param"`
}

func openAIErrorBody(e *Error) any {
	typ := "invalid_request_error"
	switch {
	case e.Status == http.StatusUnauthorized:
		typ = "authentication_error"
	case e.Status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case e.Status >= 500:
		typ = "api_error"
	}
	oe := openAIError{Message: e.Message, Type: typ, Code: e.Code}
	if e.Param != "" {
		oe.Param = &e.Param
	}
	return struct {
		Error openAIError `json:"error"`
	}{oe}
}

// chatCompletion is the non-streaming answer.
func chatCompletion(meta chatMeta, a *answer) any {
	type function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	type toolCallOut struct {
		ID       string   `json:"id"`
		Type     string   `json:"type"`
		Function function `json:"function"`
	}
	type message struct {
		Role             string        `json:"role"`
		Content          *string       `json:"content"`
		ReasoningContent string        `json:"reasoning_content,omitempty"`
		ToolCalls        []toolCallOut `json:"tool_calls,omitempty"`
	}
	msg := message{Role: "assistant", ReasoningContent: a.reasoning}
	if a.text != "" || len(a.toolCalls) == 0 {
		msg.Content = &a.text
	}
	for _, tc := range a.toolCalls {
		msg.ToolCalls = append(msg.ToolCalls, toolCallOut{tc.id, "function", function{tc.name, string(tc.input)}})
	}
	return map[string]any{
		"id":      meta.id,
		"object":  "chat.completion",
		"created": meta.created,
		"model":   meta.model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finishReason(a.stopReason)}},
		"usage":   map[string]int{"prompt_tokens": a.usage.InputTokens, "completion_tokens": a.usage.OutputTokens, "total_tokens": a.usage.TotalTokens},
	}
}

// serveOpenAIModels answers GET /v1/models: the models this gateway
// allows, in OpenAI's list shape.
func (h *Handler) serveOpenAIModels(w http.ResponseWriter, r *http.Request) {
	logOf(r)
	data := make([]any, len(h.cfg.AllowedModels))
	for i, id := range h.cfg.AllowedModels {
		data[i] = openAIModel(id)
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// serveOpenAIModel answers GET /v1/models/{model}.
func (h *Handler) serveOpenAIModel(w http.ResponseWriter, r *http.Request) {
	rec := logOf(r)
	id := r.PathValue("model")
	for _, allowed := range h.cfg.AllowedModels {
		if allowed == id {
			writeJSON(w, http.StatusOK, openAIModel(id))
			return
		}
	}
	writeError(w, rec, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Param: "model",
		Message: fmt.Sprintf("the model %q is not one this gateway allows", truncate(id, 200))})
}

func openAIModel(id string) map[string]any {
	return map[string]any{"id": id, "object": "model", "created": 0, "owned_by": ownerOf(id)}
}

// ownerOf is the provider part of a Bedrock model id ("anthropic" in
// "us.anthropic.claude-..."), or "bedrock".
func ownerOf(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	parts := strings.Split(id, ".")
	for i, p := range parts[:max(len(parts)-1, 0)] {
		switch p {
		case "us", "eu", "apac", "us-gov", "jp", "au", "ca", "global":
			if i == 0 {
				continue
			}
		}
		return p
	}
	return "bedrock"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// URLs (presigned ones hold &) stay readable to curl and shell users.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
