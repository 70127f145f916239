package streaming

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3TestKey has characters S3 keys may hold that a path must escape.
const s3TestKey = "images/2026/12/04/a b+c%é~_.png"

// TestS3PresignMatchesSDK: the URL S3Client presigns is the one the SDK's
// presign client makes for the same object (host, escaped path and the
// signing parameters), on AWS (virtual-hosted, and path-style for a
// bucket with dots) and on an explicit endpoint (path-style).
func TestS3PresignMatchesSDK(t *testing.T) {
	t.Parallel()
	creds := credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "session-token")
	cases := []struct {
		name, region, endpoint, bucket string
	}{
		{"AWS", "eu-west-1", "", "streamgate-images-abc123"},
		{"AWS, bucket with dots", "us-east-1", "", "images.example.com"},
		{"AWS China", "cn-north-1", "", "bucket"},
		{"explicit endpoint", "us-east-1", "http://127.0.0.1:9000", "streamgate-images"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			sdk := s3.NewPresignClient(s3.New(s3.Options{Region: tc.region, Credentials: creds, UsePathStyle: tc.endpoint != "",
				BaseEndpoint: map[bool]*string{true: aws.String(tc.endpoint), false: nil}[tc.endpoint != ""]}))
			want, err := sdk.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(tc.bucket), Key: aws.String(s3TestKey)}, s3.WithPresignExpires(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewS3Client(S3Config{Region: tc.region, Endpoint: tc.endpoint, Credentials: creds}).PresignGetObject(ctx, tc.bucket, s3TestKey, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			w, g := mustParseURL(t, want.URL), mustParseURL(t, got)
			if g.Scheme != w.Scheme || g.Host != w.Host || g.EscapedPath() != w.EscapedPath() {
				t.Errorf("URL %s://%s%s, the SDK's %s://%s%s", g.Scheme, g.Host, g.EscapedPath(), w.Scheme, w.Host, w.EscapedPath())
			}
			wq, gq := w.Query(), g.Query()
			wq.Del("x-id") // the SDK's operation marker, which S3 ignores
			if !slices.Equal(slices.Sorted(mapKeys(gq)), slices.Sorted(mapKeys(wq))) {
				t.Errorf("query parameters %v, the SDK's %v", slices.Sorted(mapKeys(gq)), slices.Sorted(mapKeys(wq)))
			}
			for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Security-Token"} {
				if gq.Get(k) != wq.Get(k) {
					t.Errorf("%s = %q, the SDK's %q", k, gq.Get(k), wq.Get(k))
				}
			}
		})
	}
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mapKeys(v url.Values) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range v {
			if !yield(k) {
				return
			}
		}
	}
}

// sigV4Checker is a fake S3 that checks every request's SigV4 signature
// against what it received on the wire (method, escaped path, query, the
// signed headers, the body's hash), signed again with the same keys: a
// client that signs one thing and sends another fails here.
type sigV4Checker struct {
	t      *testing.T
	creds  aws.Credentials
	region string

	mu       sync.Mutex
	requests int
	replies  []func(w http.ResponseWriter) // one per request; the last repeats
	objects  map[string][]byte             // escaped path → body
	headers  map[string]http.Header
}

func (s *sigV4Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := s.requests
	s.requests++
	s.mu.Unlock()
	if err := s.verify(r, body); err != nil {
		s.t.Errorf("request %d (%s %s): %v", n+1, r.Method, r.URL.RequestURI(), err)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "<Error><Code>SignatureDoesNotMatch</Code><Message>bad</Message></Error>")
		return
	}
	if r.Method == http.MethodPut {
		s.mu.Lock()
		s.objects[r.URL.EscapedPath()] = body
		s.headers[r.URL.EscapedPath()] = r.Header.Clone()
		s.mu.Unlock()
	}
	if len(s.replies) > 0 {
		s.replies[min(n, len(s.replies)-1)](w)
	}
}

func (s *sigV4Checker) verify(r *http.Request, body []byte) error {
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	wire := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.EscapedPath()}
	q := r.URL.Query()
	if sig := q.Get("X-Amz-Signature"); sig != "" { // presigned
		at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
		if err != nil {
			return err
		}
		for _, k := range []string{"X-Amz-Signature", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Security-Token"} {
			q.Del(k)
		}
		wire.RawQuery = q.Encode()
		req, _ := http.NewRequest(r.Method, wire.String(), nil)
		signed, _, err := signer.PresignHTTP(context.Background(), s.creds, req, "UNSIGNED-PAYLOAD", "s3", s.region, at)
		if err != nil {
			return err
		}
		if again := mustParseURLErr(signed).Query().Get("X-Amz-Signature"); again != sig {
			return errors.New("presigned signature does not match the URL as received")
		}
		return nil
	}
	auth := r.Header.Get("Authorization")
	_, signedList, _ := strings.Cut(auth, "SignedHeaders=")
	signedList, _, _ = strings.Cut(signedList, ",")
	_, sig, _ := strings.Cut(auth, "Signature=")
	sum := sha256.Sum256(body)
	if hash := r.Header.Get("X-Amz-Content-Sha256"); hash != hex.EncodeToString(sum[:]) {
		return errors.New("X-Amz-Content-Sha256 is not the body's hash")
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return err
	}
	wire.RawQuery = r.URL.RawQuery
	req, _ := http.NewRequest(r.Method, wire.String(), nil)
	req.ContentLength = r.ContentLength
	for _, h := range strings.Split(signedList, ";") {
		if h != "host" && h != "x-amz-date" && h != "x-amz-security-token" {
			req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	if err := signer.SignHTTP(context.Background(), s.creds, req, r.Header.Get("X-Amz-Content-Sha256"), "s3", s.region, at); err != nil {
		return err
	}
	if _, again, _ := strings.Cut(req.Header.Get("Authorization"), "Signature="); again != sig {
		return errors.New("signature does not match the request as received")
	}
	return nil
}

func mustParseURLErr(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return &url.URL{}
	}
	return u
}

