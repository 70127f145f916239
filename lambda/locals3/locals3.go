// Package locals3 is local mode's S3: an in-process S3 server
// (github.com/johannesboyne/gofakes3, memory backend) on a loopback port,
// used through the gateway's S3 client (streaming.S3Client), so that an
// image URL printed in local mode downloads with curl.
//
// gofakes3 accepts any signature and ignores the expiry of presigned
// URLs. Users of image URLs rely on them expiring, so Handler adds that
// one check as S3 does it: a request whose X-Amz-Date plus X-Amz-Expires
// has passed gets 403 AccessDenied "Request has expired". Signatures are
// still not verified.
package locals3

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// New returns an S3 handler with the buckets already created.
func New(buckets ...string) (http.Handler, error) {
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			return nil, fmt.Errorf("creating bucket %s: %w", b, err)
		}
	}
	faker := gofakes3.New(backend, gofakes3.WithAutoBucket(false))
	return Handler(faker.Server(), time.Now), nil
}

// Handler enforces the expiry of presigned URLs in front of next.
func Handler(next http.Handler, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if date, expires := q.Get("X-Amz-Date"), q.Get("X-Amz-Expires"); date != "" || expires != "" {
			signed, err1 := time.Parse("20060102T150405Z", date)
			seconds, err2 := strconv.Atoi(expires)
			switch {
			case err1 != nil || err2 != nil || seconds < 1 || seconds > 604800:
				writeError(w, http.StatusBadRequest, "AuthorizationQueryParametersError",
					"X-Amz-Date must be YYYYMMDDTHHMMSSZ and X-Amz-Expires a number of seconds from 1 to 604800")
				return
			case now().After(signed.Add(time.Duration(seconds) * time.Second)):
				writeError(w, http.StatusForbidden, "AccessDenied", "Request has expired")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>", code, message)
}
