package openai

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/streamgate/streamgate/streaming"
)

// serveModels answers GET /v1/models: the models this gateway
// allows, in OpenAI's list shape.
func (d *dialect) serveModels(w http.ResponseWriter, r *http.Request) {
	allowed := d.h.Config().AllowedModels
	data := make([]any, len(allowed))
	for i, id := range allowed {
		data[i] = openAIModel(id)
	}
	streaming.WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// serveModel answers GET /v1/models/{model}.
func (d *dialect) serveModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("model")
	for _, allowed := range d.h.Config().AllowedModels {
		if allowed == id {
			streaming.WriteJSON(w, http.StatusOK, openAIModel(id))
			return
		}
	}
	streaming.WriteError(w, r, &streaming.Error{Status: http.StatusNotFound, Code: streaming.CodeNotFound, Param: "model",
		Message: fmt.Sprintf("the model %q is not one this gateway allows", streaming.Truncate(id, 200))})
}

func openAIModel(id string) map[string]any {
	return map[string]any{"id": id, "object": "model", "created": 0, "owned_by": ownerOf(id)}
}

// ownerOf is the provider part of a Bedrock model id ("anthropic" in
// "us.anthropic.claude-..."), or "bedrock".
func ownerOf(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	parts := strings.Split(id, ".")
	for i, p := range parts[:max(len(parts)-1, 0)] {
		switch p {
		case "us", "eu", "apac", "us-gov", "jp", "au", "ca", "global":
			if i == 0 {
				continue
			}
		}
		return p
	}
	return "bedrock"
}
