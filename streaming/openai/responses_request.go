package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming"
)

// responsesRequest is the body of POST /v1/responses, OpenAI's Responses
// API request. Unknown fields are ignored (clients send many, and the API
// grows); fields that streamgate cannot honour are refused by name, or,
// where a client sends them by default and the answer is still right
// without them, accepted and named in the log line as dropped.
type responsesRequest struct {
	Model             string              `json:"model"`
	Input             json.RawMessage     `json:"input"`
	Instructions      *string             `json:"instructions"`
	Tools             []json.RawMessage   `json:"tools"`
	ToolChoice        json.RawMessage     `json:"tool_choice"`
	ParallelToolCalls *bool               `json:"parallel_tool_calls"`
	MaxOutputTokens   *int                `json:"max_output_tokens"`
	Temperature       *float64            `json:"temperature"`
	TopP              *float64            `json:"top_p"`
	Reasoning         *responsesReasoning `json:"reasoning"`
	Text              *responsesText      `json:"text"`
	Metadata          json.RawMessage     `json:"metadata"`
	User              string              `json:"user"`
	SafetyIdentifier  string              `json:"safety_identifier"`
	Include           []string            `json:"include"`
	PromptCacheKey    string              `json:"prompt_cache_key"`
	Stream            bool                `json:"stream"`
	Store             *bool               `json:"store"`
	Truncation        string              `json:"truncation"`
	ServiceTier       string              `json:"service_tier"`
	MaxToolCalls      *int                `json:"max_tool_calls"`
	ContextManagement json.RawMessage     `json:"context_management"`
	// client_metadata, stream_options, prompt_cache_retention and
	// prompt_cache_options are accepted and not read: client_metadata
	// holds a client's own ids, which are never logged.

	// Refused: they need state or features streamgate does not have.
	PreviousResponseID *string         `json:"previous_response_id"`
	Conversation       json.RawMessage `json:"conversation"`
	Background         *bool           `json:"background"`
	Prompt             json.RawMessage `json:"prompt"`
	TopLogprobs        *int            `json:"top_logprobs"`
}

type responsesReasoning struct {
	Effort          *string `json:"effort"`
	Summary         *string `json:"summary"`
	GenerateSummary *string `json:"generate_summary"`
}

type responsesText struct {
	Format    json.RawMessage `json:"format"`
	Verbosity *string         `json:"verbosity"`
}

// responsesItem is one item of input: a message (with or without its
// type), a function call or its output, or a reasoning item. Fields that
// only some types have are read by type.
type responsesItem struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	// function_call and function_call_output
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments *string         `json:"arguments"`
	Output    json.RawMessage `json:"output"`
	// reasoning
	Summary          []reasoningText `json:"summary"`
	EncryptedContent *string         `json:"encrypted_content"`
}

type reasoningText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// responsesPart is one content part of a message, or of a function
// call's output.
type responsesPart struct {
	Type     string  `json:"type"`
	Text     *string `json:"text"`
	ImageURL *string `json:"image_url"`
	FileID   *string `json:"file_id"`
}

// responsesFunction is a tool of type function: the Responses API's tools
// are flat ({"type", "name", "parameters"}), not Chat Completions' nested
// {"function": {...}}.
type responsesFunction struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  any             `json:"parameters"`
	Function    json.RawMessage `json:"function"`
}

// redactedPrefix marks an encrypted_content that carries a Bedrock
// redacted reasoning block (its bytes, base64) rather than the signature
// of a readable one: Bedrock's signatures are base64, which has no colon.
const redactedPrefix = "bedrock-redacted:"

// includeEncrypted is the include value that asks for reasoning items'
// encrypted_content, which carries Bedrock's reasoning signature.
const includeEncrypted = "reasoning.encrypted_content"

// responsesNames are the Responses API's names for the sampling fields.
var responsesNames = streaming.FieldNames{Model: "model", MaxTokens: "max_output_tokens", Temperature: "temperature", TopP: "top_p", Stop: "stop"}

// responsesPlan is a request read into a Bedrock call, with what the
// answer echoes of the request.
type responsesPlan struct {
	call             *streaming.Call
	includeEncrypted bool
	echo             responseEcho
	dropped          []string // names only, for the log line
}

