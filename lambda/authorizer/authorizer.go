// Package authorizer is streamgate's API Gateway REST REQUEST Lambda
// authorizer. It runs in the same bootstrap binary as the gateway, as a
// second Lambda function whose Handler (_HANDLER) is "authorizer".
//
// It does not know the keys. It turns the key a client presents, in
// OpenAI's form (Authorization: Bearer KEY) or API Gateway's (x-api-key:
// KEY), into an Allow policy whose usageIdentifierKey is that key. The REST
// API's ApiKeySourceType is AUTHORIZER, so API Gateway then looks the key up
// among its own API keys: an unknown key is refused there (403
// INVALID_API_KEY, which the stack answers as 401), and a known one gets its
// usage plan's throttle and quota. streamgate stores nothing.
//
// A request without a key gets the error "Unauthorized", which API Gateway
// answers with 401. The key is never logged: log lines and the principal
// carry a short hash of it.
package authorizer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// HandlerName is the Lambda Handler (_HANDLER) that selects the authorizer
// in the bootstrap binary.
const HandlerName = "authorizer"

// ErrUnauthorized is what the authorizer returns for a request without a
// usable key. API Gateway recognises exactly this error message and
// answers 401 without calling the integration.
var ErrUnauthorized = errors.New("Unauthorized")

// maxKeyLength bounds the key the authorizer passes on; API Gateway's own
// keys are 20 to 128 characters.
const maxKeyLength = 512

// Context keys of the Allow response. API Gateway passes them to the
// integration as requestContext.authorizer.<key>, and to access logs as
// $context.authorizer.<key>.
const (
	// ContextKeySHA256 is hex(sha256(key)): the gateway's cancel store
	// names items after it, so that only the key that started a stream can
	// stop it.
	ContextKeySHA256 = "keySha256"
	// ContextKeySource says which header held the key: SourceBearer or
	// SourceAPIKeyHeader.
	ContextKeySource = "keySource"
)

// Values of ContextKeySource.
const (
	SourceBearer       = "authorization"
	SourceAPIKeyHeader = "x-api-key"
)

// Authorizer answers API Gateway's REQUEST authorizer events.
type Authorizer struct {
	log *slog.Logger
}

// New returns an Authorizer that writes one log line per decision.
func New(log *slog.Logger) *Authorizer {
	return &Authorizer{log: log}
}

// Start serves authorizer events until the Lambda runtime ends the
// process.
func Start(log *slog.Logger) {
	lambda.Start(New(log).Handle)
}

// Handle decides one request. It returns an Allow policy for every method of
// the calling API's stage, not only the one asked about: API Gateway caches
// the answer (when the authorizer's result TTL is above 0) and applies it to
// the key's next requests on any route.
func (a *Authorizer) Handle(ctx context.Context, event events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	requestID := event.RequestContext.RequestID
	key, source, err := KeyFromHeaders(event.Headers, event.MultiValueHeaders)
	if err != nil {
		a.log.LogAttrs(ctx, slog.LevelInfo, "authorizer",
			slog.String("requestId", requestID),
			slog.String("decision", "unauthorized"),
			slog.String("reason", err.Error()),
			slog.String("method", event.HTTPMethod),
			slog.String("resource", event.Resource))
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	resource, err := stageResource(event.MethodArn)
	if err != nil {
		// Not the client's fault: API Gateway answers 500, and nothing is
		// allowed.
		a.log.LogAttrs(ctx, slog.LevelError, "authorizer",
			slog.String("requestId", requestID),
			slog.String("decision", "error"),
			slog.String("reason", err.Error()))
		return events.APIGatewayCustomAuthorizerResponse{}, err
	}
	sum := sha256.Sum256([]byte(key))
	keyHash := hex.EncodeToString(sum[:])
	principal := PrincipalID(key)
	a.log.LogAttrs(ctx, slog.LevelInfo, "authorizer",
		slog.String("requestId", requestID),
		slog.String("decision", "allow"),
		slog.String("principalId", principal),
		slog.String("keySource", source),
		slog.String("method", event.HTTPMethod),
		slog.String("resource", event.Resource))
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: principal,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   "Allow",
				Resource: []string{resource},
			}},
		},
		Context: map[string]any{
			ContextKeySHA256: keyHash,
			ContextKeySource: source,
		},
		UsageIdentifierKey: key,
	}, nil
}

