package localgw

// A REQUEST Lambda authorizer in front of the integration, as API Gateway
// REST runs one for methods with AuthorizationType CUSTOM and an API whose
// ApiKeySourceType is AUTHORIZER (the authorizer's usageIdentifierKey is
// the usage plan's API key).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// AuthorizerConfig configures Config.Authorizer: a REQUEST Lambda
// authorizer run by the same bootstrap binary with its own _HANDLER, in
// its own small pool of instances (a second Lambda function built from the
// same zip). The zero value of every field has a default.
type AuthorizerConfig struct {
	// Handler is the authorizer function's _HANDLER; "" → "authorizer".
	Handler string
	// FunctionName is its AWS_LAMBDA_FUNCTION_NAME; "" → Config.FunctionName + "-authorizer".
	FunctionName string
	// Instances is the size of its pool; 0 → 2.
	Instances int
	// Timeout is the authorizer function's Lambda timeout, and so the
	// longest a request waits for an authorization (queueing included);
	// API Gateway's integration timeout does not apply to authorizers.
	// 0 → 10s; at most 900s.
	Timeout time.Duration
	// TTL is how long a policy is cached (AuthorizerResultTtlInSeconds;
	// API Gateway's default is 300s, its maximum 3600s), keyed by the
	// values of the identity sources. 0: no caching. A cached policy is
	// evaluated against each request's own method ARN, as on API Gateway
	// (so a policy that allows only the first request's method ARN denies
	// the others until it expires).
	TTL time.Duration
	// IdentitySources are where the request must carry its credentials,
	// in API Gateway's syntax: "method.request.header.NAME" or
	// "method.request.querystring.NAME". A request that lacks one (or has
	// it empty) gets 401 without the authorizer being invoked. Required
	// when TTL > 0 (they are the cache key), as on API Gateway.
	IdentitySources []string
	// Requires says which routes the authorizer guards; nil →
	// DefaultRequires (everything but GET /, GET /healthz and OPTIONS).
	// RoutePatterns builds one from "METHOD /path" patterns.
	Requires func(method, path string) bool
	// APIKeys are the API keys of the usage plan. When there are any, a
	// guarded method requires an API key (ApiKeyRequired): an Allow whose
	// usageIdentifierKey is not one of them gets 403 {"message":"Forbidden"}.
	// Empty: no API key is required or checked. Per-key throttling and
	// quotas are not emulated.
	APIKeys []string
	// Env is extra environment for the authorizer's children, after
	// Config.Env.
	Env []string
}

// Authorizer defaults.
const (
	DefaultAuthorizerHandler   = "authorizer"
	DefaultAuthorizerInstances = 2
	DefaultAuthorizerTimeout   = 10 * time.Second
	MaxAuthorizerTTL           = time.Hour
	maxAuthCacheEntries        = 10000
)

// DefaultRequires guards every route except the ones a browser or a
// health check must reach without a key: GET / (the chat page),
// GET /healthz and every CORS preflight (OPTIONS).
func DefaultRequires(method, path string) bool {
	if method == http.MethodOptions {
		return false
	}
	return !(method == http.MethodGet && (path == "/" || path == "/healthz"))
}

// RoutePatterns returns a Requires predicate that matches any of
// patterns, each "METHOD PATH": METHOD is an HTTP method, or "*" or "ANY"
// for all; PATH is an exact path, or ends with "*" to match every path
// with that prefix ("/v1/*", or "/*" for all).
func RoutePatterns(patterns []string) (func(method, path string) bool, error) {
	type route struct {
		method, path string
		prefix       bool
	}
	var routes []route
	for _, p := range patterns {
		method, path, ok := strings.Cut(strings.TrimSpace(p), " ")
		path = strings.TrimSpace(path)
		if !ok || method == "" || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t") {
			return nil, fmt.Errorf("route pattern %q: want \"METHOD /path\" (METHOD may be * or ANY; /path may end with *)", p)
		}
		method = strings.ToUpper(method)
		if method == "ANY" {
			method = "*"
		}
		rt := route{method: method, path: path}
		if strings.HasSuffix(path, "*") {
			rt.path, rt.prefix = strings.TrimSuffix(path, "*"), true
		}
		if strings.Contains(rt.path, "*") {
			return nil, fmt.Errorf("route pattern %q: * is only allowed at the end of the path", p)
		}
		routes = append(routes, rt)
	}
	if len(routes) == 0 {
		return nil, errors.New("no route patterns")
	}
	return func(method, path string) bool {
		for _, rt := range routes {
			if rt.method != "*" && rt.method != method {
				continue
			}
			if rt.prefix && strings.HasPrefix(path, rt.path) || !rt.prefix && path == rt.path {
				return true
			}
		}
		return false
	}, nil
}

