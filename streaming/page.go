package streaming

import (
	"net/http"

	"github.com/streamgate/streamgate/streaming/chatpage"
)

// pageHandler serves GET /, the chat page.
func pageHandler() http.Handler { return chatpage.New() }