// PrincipalID names a key without revealing it: "key-" and the first 16 hex
// digits of its sha256. It shows in access logs ($context.authorizer.principalId).
func PrincipalID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "key-" + hex.EncodeToString(sum[:8])
}

// keyError says why a request has no usable key, without quoting the key.
type keyError struct{ reason string }

func (e *keyError) Error() string { return e.reason }

// KeyFromHeaders finds the key in a request's headers (names in any case):
// the token of "Authorization: Bearer TOKEN", else the value of x-api-key.
// Both may be sent, with the same key; two different keys are refused, as
// are a key with spaces or control characters and one over 512 bytes. An
// Authorization header with another scheme (Basic, AWS SigV4) is ignored, so
// that such a client can still use x-api-key. source is SourceBearer or
// SourceAPIKeyHeader.
func KeyFromHeaders(headers map[string]string, multi map[string][]string) (key, source string, err error) {
	authorization, hasAuthorization := header(headers, multi, "Authorization")
	apiKey, hasAPIKey := header(headers, multi, "x-api-key")
	var bearer string
	if hasAuthorization {
		scheme, token, _ := strings.Cut(strings.TrimSpace(authorization), " ")
		if strings.EqualFold(scheme, "Bearer") {
			bearer = strings.TrimSpace(token)
			if bearer == "" {
				return "", "", &keyError{"Authorization: Bearer without a token"}
			}
		}
	}
	apiKey = strings.TrimSpace(apiKey)
	switch {
	case bearer != "" && hasAPIKey && apiKey != "" && apiKey != bearer:
		return "", "", &keyError{"Authorization: Bearer and x-api-key hold different keys"}
	case bearer != "":
		key, source = bearer, SourceBearer
	case apiKey != "":
		key, source = apiKey, SourceAPIKeyHeader
	case hasAuthorization:
		return "", "", &keyError{"Authorization header without the Bearer scheme, and no x-api-key"}
	default:
		return "", "", &keyError{"no Authorization: Bearer or x-api-key header"}
	}
	if err := checkKey(key); err != nil {
		return "", "", fmt.Errorf("%s key: %w", source, err)
	}
	return key, source, nil
}

func checkKey(key string) error {
	if len(key) > maxKeyLength {
		return &keyError{fmt.Sprintf("longer than %d bytes", maxKeyLength)}
	}
	for _, r := range key {
		if r <= ' ' || r == 0x7f {
			return &keyError{"contains a space or control character"}
		}
	}
	return nil
}

// header returns a header's value, matching its name in any case: API
// Gateway passes names as the client sent them. The single-value map wins;
// the multi-value one holds the same headers.
func header(headers map[string]string, multi map[string][]string, name string) (string, bool) {
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	for k, v := range multi {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// stageResource turns the method ARN of the request,
// arn:PARTITION:execute-api:REGION:ACCOUNT:API/STAGE/VERB/PATH..., into
// the ARN of every method of that API's stage, arn:...:API/STAGE/*.
func stageResource(methodARN string) (string, error) {
	parts := strings.SplitN(methodARN, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "execute-api" {
		return "", fmt.Errorf("authorizer: methodArn %.200q is not an execute-api ARN", methodARN)
	}
	path := strings.SplitN(parts[5], "/", 3)
	if len(path) < 2 || path[0] == "" || path[1] == "" {
		return "", fmt.Errorf("authorizer: methodArn %.200q names no API and stage", methodARN)
	}
	return strings.Join(parts[:5], ":") + ":" + path[0] + "/" + path[1] + "/*", nil
}
