package openai

import (
	"net/http"

	"github.com/streamgate/streamgate/streaming"
)

// serveResponses answers POST /v1/responses: streamed on the one relay as
// the Responses API's semantic events, or one response object from
// Converse. streamgate stores nothing: every request carries the whole
// conversation, and every answer says store: false.
func (d *dialect) serveResponses(w http.ResponseWriter, r *http.Request) {
	rec := streaming.LogOf(r)
	body, e := d.h.Config().ReadJSON(w, r)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	var req responsesRequest
	if e := streaming.DecodeLenient(body, &req); e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	if req.User != "" {
		rec.SetUser(req.User)
	} else if req.SafetyIdentifier != "" {
		rec.SetUser(req.SafetyIdentifier)
	}
	p, e := responsesCall(d.h.Config(), &req)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	rec.Dropped(p.dropped...)
	meta := responseMeta{id: respIDPrefix + rec.ID(), requestID: rec.ID(), model: p.call.ModelID, created: rec.Started().Unix(),
		includeEncrypted: p.includeEncrypted, echo: &p.echo}
	if req.Stream {
		d.h.Relay(w, r, p.call, streaming.Encoding{
			Format:      "openai-responses",
			ContentType: "text/event-stream; charset=utf-8",
			NewEncoder: func(fw *streaming.FlushWriter, start streaming.StartEvent) streaming.Encoder {
				return newResponsesEncoder(fw, meta)
			},
			KeepAlives: true,
		})
		return
	}
	rec.SetModel(p.call.ModelID, "openai-responses-json")
	a, e := d.h.Converse(r, p.call)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	meta.model = a.ModelID // a fallback model, maybe
	streaming.WriteJSON(w, http.StatusOK, wholeResponse(&meta, a))
}

// serveStoredResponse answers the routes of stored responses (GET and
// DELETE /v1/responses/{id}, its input items): streamgate stores none.
func (d *dialect) serveStoredResponse(w http.ResponseWriter, r *http.Request) {
	streaming.WriteError(w, r, &streaming.Error{Status: http.StatusNotFound, Code: streaming.CodeNotFound, Param: "response_id",
		Message: "streamgate stores no responses, so there is none to read or delete; keep the answer as it streams, and send the whole conversation in input every time"})
}
