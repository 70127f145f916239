package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
)

// countTokens answers CountTokens (POST /model/{modelId}/count-tokens):
// {"input": {"converse": {messages, system, toolConfig,
// additionalModelRequestFields}}} or {"input": {"invokeModel": {"body":
// base64}}} → {"inputTokens": n}, the inputTokens the same request would
// report (without a cache), after the same validation. CountTokens takes
// foundation models only: an inference profile id is refused, as Bedrock
// refuses it.
func countTokens(w http.ResponseWriter, m *model, modelID string, body []byte) result {
	fail := func(err error) result {
		writeError(w, http.StatusBadRequest, "ValidationException", err.Error())
		return result{status: http.StatusBadRequest, outcome: outcomeError, errorType: "ValidationException", errorMessage: err.Error()}
	}
	if strings.Contains(modelID, "inference-profile/") || FoundationModelPrefix(modelID) != "" {
		return fail(invalidf("The provided model identifier is invalid: CountTokens takes a foundation model id, not an inference profile."))
	}
	var req struct {
		Input *struct {
			Converse    json.RawMessage `json:"converse"`
			InvokeModel *struct {
				Body []byte `json:"body"`
			} `json:"invokeModel"`
		} `json:"input"`
	}
	if err := decodeStrictJSON(body, &req); err != nil {
		return fail(err)
	}
	if req.Input == nil || (len(req.Input.Converse) == 0) == (req.Input.InvokeModel == nil) {
		return fail(invalidf("1 validation error detected: Value at 'input' failed to satisfy constraint: exactly one of converse and invokeModel must be set"))
	}
	var conv *conversation
	var err error
	switch {
	case req.Input.InvokeModel != nil:
		if m.kind == kindText {
			conv, err = parseTitanText(req.Input.InvokeModel.Body)
		} else {
			conv, err = parseAnthropic(req.Input.InvokeModel.Body, m)
		}
	default:
		conv, err = parseConverse(req.Input.Converse, m)
	}
	if err != nil {
		return fail(err)
	}
	return writeJSONAnswer(w, result{inputTokens: conv.inputTokens}, nil, "", map[string]int{"inputTokens": conv.inputTokens}, nil)
}

// FoundationModelPrefix is the geography prefix of a system-defined
// inference profile id ("us."), or "" for a foundation model id.
func FoundationModelPrefix(id string) string {
	for _, p := range inferenceProfilePrefixes {
		if strings.HasPrefix(id, p) {
			return p
		}
	}
	return ""
}
