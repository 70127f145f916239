// Package native is streamgate's own protocol: POST /stream answers one
// prompt or conversation, streamed as it is generated, in the format the
// client asks for (plain text, SSE or NDJSON: streaming/format), and
// DELETE /stream/{requestId} stops it. curl, the chat page, fetch()-based
// UIs and the Vercel AI SDK's text stream protocol speak it. The request
// is strict: unknown fields, wrong types and keys in the wrong case are
// errors. The protocol is specified in streaming/README.md.
package native

import (
	"net/http"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/format"
)

// Register adds POST /stream and DELETE /stream/{requestId} to h.
func Register(h *streaming.Handler) {
	h.Route("/stream", streaming.Methods{"POST": func(w http.ResponseWriter, r *http.Request) { serveStream(h, w, r) }})
	h.Route("/stream/{requestId}", streaming.Methods{"DELETE": func(w http.ResponseWriter, r *http.Request) {
		h.Cancel(w, r, r.PathValue("requestId"))
	}})
}

// serveStream answers POST /stream: validate, call ConverseStream, and
// relay each delta to the client as it arrives.
func serveStream(h *streaming.Handler, w http.ResponseWriter, r *http.Request) {
	f, apiErr := format.Negotiate(r)
	if apiErr == nil {
		var c *streaming.Call
		if c, apiErr = readRequest(h.Config(), w, r); apiErr == nil {
			h.Relay(w, r, c, format.Encoding(f))
			return
		}
	}
	streaming.WriteError(w, r, apiErr)
}
