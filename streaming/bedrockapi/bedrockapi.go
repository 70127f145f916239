// Package bedrockapi is Bedrock's own protocol, passed through under the
// gateway's keys and policy, for clients that speak to Bedrock itself:
// Claude Code in its Bedrock mode (CLAUDE_CODE_USE_BEDROCK=1 with
// ANTHROPIC_BEDROCK_BASE_URL set to the gateway), the Anthropic SDKs'
// Bedrock clients, an AWS SDK with its endpoint set to the gateway. It
// serves InvokeModel (POST /model/{modelId}/invoke),
// InvokeModelWithResponseStream (POST
// /model/{modelId}/invoke-with-response-stream: Bedrock's event-stream
// frames relayed byte for byte as they arrive) and the control plane's
// ListInferenceProfiles (GET /inference-profiles, the profiles the
// allowlist names). The gateway signs the calls with its own credentials:
// the client needs none (CLAUDE_CODE_SKIP_BEDROCK_AUTH=1), only the
// gateway's API key when API_KEYS is set (AWS_BEARER_TOKEN_BEDROCK sends
// it as Authorization: Bearer). Errors take Bedrock's shape: a JSON
// {"message"} with the exception's name in X-Amzn-ErrorType.
package bedrockapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/streamgate/streamgate/streaming"
)

// dialect serves the routes through the Handler they are registered with.
type dialect struct{ h *streaming.Handler }

// Register adds Bedrock's routes to h.
func Register(h *streaming.Handler) {
	d := &dialect{h}
	h.Route("/model/{modelId}/invoke", streaming.Methods{"POST": func(w http.ResponseWriter, r *http.Request) { d.serveInvoke(w, r, false) }})
	h.Route("/model/{modelId}/invoke-with-response-stream", streaming.Methods{"POST": func(w http.ResponseWriter, r *http.Request) { d.serveInvoke(w, r, true) }})
	h.Route("/inference-profiles", streaming.Methods{"GET": d.serveInferenceProfiles})
	h.ShapeErrors("/model/", nil, errorBody)
	h.ShapeErrors("/inference-profiles", nil, errorBody)
}

// exception is Bedrock's name for an error of the gateway's.
func exception(e *streaming.Error) string {
	switch {
	case e.Status == http.StatusUnauthorized:
		return "UnrecognizedClientException"
	case e.Status == http.StatusForbidden:
		return "AccessDeniedException"
	case e.Status == http.StatusNotFound:
		return "ResourceNotFoundException"
	case e.Status == http.StatusTooManyRequests:
		return "ThrottlingException"
	case e.Status == http.StatusServiceUnavailable:
		return "ServiceUnavailableException"
	case e.Status == http.StatusGatewayTimeout:
		return "ModelTimeoutException"
	case e.Status >= 500:
		return "InternalServerException"
	}
	return "ValidationException"
}

// errorBody is Bedrock's error shape: the ErrorShape of these routes.
func errorBody(hdr http.Header, e *streaming.Error) (int, any) {
	if hdr != nil {
		hdr.Set("X-Amzn-ErrorType", exception(e))
		hdr.Set("X-Amzn-RequestId", hdr.Get("X-Request-Id"))
	}
	return e.Status, map[string]string{"message": e.Message}
}

// serveInvoke relays one InvokeModel or InvokeModelWithResponseStream
// call: the allowlist (after MODEL_ALIASES) on the model of the path, and
// on an Anthropic body (it carries anthropic_version) the token cap on
// max_tokens (and an enabled thinking's budget kept below it) and
// SYSTEM_PROMPT before its system text; the body is
// otherwise sent as it came, and the answer comes back as Bedrock gave it.
func (d *dialect) serveInvoke(w http.ResponseWriter, r *http.Request, stream bool) {
	cfg := d.h.Config()
	requested := r.PathValue("modelId")
	modelID, e := cfg.CheckModel(&requested, "modelId")
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	body, e := cfg.ReadJSON(w, r)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	body, e = applyPolicy(cfg, body, streaming.LogOf(r))
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	inv := &streaming.Invocation{ModelID: modelID, Body: body}
	if stream {
		d.h.InvokeStream(w, r, inv)
		return
	}
	res, e := d.h.Invoke(r, inv)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	for name, values := range res.Header {
		w.Header()[name] = values
	}
	w.Header().Set("Content-Type", res.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Body)
}

