package localgw_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/streamgate/streamgate/lambda/localgw"
)

// authEnv starts a gateway whose authorizer is the test function with
// _HANDLER=authorizer (one instance) and, unless ac says otherwise, the
// Authorization header as identity source and keys k1 and k2.
func authEnv(t *testing.T, cfg localgw.Config, ac localgw.AuthorizerConfig) *env {
	t.Helper()
	if ac.Instances == 0 {
		ac.Instances = 1
	}
	if ac.IdentitySources == nil {
		ac.IdentitySources = []string{"method.request.header.Authorization"}
	}
	if ac.APIKeys == nil {
		ac.APIKeys = []string{"k1", "k2"}
	}
	cfg.Authorizer = &ac
	return start(t, cfg)
}

type answer struct {
	resp *http.Response
	body []byte
}

// call sends method path with "Authorization: Bearer token" (none if
// token is "").
func (e *env) call(t *testing.T, method, path, token string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, e.url(path), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return answer{resp, body}
}

// authorizerCalls is how many events the authorizer has received.
func (e *env) authorizerCalls() int {
	b, _ := os.ReadFile(filepath.Join(e.reportDir, "authorizer.log"))
	return strings.Count(string(b), "\n")
}

// reachedIntegration tells from the gateway's log line whether the
// request was handed to the integration's function.
func (e *env) reachedIntegration(t *testing.T, a answer) bool {
	t.Helper()
	line := e.waitLogLine(t, "request", a.resp.Header.Get("X-Amzn-Requestid"), time.Second)
	_, ok := line["lambda_request_id"]
	return ok
}

// wantAuthError checks one of API Gateway's default gateway responses:
// status, x-amzn-ErrorType, and the exact JSON body (message may be null).
func wantAuthError(t *testing.T, a answer, status int, errorType, body string) {
	t.Helper()
	if a.resp.StatusCode != status || a.resp.Header.Get("X-Amzn-Errortype") != errorType {
		t.Errorf("status %d, x-amzn-ErrorType %q; want %d %s (body %s)", a.resp.StatusCode, a.resp.Header.Get("X-Amzn-Errortype"), status, errorType, a.body)
	}
	if string(a.body) != body || a.resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("body %s (%s), want %s", a.body, a.resp.Header.Get("Content-Type"), body)
	}
}

func TestAuthorizerOutcomes(t *testing.T) {
	t.Parallel()
	e := authEnv(t, localgw.Config{}, localgw.AuthorizerConfig{})
	const (
		unauthorized = `{"message":"Unauthorized"}`
		explicitDeny = `{"message":"User is not authorized to access this resource with an explicit deny"}`
		forbidden    = `{"message":"Forbidden"}`
		failure      = `{"message":null}`
	)
	for _, tc := range []struct {
		name, token string
		status      int
		errorType   string
		body        string
		invoked     bool
	}{
		{"no identity source: not invoked", "", 401, "UnauthorizedException", unauthorized, false},
		{"the error Unauthorized", "unauthorized", 401, "UnauthorizedException", unauthorized, true},
		{"an explicit Deny", "deny", 403, "AccessDeniedException", explicitDeny, true},
		{"Allow, a key outside the usage plan", "allow-k3", 403, "ForbiddenException", forbidden, true},
		{"Allow without a key", "allow", 403, "ForbiddenException", forbidden, true},
		{"another error", "boom", 500, "AuthorizerConfigurationException", failure, true},
		{"no policyDocument", "no-policy", 500, "AuthorizerConfigurationException", failure, true},
		{"an object in the context", "nested", 500, "AuthorizerConfigurationException", failure, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.authorizerCalls()
			a := e.call(t, "POST", "/stream", tc.token)
			wantAuthError(t, a, tc.status, tc.errorType, tc.body)
			if got := e.authorizerCalls() - before; got != map[bool]int{true: 1, false: 0}[tc.invoked] {
				t.Errorf("the authorizer was invoked %d times, want invoked=%v", got, tc.invoked)
			}
			if e.reachedIntegration(t, a) {
				t.Errorf("a refused request reached the integration")
			}
		})
	}
	t.Run("Allow with a key of the usage plan", func(t *testing.T) {
		a := e.call(t, "GET", "/chunks?n=2&gap=1ms", "allow-k2")
		if a.resp.StatusCode != 200 || string(a.body) != "chunk 0\nchunk 1\n" || !e.reachedIntegration(t, a) {
			t.Errorf("status %d body %q: want the integration's stream", a.resp.StatusCode, a.body)
		}
	})
	t.Run("open routes", func(t *testing.T) {
		before := e.authorizerCalls()
		for _, r := range []struct{ method, path string }{{"GET", "/"}, {"GET", "/healthz"}, {"OPTIONS", "/stream"}, {"OPTIONS", "/v1/chat/completions"}} {
			a := e.call(t, r.method, r.path, "")
			// The test function answers 404 "no route PATH" for these.
			if a.resp.StatusCode != 404 || string(a.body) != "no route "+r.path {
				t.Errorf("%s %s without credentials: %d %q, want the integration's answer", r.method, r.path, a.resp.StatusCode, a.body)
			}
		}
		if got := e.authorizerCalls() - before; got != 0 {
			t.Errorf("the authorizer was invoked %d times for open routes", got)
		}
	})
}

