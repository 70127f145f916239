package streaming

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
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
}

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// call is a validated request with the operator's policy applied: what is
// sent to Bedrock, and what the client is told it got.
type call struct {
	modelID   string
	maxTokens int
	input     *bedrockruntime.ConverseStreamInput
}

// readRequest reads and validates a POST /stream request. Every way a
// request can be wrong ends here with an *Error, before Bedrock is called.
func (cfg *Config) readRequest(w http.ResponseWriter, r *http.Request) (*call, *Error) {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if r.ContentLength > cfg.MaxBodyBytes {
		return nil, tooLarge(cfg.MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, tooLarge(cfg.MaxBodyBytes)
		}
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the request body could not be read"}
	}
	req, apiErr := decodeRequest(body)
	if apiErr != nil {
		return nil, apiErr
	}
	return cfg.newCall(req)
}

func checkJSONContentType(header string) *Error {
	mediaType, _, err := mime.ParseMediaType(header)
	if header == "" || err != nil || mediaType != "application/json" {
		got := header
		if got == "" {
			got = "none"
		}
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia,
			Message: "the body must be JSON: send Content-Type: application/json (got " + truncate(got, 80) + ")"}
	}
	return nil
}

func tooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
		Message: fmt.Sprintf("the request body is larger than %d bytes", limit)}
}

// decodeRequest parses the JSON body strictly: unknown fields are errors, so
// that a misspelt "max_tokens" is reported instead of silently ignored.
func decodeRequest(body []byte) (*Request, *Error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON,
			Message: `the body is empty; send a JSON object such as {"prompt": "Hello"}`}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		return nil, jsonError(err)
	}
	if dec.More() {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON,
			Message: "the body must be a single JSON object; found more data after it"}
	}
	return &req, nil
}

