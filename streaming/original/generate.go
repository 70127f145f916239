package original

import (
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/format"
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

var generateSchema = &streaming.KeySchema{Fields: streaming.FieldsOf("input", "prompt", "modelId", "maxTokens", "temperature", "topP")}

const generateFields = "input (or prompt), modelId, maxTokens, temperature, topP"

// missingInput is the original API's answer to a body without input.
const missingInput = "Missing 'input' in request body"

// serveGenerate answers POST /generate through Converse, or, with
// ?stream=1 (or an Accept that names a streaming format), streams the
// same answer through the relay of /stream.
func (d *dialect) serveGenerate(w http.ResponseWriter, r *http.Request) {
	streamed, f, e := generateWantsStream(r)
	if e == nil {
		var c *streaming.Call
		if c, e = generateCall(d.h.Config(), w, r); e == nil {
			if streamed {
				d.h.Relay(w, r, c, format.Encoding(f))
				return
			}
			streaming.LogOf(r).SetModel(c.ModelID, "json")
			var a *streaming.Answer
			if a, e = d.h.Converse(r, c); e == nil {
				streaming.WriteJSON(w, http.StatusOK, map[string]any{
					"output": a.Text, "modelId": c.ModelID, "stopReason": a.StopReason, "usage": a.Usage,
				})
				return
			}
		}
	}
	streaming.WriteError(w, r, e)
}

func generateCall(cfg *streaming.Config, w http.ResponseWriter, r *http.Request) (*streaming.Call, *streaming.Error) {
	body, e := cfg.ReadJSON(w, r)
	if e != nil {
		return nil, e
	}
	var req generateRequest
	if e := streaming.DecodeStrict(body, &req, generateSchema, generateFields, fieldWords); e != nil {
		return nil, e
	}
	input := req.Input
	switch {
	case req.Input != nil && req.Prompt != nil:
		return nil, streaming.InvalidParam("input", "send the input once: input and prompt are aliases of one field")
	case input == nil:
		input = req.Prompt
	}
	if input == nil || strings.TrimSpace(*input) == "" {
		return nil, streaming.InvalidParam("input", missingInput)
	}
	s := streaming.Sampling{Names: names, ModelID: req.ModelID, MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP}
	return cfg.NewCall(s, []types.Message{streaming.UserText(*input)})
}

// generateWantsStream: ?stream=1 (or true), ?format=, or an Accept header
// that names text/plain, text/event-stream or NDJSON asks for a stream.
func generateWantsStream(r *http.Request) (bool, format.Format, *streaming.Error) {
	q := r.URL.Query()
	explicit := false
	if v, ok := q["stream"]; ok {
		switch strings.ToLower(strings.Join(v, "")) {
		case "1", "true":
			explicit = true
		case "0", "false":
			return false, "", nil
		default:
			return false, "", streaming.InvalidParam("stream", "stream must be 1, true, 0 or false")
		}
	}
	_, hasFormat := q["format"]
	if !explicit && !hasFormat && !format.AcceptsStream(r.Header.Get("Accept")) {
		return false, "", nil
	}
	f, e := format.Negotiate(r)
	return true, f, e
}

// names are /generate's names for the sampling fields (streamgate's own).
var names = streaming.FieldNames{Model: "modelId", MaxTokens: "maxTokens", Temperature: "temperature", TopP: "topP", Stop: "stopSequences"}

// fieldWords names the JSON that /generate's fields must be.
func fieldWords(field string) string {
	switch field {
	case "maxTokens":
		return "a whole number"
	case "temperature", "topP":
		return "a number"
	}
	return "a string"
}
