package streaming

import (
	"mime"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// generateRequest is the body of POST /generate, the text-to-text API
// streamgate grew from: {"input": "..."} → {"output": "..."}.
type generateRequest struct {
	Input       *string  `json:"input"`
	Prompt      *string  `json:"prompt"` // alias of input
	ModelID     *string  `json:"modelId"`
	MaxTokens   *int     `json:"maxTokens"`
	Temperature *float64 `json:"temperature"`
	TopP        *float64 `json:"topP"`
}

var generateSchema = &keySchema{fields: fieldsOf("input", "prompt", "modelId", "maxTokens", "temperature", "topP")}

const generateFields = "input (or prompt), modelId, maxTokens, temperature, topP"

// missingInput is the original API's answer to a body without input.
const missingInput = "Missing 'input' in request body"

// serveGenerate answers POST /generate through Converse, or, with
// ?stream=1 (or an Accept that names a streaming format), streams the
// same answer through the relay of /stream.
func (h *Handler) serveGenerate(w http.ResponseWriter, r *http.Request) {
	rec := logOf(r)
	streamed, format, e := generateWantsStream(r)
	if e == nil {
		var c *call
		if c, e = h.cfg.generateCall(w, r); e == nil {
			if streamed {
				h.relay(w, r, c, streamgateEncoding(format))
				return
			}
			rec.model, rec.format = c.modelID, "json"
			var a *answer
			if a, e = h.converse(r, c); e == nil {
				writeJSON(w, http.StatusOK, map[string]any{
					"output": a.text, "modelId": c.modelID, "stopReason": a.stopReason, "usage": a.usage,
				})
				return
			}
		}
	}
	writeError(w, rec, e)
}

func (cfg *Config) generateCall(w http.ResponseWriter, r *http.Request) (*call, *Error) {
	body, e := cfg.readJSONBody(w, r)
	if e != nil {
		return nil, e
	}
	var req generateRequest
	if e := decodeStrict(body, &req, generateSchema, generateFields); e != nil {
		return nil, e
	}
	input := req.Input
	switch {
	case req.Input != nil && req.Prompt != nil:
		return nil, invalidParam("input", "send the input once: input and prompt are aliases of one field")
	case input == nil:
		input = req.Prompt
	}
	if input == nil || strings.TrimSpace(*input) == "" {
		return nil, invalidParam("input", missingInput)
	}
	s := streamgateNames
	s.modelID, s.maxTokens, s.temperature, s.topP = req.ModelID, req.MaxTokens, req.Temperature, req.TopP
	return cfg.newCall(s, []types.Message{userText(*input)})
}

// generateWantsStream: ?stream=1 (or true), ?format=, or an Accept header
// that names text/plain, text/event-stream or NDJSON asks for a stream.
func generateWantsStream(r *http.Request) (bool, Format, *Error) {
	q := r.URL.Query()
	explicit := false
	if v, ok := q["stream"]; ok {
		switch strings.ToLower(strings.Join(v, "")) {
		case "1", "true":
			explicit = true
		case "0", "false":
			return false, "", nil
		default:
			return false, "", invalidParam("stream", "stream must be 1, true, 0 or false")
		}
	}
	_, hasFormat := q["format"]
	if !explicit && !hasFormat && !acceptsStreamingType(r.Header.Get("Accept")) {
		return false, "", nil
	}
	f, e := negotiateFormat(r)
	return true, f, e
}

func acceptsStreamingType(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "text/plain", "text/event-stream", "application/x-ndjson", "application/ndjson", "application/jsonl":
			return true
		}
	}
	return false
}