// responseEcho is what a response object repeats of its request.
type responseEcho struct {
	Instructions      *string         `json:"instructions"`
	MaxOutputTokens   *int            `json:"max_output_tokens"`
	Metadata          json.RawMessage `json:"metadata"`
	ParallelToolCalls bool            `json:"parallel_tool_calls"`
	Reasoning         struct {
		Effort  *string `json:"effort"`
		Summary *string `json:"summary"`
	} `json:"reasoning"`
	Temperature *float64          `json:"temperature"`
	TopP        *float64          `json:"top_p"`
	ToolChoice  json.RawMessage   `json:"tool_choice"`
	Tools       []json.RawMessage `json:"tools"`
	Truncation  string            `json:"truncation"`
	User        *string           `json:"user"`
	Verbosity   string            `json:"-"`
	CacheKey    *string           `json:"prompt_cache_key"`
}

// responsesCall maps a Responses request to a Bedrock conversation with
// the operator's policy applied (DESIGN §2d).
func responsesCall(cfg *streaming.Config, req *responsesRequest) (*responsesPlan, *streaming.Error) {
	if e := refuseResponsesState(req); e != nil {
		return nil, e
	}
	p := &responsesPlan{}
	messages, system, dropped, e := responsesConversation(req.Input)
	if e != nil {
		return nil, e
	}
	p.dropped = append(p.dropped, dropped...)
	if req.Instructions != nil && strings.TrimSpace(*req.Instructions) != "" {
		system = append([]string{*req.Instructions}, system...)
	}
	s := streaming.Sampling{Names: responsesNames, MaxTokens: req.MaxOutputTokens, Temperature: req.Temperature, TopP: req.TopP, System: system}
	if req.Model != "" {
		s.ModelID = &req.Model
	}
	c, e := cfg.NewCall(s, messages)
	if e != nil {
		return nil, e
	}
	p.call = c

	functions, toolsDropped, e := responsesTools(req.Tools)
	if e != nil {
		return nil, e
	}
	p.dropped = append(p.dropped, toolsDropped...)
	choice, forced, allowed, e := responsesToolChoice(req.ToolChoice)
	if e != nil {
		return nil, e
	}
	if allowed != nil {
		functions, e = allowedTools(functions, allowed)
		if e != nil {
			return nil, e
		}
	}
	if choice == "any" && len(functions) == 0 {
		return nil, streaming.InvalidParam("tool_choice", `tool_choice "required" needs at least one tool of type "function" (tools of other types are left out: the gateway cannot run them)`)
	}
	specs := make([]streaming.ToolSpec, len(functions))
	for i, f := range functions {
		specs[i] = streaming.ToolSpec{Name: f.Name, Description: f.Description, Schema: f.Parameters}
	}
	if c.Tools, e = streaming.ToolConfig(specs, choice, forced, "tools"); e != nil {
		return nil, e
	}
	if r := req.Reasoning; r != nil && r.Effort != nil {
		switch effort := *r.Effort; effort {
		case "none", "minimal":
			// No thinking: what Bedrock models do unless asked.
		case "xhigh":
			e = think(c, "high", "reasoning.effort")
		default:
			e = think(c, effort, "reasoning.effort")
		}
		if e != nil {
			return nil, e
		}
	}
	for _, inc := range req.Include {
		if inc == includeEncrypted {
			p.includeEncrypted = true
		} else {
			p.dropped = append(p.dropped, "include:"+inc)
		}
	}
	if req.ParallelToolCalls != nil && !*req.ParallelToolCalls {
		// Bedrock's Converse API has no switch for it.
		p.dropped = append(p.dropped, "parallel_tool_calls")
	}
	if req.Truncation == "auto" {
		p.dropped = append(p.dropped, "truncation")
	}
	if t := req.ServiceTier; t != "" && t != "auto" && t != "default" {
		p.dropped = append(p.dropped, "service_tier")
	}
	if req.MaxToolCalls != nil {
		p.dropped = append(p.dropped, "max_tool_calls")
	}
	if len(req.ContextManagement) > 0 && string(req.ContextManagement) != "null" {
		p.dropped = append(p.dropped, "context_management")
	}
	if req.PromptCacheKey != "" {
		p.dropped = append(p.dropped, "prompt_cache_key")
	}
	if t := req.Text; t != nil && t.Verbosity != nil && *t.Verbosity != "medium" {
		p.dropped = append(p.dropped, "text.verbosity")
	}

	p.echo = responseEcho{Instructions: req.Instructions, MaxOutputTokens: req.MaxOutputTokens, Metadata: req.Metadata,
		ParallelToolCalls: req.ParallelToolCalls == nil || *req.ParallelToolCalls, Temperature: req.Temperature, TopP: req.TopP,
		ToolChoice: req.ToolChoice, Truncation: "disabled", Verbosity: "medium"}
	if req.Truncation != "" {
		p.echo.Truncation = req.Truncation
	}
	if len(p.echo.ToolChoice) == 0 || string(p.echo.ToolChoice) == "null" {
		p.echo.ToolChoice = json.RawMessage(`"auto"`)
	}
	if len(p.echo.Metadata) == 0 || string(p.echo.Metadata) == "null" {
		p.echo.Metadata = json.RawMessage(`{}`)
	}
	p.echo.Tools = make([]json.RawMessage, 0, len(functions))
	for _, f := range functions {
		p.echo.Tools = append(p.echo.Tools, f.raw)
	}
	if r := req.Reasoning; r != nil {
		p.echo.Reasoning.Effort, p.echo.Reasoning.Summary = r.Effort, r.Summary
	}
	if t := req.Text; t != nil && t.Verbosity != nil {
		p.echo.Verbosity = *t.Verbosity
	}
	if req.User != "" {
		p.echo.User = &req.User
	}
	if req.PromptCacheKey != "" {
		p.echo.CacheKey = &req.PromptCacheKey
	}
	return p, nil
}

