package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming/streamtest"
)

// runtimeReply is what the function posted for one invocation.
type runtimeReply struct {
	path string // ".../response" or ".../error"
	body []byte
}

// TestAuthorizerHandler runs the real bootstrap in Lambda mode with
// _HANDLER=authorizer against a minimal Lambda Runtime API, and checks
// that it answers REQUEST authorizer events: an Allow whose
// usageIdentifierKey is the Bearer token, and the error "Unauthorized" (API
// Gateway's 401) for a request without a key. The gateway's configuration
// is not set at all: the authorizer must not need it.
func TestAuthorizerHandler(t *testing.T) {
	withKey, err := os.ReadFile("authorizer/testdata/request-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(withKey, &ev); err != nil {
		t.Fatal(err)
	}
	ev["headers"] = map[string]any{"Accept": "*/*"}
	ev["multiValueHeaders"] = map[string]any{"Accept": []any{"*/*"}}
	withoutKey, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}

	type invocation struct {
		id    string
		event []byte
	}
	invocations := make(chan invocation, 2)
	invocations <- invocation{"req-0", withKey}
	invocations <- invocation{"req-1", withoutKey}
	replies := make(chan runtimeReply, 2)
	done := make(chan struct{})
	defer close(done)
	runtimeAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next":
			select {
			case next := <-invocations:
				w.Header().Set("Lambda-Runtime-Aws-Request-Id", next.id)
				w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()))
				w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:111122223333:function:sg-authorizer")
				w.Write(next.event)
			case <-done:
				http.Error(w, "test over", http.StatusGone)
			case <-r.Context().Done():
			}
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/2018-06-01/runtime/invocation/"):
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			w.WriteHeader(http.StatusAccepted)
			replies <- runtimeReply{r.URL.Path, body}
		default:
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		}
	}))
	defer runtimeAPI.Close()

	cmd := exec.Command(bootstrapPath)
	cmd.Env = append(cleanEnv(),
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(runtimeAPI.URL, "http://"),
		"_HANDLER=authorizer",
		"AWS_LAMBDA_FUNCTION_NAME=sg-authorizer",
		"AWS_REGION=eu-west-1",
	)
	logs := &streamtest.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()

	var got []runtimeReply
	timeout := time.After(30 * time.Second)
	for len(got) < 2 {
		select {
		case r := <-replies:
			got = append(got, r)
		case <-timeout:
			t.Fatalf("got %d of 2 replies in 30 s; output:\n%s", len(got), logs.String())
		}
	}

	if got[0].path != "/2018-06-01/runtime/invocation/req-0/response" {
		t.Fatalf("first invocation: posted to %s: %s", got[0].path, got[0].body)
	}
	var allow struct {
		PrincipalID        string         `json:"principalId"`
		UsageIdentifierKey string         `json:"usageIdentifierKey"`
		Context            map[string]any `json:"context"`
		PolicyDocument     struct {
			Statement []struct {
				Effect   string
				Action   []string
				Resource []string
			}
		} `json:"policyDocument"`
	}
	if err := json.Unmarshal(got[0].body, &allow); err != nil {
		t.Fatalf("response %s: %v", got[0].body, err)
	}
	if allow.UsageIdentifierKey != "sk-team-a-0123456789abcdefghij" || allow.Context["keySource"] != "authorization" ||
		len(allow.PolicyDocument.Statement) != 1 || allow.PolicyDocument.Statement[0].Effect != "Allow" ||
		allow.PolicyDocument.Statement[0].Resource[0] != "arn:aws:execute-api:eu-west-1:111122223333:a1b2c3d4e5/prod/*" {
		t.Errorf("allow response: %s", got[0].body)
	}

	if got[1].path != "/2018-06-01/runtime/invocation/req-1/error" {
		t.Fatalf("keyless invocation: posted to %s: %s", got[1].path, got[1].body)
	}
	var refusal struct{ ErrorMessage string }
	if err := json.Unmarshal(got[1].body, &refusal); err != nil || refusal.ErrorMessage != "Unauthorized" {
		t.Errorf("keyless invocation: error body %s, want errorMessage Unauthorized", got[1].body)
	}
	if strings.Contains(logs.String(), "sk-team-a-0123456789abcdefghij") {
		t.Errorf("the function's output holds the key:\n%s", logs.String())
	}
}
