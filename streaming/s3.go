package streaming

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// S3Client makes the two S3 calls the image routes need, PutObject and a
// presigned GetObject URL, signed with the SDK's SigV4 signer, rather than
// through the SDK's S3 client: that client's packages (its endpoint
// tables and rules, XML, SigV4a, checksums) were, after Bedrock's own,
// the costliest package initialisation of the Lambda bootstrap, which
// pays it at every cold start whether or not an image is ever asked for
// (GODEBUG=inittrace=1, scripts/bench section 3). Addressing is
// virtual-hosted on AWS (bucket.s3.region.amazonaws.com) and path-style
// on an explicit endpoint (a local S3), as the gateway configured the
// SDK's client before.
type S3Client struct {
	endpoint string // "" → AWS, virtual-hosted
	aws      *signedClient
	now      func() time.Time
}

// S3Config is where and as whom an S3Client calls S3.
type S3Config struct {
	Region      string
	Endpoint    string // "" → S3's regional endpoints; set → path-style requests to it
	Credentials aws.CredentialsProvider
	HTTPClient  *http.Client // nil → one with a 30 s timeout a call
}

// NewS3Client returns a client for c.
func NewS3Client(c S3Config) *S3Client {
	// S3 signs the path as sent, without escaping it a second time.
	return &S3Client{
		endpoint: strings.TrimRight(c.Endpoint, "/"),
		aws:      newSignedClient("s3", c.Region, c.Credentials, c.HTTPClient, func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }),
		now:      time.Now,
	}
}

// S3Object is an object to store.
type S3Object struct {
	Bucket, Key, ContentType string
	Body                     []byte
	// ServerSideEncryption is x-amz-server-side-encryption ("AES256");
	// "" leaves it to the bucket's default.
	ServerSideEncryption string
}

// PutObject stores o, retrying what may succeed later as the SDK does.
func (c *S3Client) PutObject(ctx context.Context, o S3Object) error {
	sum := sha256.Sum256(o.Body)
	payloadHash := hex.EncodeToString(sum[:])
	err := withRetries(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.objectURL(o.Bucket, o.Key).String(), bytes.NewReader(o.Body))
		if err != nil {
			return err
		}
		req.ContentLength = int64(len(o.Body))
		req.Header.Set("Content-Type", o.ContentType)
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
		if o.ServerSideEncryption != "" {
			req.Header.Set("X-Amz-Server-Side-Encryption", o.ServerSideEncryption)
		}
		resp, answer, err := c.aws.do(ctx, req, payloadHash)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return s3ErrorOf(resp.StatusCode, answer)
		}
		return nil
	}, retryableAnswer)
	if err != nil {
		return fmt.Errorf("S3 PutObject %s/%s: %w", o.Bucket, o.Key, err)
	}
	return nil
}

// PresignGetObject returns a URL that GETs the object for expires (at
// most S3's 7 days), for whoever has it.
func (c *S3Client) PresignGetObject(ctx context.Context, bucket, key string, expires time.Duration) (string, error) {
	u := c.objectURL(bucket, key)
	u.RawQuery = "X-Amz-Expires=" + strconv.FormatInt(int64(expires/time.Second), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	signed, err := c.aws.presign(ctx, req, c.now())
	if err != nil {
		return "", fmt.Errorf("S3 presign %s/%s: %w", bucket, key, err)
	}
	return signed, nil
}

// objectURL is the object's URL: path-style on an explicit endpoint or for
// a bucket name with dots (which a virtual host's TLS certificate does not
// cover), virtual-hosted otherwise. The key is escaped as S3 wants it:
// everything but unreserved characters and the slashes.
func (c *S3Client) objectURL(bucket, key string) *url.URL {
	path := "/" + bucket + "/" + key
	base := c.endpoint
	switch {
	case base != "":
	case strings.Contains(bucket, "."):
		base = "https://s3." + c.aws.region + awsDomain(c.aws.region)
	default:
		base = "https://" + bucket + ".s3." + c.aws.region + awsDomain(c.aws.region)
		path = "/" + key
	}
	u, err := url.Parse(base)
	if err != nil {
		u = &url.URL{Scheme: "https", Host: base}
	}
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = escapeS3Path(u.Path)
	return u
}

// escapeS3Path escapes p for S3: unreserved characters (RFC 3986) and "/"
// stay, every other byte is %XX.
func escapeS3Path(p string) string {
	var b strings.Builder
	for i := range len(p) {
		switch c := p[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~', c == '/':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// s3ErrorOf reads an error answer,
// <Error><Code>AccessDenied</Code><Message>...</Message></Error>, with a
// plain scan: encoding/xml's package initialisation alone would cost a
// cold start more than all the error answers it would ever read.
func s3ErrorOf(status int, answer []byte) *awsAPIError {
	element := func(name string) string {
		_, rest, ok := strings.Cut(string(answer), "<"+name+">")
		if !ok {
			return ""
		}
		v, _, ok := strings.Cut(rest, "</"+name+">")
		if !ok {
			return ""
		}
		return html.UnescapeString(v)
	}
	return (&awsAPIError{Service: "S3", Status: status, Code: element("Code"), Message: element("Message")}).withDefaults()
}