// refuseResponsesState refuses what needs a stored response, or a feature
// Bedrock has not: each by name, saying what to do instead.
func refuseResponsesState(req *responsesRequest) *streaming.Error {
	present := func(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }
	refuse := func(param, why string) *streaming.Error {
		return streaming.InvalidParam(param, "%s is not supported by this gateway: %s", param, why)
	}
	switch {
	case req.PreviousResponseID != nil && *req.PreviousResponseID != "":
		return refuse("previous_response_id", "streamgate stores no responses, so the conversation cannot be continued from one; send the whole conversation in input every time (as clients do with store: false)")
	case present(req.Conversation):
		return refuse("conversation", "streamgate stores no conversations; send the whole conversation in input every time (as clients do with store: false)")
	case req.Background != nil && *req.Background:
		return refuse("background", "streamgate stores no responses to poll later; stream the answer instead (stream: true)")
	case present(req.Prompt):
		return refuse("prompt", "stored prompt templates live on OpenAI's platform; send the prompt's text in instructions and input")
	case req.TopLogprobs != nil && *req.TopLogprobs > 0:
		return refuse("top_logprobs", "Bedrock does not return token log probabilities")
	case len(bytes.TrimSpace(req.Input)) == 0 || string(req.Input) == "null":
		return streaming.InvalidParam("input", "input is required: a string, or an array of input items (the whole conversation: streamgate stores nothing between requests)")
	}
	if req.Text != nil && present(req.Text.Format) {
		var f struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(req.Text.Format, &f); err != nil || f.Type != "text" {
			return refuse("text.format", `only {"type": "text"} is supported (json_schema and json_object are not); ask for JSON in the prompt, or define a function tool whose parameters are the JSON schema you want`)
		}
	}
	if req.Metadata != nil && present(req.Metadata) && bytes.TrimSpace(req.Metadata)[0] != '{' {
		return streaming.InvalidParam("metadata", "metadata must be an object of strings")
	}
	return nil
}

// namedFunction is a function tool as the request gave it.
type namedFunction struct {
	responsesFunction
	raw json.RawMessage
}

// responsesTools reads the function tools; tools of other types (web
// search, file search, code interpreter, shell, namespaces, custom tools,
// MCP servers...) are left out of the call, as Bedrock cannot run them,
// and named as dropped.
func responsesTools(raw []json.RawMessage) ([]namedFunction, []string, *streaming.Error) {
	var functions []namedFunction
	var dropped []string
	for i, t := range raw {
		var f responsesFunction
		if err := json.Unmarshal(t, &f); err != nil {
			return nil, nil, streaming.InvalidParam(fmt.Sprintf("tools[%d]", i), "tools[%d] must be an object with a type", i)
		}
		switch {
		case f.Type == "function" && f.Name == "" && len(f.Function) > 0:
			return nil, nil, streaming.InvalidParam(fmt.Sprintf("tools[%d].name", i), `tools[%d] has Chat Completions' shape; the Responses API's function tools are flat: {"type": "function", "name": ..., "parameters": ...}`, i)
		case f.Type == "function":
			functions = append(functions, namedFunction{f, t})
		case f.Type == "":
			return nil, nil, streaming.InvalidParam(fmt.Sprintf("tools[%d].type", i), "tools[%d].type is required", i)
		default:
			name := "tools:" + streaming.Truncate(f.Type, 30)
			if f.Name != "" {
				name += ":" + streaming.Truncate(f.Name, 30)
			}
			dropped = append(dropped, name)
		}
	}
	return functions, dropped, nil
}

