package authorizer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
)

// recordedEvent is a REQUEST authorizer event as API Gateway sends it
// (the shape of AWS's documented example) for an OpenAI client.
func recordedEvent(t *testing.T) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	t.Helper()
	b, err := os.ReadFile("testdata/request-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestHandleRecordedEvent checks the whole answer to a recorded event, in
// the JSON that the Lambda runtime sends back to API Gateway.
func TestHandleRecordedEvent(t *testing.T) {
	const key = "sk-team-a-0123456789abcdefghij"
	var logs bytes.Buffer
	a := New(slog.New(slog.NewJSONHandler(&logs, nil)))
	resp, err := a.Handle(context.Background(), recordedEvent(t))
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	got, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"principalId": "key-" + sha(key)[:16],
		"policyDocument": map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{
				"Action":   []any{"execute-api:Invoke"},
				"Effect":   "Allow",
				"Resource": []any{"arn:aws:execute-api:eu-west-1:111122223333:a1b2c3d4e5/prod/*"},
			}},
		},
		"context": map[string]any{
			"keySha256": sha(key),
			"keySource": "authorization",
		},
		"usageIdentifierKey": key,
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("authorizer response (-want +got):\n%s", diff)
	}
	if strings.Contains(logs.String(), key) {
		t.Errorf("the log holds the key:\n%s", logs.String())
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("one JSON log line expected: %v\n%s", err, logs.String())
	}
	for field, value := range map[string]any{
		"decision": "allow", "principalId": want["principalId"], "keySource": "authorization",
		"requestId": "9f1c2d3e-4b5a-6789-0abc-def012345678", "method": "POST", "resource": "/v1/chat/completions",
	} {
		if line[field] != value {
			t.Errorf("log %s = %v, want %v", field, line[field], value)
		}
	}
}

