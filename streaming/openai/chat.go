package openai

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming"
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

// chatNames are Chat Completions' names for the sampling fields.
var chatNames = streaming.FieldNames{Model: "model", MaxTokens: "max_tokens", Temperature: "temperature", TopP: "top_p", Stop: "stop"}

// chatCall maps a Chat Completions request to a Bedrock conversation with
// the operator's policy applied (DESIGN §2a).
func chatCall(cfg *streaming.Config, req *chatRequest) (*streaming.Call, *streaming.Error) {
	if e := refuseUnsupported(req); e != nil {
		return nil, e
	}
	messages, system, e := chatConversation(req.Messages)
	if e != nil {
		return nil, e
	}
	s := streaming.Sampling{Names: chatNames, MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP, System: system}
	if req.Model != "" {
		s.ModelID = &req.Model
	}
	if req.MaxCompletionTokens != nil {
		s.MaxTokens, s.Names.MaxTokens = req.MaxCompletionTokens, "max_completion_tokens"
	}
	if s.Stop, e = stopList(req.Stop); e != nil {
		return nil, e
	}
	c, e := cfg.NewCall(s, messages)
	if e != nil {
		return nil, e
	}
	choice, forced, e := openAIToolChoice(req.ToolChoice)
	if e != nil {
		return nil, e
	}
	specs := make([]streaming.ToolSpec, len(req.Tools))
	for i, t := range req.Tools {
		if t.Type != "function" {
			return nil, streaming.InvalidParam("tools", "tools[%d].type must be \"function\" (got %q)", i, streaming.Truncate(t.Type, 40))
		}
		specs[i] = streaming.ToolSpec{Name: t.Function.Name, Description: t.Function.Description, Schema: t.Function.Parameters}
	}
	if c.Tools, e = streaming.ToolConfig(specs, choice, forced, "tools"); e != nil {
		return nil, e
	}
	if req.ReasoningEffort != "" {
		if e := think(c, req.ReasoningEffort, "reasoning_effort"); e != nil {
			return nil, e
		}
	}
	return c, nil
}

// think turns a reasoning effort (param names its field) into Claude's
// extended thinking: a budget below max_tokens, and temperature and top-p
// left to the model, as thinking requires.
func think(c *streaming.Call, effort, param string) *streaming.Error {
	budget, ok := thinkingBudgets[effort]
	if !ok {
		return streaming.InvalidParam(param, `%s must be "low", "medium" or "high" (got %q)`, param, streaming.Truncate(effort, 20))
	}
	if !strings.Contains(c.ModelID, "anthropic.claude") {
		return streaming.InvalidParam(param, "%s is supported for Anthropic Claude models only, not %s", param, c.ModelID)
	}
	budget = min(budget, c.MaxTokens-1)
	if budget < minThinkingBudget {
		return streaming.InvalidParam(param, "%s needs max_tokens above %d (the smallest thinking budget); got %d", param, minThinkingBudget, c.MaxTokens)
	}
	c.Additional = document.NewLazyDocument(map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": budget}})
	c.Inference.Temperature, c.Inference.TopP = nil, nil
	return nil
}

func refuseUnsupported(req *chatRequest) *streaming.Error {
	refuse := func(param, why string) *streaming.Error {
		return streaming.InvalidParam(param, "%s is not supported by this gateway: %s", param, why)
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
			return refuse("modalities", fmt.Sprintf("only text output is supported (got %q)", streaming.Truncate(m, 20)))
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

func stopList(raw json.RawMessage) ([]string, *streaming.Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, streaming.InvalidParam("stop", "stop must be a string or an array of strings")
	}
	return list, nil
}

func openAIToolChoice(raw json.RawMessage) (choice, forced string, e *streaming.Error) {
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
		return "", "", streaming.InvalidParam("tool_choice", `tool_choice must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}} (got %q)`, streaming.Truncate(s, 40))
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Type != "function" || named.Function.Name == "" {
		return "", "", streaming.InvalidParam("tool_choice", `tool_choice must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}}`)
	}
	return "tool", named.Function.Name, nil
}

// chatConversation maps OpenAI messages to Bedrock's: system and developer
// messages become system text; user and assistant messages become turns,
// consecutive ones of the same role merged (Bedrock requires turns to
// alternate); assistant tool_calls become toolUse blocks; tool messages
// become toolResult blocks in a user turn.
func chatConversation(in []chatMessage) ([]types.Message, []string, *streaming.Error) {
	if len(in) == 0 {
		return nil, nil, streaming.InvalidParam("messages", "messages is empty; it must hold at least one user message")
	}
	if len(in) > streaming.MaxMessages {
		return nil, nil, streaming.InvalidParam("messages", "messages may hold at most %d entries (got %d)", streaming.MaxMessages, len(in))
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
				return nil, nil, streaming.InvalidParam(param, "%s (assistant) has neither content nor tool_calls", param)
			}
			add(types.ConversationRoleAssistant, blocks...)
		case "tool":
			if m.ToolCallID == "" {
				return nil, nil, streaming.InvalidParam(param+".tool_call_id", "%s.tool_call_id is required: it names the tool call this result answers", param)
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
			return nil, nil, streaming.InvalidParam(param+".role", `%s.role must be "system", "developer", "user", "assistant" or "tool" (got %q)`, param, streaming.Truncate(m.Role, 40))
		}
	}
	if len(out) == 0 {
		return nil, nil, streaming.InvalidParam("messages", "messages holds no user message")
	}
	if out[0].Role != types.ConversationRoleUser {
		return nil, nil, streaming.InvalidParam("messages", "the first message after the system messages must be from the user")
	}
	return out, system, nil
}

// textContent reads content that must be text: a string, or an array of
// text parts (joined).
func textContent(raw json.RawMessage, param string) (string, *streaming.Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []chatPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", streaming.InvalidParam(param+".content", "%s.content must be a string or an array of content parts", param)
	}
	var b strings.Builder
	for j, p := range parts {
		if p.Type != "text" {
			return "", streaming.InvalidParam(param+".content", "%s.content[%d] has type %q; only text parts are allowed here", param, j, streaming.Truncate(p.Type, 40))
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// userContent reads a user message's content: text, and images given as
// data: URLs. The gateway never fetches a URL.
func userContent(raw json.RawMessage, param string) ([]types.ContentBlock, *streaming.Error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.TrimSpace(s) == "" {
			return nil, streaming.InvalidParam(param+".content", "%s.content is empty", param)
		}
		return []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}, nil
	}
	var parts []chatPart
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) == 0 {
		return nil, streaming.InvalidParam(param+".content", "%s.content must be a string or a non-empty array of content parts", param)
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
				return nil, streaming.InvalidParam(where, "%s.image_url.url is required", where)
			}
			img, e := imageBlock(p.ImageURL.URL, where)
			if e != nil {
				return nil, e
			}
			blocks = append(blocks, img)
		default:
			return nil, streaming.InvalidParam(where, "%s has type %q; supported content parts are text and image_url", where, streaming.Truncate(p.Type, 40))
		}
	}
	if len(blocks) == 0 {
		return nil, streaming.InvalidParam(param+".content", "%s.content is empty", param)
	}
	return blocks, nil
}