// responsesToolChoice reads tool_choice: "auto", "none", "required", a
// function by name, or allowed_tools (a subset of the tools, in mode auto
// or required). Forcing a tool the gateway cannot run is refused, naming
// it.
func responsesToolChoice(raw json.RawMessage) (choice, forced string, allowed []string, e *streaming.Error) {
	const want = `tool_choice must be "auto", "none", "required", {"type": "function", "name": ...} or {"type": "allowed_tools", "mode": ..., "tools": [...]}`
	if len(raw) == 0 || string(raw) == "null" {
		return "auto", "", nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "none":
			return s, "", nil, nil
		case "required":
			return "any", "", nil, nil
		}
		return "", "", nil, streaming.InvalidParam("tool_choice", "%s (got %q)", want, streaming.Truncate(s, 40))
	}
	var obj struct {
		Type  string `json:"type"`
		Name  string `json:"name"`
		Mode  string `json:"mode"`
		Tools []struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", "", nil, streaming.InvalidParam("tool_choice", "%s", want)
	}
	switch obj.Type {
	case "function":
		if obj.Name == "" {
			return "", "", nil, streaming.InvalidParam("tool_choice", "tool_choice of type function needs the function's name")
		}
		return "tool", obj.Name, nil, nil
	case "allowed_tools":
		choice = "auto"
		switch obj.Mode {
		case "", "auto":
		case "required":
			choice = "any"
		default:
			return "", "", nil, streaming.InvalidParam("tool_choice", `tool_choice.mode must be "auto" or "required" (got %q)`, streaming.Truncate(obj.Mode, 40))
		}
		allowed = []string{}
		for _, t := range obj.Tools {
			if t.Type == "function" {
				allowed = append(allowed, t.Name)
			}
		}
		return choice, "", allowed, nil
	case "":
		return "", "", nil, streaming.InvalidParam("tool_choice", "%s", want)
	}
	return "", "", nil, streaming.InvalidParam("tool_choice", "tool_choice forces the %s tool, which this gateway cannot run (Bedrock runs no hosted tools); offer a function tool instead, or use \"auto\"", streaming.Truncate(obj.Type, 40))
}

// allowedTools keeps the functions that allowed names.
func allowedTools(functions []namedFunction, allowed []string) ([]namedFunction, *streaming.Error) {
	var out []namedFunction
	for _, name := range allowed {
		found := false
		for _, f := range functions {
			if f.Name == name {
				out, found = append(out, f), true
				break
			}
		}
		if !found {
			return nil, streaming.InvalidParam("tool_choice", "tool_choice.tools names %q, which is not among the function tools", streaming.Truncate(name, 80))
		}
	}
	return out, nil
}