func TestHandleHeaders(t *testing.T) {
	const key = "k-0123456789abcdefghij"
	for _, tc := range []struct {
		name       string
		headers    map[string]string
		multi      map[string][]string
		wantKey    string // "" = Unauthorized
		wantSource string
	}{
		{name: "OpenAI bearer", headers: map[string]string{"Authorization": "Bearer " + key}, wantKey: key, wantSource: SourceBearer},
		{name: "lower-case scheme and name", headers: map[string]string{"authorization": "bearer " + key}, wantKey: key, wantSource: SourceBearer},
		{name: "extra spaces", headers: map[string]string{"AUTHORIZATION": "  Bearer   " + key + "  "}, wantKey: key, wantSource: SourceBearer},
		{name: "x-api-key", headers: map[string]string{"x-api-key": key}, wantKey: key, wantSource: SourceAPIKeyHeader},
		{name: "X-Api-Key as a browser sends it", headers: map[string]string{"X-Api-Key": key}, wantKey: key, wantSource: SourceAPIKeyHeader},
		{name: "both, same key", headers: map[string]string{"Authorization": "Bearer " + key, "x-api-key": key}, wantKey: key, wantSource: SourceBearer},
		{name: "another scheme and x-api-key", headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz", "x-api-key": key}, wantKey: key, wantSource: SourceAPIKeyHeader},
		{name: "only multi-value headers", multi: map[string][]string{"Authorization": {"Bearer " + key}}, wantKey: key, wantSource: SourceBearer},
		{name: "no headers at all"},
		{name: "unrelated headers", headers: map[string]string{"Accept": "text/event-stream"}},
		{name: "both, different keys", headers: map[string]string{"Authorization": "Bearer " + key, "x-api-key": "other-key-0123456789"}},
		{name: "another scheme only", headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}},
		{name: "bearer without a token", headers: map[string]string{"Authorization": "Bearer "}},
		{name: "bearer without a token or space", headers: map[string]string{"Authorization": "Bearer"}},
		{name: "empty x-api-key", headers: map[string]string{"x-api-key": "  "}},
		{name: "key with a space", headers: map[string]string{"Authorization": "Bearer two words"}},
		{name: "key with a control character", headers: map[string]string{"x-api-key": "k\x01ey-0123456789"}},
		{name: "key too long", headers: map[string]string{"x-api-key": strings.Repeat("k", maxKeyLength+1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := recordedEvent(t)
			ev.Headers, ev.MultiValueHeaders = tc.headers, tc.multi
			var logs bytes.Buffer
			resp, err := New(slog.New(slog.NewJSONHandler(&logs, nil))).Handle(context.Background(), ev)
			for _, h := range tc.headers {
				if secret := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(h), "Bearer")); len(secret) > 8 && strings.Contains(logs.String(), secret) {
					t.Errorf("the log holds a presented key %q:\n%s", secret, logs.String())
				}
			}
			if tc.wantKey == "" {
				if err == nil || err.Error() != "Unauthorized" || !errors.Is(err, ErrUnauthorized) {
					t.Fatalf("error %v, want exactly Unauthorized (API Gateway's 401)", err)
				}
				if diff := cmp.Diff(events.APIGatewayCustomAuthorizerResponse{}, resp); diff != "" {
					t.Errorf("a refusal carries a response (-want +got):\n%s", diff)
				}
				if !strings.Contains(logs.String(), `"decision":"unauthorized"`) {
					t.Errorf("no unauthorized log line:\n%s", logs.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if resp.UsageIdentifierKey != tc.wantKey {
				t.Errorf("usageIdentifierKey %q, want %q", resp.UsageIdentifierKey, tc.wantKey)
			}
			if resp.Context[ContextKeySource] != tc.wantSource || resp.Context[ContextKeySHA256] != sha(tc.wantKey) {
				t.Errorf("context %v", resp.Context)
			}
			if resp.PrincipalID != PrincipalID(tc.wantKey) || strings.Contains(resp.PrincipalID, tc.wantKey) {
				t.Errorf("principalId %q", resp.PrincipalID)
			}
			if s := resp.PolicyDocument.Statement; len(s) != 1 || s[0].Effect != "Allow" {
				t.Errorf("policy %+v", resp.PolicyDocument)
			}
		})
	}
}

func TestStageResource(t *testing.T) {
	for _, tc := range []struct {
		methodARN, want, wantErr string
	}{
		{methodARN: "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/v1/models", want: "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*"},
		{methodARN: "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/DELETE/stream/0f1e2d", want: "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*"},
		{methodARN: "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/v1/POST/", want: "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/v1/*"},
		{methodARN: "arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abcdef1234/prod/POST/stream", want: "arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abcdef1234/prod/*"},
		{methodARN: "", wantErr: "is not an execute-api ARN"},
		{methodARN: "arn:aws:lambda:us-east-1:123456789012:function:f", wantErr: "is not an execute-api ARN"},
		{methodARN: "arn:aws:execute-api:us-east-1:123456789012:abcdef1234", wantErr: "names no API and stage"},
		{methodARN: "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/", wantErr: "names no API and stage"},
	} {
		got, err := stageResource(tc.methodARN)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("stageResource(%q) = %q, %v; want error %q", tc.methodARN, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("stageResource(%q) = %q, %v; want %q", tc.methodARN, got, err, tc.want)
		}
	}
}

// TestHandleBadMethodARN checks that a method ARN the authorizer cannot
// scope is an error (API Gateway answers 500), never Unauthorized and never
// an Allow.
func TestHandleBadMethodARN(t *testing.T) {
	ev := recordedEvent(t)
	ev.MethodArn = "not-an-arn"
	resp, err := New(slog.New(slog.DiscardHandler)).Handle(context.Background(), ev)
	if err == nil || errors.Is(err, ErrUnauthorized) {
		t.Fatalf("error %v, want a configuration error", err)
	}
	if resp.UsageIdentifierKey != "" || len(resp.PolicyDocument.Statement) != 0 {
		t.Errorf("response %+v despite the error", resp)
	}
}
