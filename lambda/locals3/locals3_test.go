package locals3

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestExpiry: a presigned request is served until X-Amz-Date plus
// X-Amz-Expires, refused after it as S3 refuses it, and refused as
// malformed when its parameters are; an unsigned request passes through.
func TestExpiry(t *testing.T) {
	signed := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("object")) })
	tests := []struct {
		name       string
		query      string
		now        time.Time
		wantStatus int
		wantBody   string
	}{
		{"within its time", "X-Amz-Date=20261129T010000Z&X-Amz-Expires=60", signed.Add(59 * time.Second), 200, "object"},
		{"expired", "X-Amz-Date=20261129T010000Z&X-Amz-Expires=60", signed.Add(61 * time.Second), 403, "<Code>AccessDenied</Code><Message>Request has expired</Message>"},
		{"bad date", "X-Amz-Date=yesterday&X-Amz-Expires=60", signed, 400, "AuthorizationQueryParametersError"},
		{"expiry too long", "X-Amz-Date=20261129T010000Z&X-Amz-Expires=604801", signed, 400, "AuthorizationQueryParametersError"},
		{"not presigned", "", signed.Add(24 * time.Hour), 200, "object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Handler(next, func() time.Time { return tt.now }).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/bucket/key?"+tt.query, nil))
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("%d %s; want %d with %q", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}