// identitySource is one parsed IdentitySources entry.
type identitySource struct {
	raw   string
	query bool // querystring, else header
	name  string
}

func parseIdentitySource(s string) (identitySource, error) {
	for _, prefix := range []string{"method.request.header.", "method.request.querystring."} {
		if name, ok := strings.CutPrefix(s, prefix); ok && name != "" {
			return identitySource{raw: s, query: prefix == "method.request.querystring.", name: name}, nil
		}
	}
	return identitySource{}, fmt.Errorf("identity source %q: want method.request.header.NAME or method.request.querystring.NAME", s)
}

// authorizer is the authorizer's function pool plus API Gateway's side of
// the authorization: identity sources, result cache, policy evaluation and
// the usage plan's keys.
type authorizer struct {
	g        *Gateway
	fn       *pool
	ttl      time.Duration
	sources  []identitySource
	requires func(method, path string) bool
	keys     map[string]bool

	mu    sync.Mutex
	cache map[string]cachedPolicy
}

type cachedPolicy struct {
	out     *authorizerOutput
	expires time.Time
}

func (g *Gateway) newAuthorizer(cfg AuthorizerConfig) (*authorizer, error) {
	if cfg.Handler == "" {
		cfg.Handler = DefaultAuthorizerHandler
	}
	if err := checkHandler(cfg.Handler); err != nil {
		return nil, fmt.Errorf("handler: %w", err)
	}
	if cfg.FunctionName == "" {
		cfg.FunctionName = g.cfg.FunctionName + "-authorizer"
	}
	switch {
	case cfg.Instances < 0:
		return nil, fmt.Errorf("instances must be at least 1, got %d", cfg.Instances)
	case cfg.Instances == 0:
		cfg.Instances = DefaultAuthorizerInstances
	}
	switch {
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultAuthorizerTimeout
	case cfg.Timeout < 0 || cfg.Timeout > MaxTimeout:
		return nil, fmt.Errorf("timeout %v: want a Lambda timeout up to %v", cfg.Timeout, MaxTimeout)
	}
	switch {
	case cfg.TTL < 0 || cfg.TTL > MaxAuthorizerTTL:
		return nil, fmt.Errorf("TTL %v: API Gateway caches authorizer results for 0 to 3600 seconds", cfg.TTL)
	case cfg.TTL%time.Second != 0:
		return nil, fmt.Errorf("TTL %v: API Gateway's TTL is whole seconds", cfg.TTL)
	}
	a := &authorizer{g: g, ttl: cfg.TTL, requires: cfg.Requires, cache: map[string]cachedPolicy{}}
	for _, s := range cfg.IdentitySources {
		src, err := parseIdentitySource(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		a.sources = append(a.sources, src)
	}
	if a.ttl > 0 && len(a.sources) == 0 {
		return nil, errors.New("caching (TTL > 0) needs at least one identity source, the cache key (as on API Gateway)")
	}
	if a.requires == nil {
		a.requires = DefaultRequires
	}
	for _, k := range cfg.APIKeys {
		if k == "" {
			return nil, errors.New("an empty API key")
		}
		if a.keys == nil {
			a.keys = map[string]bool{}
		}
		a.keys[k] = true
	}
	for _, kv := range cfg.Env {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("environment entry %q is not KEY=VALUE", kv)
		}
	}
	a.fn = g.newPool(cfg.FunctionName, cfg.Handler, cfg.Instances, cfg.Timeout, cfg.Env, Drain)
	return a, nil
}

// identity returns the values of the identity sources (joined, as the
// cache key) and false, naming the first one, if one is missing or empty.
func (a *authorizer) identity(r *http.Request) (key string, missing string) {
	var b strings.Builder
	for _, src := range a.sources {
		var vals []string
		if src.query {
			vals = r.URL.Query()[src.name]
		} else {
			vals = r.Header.Values(src.name)
		}
		v := strings.Join(vals, ",")
		if strings.TrimSpace(v) == "" {
			return "", src.raw
		}
		b.WriteString(v)
		b.WriteByte(0)
	}
	return b.String(), ""
}