func jsonError(err error) *Error {
	e := &Error{Status: http.StatusBadRequest, Code: CodeInvalidJSON}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		e.Message = fmt.Sprintf("the body is not valid JSON (at byte %d): %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ) && typ.Field == "":
		e.Message = "the body must be a JSON object"
	case errors.As(err, &typ):
		e.Code = CodeInvalidRequest
		e.Message = fmt.Sprintf("field %q must be %s, not a JSON %s", typ.Field, expectedType(typ.Field), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.Message = "the body is not valid JSON: it ends too early"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		e.Code = CodeInvalidRequest
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		e.Message = "unknown field " + truncate(field, 60) + "; known fields are prompt (or input, text), messages, system, modelId, maxTokens, temperature, topP, stopSequences"
	default:
		e.Message = "the body is not valid JSON"
	}
	return e
}

func expectedType(field string) string {
	switch {
	case field == "maxTokens":
		return "a whole number"
	case field == "temperature" || field == "topP":
		return "a number"
	case field == "messages":
		return `an array of {"role", "content"} objects`
	case strings.HasPrefix(field, "messages."):
		return "a string"
	case field == "stopSequences":
		return "an array of strings"
	case strings.HasPrefix(field, "stopSequences"):
		return "a string"
	default:
		return "a string"
	}
}

// newCall applies the operator's policy to a decoded request.
func (cfg *Config) newCall(req *Request) (*call, *Error) {
	messages, err := conversation(req)
	if err != nil {
		return nil, err
	}
	modelID := cfg.ModelID
	if req.ModelID != nil {
		modelID = strings.TrimSpace(*req.ModelID)
		if modelID == "" {
			return nil, invalid("modelId is empty; leave it out to use the default model %s", cfg.ModelID)
		}
	}
	if !slices.Contains(cfg.AllowedModels, modelID) {
		return nil, &Error{Status: http.StatusForbidden, Code: CodeModelNotAllowed,
			Message: fmt.Sprintf("model %q is not allowed here; allowed: %s", truncate(modelID, 200), strings.Join(cfg.AllowedModels, ", "))}
	}

	maxTokens := cfg.MaxTokens
	if req.MaxTokens != nil {
		if *req.MaxTokens < 1 {
			return nil, invalid("maxTokens must be at least 1 (got %d)", *req.MaxTokens)
		}
		maxTokens = min(*req.MaxTokens, cfg.MaxTokens)
	}
	inference := &types.InferenceConfiguration{MaxTokens: aws.Int32(int32(maxTokens))}
	temperature, topP := cfg.Temperature, cfg.TopP
	if req.Temperature != nil {
		temperature = req.Temperature
	}
	if req.TopP != nil {
		topP = req.TopP
	}
	if temperature != nil {
		if !inUnitRange(*temperature) {
			return nil, invalid("temperature must be from 0 to 1 (got %v)", *temperature)
		}
		inference.Temperature = aws.Float32(float32(*temperature))
	}
	if topP != nil {
		if !inUnitRange(*topP) {
			return nil, invalid("topP must be from 0 to 1 (got %v)", *topP)
		}
		inference.TopP = aws.Float32(float32(*topP))
	}
	if len(req.StopSequences) > maxStopSequences {
		return nil, invalid("stopSequences may hold at most %d entries (got %d)", maxStopSequences, len(req.StopSequences))
	}
	for i, s := range req.StopSequences {
		if s == "" || len(s) > maxStopSequenceLen {
			return nil, invalid("stopSequences[%d] must be 1 to %d bytes long", i, maxStopSequenceLen)
		}
	}
	inference.StopSequences = req.StopSequences

	var system []types.SystemContentBlock
	if cfg.SystemPrompt != "" {
		system = append(system, &types.SystemContentBlockMemberText{Value: cfg.SystemPrompt})
	}
	if req.System != nil && strings.TrimSpace(*req.System) != "" {
		system = append(system, &types.SystemContentBlockMemberText{Value: *req.System})
	}
	return &call{
		modelID:   modelID,
		maxTokens: maxTokens,
		input: &bedrockruntime.ConverseStreamInput{
			ModelId:         aws.String(modelID),
			Messages:        messages,
			System:          system,
			InferenceConfig: inference,
		},
	}, nil
}

func inUnitRange(f float64) bool { return !math.IsNaN(f) && f >= 0 && f <= 1 }

// conversation turns the prompt or the messages into Bedrock messages:
// exactly one of them, starting and ending with the user, alternating.
func conversation(req *Request) ([]types.Message, *Error) {
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
		return nil, invalid("send the prompt once: %s are aliases of one field", strings.Join(given, " and "))
	case prompt != nil && req.Messages != nil:
		return nil, invalid("send either %s or messages, not both", given[0])
	case prompt == nil && req.Messages == nil:
		return nil, invalid(`the request has no prompt: send "prompt" (a string) or "messages" (an array of {"role", "content"})`)
	case prompt != nil:
		if strings.TrimSpace(*prompt) == "" {
			return nil, invalid("%s is empty", given[0])
		}
		return []types.Message{userText(*prompt)}, nil
	}
	if len(req.Messages) == 0 {
		return nil, invalid("messages is empty; it must hold at least one user message")
	}
	if len(req.Messages) > maxMessages {
		return nil, invalid("messages may hold at most %d entries (got %d)", maxMessages, len(req.Messages))
	}
	out := make([]types.Message, 0, len(req.Messages))
	for i, m := range req.Messages {
		want := "user"
		if i%2 == 1 {
			want = "assistant"
		}
		switch {
		case m.Role != "user" && m.Role != "assistant":
			return nil, invalid(`messages[%d].role must be "user" or "assistant" (got %q)`, i, truncate(m.Role, 40))
		case m.Role != want:
			return nil, invalid("messages must start with user and alternate user, assistant, user, ...: messages[%d].role is %q, expected %q", i, m.Role, want)
		case strings.TrimSpace(m.Content) == "":
			return nil, invalid("messages[%d].content is empty", i)
		}
		out = append(out, types.Message{
			Role:    types.ConversationRole(m.Role),
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: m.Content}},
		})
	}
	if req.Messages[len(req.Messages)-1].Role != "user" {
		return nil, invalid("the last message must be from the user, so that there is something to answer")
	}
	return out, nil
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