var imageFormats = map[string]types.ImageFormat{
	"image/png": types.ImageFormatPng, "image/jpeg": types.ImageFormatJpeg,
	"image/gif": types.ImageFormatGif, "image/webp": types.ImageFormatWebp,
}

func imageBlock(url, where string) (types.ContentBlock, *streaming.Error) {
	mediaType, data, ok := strings.Cut(strings.TrimPrefix(url, "data:"), ";base64,")
	format, known := imageFormats[mediaType]
	if !strings.HasPrefix(url, "data:") || !ok || !known {
		return nil, streaming.InvalidParam(where, "%s: images must be data: URLs (data:image/png|jpeg|gif|webp;base64,...); the gateway does not fetch remote URLs", where)
	}
	if base64.StdEncoding.DecodedLen(len(data)) > maxImageBytes+3 {
		return nil, streaming.InvalidParam(where, "%s: the image is larger than %d bytes", where, maxImageBytes)
	}
	img, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(img) == 0 {
		return nil, streaming.InvalidParam(where, "%s: the image data is not valid base64", where)
	}
	return &types.ContentBlockMemberImage{Value: types.ImageBlock{Format: format, Source: &types.ImageSourceMemberBytes{Value: img}}}, nil
}

func toolUseBlock(tc chatToolCall, param string) (types.ContentBlock, *streaming.Error) {
	if tc.ID == "" || tc.Function.Name == "" {
		return nil, streaming.InvalidParam(param, "%s needs an id and a function.name", param)
	}
	return toolUse(tc.ID, tc.Function.Name, tc.Function.Arguments, param+".function.arguments")
}

// toolUse is a toolUse block of a call whose arguments are a JSON string
// (argsParam names it in errors).
func toolUse(id, name, args, argsParam string) (types.ContentBlock, *streaming.Error) {
	var input any = map[string]any{}
	if args := strings.TrimSpace(args); args != "" {
		if err := json.Unmarshal([]byte(args), &input); err != nil {
			return nil, streaming.InvalidParam(argsParam, "%s is not valid JSON", argsParam)
		}
	}
	return &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
		ToolUseId: aws.String(id), Name: aws.String(name), Input: document.NewLazyDocument(input),
	}}, nil
}
