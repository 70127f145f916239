// Package openai speaks OpenAI's API for the clients built on it: the
// official SDKs, the Vercel AI SDK's OpenAI-compatible provider,
// LangChain's ChatOpenAI, and every tool that takes an OpenAI base URL.
// It serves Chat Completions (POST /v1/chat/completions, streamed as
// chat.completion.chunk events or whole), Responses (POST /v1/responses,
// stateless, streamed as the Responses API's semantic events or whole,
// and POST /v1/responses/{id}/cancel), GET /v1/models, and embeddings
// and images over Bedrock's embedding and image models, following
// OpenAI's API reference (https://platform.openai.com/docs/api-reference)
// as this package's README.md says where it
// departs from it. Errors take OpenAI's envelope on every /v1/ route.
package openai

import (
	"net/http"

	"github.com/streamgate/streamgate/streaming"
)

// dialect serves the routes through the Handler they are registered with.
type dialect struct{ h *streaming.Handler }

// chatIDPrefix makes a completion's id of its request id.
const chatIDPrefix = "chatcmpl-"

// Register adds OpenAI's routes to h.
func Register(h *streaming.Handler) {
	d := &dialect{h}
	h.Route("/v1/chat/completions", streaming.Methods{"POST": d.serveChatCompletions})
	h.Route("/v1/chat/completions/{id}/cancel", streaming.Methods{"POST": func(w http.ResponseWriter, r *http.Request) {
		h.Cancel(w, r, r.PathValue("id"))
	}})
	h.Route("/v1/responses", streaming.Methods{"POST": d.serveResponses})
	h.Route("/v1/responses/{id}", streaming.Methods{"GET": d.serveStoredResponse, "DELETE": d.serveStoredResponse})
	h.Route("/v1/responses/{id}/input_items", streaming.Methods{"GET": d.serveStoredResponse})
	h.Route("/v1/responses/{id}/cancel", streaming.Methods{"POST": func(w http.ResponseWriter, r *http.Request) {
		h.Cancel(w, r, r.PathValue("id"))
	}})
	h.Route("/v1/models", streaming.Methods{"GET": d.serveModels})
	h.Route("/v1/models/{model...}", streaming.Methods{"GET": d.serveModel})
	h.Route("/v1/embeddings", streaming.Methods{"POST": d.serveEmbeddings})
	h.Route("/v1/images/generations", streaming.Methods{"POST": d.serveImages})
	h.ShapeErrors("/v1/", nil, errorBody)
	h.IDPrefix(chatIDPrefix)
	h.IDPrefix(respIDPrefix)
}
