package streaming

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
)

// Error is what a client is told when a request fails: before the first
// byte as {"error": {...}} with Status, after it as an in-stream error event.
// Message says what was wrong and how to fix it, never internal details.
type Error struct {
	Status     int    `json:"-"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Retryable  bool   `json:"retryable"`
	RetryAfter int    `json:"-"` // seconds, for the Retry-After header; 0 = none
	// Param names the request field at fault, for OpenAI's error envelope.
	Param string `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes, stable for clients that branch on them.
const (
	CodeInvalidJSON      = "invalid_json"
	CodeInvalidRequest   = "invalid_request"
	CodeModelNotAllowed  = "model_not_allowed"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeNotFound         = "not_found"
	CodeBodyTooLarge     = "body_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeThrottled        = "throttled"
	CodeUpstreamRejected = "upstream_rejected"
	CodeUpstreamError    = "upstream_error"
	CodeUnavailable      = "upstream_unavailable"
	CodeUpstreamTimeout  = "upstream_timeout"
	CodeIncompleteStream = "incomplete_stream"
	CodeDeadline         = "deadline"
	CodeShuttingDown     = "shutting_down"
	CodeBodyTimeout      = "body_timeout"
	CodeURITooLong       = "uri_too_long"
	CodeUnauthorized     = "unauthorized"
	CodeNotConfigured    = "not_configured"
	CodeContentFiltered  = "content_filtered"
	CodeBudgetExceeded   = "budget_exceeded"
)

// Invalid is a 400 invalid_request saying what was wrong.
func Invalid(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: fmt.Sprintf(format, args...)}
}

// InvalidParam is Invalid naming the request field at fault.
func InvalidParam(param, format string, args ...any) *Error {
	e := Invalid(format, args...)
	e.Param = param
	return e
}

// retryAfterSeconds is what a throttled client is told to wait. The SDK has
// already retried with backoff by then, so a second or two is the honest hint.
const retryAfterSeconds = 2

// upstreamError maps an error from the Bedrock SDK to what the client is
// told. The SDK's typed exceptions are matched with errors.As through its
// operation-error wrapping; the original text is logged, not sent, unless it
// is Bedrock's own validation message, which is meant for callers.
func upstreamError(err error) *Error {
	var (
		throttled   *types.ThrottlingException
		quota       *types.ServiceQuotaExceededException
		validation  *types.ValidationException
		denied      *types.AccessDeniedException
		notFound    *types.ResourceNotFoundException
		unavailable *types.ServiceUnavailableException
		notReady    *types.ModelNotReadyException
		modelTO     *types.ModelTimeoutException
		streamErr   *types.ModelStreamErrorException
		modelErr    *types.ModelErrorException
		internal    *types.InternalServerException
		netErr      *net.OpError
	)
	switch {
	case errors.As(err, &throttled), errors.As(err, &quota):
		return &Error{Status: http.StatusTooManyRequests, Code: CodeThrottled, Retryable: true, RetryAfter: retryAfterSeconds,
			Message: "Bedrock is throttling requests for this model; retry after a short wait"}
	case errors.As(err, &validation):
		return &Error{Status: http.StatusBadRequest, Code: CodeUpstreamRejected,
			Message: "Bedrock rejected the request: " + Truncate(validation.ErrorMessage(), 300)}
	case errors.As(err, &denied):
		return &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError,
			Message: "the gateway is not allowed to invoke this model; the operator must grant model access and the IAM permission"}
	case errors.As(err, &notFound):
		return &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError,
			Message: "Bedrock does not know this model in the gateway's region"}
	case errors.As(err, &unavailable), errors.As(err, &notReady):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Retryable: true,
			Message: "Bedrock is unavailable for this model right now; retry later"}
	case errors.As(err, &modelTO), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTimeout, Retryable: true,
			Message: "Bedrock did not answer in time"}
	case errors.As(err, &streamErr), errors.As(err, &modelErr), errors.As(err, &internal):
		return &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError, Retryable: true,
			Message: "the model failed while generating the answer"}
	case errors.As(err, &netErr):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Retryable: true,
			Message: "the gateway cannot reach Bedrock"}
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultClient {
		return &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError,
			Message: "Bedrock refused the call (" + apiErr.ErrorCode() + ")"}
	}
	return &Error{Status: http.StatusBadGateway, Code: CodeUpstreamError, Retryable: true,
		Message: "the call to Bedrock failed"}
}
