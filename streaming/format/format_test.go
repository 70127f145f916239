package format

import (
	"net/http"
	"testing"
)

func TestNegotiateFormat(t *testing.T) {
	tests := []struct {
		url, accept string
		want        Format
		wantErr     bool
	}{
		{"/stream", "", Text, false},
		{"/stream", "*/*", Text, false},
		{"/stream", "text/event-stream", SSE, false},
		{"/stream", "application/json, text/event-stream;q=0.9", SSE, false},
		{"/stream", "application/x-ndjson", NDJSON, false},
		{"/stream", "text/plain", Text, false},
		{"/stream?format=sse", "text/plain", SSE, false},
		{"/stream?format=NDJSON", "", NDJSON, false},
		{"/stream?format=html", "", "", true},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("POST", tt.url, nil)
		r.Header.Set("Accept", tt.accept)
		got, err := Negotiate(r)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("Negotiate(%s, Accept %q) = %q, %v; want %q (error %v)", tt.url, tt.accept, got, err, tt.want, tt.wantErr)
		}
	}
}