// responsesConversation maps input to Bedrock's conversation: system and
// developer messages become system text; user and assistant messages,
// function calls (assistant toolUse), their outputs (user toolResult) and
// reasoning items (assistant reasoning, with the signature their
// encrypted_content carries) become turns, consecutive ones of the same
// role merged, as Bedrock requires turns to alternate.
func responsesConversation(raw json.RawMessage) ([]types.Message, []string, []string, *streaming.Error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.TrimSpace(s) == "" {
			return nil, nil, nil, streaming.InvalidParam("input", "input is empty")
		}
		return []types.Message{streaming.UserText(s)}, nil, nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, nil, nil, streaming.InvalidParam("input", "input must be a string or an array of input items")
	}
	if len(items) == 0 {
		return nil, nil, nil, streaming.InvalidParam("input", "input is empty; it must hold at least one user message")
	}
	if len(items) > streaming.MaxMessages {
		return nil, nil, nil, streaming.InvalidParam("input", "input may hold at most %d items (got %d)", streaming.MaxMessages, len(items))
	}
	var system, dropped []string
	var out []types.Message
	add := func(role types.ConversationRole, blocks ...types.ContentBlock) {
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
			return
		}
		out = append(out, types.Message{Role: role, Content: blocks})
	}
	for i, rawItem := range items {
		param := fmt.Sprintf("input[%d]", i)
		var it responsesItem
		if err := json.Unmarshal(rawItem, &it); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) && typ.Field != "" {
				field := param + "." + streaming.Truncate(typ.Field, 40)
				return nil, nil, nil, streaming.InvalidParam(field, "%s has the wrong type (a JSON %s)", field, streaming.Truncate(typ.Value, 20))
			}
			return nil, nil, nil, streaming.InvalidParam(param, "%s must be an input item: an object with a type (message, function_call, function_call_output, reasoning)", param)
		}
		typ := it.Type
		if typ == "" && it.Role != "" {
			typ = "message" // an easy input message: {"role", "content"}
		}
		switch typ {
		case "message":
			switch it.Role {
			case "system", "developer":
				text, e := itemText(it.Content, param)
				if e != nil {
					return nil, nil, nil, e
				}
				system = append(system, text)
			case "user":
				blocks, e := responsesUserContent(it.Content, param)
				if e != nil {
					return nil, nil, nil, e
				}
				add(types.ConversationRoleUser, blocks...)
			case "assistant":
				text, e := itemText(it.Content, param)
				if e != nil {
					return nil, nil, nil, e
				}
				if strings.TrimSpace(text) != "" {
					add(types.ConversationRoleAssistant, &types.ContentBlockMemberText{Value: text})
				}
			default:
				return nil, nil, nil, streaming.InvalidParam(param+".role", `%s.role must be "user", "assistant", "system" or "developer" (got %q)`, param, streaming.Truncate(it.Role, 40))
			}
		case "function_call":
			if it.CallID == "" || it.Name == "" {
				return nil, nil, nil, streaming.InvalidParam(param, "%s (function_call) needs a call_id and a name", param)
			}
			args := ""
			if it.Arguments != nil {
				args = *it.Arguments
			}
			use, e := toolUse(it.CallID, it.Name, args, param+".arguments")
			if e != nil {
				return nil, nil, nil, e
			}
			add(types.ConversationRoleAssistant, use)
		case "function_call_output":
			if it.CallID == "" {
				return nil, nil, nil, streaming.InvalidParam(param+".call_id", "%s.call_id is required: it names the function call this output answers", param)
			}
			content, e := functionOutput(it.Output, param+".output")
			if e != nil {
				return nil, nil, nil, e
			}
			add(types.ConversationRoleUser, &types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
				ToolUseId: aws.String(it.CallID), Content: content,
			}})
		case "reasoning":
			block, e := reasoningBlock(it, param)
			if e != nil {
				return nil, nil, nil, e
			}
			if block == nil {
				// Without encrypted_content there is no signature, and
				// Bedrock takes no reasoning back without one.
				dropped = append(dropped, "input:reasoning without encrypted_content")
				continue
			}
			add(types.ConversationRoleAssistant, block)
		case "item_reference":
			return nil, nil, nil, streaming.InvalidParam(param, "%s is an item_reference: streamgate stores no items, so it cannot look one up; send the whole item (with the AI SDK, set providerOptions.openai.store to false; other clients: store: false)", param)
		case "":
			return nil, nil, nil, streaming.InvalidParam(param+".type", "%s.type is required", param)
		default:
			return nil, nil, nil, streaming.InvalidParam(param+".type", "%s has type %q, which this gateway cannot take: it answers message, function_call, function_call_output and reasoning items (Bedrock runs no hosted tools)", param, streaming.Truncate(typ, 40))
		}
	}
	if len(out) == 0 {
		return nil, nil, nil, streaming.InvalidParam("input", "input holds no user message")
	}
	if out[0].Role != types.ConversationRoleUser {
		return nil, nil, nil, streaming.InvalidParam("input", "the first item after the system and developer messages must be a user message")
	}
	return out, system, dropped, nil
}

// itemText reads content that must be text: a string, or text parts
// (input_text, output_text, refusal), joined.
func itemText(raw json.RawMessage, param string) (string, *streaming.Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []responsesPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", streaming.InvalidParam(param+".content", "%s.content must be a string or an array of content parts", param)
	}
	var b strings.Builder
	for j, p := range parts {
		switch p.Type {
		case "input_text", "output_text", "refusal":
			if p.Text != nil {
				b.WriteString(*p.Text)
			}
		default:
			return "", streaming.InvalidParam(fmt.Sprintf("%s.content[%d]", param, j), "%s.content[%d] has type %q; only text parts (input_text, output_text) are allowed here", param, j, streaming.Truncate(p.Type, 40))
		}
	}
	return b.String(), nil
}

