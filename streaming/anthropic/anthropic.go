// Package anthropic speaks Anthropic's Messages API for Claude Code, the
// Anthropic SDKs and the tools built on them: POST /v1/messages (streamed
// as Anthropic's server-sent events, or whole), POST
// /v1/messages/count_tokens (Bedrock's CountTokens), and GET /v1/models
// in Anthropic's list shape for requests that carry anthropic-version.
// Claude's model names map to Bedrock ids by one rule (models.go), and
// answers carry the name the client sent. What clients send by default is
// never refused: a field or beta the gateway cannot honour is dropped and
// named in the log line. Errors take Anthropic's envelope
// ({"type":"error","error":{"type","message"}}) and statuses (529
// overloaded_error for Bedrock throttling). The route reference is
// README.md beside this file.
package anthropic

import (
	"net/http"

	"github.com/streamgate/streamgate/streaming"
)

// dialect serves the routes through the Handler they are registered with.
type dialect struct{ h *streaming.Handler }

// idPrefix makes a message's id of its request id, so that DELETE
// /stream/msg_… stops it.
const idPrefix = "msg_"

// Register adds Anthropic's routes to h.
func Register(h *streaming.Handler) {
	d := &dialect{h}
	h.Route("/v1/messages", streaming.Methods{"POST": d.serveMessages})
	h.Route("/v1/messages/count_tokens", streaming.Methods{"POST": d.serveCountTokens})
	h.RouteWhen("/v1/models", hasVersion, streaming.Methods{"GET": d.serveModels})
	h.RouteWhen("/v1/models/{model...}", hasVersion, streaming.Methods{"GET": d.serveModel})
	h.ShapeErrors("/v1/messages", nil, errorBody)
	h.ShapeErrors("/v1/messages/", nil, errorBody)
	h.ShapeErrors("/v1/models", hasVersion, errorBody)
	h.ShapeErrors("/v1/models/", hasVersion, errorBody)
	h.IDPrefix(idPrefix)
}

// hasVersion tells Anthropic's clients (they send anthropic-version on
// every request) from OpenAI's on the paths both use.
func hasVersion(r *http.Request) bool { return r.Header.Get("Anthropic-Version") != "" }

// errorTypes are Anthropic's error types by the status streamgate gives.
func errorType(e *streaming.Error) (int, string) {
	switch {
	case e.Code == streaming.CodeThrottled || e.Code == streaming.CodeUnavailable || e.Code == streaming.CodeShuttingDown:
		// Bedrock throttling or unavailable: Anthropic's "overloaded",
		// which its clients retry after a wait.
		return 529, "overloaded_error"
	case e.Code == streaming.CodeModelNotAllowed:
		// A model the gateway does not serve: Anthropic's answer to a
		// model one cannot use, which Claude Code reads as "pick another
		// model" (a 403 it takes for a bad key).
		return http.StatusNotFound, "not_found_error"
	case e.Status == http.StatusTooManyRequests:
		return e.Status, "rate_limit_error"
	case e.Status == http.StatusUnauthorized:
		return e.Status, "authentication_error"
	case e.Status == http.StatusForbidden:
		return e.Status, "permission_error"
	case e.Status == http.StatusNotFound:
		return e.Status, "not_found_error"
	case e.Status == http.StatusRequestEntityTooLarge:
		return e.Status, "request_too_large"
	case e.Status >= 500:
		return e.Status, "api_error"
	}
	return e.Status, "invalid_request_error"
}

// apiError is Anthropic's error object.
type apiError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type errorEnvelope struct {
	Type      string   `json:"type"`
	Error     apiError `json:"error"`
	RequestID string   `json:"request_id,omitempty"`
}

// errorBody is Anthropic's envelope of e: the ErrorShape of its routes. It
// adds the request-id header Anthropic's SDKs read.
func errorBody(hdr http.Header, e *streaming.Error) (int, any) {
	status, typ := errorType(e)
	id := ""
	if hdr != nil {
		id = hdr.Get("X-Request-Id")
		hdr.Set("Request-Id", id)
	}
	return status, errorEnvelope{Type: "error", Error: apiError{Type: typ, Message: e.Message}, RequestID: id}
}
