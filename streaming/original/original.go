// Package original serves the routes of the designs streamgate grew from,
// for the clients written against them: POST /generate (text to text,
// {"input"} → {"output"}, or streamed with ?stream=1), GET /models
// (Bedrock's foundation models, filtered and marked as allowed or not) and
// GET|POST /generate-image (an image stored in S3, answered with a
// presigned URL). Their specification is in streaming/README.md.
package original

import (
	"net/http"

	"github.com/streamgate/streamgate/streaming"
)

// dialect is the original routes' state: the cache of Bedrock's model list.
type dialect struct {
	h      *streaming.Handler
	models *modelsCache
}

// Register adds POST /generate, GET /models and GET|POST /generate-image
// to h.
func Register(h *streaming.Handler) {
	d := &dialect{h: h, models: newModelsCache(h.Config().ModelsCache)}
	h.Route("/generate", streaming.Methods{"POST": d.serveGenerate})
	h.Route("/models", streaming.Methods{"GET": d.serveModels})
	h.Route("/generate-image", streaming.Methods{"GET": d.serveGenerateImage, "POST": d.serveGenerateImage})
	h.ShapeErrors("/generate", nil, generateError)
}

// generateError is streamgate's error envelope plus a top-level
// "message", as the original /generate answered its errors.
func generateError(_ http.Header, e *streaming.Error) (int, any) {
	return e.Status, struct {
		Error   *streaming.Error `json:"error"`
		Message string           `json:"message"`
	}{e, e.Message}
}