// TestAuthorizerEventAndContext: the authorizer gets a REQUEST event
// describing the request; the integration's event carries its principalId
// and context, and the usage plan key.
func TestAuthorizerEventAndContext(t *testing.T) {
	t.Parallel()
	e := authEnv(t, localgw.Config{}, localgw.AuthorizerConfig{})
	a := e.call(t, "POST", "/echo?x=1&x=2", "allow-k1")
	if a.resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", a.resp.StatusCode, a.body)
	}
	var got echoed
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	requestID := a.resp.Header.Get("X-Amzn-Requestid")

	var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
	b, err := os.ReadFile(filepath.Join(e.reportDir, "authorizer-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "REQUEST" || ev.HTTPMethod != "POST" || ev.Path != "/echo" || ev.Resource != "/{proxy+}" {
		t.Errorf("type/method/path/resource %q %q %q %q", ev.Type, ev.HTTPMethod, ev.Path, ev.Resource)
	}
	if !strings.HasPrefix(ev.MethodArn, "arn:aws:execute-api:") || !strings.HasSuffix(ev.MethodArn, ":123456789012:local/local/POST/echo") {
		t.Errorf("methodArn %q, want arn:aws:execute-api:REGION:123456789012:local/local/POST/echo", ev.MethodArn)
	}
	if ev.Headers["Authorization"] != "Bearer allow-k1" || !cmp.Equal(ev.MultiValueHeaders["Authorization"], []string{"Bearer allow-k1"}) {
		t.Errorf("headers %v / %v", ev.Headers["Authorization"], ev.MultiValueHeaders["Authorization"])
	}
	if ev.QueryStringParameters["x"] != "2" || !cmp.Equal(ev.MultiValueQueryStringParameters["x"], []string{"1", "2"}) {
		t.Errorf("query %v / %v", ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
	}
	rc := ev.RequestContext
	if rc.RequestID != requestID || rc.Path != "/local/echo" || rc.Stage != "local" || rc.ResourcePath != "/{proxy+}" ||
		rc.HTTPMethod != "POST" || rc.APIID != "local" || rc.AccountID != "123456789012" || rc.Identity.SourceIP != "127.0.0.1" {
		t.Errorf("requestContext %+v (request id %s)", rc, requestID)
	}

	auth := got.Event.RequestContext.Authorizer
	if auth["principalId"] != "user-k1" || auth["tenant"] != "acme" || auth["tier"] != "3" || auth["beta"] != "true" {
		t.Errorf("requestContext.authorizer = %v, want principalId user-k1 and the context as strings", auth)
	}
	if _, ok := auth["integrationLatency"].(float64); !ok {
		t.Errorf("requestContext.authorizer.integrationLatency = %v, want a number", auth["integrationLatency"])
	}
	id := got.Event.RequestContext.Identity
	if id.APIKey != "k1" || id.APIKeyID == "" || id.APIKeyID == "k1" {
		t.Errorf("identity apiKey %q apiKeyId %q, want k1 and an id that is not the key", id.APIKey, id.APIKeyID)
	}
	line := e.waitLogLine(t, "request", requestID, time.Second)
	if line["authorizer"] != "allow" || line["principal_id"] != "user-k1" || line["authorizer_cached"] != false {
		t.Errorf("request log line %v, want authorizer allow, principal_id user-k1, not cached", line)
	}
}

// TestAuthorizerCache: a policy is cached by the identity sources' values
// and evaluated against each request's own method ARN.
func TestAuthorizerCache(t *testing.T) {
	t.Parallel()
	e := authEnv(t, localgw.Config{Instances: 1}, localgw.AuthorizerConfig{TTL: time.Hour})

	for i := range 2 {
		if a := e.call(t, "GET", "/echo", "method-k1"); a.resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+1, a.resp.StatusCode, a.body)
		}
	}
	if n := e.authorizerCalls(); n != 1 {
		t.Errorf("%d authorizer calls for two requests with the same token, want 1", n)
	}
	// The cached policy allows GET /echo only (the first request's method
	// ARN): another method is denied without a new call, as on API Gateway.
	a := e.call(t, "GET", "/chunks?n=1", "method-k1")
	wantAuthError(t, a, 403, "AccessDeniedException", `{"message":"User is not authorized to access this resource"}`)
	if line := e.waitLogLine(t, "request", a.resp.Header.Get("X-Amzn-Requestid"), time.Second); line["authorizer_cached"] != true || line["authorizer"] != "implicit_deny" {
		t.Errorf("log line %v, want a cached implicit deny", line)
	}
	if n := e.authorizerCalls(); n != 1 {
		t.Errorf("%d authorizer calls, want still 1", n)
	}
	if a := e.call(t, "GET", "/chunks?n=1", "allow-k2"); a.resp.StatusCode != 200 {
		t.Errorf("another token: %d %s", a.resp.StatusCode, a.body)
	}
	if n := e.authorizerCalls(); n != 2 {
		t.Errorf("%d authorizer calls after a second token, want 2", n)
	}
}

