package streaming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
)

// signedClient makes SigV4-signed calls to one AWS service with the SDK's
// own signer: what the gateway's hand-written DynamoDB and S3 calls share
// (see DynamoCancelStore and S3Client for why they are not the SDK's
// clients).
type signedClient struct {
	service, region string
	creds           aws.CredentialsProvider
	http            *http.Client
	signer          *v4.Signer
}

// Calls are tried awsAttempts times (the SDK's standard retryer: 3), with
// awsBackoff times 2^n, jittered, in between; an answer is read into
// memory up to awsMaxAnswer bytes.
const (
	awsAttempts  = 3
	awsBackoff   = 50 * time.Millisecond
	awsMaxAnswer = 1 << 20
)

func newSignedClient(service, region string, creds aws.CredentialsProvider, client *http.Client, signerOpts ...func(*v4.SignerOptions)) *signedClient {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &signedClient{service: service, region: region, creds: creds, http: client, signer: v4.NewSigner(signerOpts...)}
}

// do signs req for payloadHash (the hex SHA-256 of its body), sends it and
// reads its answer.
func (c *signedClient) do(ctx context.Context, req *http.Request, payloadHash string) (*http.Response, []byte, error) {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("credentials: %w", err)
	}
	if err := c.signer.SignHTTP(ctx, creds, req, payloadHash, c.service, c.region, time.Now()); err != nil {
		return nil, nil, fmt.Errorf("signing: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, awsMaxAnswer))
	if err != nil {
		return resp, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp, answer, nil
}

// presign returns req's URL signed for a GET by anyone who has it, for
// the X-Amz-Expires the URL already holds.
func (c *signedClient) presign(ctx context.Context, req *http.Request, now time.Time) (string, error) {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("credentials: %w", err)
	}
	signed, _, err := c.signer.PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", c.service, c.region, now)
	if err != nil {
		return "", fmt.Errorf("presigning: %w", err)
	}
	return signed, nil
}

// withRetries runs attempt until it succeeds, fails in a way retryable
// says will not get better, or has been tried awsAttempts times.
func withRetries(ctx context.Context, attempt func() error, retryable func(error) bool) error {
	for n := 1; ; n++ {
		err := attempt()
		if err == nil || n == awsAttempts || ctx.Err() != nil || !retryable(err) {
			return err
		}
		t := time.NewTimer(rand.N(awsBackoff << (n - 1)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// awsAPIError is an error answer of an AWS service.
type awsAPIError struct {
	Service string
	Status  int
	Code    string // the error's name, such as ResourceNotFoundException
	Message string
}

func (e *awsAPIError) Error() string {
	return fmt.Sprintf("%s: %s: %s (HTTP %d)", e.Service, e.Code, e.Message, e.Status)
}

// ErrorCode, ErrorMessage and ErrorFault make it a smithy.APIError, as
// the SDK's errors are, for upstreamError.
func (e *awsAPIError) ErrorCode() string    { return e.Code }
func (e *awsAPIError) ErrorMessage() string { return e.Message }
func (e *awsAPIError) ErrorFault() smithy.ErrorFault {
	if e.Status >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

// retryableAnswer reports whether the same call may succeed later:
// throttling and the service's own failures, as the SDK's standard
// retryer decides; and any error that is not an answer (a cut connection).
func retryableAnswer(err error) bool {
	var e *awsAPIError
	if !errors.As(err, &e) {
		return true
	}
	switch e.Code {
	case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
		"TransactionInProgressException", "SlowDown", "RequestTimeout":
		return true
	}
	return e.Status >= 500
}

// withDefaults fills in what an unreadable error answer left out.
func (e *awsAPIError) withDefaults() *awsAPIError {
	if e.Code == "" {
		e.Code = http.StatusText(e.Status)
	}
	if e.Message == "" {
		e.Message = "no message"
	}
	return e
}