func (a *authorizer) cached(key string, now time.Time) *authorizerOutput {
	if a.ttl == 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cache[key]
	if !ok || !now.Before(c.expires) {
		return nil
	}
	return c.out
}

func (a *authorizer) store(key string, out *authorizerOutput, now time.Time) {
	if a.ttl == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= maxAuthCacheEntries { // bounded: drop the expired, then everything
		for k, c := range a.cache {
			if !now.Before(c.expires) {
				delete(a.cache, k)
			}
		}
		if len(a.cache) >= maxAuthCacheEntries {
			clear(a.cache)
		}
	}
	a.cache[key] = cachedPolicy{out: out, expires: now.Add(a.ttl)}
}

// authLog is what the request's log line says about its authorization.
type authLog struct {
	result      string // allow, explicit_deny, implicit_deny, unauthorized, identity_missing, invalid_api_key, error, client_gone
	cached      bool
	ms          float64
	principalID string
}

// API Gateway's default gateway responses for authorizers (their bodies
// are the template {"message":$context.error.messageString}).
var (
	bodyUnauthorized = []byte(`{"message":"Unauthorized"}`)
	bodyExplicitDeny = []byte(`{"message":"User is not authorized to access this resource with an explicit deny"}`)
	bodyImplicitDeny = []byte(`{"message":"User is not authorized to access this resource"}`)
	bodyForbidden    = []byte(`{"message":"Forbidden"}`)
	bodyAuthFailure  = []byte(`{"message":null}`)
)

var errAuthorizerTimeout = errors.New("authorizer timed out")

// methodArn is the ARN of the method a request calls, as the authorizer
// and its policy see it.
func (g *Gateway) methodArn(method, path string) string {
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s/%s", g.region, AccountID, APIID, g.cfg.Stage, method, strings.TrimPrefix(path, "/"))
}

// authorize runs the authorizer step for a guarded route. It returns true
// when the integration may run (ev then carries the authorizer's
// principalId and context, and the API key); otherwise it has answered the
// client.
func (x *exchange) authorize(ev *events.APIGatewayProxyRequest, traceRoot string) bool {
	a := x.g.auth
	begin := time.Now()
	defer func() { x.auth.ms = float64(time.Since(begin).Microseconds()) / 1000 }()

	key, missing := a.identity(x.r)
	if missing != "" {
		x.auth.result = "identity_missing"
		x.gatewayResponse(http.StatusUnauthorized, "UnauthorizedException", bodyUnauthorized, "unauthorized",
			fmt.Errorf("identity source %s is missing or empty; the authorizer was not invoked", missing))
		return false
	}
	arn := x.g.methodArn(ev.HTTPMethod, ev.Path)
	out := a.cached(key, begin)
	latency := int64(0)
	if out != nil {
		x.auth.cached = true
	} else {
		var err error
		out, err = x.invokeAuthorizer(ev, arn, traceRoot)
		latency = time.Since(begin).Milliseconds()
		switch {
		case errors.Is(err, errClientGone):
			x.auth.result = "client_gone"
			x.outcome, x.err = "client_disconnected", fmt.Errorf("client disconnected during the authorization")
			return false
		case errors.Is(err, errUnauthorized):
			x.auth.result = "unauthorized"
			x.gatewayResponse(http.StatusUnauthorized, "UnauthorizedException", bodyUnauthorized, "unauthorized", err)
			return false
		case err != nil:
			x.auth.result = "error"
			x.gatewayResponse(http.StatusInternalServerError, "AuthorizerConfigurationException", bodyAuthFailure, "authorizer_failure", err)
			return false
		}
		a.store(key, out, time.Now())
	}
	x.auth.principalID = out.principalID

	switch out.decide(arn) {
	case explicitDeny:
		x.auth.result = "explicit_deny"
		x.gatewayResponse(http.StatusForbidden, "AccessDeniedException", bodyExplicitDeny, "access_denied",
			fmt.Errorf("the authorizer's policy denies %s", arn))
		return false
	case implicitDeny:
		x.auth.result = "implicit_deny"
		x.gatewayResponse(http.StatusForbidden, "AccessDeniedException", bodyImplicitDeny, "access_denied",
			fmt.Errorf("the authorizer's policy does not allow %s", arn))
		return false
	}
	x.auth.result = "allow"
	if len(a.keys) > 0 {
		if !a.keys[out.usageKey] {
			x.auth.result = "invalid_api_key"
			what := "no usageIdentifierKey"
			if out.usageKey != "" {
				what = "a usageIdentifierKey that is not a key of the usage plan"
			}
			x.gatewayResponse(http.StatusForbidden, "ForbiddenException", bodyForbidden, "invalid_api_key",
				fmt.Errorf("the authorizer allowed the request with %s", what))
			return false
		}
		ev.RequestContext.Identity.APIKey = out.usageKey
		ev.RequestContext.Identity.APIKeyID = apiKeyID(out.usageKey)
	}
	auth := map[string]any{"principalId": out.principalID, "integrationLatency": latency}
	for k, v := range out.context {
		if k != "principalId" && k != "integrationLatency" {
			auth[k] = v
		}
	}
	ev.RequestContext.Authorizer = auth
	return true
}

