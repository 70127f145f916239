package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/apigateway"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
	"github.com/awslabs/goformation/v7/cloudformation/policies"
)

// shortTimeoutMs is the integration timeout of the routes that call no
// model (the chat page, health, model lists, cancels, preflights), unless
// the function's is shorter.
const shortTimeoutMs = 10_000

// streamingURI is the integration Uri that makes API Gateway call the
// function (or its alias, with provisioned concurrency) with
// InvokeWithResponseStream (API version 2021-11-15).
func streamingURI(o options) string {
	target := "${" + resFunction + ".Arn}"
	if o.ProvisionedConcurrency > 0 {
		target = "${" + resFunctionAlias + "}"
	}
	return "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2021-11-15/functions/" + target + "/response-streaming-invocations"
}

// route is one method of the API.
type route struct {
	path, method string
	// open routes need no key: the chat page (it asks for the key and
	// sends it with its API calls), the health check and CORS preflights
	// (browsers send no credentials in a preflight).
	open bool
	// long routes call a model and may stream for minutes: they get the
	// integration timeout of the generator; the others the short one.
	long bool
}

// routes lists every method of the API (DESIGN §2 and CONTRACTS), each
// with its preflight.
func routes() []route {
	api := []route{
		{path: "/", method: "GET", open: true},
		{path: "/healthz", method: "GET", open: true},
		{path: "/stream", method: "POST", long: true},
		{path: "/stream/{requestId}", method: "DELETE"},
		{path: "/generate", method: "POST", long: true},
		{path: "/generate-image", method: "GET", long: true},
		{path: "/generate-image", method: "POST", long: true},
		{path: "/models", method: "GET"},
		{path: "/v1/models", method: "GET"},
		{path: "/v1/chat/completions", method: "POST", long: true},
		{path: "/v1/chat/completions/{id}/cancel", method: "POST"},
		{path: "/v1/responses", method: "POST", long: true},
		{path: "/v1/responses/{id}", method: "GET"},
		{path: "/v1/responses/{id}", method: "DELETE"},
		{path: "/v1/responses/{id}/input_items", method: "GET"},
		{path: "/v1/responses/{id}/cancel", method: "POST"},
		{path: "/v1/embeddings", method: "POST", long: true},
		{path: "/v1/images/generations", method: "POST", long: true},
		// Anthropic's Messages API, for Claude Code and the Anthropic SDKs.
		{path: "/v1/messages", method: "POST", long: true},
		{path: "/v1/messages/count_tokens", method: "POST", long: true},
		// Bedrock's own protocol passed through, for Claude Code's Bedrock
		// mode. The event stream is a binary body: STREAM mode relays it
		// as it is, with no binary media types (AWS's API Gateway guide:
		// response streaming receives "a binary payload without configuring
		// the binary media types").
		{path: "/model/{modelId}/invoke", method: "POST", long: true},
		{path: "/model/{modelId}/invoke-with-response-stream", method: "POST", long: true},
		{path: "/inference-profiles", method: "GET"},
	}
	var out []route
	for _, r := range api {
		if !slices.ContainsFunc(out, func(o route) bool { return o.path == r.path && o.method == "OPTIONS" }) {
			out = append(out, route{path: r.path, method: "OPTIONS", open: true})
		}
		out = append(out, r)
	}
	return out
}

// resourceID is the logical id of a path's API Gateway resource: "/" is
// the API's root (no resource of its own), "/v1/chat/completions" is
// V1ChatCompletionsResource, a {param} segment is written without braces.
func resourceID(path string) string {
	if path == "/" {
		return ""
	}
	return pathName(path) + "Resource"
}

// methodID is the logical id of a route's method, such as StreamPostMethod
// or RootGetMethod.
func methodID(r route) string {
	name := "Root"
	if r.path != "/" {
		name = pathName(r.path)
	}
	return name + strings.ToUpper(r.method[:1]) + strings.ToLower(r.method[1:]) + "Method"
}

