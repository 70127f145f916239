package streaming

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// call is a validated conversation with the operator's policy applied:
// what is sent to Bedrock (Converse or ConverseStream take the same
// fields), and what the client is told it got. Every protocol — /stream,
// OpenAI's Chat Completions, /generate — ends in a call, so the policy is
// applied in one place.
type call struct {
	modelID    string
	maxTokens  int
	messages   []types.Message
	system     []types.SystemContentBlock
	inference  *types.InferenceConfiguration
	tools      *types.ToolConfiguration
	additional document.Interface // additionalModelRequestFields (Claude's thinking)
}

func (c *call) streamInput() *bedrockruntime.ConverseStreamInput {
	return &bedrockruntime.ConverseStreamInput{
		ModelId:                      aws.String(c.modelID),
		Messages:                     c.messages,
		System:                       c.system,
		InferenceConfig:              c.inference,
		ToolConfig:                   c.tools,
		AdditionalModelRequestFields: c.additional,
	}
}

func (c *call) converseInput() *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{
		ModelId:                      aws.String(c.modelID),
		Messages:                     c.messages,
		System:                       c.system,
		InferenceConfig:              c.inference,
		ToolConfig:                   c.tools,
		AdditionalModelRequestFields: c.additional,
	}
}

// sampling is what a request asked for, before the operator's policy. The
// *Param fields name the request's own spelling of each field, so that
// errors use the words the client used.
type sampling struct {
	modelID                   *string
	maxTokens                 *int
	temperature, topP         *float64
	stop                      []string
	system                    []string
	modelParam, maxTokensName string
	temperatureName, topPName string
	stopName                  string
}

// streamgateNames are /stream's own field names.
var streamgateNames = sampling{modelParam: "modelId", maxTokensName: "maxTokens", temperatureName: "temperature", topPName: "topP", stopName: "stopSequences"}

// checkModel applies the allowlist to a requested model id; nil means the
// default model.
func (cfg *Config) checkModel(requested *string, param string) (string, *Error) {
	if requested == nil {
		return cfg.ModelID, nil
	}
	id := strings.TrimSpace(*requested)
	if id == "" {
		return "", invalidParam(param, "%s is empty; leave it out to use the default model %s", param, cfg.ModelID)
	}
	if !slices.Contains(cfg.AllowedModels, id) {
		return "", &Error{Status: http.StatusForbidden, Code: CodeModelNotAllowed, Param: param,
			Message: fmt.Sprintf("model %q is not allowed here; allowed: %s", truncate(id, 200), strings.Join(cfg.AllowedModels, ", "))}
	}
	return id, nil
}

// newCall applies the operator's policy to a request's sampling and
// messages: the allowlist, the token cap (a request may ask for less, never
// more), the default temperature and top-p, and SYSTEM_PROMPT before the
// request's own system text.
func (cfg *Config) newCall(s sampling, messages []types.Message) (*call, *Error) {
	modelID, apiErr := cfg.checkModel(s.modelID, s.modelParam)
	if apiErr != nil {
		return nil, apiErr
	}
	maxTokens := cfg.MaxTokens
	if s.maxTokens != nil {
		if *s.maxTokens < 1 {
			return nil, invalidParam(s.maxTokensName, "%s must be at least 1 (got %d)", s.maxTokensName, *s.maxTokens)
		}
		maxTokens = min(*s.maxTokens, cfg.MaxTokens)
	}
	inference := &types.InferenceConfiguration{MaxTokens: aws.Int32(int32(maxTokens))}
	temperature, topP := cfg.Temperature, cfg.TopP
	if s.temperature != nil {
		temperature = s.temperature
	}
	if s.topP != nil {
		topP = s.topP
	}
	if temperature != nil {
		if !inUnitRange(*temperature) {
			return nil, invalidParam(s.temperatureName, "%s must be from 0 to 1 (got %v)", s.temperatureName, *temperature)
		}
		inference.Temperature = aws.Float32(float32(*temperature))
	}
	if topP != nil {
		if !inUnitRange(*topP) {
			return nil, invalidParam(s.topPName, "%s must be from 0 to 1 (got %v)", s.topPName, *topP)
		}
		inference.TopP = aws.Float32(float32(*topP))
	}
	if len(s.stop) > maxStopSequences {
		return nil, invalidParam(s.stopName, "%s may hold at most %d entries (got %d)", s.stopName, maxStopSequences, len(s.stop))
	}
	for i, seq := range s.stop {
		if seq == "" || len(seq) > maxStopSequenceLen {
			return nil, invalidParam(s.stopName, "%s[%d] must be 1 to %d bytes long", s.stopName, i, maxStopSequenceLen)
		}
	}
	inference.StopSequences = s.stop

	var system []types.SystemContentBlock
	if cfg.SystemPrompt != "" {
		system = append(system, &types.SystemContentBlockMemberText{Value: cfg.SystemPrompt})
	}
	for _, text := range s.system {
		if strings.TrimSpace(text) != "" {
			system = append(system, &types.SystemContentBlockMemberText{Value: text})
		}
	}
	if len(messages) > maxMessages {
		return nil, invalid("a conversation may hold at most %d messages (got %d)", maxMessages, len(messages))
	}
	return &call{modelID: modelID, maxTokens: maxTokens, messages: messages, system: system, inference: inference}, nil
}

func inUnitRange(f float64) bool { return !math.IsNaN(f) && f >= 0 && f <= 1 }

// toolNamePattern is Bedrock's rule for tool names.
var toolNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// toolSpec is one tool as a request describes it: a name, a description
// and the JSON schema of its input, passed to Bedrock as it is.
type toolSpec struct {
	name, description string
	schema            any
}

// toolConfig builds Bedrock's toolConfig. choice is "auto", "any" (the
// model must call a tool), "tool" (it must call forced), or "none" (no
// toolConfig is sent at all). param prefixes field names in errors.
func toolConfig(tools []toolSpec, choice, forced, param string) (*types.ToolConfiguration, *Error) {
	if len(tools) == 0 || choice == "none" {
		if choice == "tool" || choice == "any" {
			return nil, invalidParam(param, "a tool choice of %q needs tools", choice)
		}
		return nil, nil
	}
	if len(tools) > maxTools {
		return nil, invalidParam(param, "%s may hold at most %d tools (got %d)", param, maxTools, len(tools))
	}
	cfg := &types.ToolConfiguration{}
	seen := map[string]bool{}
	for i, t := range tools {
		if !toolNamePattern.MatchString(t.name) {
			return nil, invalidParam(param, "%s[%d] has the name %q: tool names are 1 to 64 letters, digits, _ or -", param, i, truncate(t.name, 80))
		}
		if seen[t.name] {
			return nil, invalidParam(param, "%s[%d]: the tool name %q is used twice", param, i, t.name)
		}
		seen[t.name] = true
		schema := t.schema
		if schema == nil {
			schema = map[string]any{"type": "object", "properties": map[string]any{}}
		}
		if _, isObject := schema.(map[string]any); !isObject {
			return nil, invalidParam(param, "%s[%d]: the input schema must be a JSON object", param, i)
		}
		spec := types.ToolSpecification{Name: aws.String(t.name), InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(schema)}}
		if t.description != "" {
			spec.Description = aws.String(t.description)
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
			return nil, invalidParam(param, "the tool choice names %q, which is not among the tools", truncate(forced, 80))
		}
		cfg.ToolChoice = &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String(forced)}}
	default:
		return nil, invalidParam(param, "unknown tool choice %q", truncate(choice, 40))
	}
	return cfg, nil
}

func userText(s string) types.Message {
	return types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
