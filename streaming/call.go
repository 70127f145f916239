package streaming

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// Call is a validated conversation with the operator's policy applied:
// what is sent to Bedrock (Converse or ConverseStream take the same
// fields). Every dialect reads its request into a Call (through NewCall),
// so the policy is applied in one place. A dialect may add what only its
// protocol can ask for (tools, thinking) to the Call NewCall made.
type Call struct {
	ModelID    string
	MaxTokens  int
	Messages   []types.Message
	System     []types.SystemContentBlock
	Inference  *types.InferenceConfiguration
	Tools      *types.ToolConfiguration
	Additional document.Interface // additionalModelRequestFields (Claude's thinking)
}

func (c *Call) streamInput() *bedrockruntime.ConverseStreamInput {
	return &bedrockruntime.ConverseStreamInput{
		ModelId:                      aws.String(c.ModelID),
		Messages:                     c.Messages,
		System:                       c.System,
		InferenceConfig:              c.Inference,
		ToolConfig:                   c.Tools,
		AdditionalModelRequestFields: c.Additional,
	}
}

func (c *Call) converseInput() *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{
		ModelId:                      aws.String(c.ModelID),
		Messages:                     c.Messages,
		System:                       c.System,
		InferenceConfig:              c.Inference,
		ToolConfig:                   c.Tools,
		AdditionalModelRequestFields: c.Additional,
	}
}

// Sampling is what a request asked for, before the operator's policy: nil
// where the request said nothing. Names are the request's own spelling of
// each field, so that errors use the words the client used.
type Sampling struct {
	ModelID           *string
	MaxTokens         *int
	Temperature, TopP *float64
	Stop              []string
	System            []string
	Names             FieldNames
}

// FieldNames are a protocol's names for the sampling fields.
type FieldNames struct {
	Model, MaxTokens, Temperature, TopP, Stop string
}

// CheckModel maps a requested model name through MODEL_ALIASES and
// applies the allowlist to the Bedrock id it names; nil means the default
// model. param names the request's field in errors.
func (cfg *Config) CheckModel(requested *string, param string) (string, *Error) {
	if requested == nil {
		return cfg.ModelID, nil
	}
	id := strings.TrimSpace(*requested)
	if id == "" {
		return "", InvalidParam(param, "%s is empty; leave it out to use the default model %s", param, cfg.ModelID)
	}
	if alias, ok := cfg.ModelAliases[id]; ok {
		id = alias
	}
	if !slices.Contains(cfg.AllowedModels, id) {
		asked := Truncate(id, 200)
		if id != strings.TrimSpace(*requested) {
			asked = Truncate(*requested, 100) + " (" + id + ")"
		}
		return "", &Error{Status: http.StatusForbidden, Code: CodeModelNotAllowed, Param: param,
			Message: fmt.Sprintf("model %q is not allowed here; allowed: %s", asked, strings.Join(cfg.AllowedModels, ", "))}
	}
	return id, nil
}

// NewCall applies the operator's policy to a request's sampling and
// messages: the allowlist, the token cap (a request may ask for less, never
// more), the default temperature and top-p, and SYSTEM_PROMPT before the
// request's own system text.
func (cfg *Config) NewCall(s Sampling, messages []types.Message) (*Call, *Error) {
	modelID, apiErr := cfg.CheckModel(s.ModelID, s.Names.Model)
	if apiErr != nil {
		return nil, apiErr
	}
	maxTokens := cfg.MaxTokens
	if s.MaxTokens != nil {
		if *s.MaxTokens < 1 {
			return nil, InvalidParam(s.Names.MaxTokens, "%s must be at least 1 (got %d)", s.Names.MaxTokens, *s.MaxTokens)
		}
		maxTokens = min(*s.MaxTokens, cfg.MaxTokens)
	}
	inference := &types.InferenceConfiguration{MaxTokens: aws.Int32(int32(maxTokens))}
	temperature, topP := cfg.Temperature, cfg.TopP
	if s.Temperature != nil {
		temperature = s.Temperature
	}
	if s.TopP != nil {
		topP = s.TopP
	}
	if temperature != nil {
		if !inUnitRange(*temperature) {
			return nil, InvalidParam(s.Names.Temperature, "%s must be from 0 to 1 (got %v)", s.Names.Temperature, *temperature)
		}
		inference.Temperature = aws.Float32(float32(*temperature))
	}
	if topP != nil {
		if !inUnitRange(*topP) {
			return nil, InvalidParam(s.Names.TopP, "%s must be from 0 to 1 (got %v)", s.Names.TopP, *topP)
		}
		inference.TopP = aws.Float32(float32(*topP))
	}
	if len(s.Stop) > maxStopSequences {
		return nil, InvalidParam(s.Names.Stop, "%s may hold at most %d entries (got %d)", s.Names.Stop, maxStopSequences, len(s.Stop))
	}
	for i, seq := range s.Stop {
		if seq == "" || len(seq) > maxStopSequenceLen {
			return nil, InvalidParam(s.Names.Stop, "%s[%d] must be 1 to %d bytes long", s.Names.Stop, i, maxStopSequenceLen)
		}
	}
	inference.StopSequences = s.Stop

	var system []types.SystemContentBlock
	if cfg.SystemPrompt != "" {
		system = append(system, &types.SystemContentBlockMemberText{Value: cfg.SystemPrompt})
	}
	for _, text := range s.System {
		if strings.TrimSpace(text) != "" {
			system = append(system, &types.SystemContentBlockMemberText{Value: text})
		}
	}
	if len(messages) > MaxMessages {
		return nil, Invalid("a conversation may hold at most %d messages (got %d)", MaxMessages, len(messages))
	}
	return &Call{ModelID: modelID, MaxTokens: maxTokens, Messages: messages, System: system, Inference: inference}, nil
}