func s3Reply(status int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// TestS3ClientSignsWhatItSends: PutObject and a presigned GET of a key
// that needs escaping, with temporary credentials, reach a fake S3 that
// verifies their signatures; the object arrives with its type and
// encryption header.
func TestS3ClientSignsWhatItSends(t *testing.T) {
	t.Parallel()
	creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret", SessionToken: "session-token"}
	fake := &sigV4Checker{t: t, creds: creds, region: "eu-west-1", objects: map[string][]byte{}, headers: map[string]http.Header{},
		replies: []func(http.ResponseWriter){s3Reply(http.StatusOK, "")}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := NewS3Client(S3Config{Region: "eu-west-1", Endpoint: srv.URL + "/", Credentials: credentials.StaticCredentialsProvider{Value: creds}})
	ctx := t.Context()
	png := []byte("\x89PNG not really")
	if err := c.PutObject(ctx, S3Object{Bucket: "bucket", Key: s3TestKey, ContentType: "image/png", Body: png, ServerSideEncryption: "AES256"}); err != nil {
		t.Fatal(err)
	}
	path := "/bucket/" + escapeS3Path(s3TestKey)
	if got := string(fake.objects[path]); got != string(png) {
		t.Fatalf("objects %v; want %s", mapKeysOf(fake.objects), path)
	}
	if h := fake.headers[path]; h.Get("Content-Type") != "image/png" || h.Get("X-Amz-Server-Side-Encryption") != "AES256" {
		t.Errorf("stored with headers %v", h)
	}
	signed, err := c.PresignGetObject(ctx, "bucket", s3TestKey, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(signed)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u := mustParseURL(t, signed)
	if resp.StatusCode != http.StatusOK || u.Query().Get("X-Amz-Expires") != "90" || u.EscapedPath() != path {
		t.Errorf("GET %s: %d", signed, resp.StatusCode)
	}
}

func mapKeysOf[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// TestS3ClientRetries: S3's own failures and throttling are tried again,
// up to 3 times in all; a refusal is not, and its code and message come
// out of S3's XML.
func TestS3ClientRetries(t *testing.T) {
	t.Parallel()
	slowDown := s3Reply(http.StatusServiceUnavailable, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
	cases := []struct {
		name      string
		replies   []func(http.ResponseWriter)
		wantCalls int
		wantErr   string
	}{
		{"500 then ok", []func(http.ResponseWriter){s3Reply(500, "<Error><Code>InternalError</Code><Message>x</Message></Error>"), s3Reply(200, "")}, 2, ""},
		{"slow down twice then ok", []func(http.ResponseWriter){slowDown, slowDown, s3Reply(200, "")}, 3, ""},
		{"slow down three times", []func(http.ResponseWriter){slowDown}, 3, "S3: SlowDown: Please reduce your request rate. (HTTP 503)"},
		{"access denied", []func(http.ResponseWriter){s3Reply(403, "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access &amp; denied</Message></Error>")}, 1, "S3: AccessDenied: Access & denied (HTTP 403)"},
		{"unreadable refusal", []func(http.ResponseWriter){s3Reply(400, "no XML")}, 1, "S3: Bad Request: no message (HTTP 400)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}
			fake := &sigV4Checker{t: t, creds: creds, region: "us-east-1", objects: map[string][]byte{}, headers: map[string]http.Header{}, replies: tc.replies}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			c := NewS3Client(S3Config{Region: "us-east-1", Endpoint: srv.URL, Credentials: credentials.StaticCredentialsProvider{Value: creds}})
			err := c.PutObject(t.Context(), S3Object{Bucket: "b", Key: "k.png", ContentType: "image/png", Body: []byte("x")})
			if (tc.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("PutObject: %v; want %q", err, tc.wantErr)
			}
			if fake.requests != tc.wantCalls {
				t.Errorf("%d attempts, want %d", fake.requests, tc.wantCalls)
			}
		})
	}
}