// pathName turns /v1/chat/completions/{id}/cancel into V1ChatCompletionsIdCancel
// (and /v1/messages/count_tokens into V1MessagesCountTokens: logical ids
// are letters and digits: -, _ and braces go).
func pathName(path string) string {
	var b strings.Builder
	upper := true
	for _, c := range path {
		switch {
		case c == '/' || c == '-' || c == '_' || c == '{' || c == '}':
			upper = true
		case upper:
			b.WriteRune(unicode.ToUpper(c))
			upper = false
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// resourceRef is what a method or child resource names as its resource.
func resourceRef(path string) string {
	if path == "/" {
		return getAtt(resAPI, "RootResourceId")
	}
	return ref(resourceID(path))
}

// parentPath is the path without its last segment.
func parentPath(path string) string {
	i := strings.LastIndex(path, "/")
	if i <= 0 {
		return "/"
	}
	return path[:i]
}

func addAPI(t *cloudformation.Template, o options) {
	keySource := "HEADER"
	if o.APIKeyRequired {
		// The usage plan key is what the authorizer returns as
		// usageIdentifierKey: the Bearer token or x-api-key.
		keySource = "AUTHORIZER"
	}
	t.Resources[resAPI] = &apigateway.RestApi{
		Name:        cloudformation.String(ref("AWS::StackName")),
		Description: cloudformation.String("streamgate: Bedrock answers streamed as they are generated"),
		// REGIONAL: a streamed response may be idle for 5 minutes on a
		// Regional endpoint, only 30 s on an edge-optimized one.
		EndpointConfiguration: &apigateway.RestApi_EndpointConfiguration{Types: []string{"REGIONAL"}},
		ApiKeySourceType:      cloudformation.String(keySource),
	}
	if o.APIKeyRequired {
		authorizer := &apigateway.Authorizer{
			Name:          "api-key",
			RestApiId:     ref(resAPI),
			Type:          "REQUEST",
			AuthorizerUri: cloudformation.String(sub("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${" + resAuthorizerFunction + ".Arn}/invocations")),
			// Explicitly, as 0 would otherwise be API Gateway's default 300.
			AuthorizerResultTtlInSeconds: cloudformation.Int(o.AuthorizerCacheSeconds),
		}
		// With caching on, API Gateway requires every identity source to
		// be present and answers 401 itself when one is missing, so a
		// cache can be keyed on one header only: Authorization, which
		// OpenAI clients send. Without caching there is no identity
		// source, and the authorizer reads Authorization or x-api-key.
		if o.AuthorizerCacheSeconds > 0 {
			authorizer.IdentitySource = cloudformation.String("method.request.header.Authorization")
		}
		t.Resources[resAuthorizer] = authorizer
	}

	short := min(shortTimeoutMs, o.FunctionTimeoutSeconds*1000)
	for _, r := range routes() {
		for p := r.path; p != "/"; p = parentPath(p) {
			if _, ok := t.Resources[resourceID(p)]; ok {
				continue
			}
			t.Resources[resourceID(p)] = &apigateway.Resource{
				RestApiId: ref(resAPI),
				ParentId:  resourceRef(parentPath(p)),
				PathPart:  p[strings.LastIndex(p, "/")+1:],
			}
		}
		timeout := short
		if r.long {
			timeout = o.IntegrationTimeoutMs
		}
		m := &apigateway.Method{
			RestApiId:         ref(resAPI),
			ResourceId:        resourceRef(r.path),
			HttpMethod:        r.method,
			AuthorizationType: cloudformation.String("NONE"),
			ApiKeyRequired:    cloudformation.Bool(false),
			// Every route, CORS preflights included, goes to the function
			// through the streaming integration: the function answers
			// every request in the streaming format (a JSON prelude, 8 NUL
			// bytes, the body), which a buffered AWS_PROXY integration
			// would reject as malformed, and its CORS answers follow
			// CORS_ALLOW_ORIGINS, a list that a MOCK integration could not
			// echo.
			Integration: &apigateway.Method_Integration{
				Type:                  "AWS_PROXY",
				IntegrationHttpMethod: cloudformation.String("POST"),
				Uri:                   cloudformation.String(sub(streamingURI(o))),
			},
		}
		if o.APIKeyRequired && !r.open {
			m.AuthorizationType = cloudformation.String("CUSTOM")
			m.AuthorizerId = cloudformation.String(ref(resAuthorizer))
			m.ApiKeyRequired = cloudformation.Bool(true)
		}
		t.Resources[methodID(r)] = streamingMethod(m, timeout)
	}
	addGatewayResponses(t, o)
}

// gatewayResponse is an error that API Gateway answers itself.
type gatewayResponse struct {
	id, responseType string
	status           string // "" keeps API Gateway's
	code             string // "" = the response type
	message          string // "" = API Gateway's message
	openAIType       string
	retryable        bool
	headers          map[string]string // extra headers, as static values
}

func gatewayResponses(o options) []gatewayResponse {
	keyHelp := "send a key of this API as Authorization: Bearer KEY or x-api-key: KEY"
	if o.AuthorizerCacheSeconds > 0 {
		// A cached authorizer reads the key from Authorization only.
		keyHelp = "send a key of this API as Authorization: Bearer KEY"
	}
	return []gatewayResponse{
		{id: "GatewayResponseDefault4xx", responseType: "DEFAULT_4XX", openAIType: "invalid_request_error"},
		{id: "GatewayResponseDefault5xx", responseType: "DEFAULT_5XX", openAIType: "api_error", retryable: true},
		{id: "GatewayResponseThrottled", responseType: "THROTTLED", openAIType: "rate_limit_error", retryable: true,
			headers: map[string]string{"Retry-After": "1"}},
		{id: "GatewayResponseQuotaExceeded", responseType: "QUOTA_EXCEEDED", openAIType: "rate_limit_error",
			message: "This API key has used up its request quota for the period."},
		{id: "GatewayResponseUnauthorized", responseType: "UNAUTHORIZED", openAIType: "authentication_error",
			message: "Missing or malformed API key: " + keyHelp + ".", headers: map[string]string{"WWW-Authenticate": "Bearer"}},
		// An unknown key: API Gateway says 403 Forbidden; clients of
		// OpenAI's API expect 401 for a wrong key, as local mode answers.
		{id: "GatewayResponseInvalidApiKey", responseType: "INVALID_API_KEY", status: "401", openAIType: "authentication_error",
			message: "Invalid API key: " + keyHelp + ".", headers: map[string]string{"WWW-Authenticate": "Bearer"}},
		// API Gateway's answer to a path or method the API does not have.
		{id: "GatewayResponseNoRoute", responseType: "MISSING_AUTHENTICATION_TOKEN", status: "404", code: "not_found", openAIType: "invalid_request_error",
			message: "No such route: see the routes in streamgate's README (POST /stream, POST /v1/chat/completions, GET /v1/models, ...)."},
	}
}

// addGatewayResponses gives the errors that API Gateway answers itself the
// gateway's JSON error shape, readable by streamgate and OpenAI clients
// alike, and for browsers the CORS origin header. A gateway response
// cannot choose a header by the request's Origin, so it echoes none: it
// carries * when any origin is allowed, the origin itself when exactly one
// is, and nothing for a list (a browser then sees a network error for
// these responses only; the function's own answers echo each allowed
// origin).
func addGatewayResponses(t *cloudformation.Template, o options) {
	var allowOrigin string
	switch origins := o.corsOrigins(); len(origins) {
	case 0:
	case 1:
		allowOrigin = origins[0]
	}
	for _, g := range gatewayResponses(o) {
		code := `"$context.error.responseType"`
		if g.code != "" {
			code = jsonString(g.code)
		}
		message := "$context.error.messageString" // already a JSON string
		if g.message != "" {
			message = jsonString(g.message)
		}
		params := map[string]string{}
		for name, value := range g.headers {
			params["gatewayresponse.header."+name] = "'" + value + "'"
		}
		if allowOrigin != "" {
			params["gatewayresponse.header.Access-Control-Allow-Origin"] = "'" + allowOrigin + "'"
			if allowOrigin != "*" {
				params["gatewayresponse.header.Vary"] = "'Origin'"
			}
		}
		if len(params) == 0 {
			params = nil
		}
		r := &apigateway.GatewayResponse{
			RestApiId:    ref(resAPI),
			ResponseType: g.responseType,
			ResponseTemplates: map[string]string{
				"application/json": fmt.Sprintf(`{"error":{"code":%s,"message":%s,"type":%q,"retryable":%t}}`, code, message, g.openAIType, g.retryable),
			},
			ResponseParameters: params,
		}
		if g.status != "" {
			r.StatusCode = cloudformation.String(g.status)
		}
		t.Resources[g.id] = r
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// deployedTypes are the resource types whose settings a Deployment
// snapshots: a change to any of them is served only after a new
// deployment. The others of API Gateway (stage, keys, usage plans, the
// account) take effect on their own.
func deployedTypes() []string {
	return []string{
		"AWS::ApiGateway::RestApi",
		"AWS::ApiGateway::Resource",
		"AWS::ApiGateway::Method",
		"AWS::ApiGateway::Authorizer",
		"AWS::ApiGateway::GatewayResponse",
	}
}

// deploymentID names the API Gateway deployment after a hash of every
// resource a Deployment snapshots, with their logical ids. A Deployment is
// a snapshot that CloudFormation never updates in place: a new logical id
// whenever any of them changes is what makes the stage serve the change.
// They take no parameter (see options), so the hash covers all that they
// do.
func deploymentID(t *cloudformation.Template) (string, error) {
	h := sha256.New()
	for _, id := range sortedKeys(t.Resources) {
		r := t.Resources[id]
		if !slices.Contains(deployedTypes(), r.AWSCloudFormationType()) {
			continue
		}
		b, err := json.Marshal(r)
		if err != nil {
			return "", fmt.Errorf("hashing %s for the API deployment: %w", id, err)
		}
		fmt.Fprintf(h, "%s\n%s\n", id, b)
	}
	return deploymentPrefix + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// accessLogFormat is the stage's access log line: one JSON object a request.
// Every value is quoted so that a missing one ("-") keeps the line valid
// JSON; errorMessage is already quoted by API Gateway.
func accessLogFormat() string {
	fields := [][2]string{
		{"requestId", "$context.requestId"},
		{"extendedRequestId", "$context.extendedRequestId"},
		{"requestTime", "$context.requestTime"},
		{"requestTimeEpoch", "$context.requestTimeEpoch"},
		{"ip", "$context.identity.sourceIp"},
		{"apiKeyId", "$context.identity.apiKeyId"},
		{"principalId", "$context.authorizer.principalId"},
		{"authorizerStatus", "$context.authorizer.status"},
		{"authorizerLatency", "$context.authorizer.latency"},
		{"httpMethod", "$context.httpMethod"},
		{"resourcePath", "$context.resourcePath"},
		{"protocol", "$context.protocol"},
		{"stage", "$context.stage"},
		{"status", "$context.status"},
		{"responseLength", "$context.responseLength"},
		{"responseLatency", "$context.responseLatency"},
		{"responseTransferMode", "$context.integration.responseTransferMode"},
		// The streaming fields AWS documents for troubleshooting: when the
		// function's first body byte and its status and headers arrived.
		{"timeToFirstContent", "$context.integration.timeToFirstContent"},
		{"timeToAllHeaders", "$context.integration.timeToAllHeaders"},
		{"integrationRequestId", "$context.integration.requestId"},
		{"integrationStatus", "$context.integration.status"},
		{"integrationLatency", "$context.integration.latency"},
		{"integrationError", "$context.integration.error"},
		{"errorType", "$context.error.responseType"},
	}
	parts := make([]string, 0, len(fields)+1)
	for _, f := range fields {
		parts = append(parts, fmt.Sprintf("%q:%q", f[0], f[1]))
	}
	parts = append(parts, `"errorMessage":$context.error.messageString`)
	return "{" + strings.Join(parts, ",") + "}"
}

func addStage(t *cloudformation.Template, o options, deployment string) {
	// The deployment must wait for everything it snapshots: the methods
	// (and through them the resources and the authorizer) and the gateway
	// responses, which nothing else refers to.
	var dependsOn []string
	for _, id := range sortedKeys(t.Resources) {
		switch t.Resources[id].AWSCloudFormationType() {
		case "AWS::ApiGateway::Method", "AWS::ApiGateway::GatewayResponse", "AWS::ApiGateway::Authorizer":
			dependsOn = append(dependsOn, id)
		}
	}
	t.Resources[deployment] = &apigateway.Deployment{
		RestApiId:                  ref(resAPI),
		Description:                cloudformation.String("streamgate API " + strings.TrimPrefix(deployment, deploymentPrefix)),
		AWSCloudFormationDependsOn: dependsOn,
	}
	stage := &apigateway.Stage{
		RestApiId:    ref(resAPI),
		DeploymentId: cloudformation.String(ref(deployment)),
		StageName:    cloudformation.String(ref("StageName")),
		Description:  cloudformation.String("streamgate stage"),
		AccessLogSetting: &apigateway.Stage_AccessLogSetting{
			DestinationArn: cloudformation.String(getAtt(resAccessLogGroup, "Arn")),
			Format:         cloudformation.String(accessLogFormat()),
		},
		MethodSettings: []apigateway.Stage_MethodSetting{{
			ResourcePath:     cloudformation.String("/*"),
			HttpMethod:       cloudformation.String("*"),
			LoggingLevel:     cloudformation.String("OFF"),
			DataTraceEnabled: cloudformation.Bool(false),
			MetricsEnabled:   cloudformation.Bool(false),
		}},
		TracingEnabled: cloudformation.Bool(false),
		// Access logging needs the account's CloudWatch role. When this
		// stack sets it, the stage must wait for it; DependsOn cannot name
		// a resource that a condition may leave out, a Ref inside Fn::If
		// can.
		AWSCloudFormationMetadata: map[string]any{
			"WaitsFor": ifThen(condConfigureAccount, ref(resAccount), noValue()),
		},
	}
	t.Resources[resStage] = newOverlay(stage).
		set("MethodSettings.0.ThrottlingRateLimit", ref("ThrottleRateLimit")).
		set("MethodSettings.0.ThrottlingBurstLimit", ref("ThrottleBurstLimit"))
}

// addAPIKey adds the first API key and the usage plan that every key of
// the stack belongs to: per-key throttle and quota, enforced by API
// Gateway. More keys: create them and add them to the plan (template/README.md).
func addAPIKey(t *cloudformation.Template) {
	t.Resources[resAPIKey] = &apigateway.ApiKey{
		Name:        cloudformation.String(ref("AWS::StackName")),
		Description: cloudformation.String("streamgate API key; send it as Authorization: Bearer KEY or x-api-key: KEY"),
		Enabled:     cloudformation.Bool(true),
	}
	t.Resources[resUsagePlan] = newOverlay(&apigateway.UsagePlan{
		UsagePlanName: cloudformation.String(ref("AWS::StackName")),
		Description:   cloudformation.String("streamgate: each API key's throttle and quota"),
		ApiStages: []apigateway.UsagePlan_ApiStage{{
			ApiId: cloudformation.String(ref(resAPI)),
			Stage: cloudformation.String(ref(resStage)),
		}},
	}).
		set("Throttle", map[string]any{"RateLimit": ref("KeyThrottleRateLimit"), "BurstLimit": ref("KeyThrottleBurstLimit")}).
		set("Quota", ifThen(condKeyQuota, map[string]any{"Limit": ref("KeyQuotaLimit"), "Period": ref("KeyQuotaPeriod")}, noValue()))
	t.Resources[resUsagePlanKey] = &apigateway.UsagePlanKey{
		KeyId:       ref(resAPIKey),
		KeyType:     "API_KEY",
		UsagePlanId: ref(resUsagePlan),
	}
}

// addAccount sets API Gateway's Region-wide CloudWatch role when asked to.
// The role and the setting are shared by every API of the account in the
// Region, so they outlive the stack (Retain): deleting them would break
// the logs of other APIs.
func addAccount(t *cloudformation.Template) {
	t.Resources[resAccountRole] = &iam.Role{
		Description:                          cloudformation.String("API Gateway writes access and execution logs to CloudWatch (account setting, shared by all APIs in the Region)"),
		AssumeRolePolicyDocument:             assumeRole("apigateway.amazonaws.com"),
		ManagedPolicyArns:                    []string{sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")},
		AWSCloudFormationCondition:           condConfigureAccount,
		AWSCloudFormationDeletionPolicy:      policies.DeletionPolicy("Retain"),
		AWSCloudFormationUpdateReplacePolicy: policies.UpdateReplacePolicy("Retain"),
	}
	t.Resources[resAccount] = &apigateway.Account{
		CloudWatchRoleArn:                    cloudformation.String(getAtt(resAccountRole, "Arn")),
		AWSCloudFormationCondition:           condConfigureAccount,
		AWSCloudFormationDeletionPolicy:      policies.DeletionPolicy("Retain"),
		AWSCloudFormationUpdateReplacePolicy: policies.UpdateReplacePolicy("Retain"),
	}
}
