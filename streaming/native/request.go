package native

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming"
)

// Request is the body of POST /stream. Pointer fields tell "absent" from
// "zero", so that the operator's defaults apply only where the caller said
// nothing.
type Request struct {
	Prompt        *string   `json:"prompt"`
	Input         *string   `json:"input"` // alias of prompt
	Text          *string   `json:"text"`  // alias of prompt
	Messages      []Message `json:"messages"`
	System        *string   `json:"system"`
	ModelID       *string   `json:"modelId"`
	MaxTokens     *int      `json:"maxTokens"`
	Temperature   *float64  `json:"temperature"`
	TopP          *float64  `json:"topP"`
	StopSequences []string  `json:"stopSequences"`
	Tools         []Tool    `json:"tools"`
	// ToolChoice is "auto" (the default), "any", "none", or {"name": "tool"}.
	ToolChoice json.RawMessage `json:"toolChoice"`

	// What the Vercel AI SDK's useChat sends besides messages (a chat id,
	// and in v5 a trigger and a message id): accepted so that its default
	// body works, and otherwise ignored.
	ID        *string `json:"id"`
	Trigger   *string `json:"trigger"`
	MessageID *string `json:"messageId"`
}

// Message is one turn of a conversation. Content is its text; a message
// without content may carry it as text parts instead (the Vercel AI SDK's
// UI messages).
type Message struct {
	Role      string          `json:"role"`
	Content   *string         `json:"content"`
	Parts     []messagePart   `json:"parts"`
	ID        json.RawMessage `json:"id"`
	CreatedAt json.RawMessage `json:"createdAt"`
}

type messagePart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Tool is a tool the model may call, as on Bedrock: its input schema is a
// JSON schema object, passed on as it is.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	InputSchema any    `json:"inputSchema"`
}

// streamSchema is the shape checkKeys holds /stream's keys to.
var streamSchema = &streaming.KeySchema{Fields: map[string]*streaming.KeySchema{
	"prompt": nil, "input": nil, "text": nil, "system": nil, "modelId": nil, "maxTokens": nil,
	"temperature": nil, "topP": nil, "stopSequences": nil, "toolChoice": nil, "id": nil, "trigger": nil, "messageId": nil,
	"messages": {Items: &streaming.KeySchema{Fields: map[string]*streaming.KeySchema{
		"role": nil, "content": nil, "id": nil, "createdAt": nil,
		"parts": {Items: &streaming.KeySchema{Fields: streaming.FieldsOf("type", "text")}},
	}}},
	"tools": {Items: &streaming.KeySchema{Fields: streaming.FieldsOf("name", "description", "inputSchema")}},
}}

const streamFields = "prompt (or input, text), messages, system, modelId, maxTokens, temperature, topP, stopSequences, tools, toolChoice"

// names are /stream's own names for the sampling fields.
var names = streaming.FieldNames{Model: "modelId", MaxTokens: "maxTokens", Temperature: "temperature", TopP: "topP", Stop: "stopSequences"}

// readRequest reads and validates a POST /stream request. Every way a
// request can be wrong ends here with an *Error, before Bedrock is called.
func readRequest(cfg *streaming.Config, w http.ResponseWriter, r *http.Request) (*streaming.Call, *streaming.Error) {
	body, apiErr := cfg.ReadJSON(w, r)
	if apiErr != nil {
		return nil, apiErr
	}
	req, apiErr := decodeRequest(body)
	if apiErr != nil {
		return nil, apiErr
	}
	return streamCall(cfg, req)
}

// decodeRequest parses the JSON body strictly: unknown fields, duplicate
// keys and keys in the wrong case are errors.
func decodeRequest(body []byte) (*Request, *streaming.Error) {
	var req Request
	if e := streaming.DecodeStrict(body, &req, streamSchema, streamFields, expectedType); e != nil {
		return nil, e
	}
	return &req, nil
}

func expectedType(field string) string {
	switch {
	case field == "maxTokens":
		return "a whole number"
	case field == "temperature" || field == "topP":
		return "a number"
	case field == "messages":
		return `an array of {"role", "content"} objects`
	case field == "stopSequences":
		return "an array of strings"
	case field == "tools":
		return `an array of {"name", "description", "inputSchema"} objects`
	default:
		return "a string"
	}
}

// streamCall applies the operator's policy to a decoded /stream request.
func streamCall(cfg *streaming.Config, req *Request) (*streaming.Call, *streaming.Error) {
	messages, system, apiErr := conversation(req)
	if apiErr != nil {
		return nil, apiErr
	}
	s := streaming.Sampling{Names: names, ModelID: req.ModelID, MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP, Stop: req.StopSequences}
	if req.System != nil {
		s.System = append(s.System, *req.System)
	}
	s.System = append(s.System, system...)
	c, apiErr := cfg.NewCall(s, messages)
	if apiErr != nil {
		return nil, apiErr
	}
	choice, forced, apiErr := streamToolChoice(req.ToolChoice)
	if apiErr != nil {
		return nil, apiErr
	}
	specs := make([]streaming.ToolSpec, len(req.Tools))
	for i, t := range req.Tools {
		specs[i] = streaming.ToolSpec{Name: t.Name, Description: t.Description, Schema: t.InputSchema}
	}
	if c.Tools, apiErr = streaming.ToolConfig(specs, choice, forced, "tools"); apiErr != nil {
		return nil, apiErr
	}
	return c, nil
}