// applyPolicy applies the operator's policy to an Anthropic body and
// leaves any other model's body as it is.
func applyPolicy(cfg *streaming.Config, body []byte, rec *streaming.RequestLog) ([]byte, *streaming.Error) {
	var fields map[string]json.RawMessage
	if e := streaming.DecodeLenient(body, &fields); e != nil {
		return nil, e
	}
	if _, anthropicBody := fields["anthropic_version"]; !anthropicBody {
		return body, nil
	}
	changed := false
	if raw, ok := fields["max_tokens"]; ok {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil || n < 1 {
			return nil, streaming.InvalidParam("max_tokens", "max_tokens must be a whole number of at least 1")
		}
		if n > cfg.MaxTokens {
			fields["max_tokens"], changed = json.RawMessage(jsonInt(cfg.MaxTokens)), true
			if thinking, ok := withinCap(fields["thinking"], cfg.MaxTokens); ok {
				fields["thinking"] = thinking
				rec.Dropped("thinking.budget_tokens")
			}
		}
	}
	if cfg.SystemPrompt != "" {
		system, e := withSystemPrompt(cfg.SystemPrompt, fields["system"])
		if e != nil {
			return nil, e
		}
		fields["system"], changed = system, true
	}
	if raw, ok := fields["metadata"]; ok {
		var m struct {
			UserID *string `json:"user_id"`
		}
		if json.Unmarshal(raw, &m) == nil && m.UserID != nil {
			rec.SetUser(*m.UserID)
		}
	}
	if !changed {
		return body, nil
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, streaming.Invalid("the body could not be re-encoded")
	}
	return out, nil
}

// minThinkingBudget is Claude's smallest thinking budget.
const minThinkingBudget = 1024

// withinCap keeps an enabled thinking's budget below maxTokens, as Claude
// requires, when the token cap has lowered max_tokens under it (Claude
// Code asks for 32,000 tokens and a budget just below): the budget becomes
// maxTokens-1, or thinking is disabled when that leaves less than Claude's
// smallest budget. ok is false when thinking needs no change.
func withinCap(raw json.RawMessage, maxTokens int) (json.RawMessage, bool) {
	var t map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &t) != nil {
		return nil, false
	}
	var typ string
	var budget int
	if json.Unmarshal(t["type"], &typ) != nil || typ != "enabled" || json.Unmarshal(t["budget_tokens"], &budget) != nil || budget < maxTokens {
		return nil, false
	}
	if maxTokens-1 < minThinkingBudget {
		return json.RawMessage(`{"type":"disabled"}`), true
	}
	t["budget_tokens"] = jsonInt(maxTokens - 1)
	out, err := json.Marshal(t)
	if err != nil {
		return nil, false
	}
	return out, true
}

func jsonInt(n int) []byte {
	b, _ := json.Marshal(n)
	return b
}

// withSystemPrompt puts the operator's system prompt before a body's own
// system text (a string or text blocks).
func withSystemPrompt(prompt string, system json.RawMessage) (json.RawMessage, *streaming.Error) {
	blocks := []any{map[string]string{"type": "text", "text": prompt}}
	raw := strings.TrimSpace(string(system))
	switch {
	case raw == "" || raw == "null":
	case strings.HasPrefix(raw, `"`):
		var s string
		if json.Unmarshal(system, &s) != nil {
			return nil, streaming.InvalidParam("system", "system must be a string or a list of text blocks")
		}
		if s != "" {
			blocks = append(blocks, map[string]string{"type": "text", "text": s})
		}
	default:
		var own []json.RawMessage
		if json.Unmarshal(system, &own) != nil {
			return nil, streaming.InvalidParam("system", "system must be a string or a list of text blocks")
		}
		for _, b := range own {
			blocks = append(blocks, b)
		}
	}
	out, err := json.Marshal(blocks)
	if err != nil {
		return nil, streaming.Invalid("the system text could not be encoded")
	}
	return out, nil
}