func TestAuthorizerCacheExpires(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	e := authEnv(t, localgw.Config{}, localgw.AuthorizerConfig{TTL: ttl})
	if a := e.call(t, "GET", "/echo", "allow-k1"); a.resp.StatusCode != 200 {
		t.Fatalf("%d %s", a.resp.StatusCode, a.body)
	}
	time.Sleep(ttl + 100*time.Millisecond) // the entry was stored before the answer came back
	if a := e.call(t, "GET", "/echo", "allow-k1"); a.resp.StatusCode != 200 {
		t.Fatalf("%d %s", a.resp.StatusCode, a.body)
	}
	if n := e.authorizerCalls(); n != 2 {
		t.Errorf("%d authorizer calls, want 2: the cached policy outlived its %v TTL", n, ttl)
	}
}

func TestAuthorizerIdentitySourcesAndRoutes(t *testing.T) {
	t.Parallel()
	requires, err := localgw.RoutePatterns([]string{"POST /stream", "ANY /v1/*"})
	if err != nil {
		t.Fatal(err)
	}
	e := authEnv(t, localgw.Config{}, localgw.AuthorizerConfig{
		IdentitySources: []string{"method.request.header.Authorization", "method.request.querystring.tenant"},
		Requires:        requires,
	})
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		invocations               int
	}{
		{"header but no query", "POST", "/stream", "allow-k1", 401, 0},
		{"query but no header", "GET", "/v1/models?tenant=a", "", 401, 0},
		{"empty query value", "GET", "/v1/models?tenant=", "allow-k1", 401, 0},
		{"both", "GET", "/v1/models?tenant=a", "allow-k1", 404, 1}, // the test function's "no route"
		{"an unguarded route", "GET", "/chunks?n=1", "", 200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.authorizerCalls()
			a := e.call(t, tc.method, tc.path, tc.token)
			if a.resp.StatusCode != tc.status || e.authorizerCalls()-before != tc.invocations {
				t.Errorf("%d %s with %d authorizer calls, want %d with %d", a.resp.StatusCode, a.body, e.authorizerCalls()-before, tc.status, tc.invocations)
			}
		})
	}
}

// TestAuthorizerTimeout: a slow authorizer is a 500 at its own timeout;
// within its timeout it is not held against the integration's timeout.
func TestAuthorizerTimeout(t *testing.T) {
	t.Parallel()
	// The test function's "slow" token sleeps 3 s.
	t.Run("over the authorizer's timeout", func(t *testing.T) {
		t.Parallel()
		e := authEnv(t, localgw.Config{Timeout: 10 * time.Second}, localgw.AuthorizerConfig{Timeout: time.Second})
		begin := time.Now()
		a := e.call(t, "GET", "/echo", "slow")
		wantAuthError(t, a, 500, "AuthorizerConfigurationException", `{"message":null}`)
		if took := time.Since(begin); took < time.Second || took > 2900*time.Millisecond {
			t.Errorf("answered after %v, want at the 1s authorizer timeout", took)
		}
		// The killed authorizer instance is replaced.
		waitFor(t, "a new authorizer instance", 10*time.Second, func() bool {
			return e.call(t, "GET", "/echo", "allow-k1").resp.StatusCode == 200
		})
	})
	t.Run("not counted in the integration timeout", func(t *testing.T) {
		t.Parallel()
		e := authEnv(t, localgw.Config{Timeout: time.Second}, localgw.AuthorizerConfig{Timeout: 10 * time.Second})
		if a := e.call(t, "GET", "/chunks?n=1", "slow"); a.resp.StatusCode != 200 {
			t.Errorf("%d %s: want 200, the 3 s authorization is not part of the 1 s integration timeout", a.resp.StatusCode, a.body)
		}
	})
}