func inUnitRange(f float64) bool { return !math.IsNaN(f) && f >= 0 && f <= 1 }

// validToolName is Bedrock's rule for tool names, ^[a-zA-Z0-9_-]{1,64}$.
// A loop, not a regexp: that one compiled to 64 repeated states, 1.2 ms of
// package initialisation at every Lambda cold start (GODEBUG=inittrace=1).
func validToolName(name string) bool {
	if len(name) < 1 || len(name) > 64 {
		return false
	}
	for i := range len(name) {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// ToolSpec is one tool as a request describes it: a name, a description
// and the JSON schema of its input, passed to Bedrock as it is.
type ToolSpec struct {
	Name, Description string
	Schema            any
}

// ToolConfig builds Bedrock's toolConfig. choice is "auto", "any" (the
// model must call a tool), "tool" (it must call forced), or "none" (no
// toolConfig is sent at all). param prefixes field names in errors.
func ToolConfig(tools []ToolSpec, choice, forced, param string) (*types.ToolConfiguration, *Error) {
	if len(tools) == 0 || choice == "none" {
		if choice == "tool" || choice == "any" {
			return nil, InvalidParam(param, "a tool choice of %q needs tools", choice)
		}
		return nil, nil
	}
	if len(tools) > maxTools {
		return nil, InvalidParam(param, "%s may hold at most %d tools (got %d)", param, maxTools, len(tools))
	}
	cfg := &types.ToolConfiguration{}
	seen := map[string]bool{}
	for i, t := range tools {
		if !validToolName(t.Name) {
			return nil, InvalidParam(param, "%s[%d] has the name %q: tool names are 1 to 64 letters, digits, _ or -", param, i, Truncate(t.Name, 80))
		}
		if seen[t.Name] {
			return nil, InvalidParam(param, "%s[%d]: the tool name %q is used twice", param, i, t.Name)
		}
		seen[t.Name] = true
		schema := t.Schema
		if schema == nil {
			schema = map[string]any{"type": "object", "properties": map[string]any{}}
		}
		if _, isObject := schema.(map[string]any); !isObject {
			return nil, InvalidParam(param, "%s[%d]: the input schema must be a JSON object", param, i)
		}
		spec := types.ToolSpecification{Name: aws.String(t.Name), InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(schema)}}
		if t.Description != "" {
			spec.Description = aws.String(t.Description)
		}
		cfg.Tools = append(cfg.Tools, &types.ToolMemberToolSpec{Value: spec})
	}
	switch choice {
	case "", "auto":
		cfg.ToolChoice = &types.ToolChoiceMemberAuto{}
	case "any":
		cfg.ToolChoice = &types.ToolChoiceMemberAny{}
	case "tool":
		if !seen[forced] {
			return nil, InvalidParam(param, "the tool choice names %q, which is not among the tools", Truncate(forced, 80))
		}
		cfg.ToolChoice = &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String(forced)}}
	default:
		return nil, InvalidParam(param, "unknown tool choice %q", Truncate(choice, 40))
	}
	return cfg, nil
}

// UserText is a user turn of plain text.
func UserText(s string) types.Message {
	return types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}}
}

// Truncate cuts s to at most n bytes (on a rune boundary) and marks the cut
// with "…": every echo of a client's input is capped with it.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