// apiKeyID stands in for the id API Gateway gives an API key: stable for a
// key, and not the key itself.
func apiKeyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:10]
}

var errUnauthorized = errors.New(`the authorizer answered the error "Unauthorized"`)

// invokeAuthorizer sends the REQUEST authorizer event through the
// authorizer's Runtime API and reads its answer within its timeout.
func (x *exchange) invokeAuthorizer(ev *events.APIGatewayProxyRequest, methodArn, traceRoot string) (*authorizerOutput, error) {
	a := x.g.auth
	rc := ev.RequestContext
	req := events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:                            "REQUEST",
		MethodArn:                       methodArn,
		Resource:                        ev.Resource,
		Path:                            ev.Path,
		HTTPMethod:                      ev.HTTPMethod,
		Headers:                         ev.Headers,
		MultiValueHeaders:               ev.MultiValueHeaders,
		QueryStringParameters:           ev.QueryStringParameters,
		MultiValueQueryStringParameters: ev.MultiValueQueryStringParameters,
		PathParameters:                  ev.PathParameters,
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			Path:         rc.Path,
			AccountID:    rc.AccountID,
			ResourceID:   rc.ResourceID,
			Stage:        rc.Stage,
			RequestID:    rc.RequestID,
			Identity:     events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: rc.Identity.SourceIP},
			ResourcePath: rc.ResourcePath,
			HTTPMethod:   rc.HTTPMethod,
			APIID:        rc.APIID,
		},
	}
	event, err := json.Marshal(req)
	if err != nil { // cannot happen with strings and maps
		return nil, err
	}
	inv := a.fn.newInvocation(x.apigwID, traceRoot, event)
	defer close(inv.clientDone)
	// The authorizer's own timeout bounds the whole step, queueing
	// included; the sandbox kills the function at its deadline.
	timer := time.NewTimer(a.fn.timeout)
	defer timer.Stop()
	clientGone := x.r.Context().Done()

	select {
	case a.fn.invokeCh <- inv:
	case <-timer.C:
		return nil, fmt.Errorf("%w: no authorizer instance free within %v", errAuthorizerTimeout, a.fn.timeout)
	case <-clientGone:
		return nil, errClientGone
	case <-x.g.closed:
		return nil, errGatewayClosed
	}
	select {
	case res := <-inv.resultCh:
		switch res.kind {
		case resultError:
			if res.errMsg == "Unauthorized" {
				return nil, errUnauthorized
			}
			return nil, fmt.Errorf("authorizer error %s: %s", res.errType, res.errMsg)
		case resultStream:
			if res.stream.stop(inv, Drain, "authorizer_streamed") {
				x.g.logAbandoned(inv, Drain, "authorizer_streamed")
			}
			return nil, errors.New("the authorizer streamed its answer; an authorizer must return a buffered response")
		}
		return parseAuthorizerOutput(res.body)
	case <-inv.failed:
		return nil, fmt.Errorf("authorizer failed: %w", inv.failErr)
	case <-timer.C:
		return nil, fmt.Errorf("%w after %v", errAuthorizerTimeout, a.fn.timeout)
	case <-clientGone:
		return nil, errClientGone
	}
}

// gatewayResponse sends one of API Gateway's own error responses, with the
// x-amzn-ErrorType header API Gateway sends with them (the values are the
// ones seen in practice; API Gateway's documentation does not list them).
func (x *exchange) gatewayResponse(status int, errorType string, body []byte, outcome string, err error) {
	x.w.Header()["x-amzn-ErrorType"] = []string{errorType}
	x.failWith(status, body, outcome, err)
}
