package streaming

import "net/http"

// pageHandler serves GET /, the chat page.
func pageHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, logOf(r), &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "the chat page is not built into this binary"})
	})
}