func streamToolChoice(raw json.RawMessage) (choice, forced string, e *streaming.Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "auto", "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "any", "none":
			return s, "", nil
		}
		return "", "", streaming.InvalidParam("toolChoice", `toolChoice must be "auto", "any", "none" or {"name": "a tool"} (got %q)`, streaming.Truncate(s, 40))
	}
	var named struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Name == "" {
		return "", "", streaming.InvalidParam("toolChoice", `toolChoice must be "auto", "any", "none" or {"name": "a tool"}`)
	}
	return "tool", named.Name, nil
}

// conversation turns the prompt or the messages into Bedrock messages:
// exactly one of them, starting and ending with the user, alternating.
// System messages at the start of messages (as chat UIs send them) become
// system text.
func conversation(req *Request) ([]types.Message, []string, *streaming.Error) {
	var prompt *string
	var given []string
	for _, alias := range []struct {
		name  string
		value *string
	}{{"prompt", req.Prompt}, {"input", req.Input}, {"text", req.Text}} {
		if alias.value != nil {
			given = append(given, alias.name)
			prompt = alias.value
		}
	}
	switch {
	case len(given) > 1:
		return nil, nil, streaming.Invalid("send the prompt once: %s are aliases of one field", strings.Join(given, " and "))
	case prompt != nil && req.Messages != nil:
		return nil, nil, streaming.Invalid("send either %s or messages, not both", given[0])
	case prompt == nil && req.Messages == nil:
		return nil, nil, streaming.Invalid(`the request has no prompt: send "prompt" (a string) or "messages" (an array of {"role", "content"})`)
	case prompt != nil:
		if strings.TrimSpace(*prompt) == "" {
			return nil, nil, streaming.InvalidParam(given[0], "%s is empty", given[0])
		}
		return []types.Message{streaming.UserText(*prompt)}, nil, nil
	}
	if len(req.Messages) == 0 {
		return nil, nil, streaming.InvalidParam("messages", "messages is empty; it must hold at least one user message")
	}
	if len(req.Messages) > streaming.MaxMessages {
		return nil, nil, streaming.InvalidParam("messages", "messages may hold at most %d entries (got %d)", streaming.MaxMessages, len(req.Messages))
	}
	var system []string
	out := make([]types.Message, 0, len(req.Messages))
	for i, m := range req.Messages {
		text, apiErr := m.text(i)
		if apiErr != nil {
			return nil, nil, apiErr
		}
		if m.Role == "system" {
			if len(out) > 0 {
				return nil, nil, streaming.InvalidParam("messages", "messages[%d]: system messages must come before the conversation", i)
			}
			system = append(system, text)
			continue
		}
		want := "user"
		if len(out)%2 == 1 {
			want = "assistant"
		}
		switch {
		case m.Role != "user" && m.Role != "assistant":
			return nil, nil, streaming.InvalidParam("messages", `messages[%d].role must be "user", "assistant" or "system" (got %q)`, i, streaming.Truncate(m.Role, 40))
		case m.Role != want:
			return nil, nil, streaming.InvalidParam("messages", "messages must start with user and alternate user, assistant, user, ...: messages[%d].role is %q, expected %q", i, m.Role, want)
		case strings.TrimSpace(text) == "":
			return nil, nil, streaming.InvalidParam("messages", "messages[%d].content is empty", i)
		}
		out = append(out, types.Message{
			Role:    types.ConversationRole(m.Role),
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: text}},
		})
	}
	if len(out) == 0 {
		return nil, nil, streaming.InvalidParam("messages", "messages holds no user message")
	}
	if out[len(out)-1].Role != types.ConversationRoleUser {
		return nil, nil, streaming.InvalidParam("messages", "the last message must be from the user, so that there is something to answer")
	}
	return out, system, nil
}

// text is the message's content, or its text parts joined when it has no
// content.
func (m Message) text(i int) (string, *streaming.Error) {
	if m.Content != nil {
		return *m.Content, nil
	}
	var b strings.Builder
	for j, p := range m.Parts {
		switch p.Type {
		case "text":
			b.WriteString(p.Text)
		case "step-start", "reasoning", "source-url", "source-document":
			// UI bookkeeping of earlier turns: not part of what was said.
		default:
			return "", streaming.InvalidParam("messages", "messages[%d].parts[%d] has type %q; only text parts are supported", i, j, streaming.Truncate(p.Type, 40))
		}
	}
	return b.String(), nil
}