// responsesUserContent reads a user message: text, and images given as
// data: URLs (the gateway never fetches a URL).
func responsesUserContent(raw json.RawMessage, param string) ([]types.ContentBlock, *streaming.Error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.TrimSpace(s) == "" {
			return nil, streaming.InvalidParam(param+".content", "%s.content is empty", param)
		}
		return []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}, nil
	}
	var parts []responsesPart
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) == 0 {
		return nil, streaming.InvalidParam(param+".content", "%s.content must be a string or a non-empty array of content parts", param)
	}
	blocks, e := inputParts(parts, param+".content")
	if e != nil {
		return nil, e
	}
	if len(blocks) == 0 {
		return nil, streaming.InvalidParam(param+".content", "%s.content is empty", param)
	}
	return blocks, nil
}

// inputParts maps input_text and input_image parts.
func inputParts(parts []responsesPart, param string) ([]types.ContentBlock, *streaming.Error) {
	var blocks []types.ContentBlock
	for j, p := range parts {
		where := fmt.Sprintf("%s[%d]", param, j)
		switch p.Type {
		case "input_text", "text":
			if p.Text != nil && *p.Text != "" {
				blocks = append(blocks, &types.ContentBlockMemberText{Value: *p.Text})
			}
		case "input_image":
			if p.ImageURL == nil {
				if p.FileID != nil {
					return nil, streaming.InvalidParam(where, "%s: images by file_id live on OpenAI's platform; send the image as a data: URL in image_url", where)
				}
				return nil, streaming.InvalidParam(where, "%s.image_url is required", where)
			}
			img, e := imageBlock(*p.ImageURL, where)
			if e != nil {
				return nil, e
			}
			blocks = append(blocks, img)
		default:
			return nil, streaming.InvalidParam(where, "%s has type %q; supported content parts are input_text and input_image", where, streaming.Truncate(p.Type, 40))
		}
	}
	return blocks, nil
}

// functionOutput reads a function_call_output's output: a string, or
// input_text and input_image parts.
func functionOutput(raw json.RawMessage, param string) ([]types.ToolResultContentBlock, *streaming.Error) {
	var s string
	if len(raw) == 0 || string(raw) == "null" {
		return nil, streaming.InvalidParam(param, "%s is required", param)
	}
	if json.Unmarshal(raw, &s) == nil {
		return []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: s}}, nil
	}
	var parts []responsesPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, streaming.InvalidParam(param, "%s must be a string or an array of content parts", param)
	}
	blocks, e := inputParts(parts, param)
	if e != nil {
		return nil, e
	}
	var out []types.ToolResultContentBlock
	for _, b := range blocks {
		switch v := b.(type) {
		case *types.ContentBlockMemberText:
			out = append(out, &types.ToolResultContentBlockMemberText{Value: v.Value})
		case *types.ContentBlockMemberImage:
			out = append(out, &types.ToolResultContentBlockMemberImage{Value: v.Value})
		}
	}
	if len(out) == 0 {
		// Bedrock needs some content; an empty output is an empty text.
		out = append(out, &types.ToolResultContentBlockMemberText{Value: ""})
	}
	return out, nil
}

// reasoningBlock maps a reasoning item back to Bedrock's reasoning block:
// the summary text (the reasoning text as streamgate sent it) with the
// signature its encrypted_content carries, or a redacted block. nil when
// the item has no encrypted_content.
func reasoningBlock(it responsesItem, param string) (types.ContentBlock, *streaming.Error) {
	if it.EncryptedContent == nil || *it.EncryptedContent == "" {
		return nil, nil
	}
	enc := *it.EncryptedContent
	if data, ok := strings.CutPrefix(enc, redactedPrefix); ok {
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil || len(b) == 0 {
			return nil, streaming.InvalidParam(param+".encrypted_content", "%s.encrypted_content is not one this gateway gave out (bad redacted reasoning)", param)
		}
		return &types.ContentBlockMemberReasoningContent{Value: &types.ReasoningContentBlockMemberRedactedContent{Value: b}}, nil
	}
	var text strings.Builder
	for _, s := range it.Summary {
		text.WriteString(s.Text)
	}
	if text.Len() == 0 {
		var content []reasoningText
		if json.Unmarshal(it.Content, &content) == nil {
			for _, c := range content {
				text.WriteString(c.Text)
			}
		}
	}
	return &types.ContentBlockMemberReasoningContent{Value: &types.ReasoningContentBlockMemberReasoningText{Value: types.ReasoningTextBlock{
		Text: aws.String(text.String()), Signature: aws.String(enc),
	}}}, nil
}
