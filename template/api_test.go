package main

// Structural tests of the API: they read the generated template as plain
// JSON, which checks what CloudFormation will receive (goformation's own
// unmarshaller would reject ResponseTransferMode).

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// wantRoutes is every route of DESIGN §2 and CONTRACTS, with its preflight;
// long marks those that call a model and get the long timeout, open those
// that need no key.
var wantRoutes = []struct {
	route      string
	long, open bool
}{
	{"GET /", false, true},
	{"GET /generate-image", true, false},
	{"GET /healthz", false, true},
	{"GET /models", false, false},
	{"GET /v1/models", false, false},
	{"DELETE /stream/{requestId}", false, false},
	{"POST /generate", true, false},
	{"POST /generate-image", true, false},
	{"POST /stream", true, false},
	{"POST /v1/chat/completions", true, false},
	{"POST /v1/chat/completions/{id}/cancel", false, false},
	{"POST /v1/responses", true, false},
	{"GET /v1/responses/{id}", false, false},
	{"DELETE /v1/responses/{id}", false, false},
	{"GET /v1/responses/{id}/input_items", false, false},
	{"POST /v1/responses/{id}/cancel", false, false},
	{"POST /v1/embeddings", true, false},
	{"POST /v1/images/generations", true, false},
	{"POST /v1/messages", true, false},
	{"POST /v1/messages/count_tokens", true, false},
	{"POST /model/{modelId}/invoke", true, false},
	{"POST /model/{modelId}/invoke-with-response-stream", true, false},
	{"GET /inference-profiles", false, false},
}

func wantRoute(route string) (long, open, ok bool) {
	if strings.HasPrefix(route, "OPTIONS ") {
		return false, true, true
	}
	for _, r := range wantRoutes {
		if r.route == route {
			return r.long, r.open, true
		}
	}
	return false, false, false
}

var streamingURIPattern = regexp.MustCompile(`^arn:\$\{AWS::Partition\}:apigateway:\$\{AWS::Region\}:lambda:path/2021-11-15/functions/(\$\{Function\.Arn\}|\$\{FunctionAlias\})/response-streaming-invocations$`)

// TestRoutes checks that the API has exactly the gateway's routes and a
// preflight for each path, every one a streaming Lambda proxy
// integration (the function answers every route in the streaming format),
// with the long timeout on the routes that call a model.
func TestRoutes(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		integrationMs := get(t, d, "Metadata", "Streamgate", "GeneratorInputs", "IntegrationTimeoutMs").(float64)
		fnSeconds := d.parameterNumber(t, "FunctionTimeoutSeconds", "Default")
		var got, paths []string
		for _, id := range d.resourcesOfType("AWS::ApiGateway::Method") {
			route := d.methodRoute(t, id)
			got = append(got, route)
			long, _, ok := wantRoute(route)
			if !ok {
				t.Errorf("%s: unexpected route %s", id, route)
				continue
			}
			in := get(t, d.props(t, id), "Integration").(map[string]any)
			if in["Type"] != "AWS_PROXY" || in["IntegrationHttpMethod"] != "POST" || in["ResponseTransferMode"] != "STREAM" {
				t.Errorf("%s: integration %v %v %v, want AWS_PROXY, POST (Lambda is always invoked with POST), STREAM",
					route, in["Type"], in["IntegrationHttpMethod"], in["ResponseTransferMode"])
			}
			if uri := resourceString(t, in["Uri"]); !streamingURIPattern.MatchString(uri) {
				t.Errorf("%s: Uri %q is not the response-streaming-invocations Uri", route, uri)
			}
			// A literal: anything a parameter set would not reach the
			// deployed API (TestDeployedResourcesTakeNoParameters).
			ms, ok := in["TimeoutInMillis"].(float64)
			switch {
			case !ok:
				t.Errorf("%s: TimeoutInMillis %#v, want a number", route, in["TimeoutInMillis"])
			case ms < 50 || ms > 900000: // cfn-lint does not know the upper bound
				t.Errorf("%s: TimeoutInMillis %v, want 50..900000", route, ms)
			case long && ms != integrationMs:
				t.Errorf("%s calls a model: TimeoutInMillis %v, want the integration timeout %v", route, ms, integrationMs)
			case !long && ms != min(10000, fnSeconds*1000):
				t.Errorf("%s: TimeoutInMillis %v, want the short 10 s", route, ms)
			}
			if strings.HasPrefix(route, "OPTIONS ") {
				paths = append(paths, strings.TrimPrefix(route, "OPTIONS "))
			}
		}
		var want []string
		for _, r := range wantRoutes {
			want = append(want, r.route)
			path := r.route[strings.Index(r.route, " ")+1:]
			if !slices.Contains(want, "OPTIONS "+path) {
				want = append(want, "OPTIONS "+path)
			}
		}
		sort.Strings(want)
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("routes (-want +got):\n%s", diff)
		}
	})
}

func TestRegionalEndpoint(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		apis := d.resourcesOfType("AWS::ApiGateway::RestApi")
		if len(apis) != 1 {
			t.Fatalf("REST APIs: %v, want one", apis)
		}
		types := get(t, d.props(t, apis[0]), "EndpointConfiguration", "Types")
		if diff := cmp.Diff([]any{"REGIONAL"}, types); diff != "" {
			t.Errorf("endpoint types (-want +got):\n%s", diff)
		}
		if got := d.resourcesOfType("AWS::ApiGatewayV2::Api"); len(got) != 0 {
			t.Errorf("HTTP APIs %v: STREAM mode exists only for REST APIs", got)
		}
	})
}

// TestAuthorizer checks the API key path: a REQUEST authorizer (the same
// zip, Handler "authorizer") whose usageIdentifierKey is the usage plan key
// (ApiKeySourceType AUTHORIZER), on every route but the open ones, with the
// result cache and identity source that let both headers work.
func TestAuthorizer(t *testing.T) {
	for _, tc := range []struct {
		name           string
		args           []string
		ttl            float64
		identitySource any // nil = none
	}{
		{"no cache: Authorization or x-api-key", nil, 0, nil},
		{"cached: keyed on Authorization", []string{"-authorizer-cache-seconds", "300"}, 300, "method.request.header.Authorization"},
		{"longest cache", []string{"-authorizer-cache-seconds", "3600"}, 3600, "method.request.header.Authorization"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := templateJSON(t, tc.args...)
			if got := d.props(t, resAPI)["ApiKeySourceType"]; got != "AUTHORIZER" {
				t.Errorf("ApiKeySourceType %v, want AUTHORIZER", got)
			}
			a := d.props(t, resAuthorizer)
			if a["Type"] != "REQUEST" {
				t.Errorf("authorizer Type %v", a["Type"])
			}
			// Explicit: left out, API Gateway would cache for 300 s.
			if got, ok := a["AuthorizerResultTtlInSeconds"].(float64); !ok || got != tc.ttl {
				t.Errorf("AuthorizerResultTtlInSeconds %#v, want %v", a["AuthorizerResultTtlInSeconds"], tc.ttl)
			}
			if diff := cmp.Diff(tc.identitySource, a["IdentitySource"]); diff != "" {
				t.Errorf("IdentitySource (-want +got):\n%s", diff)
			}
			// The 401s tell how to send the key that this setting accepts.
			body := get(t, d.props(t, "GatewayResponseUnauthorized"), "ResponseTemplates", "application/json").(string)
			if mentions := strings.Contains(body, "x-api-key"); mentions != (tc.identitySource == nil) {
				t.Errorf("the 401 mentions x-api-key: %v, want %v: %s", mentions, tc.identitySource == nil, body)
			}
			want := "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${AuthorizerFunction.Arn}/invocations"
			if got := resourceString(t, a["AuthorizerUri"]); got != want {
				t.Errorf("AuthorizerUri %q", got)
			}
			fn := d.props(t, resAuthorizerFunction)
			gw := d.props(t, resFunction)
			if fn["Handler"] != "authorizer" || gw["Handler"] != "bootstrap" {
				t.Errorf("handlers: authorizer %v, gateway %v", fn["Handler"], gw["Handler"])
			}
			if diff := cmp.Diff(gw["Code"], fn["Code"]); diff != "" {
				t.Errorf("the authorizer runs other code (-gateway +authorizer):\n%s", diff)
			}
			for _, id := range d.resourcesOfType("AWS::ApiGateway::Method") {
				route := d.methodRoute(t, id)
				p := d.props(t, id)
				_, open, _ := wantRoute(route)
				authorizer, _ := refTo(p["AuthorizerId"])
				switch {
				case open && (p["AuthorizationType"] != "NONE" || p["ApiKeyRequired"] != false || authorizer != ""):
					t.Errorf("%s must stay open: AuthorizationType %v, ApiKeyRequired %v, AuthorizerId %v", route, p["AuthorizationType"], p["ApiKeyRequired"], p["AuthorizerId"])
				case !open && (p["AuthorizationType"] != "CUSTOM" || p["ApiKeyRequired"] != true || authorizer != resAuthorizer):
					t.Errorf("%s needs the key: AuthorizationType %v, ApiKeyRequired %v, AuthorizerId %v", route, p["AuthorizationType"], p["ApiKeyRequired"], p["AuthorizerId"])
				}
			}
			perm := d.props(t, resAuthorizerPermission)
			if got := resourceString(t, perm["SourceArn"]); got != "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/authorizers/${ApiKeyAuthorizer}" {
				t.Errorf("authorizer permission SourceArn %q", got)
			}
			if got := resourceString(t, perm["FunctionName"]); got != "GetAtt:AuthorizerFunction.Arn" {
				t.Errorf("authorizer permission FunctionName %q", got)
			}
		})
	}
	t.Run("no key", func(t *testing.T) {
		d := templateJSON(t, "-api-key-required=false")
		for _, id := range []string{resAuthorizer, resAuthorizerFunction, resAuthorizerRole, resAuthorizerPermission, resAuthorizerLogGroup, resAPIKey, resUsagePlan, resUsagePlanKey} {
			if d.has(id) {
				t.Errorf("%s exists without keys", id)
			}
		}
		for _, id := range d.resourcesOfType("AWS::ApiGateway::Method") {
			if p := d.props(t, id); p["AuthorizationType"] != "NONE" || p["ApiKeyRequired"] != false {
				t.Errorf("%s: AuthorizationType %v, ApiKeyRequired %v", d.methodRoute(t, id), p["AuthorizationType"], p["ApiKeyRequired"])
			}
		}
	})
}

func TestUsagePlan(t *testing.T) {
	d := templateJSON(t)
	p := d.props(t, resUsagePlan)
	want := map[string]any{"RateLimit": map[string]any{"Ref": "KeyThrottleRateLimit"}, "BurstLimit": map[string]any{"Ref": "KeyThrottleBurstLimit"}}
	if diff := cmp.Diff(want, p["Throttle"]); diff != "" {
		t.Errorf("per-key throttle (-want +got):\n%s", diff)
	}
	cond, then, otherwise, ok := fnIf(p["Quota"])
	if !ok || cond != condKeyQuota || !isNoValue(otherwise) ||
		cmp.Diff(map[string]any{"Limit": map[string]any{"Ref": "KeyQuotaLimit"}, "Period": map[string]any{"Ref": "KeyQuotaPeriod"}}, then) != "" {
		t.Errorf("quota %#v, want the KeyQuota parameters when KeyQuotaLimit is not 0", p["Quota"])
	}
	if got, _ := refTo(get(t, p, "ApiStages", 0, "Stage")); got != resStage {
		t.Errorf("usage plan stage %q", got)
	}
	if got, _ := refTo(get(t, d.props(t, resUsagePlanKey), "KeyId")); got != resAPIKey {
		t.Errorf("usage plan key names %q", got)
	}
	if diff := cmp.Diff(map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "KeyQuotaLimit"}, "0"}}}}, get(t, d, "Conditions", condKeyQuota)); diff != "" {
		t.Errorf("quota condition (-want +got):\n%s", diff)
	}
}

// TestGatewayResponsesEchoOnlyAllowedOrigins (defect 4): API Gateway's own
// error responses cannot test the Origin header, so they must never echo
// it: * when any origin is allowed, the one allowed origin, or none.
func TestGatewayResponsesEchoOnlyAllowedOrigins(t *testing.T) {
	for _, tc := range []struct {
		origins  string
		want     any // Access-Control-Allow-Origin value; nil = absent
		wantVary bool
	}{
		{"", nil, false},
		{"*", "'*'", false},
		{"https://chat.example.com", "'https://chat.example.com'", true},
		{"https://chat.example.com,https://admin.example.com:8443", nil, false},
	} {
		t.Run(tc.origins, func(t *testing.T) {
			d := templateJSON(t, "-cors-allow-origins", tc.origins)
			responses := d.resourcesOfType("AWS::ApiGateway::GatewayResponse")
			if len(responses) == 0 {
				t.Fatal("no gateway responses")
			}
			for _, id := range responses {
				params, _ := d.props(t, id)["ResponseParameters"].(map[string]any)
				b, _ := json.Marshal(params)
				if strings.Contains(string(b), "method.request.header") {
					t.Errorf("%s echoes a request header: %s", id, b)
				}
				if diff := cmp.Diff(tc.want, params["gatewayresponse.header.Access-Control-Allow-Origin"]); diff != "" {
					t.Errorf("%s Access-Control-Allow-Origin (-want +got):\n%s", id, diff)
				}
				if _, vary := params["gatewayresponse.header.Vary"]; vary != tc.wantVary {
					t.Errorf("%s: Vary header %v, want %v", id, vary, tc.wantVary)
				}
			}
			if got := get(t, d.props(t, resFunction), "Environment", "Variables", "CORS_ALLOW_ORIGINS"); got != tc.origins {
				t.Errorf("CORS_ALLOW_ORIGINS %#v, want %q: the function and API Gateway must agree", got, tc.origins)
			}
		})
	}
}

// TestGatewayResponses checks the errors API Gateway answers itself: the
// gateway's JSON error shape, readable by OpenAI clients (type), valid JSON
// whatever the message, and the statuses an OpenAI client expects.
func TestGatewayResponses(t *testing.T) {
	d := templateJSON(t)
	byType := map[string]map[string]any{}
	for _, id := range d.resourcesOfType("AWS::ApiGateway::GatewayResponse") {
		p := d.props(t, id)
		byType[p["ResponseType"].(string)] = p
		body := get(t, p, "ResponseTemplates", "application/json").(string)
		filled := strings.NewReplacer(`$context.error.messageString`, `"quoted \"message\""`, `$context.error.responseType`, `DEFAULT_4XX`).Replace(body)
		var doc struct {
			Error struct {
				Code, Message, Type string
				Retryable           *bool
			}
		}
		if err := json.Unmarshal([]byte(filled), &doc); err != nil {
			t.Errorf("%s: body is not JSON once filled: %v\n%s", id, err, filled)
			continue
		}
		if doc.Error.Code == "" || doc.Error.Message == "" || doc.Error.Type == "" || doc.Error.Retryable == nil {
			t.Errorf("%s: error %+v lacks code, message, type or retryable", id, doc.Error)
		}
	}
	for _, tc := range []struct {
		responseType, status, openAIType string
		header                           string
	}{
		{"UNAUTHORIZED", "", "authentication_error", "WWW-Authenticate"},
		{"INVALID_API_KEY", "401", "authentication_error", "WWW-Authenticate"},
		{"MISSING_AUTHENTICATION_TOKEN", "404", "invalid_request_error", ""},
		{"THROTTLED", "", "rate_limit_error", "Retry-After"},
		{"QUOTA_EXCEEDED", "", "rate_limit_error", ""},
		{"DEFAULT_4XX", "", "invalid_request_error", ""},
		{"DEFAULT_5XX", "", "api_error", ""},
	} {
		p, ok := byType[tc.responseType]
		if !ok {
			t.Errorf("no gateway response for %s", tc.responseType)
			continue
		}
		if got, _ := p["StatusCode"].(string); got != tc.status {
			t.Errorf("%s: StatusCode %q, want %q", tc.responseType, got, tc.status)
		}
		if body := p["ResponseTemplates"].(map[string]any)["application/json"].(string); !strings.Contains(body, fmt.Sprintf(`"type":%q`, tc.openAIType)) {
			t.Errorf("%s: body %s lacks type %s", tc.responseType, body, tc.openAIType)
		}
		if tc.header != "" {
			if _, ok := get(t, p, "ResponseParameters").(map[string]any)["gatewayresponse.header."+tc.header]; !ok {
				t.Errorf("%s: no %s header", tc.responseType, tc.header)
			}
		}
	}
}

// TestDeploymentDependsOnEverythingItSnapshots (defect 1): on create, the
// deployment must wait for every method, authorizer and gateway response,
// or it may snapshot the API without them.
func TestDeploymentDependsOnEverythingItSnapshots(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		deployments := d.resourcesOfType("AWS::ApiGateway::Deployment")
		if len(deployments) != 1 {
			t.Fatalf("deployments %v, want one", deployments)
		}
		dependsOn := asStrings(get(t, d.resources(), deployments[0], "DependsOn"))
		for _, typ := range []string{"AWS::ApiGateway::Method", "AWS::ApiGateway::GatewayResponse", "AWS::ApiGateway::Authorizer"} {
			for _, id := range d.resourcesOfType(typ) {
				if !slices.Contains(dependsOn, id) {
					t.Errorf("the deployment does not depend on %s (%s)", id, typ)
				}
			}
		}
		if got, _ := refTo(d.props(t, resStage)["DeploymentId"]); got != deployments[0] {
			t.Errorf("stage deployment %q, want %q", got, deployments[0])
		}
	})
}

// TestDeployedResourcesTakeNoParameters (defect 1): a Deployment is a
// snapshot named after a hash of the template; a setting that a parameter
// or a parameter's condition feeds into the API would change at deploy
// time without renaming the deployment, and never go live. So the
// resources a deployment snapshots refer to resources and pseudo
// parameters only.
func TestDeployedResourcesTakeNoParameters(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		params := d["Parameters"].(map[string]any)
		subVar := regexp.MustCompile(`\$\{([^}.]+)`)
		for _, typ := range deployedTypes() {
			for _, id := range d.resourcesOfType(typ) {
				if _, ok := d.resource(t, id)["Condition"]; ok {
					t.Errorf("%s has a Condition", id)
				}
				var walk func(v any)
				walk = func(v any) {
					switch v := v.(type) {
					case map[string]any:
						for k, e := range v {
							switch k {
							case "Ref":
								if _, ok := params[e.(string)]; ok {
									t.Errorf("%s refers to parameter %s", id, e)
								}
							case "Fn::Sub":
								for _, m := range subVar.FindAllStringSubmatch(e.(string), -1) {
									if _, ok := params[m[1]]; ok {
										t.Errorf("%s substitutes parameter %s", id, m[1])
									}
								}
							case "Fn::If":
								t.Errorf("%s depends on condition %v", id, e.([]any)[0])
							}
							walk(e)
						}
					case []any:
						for _, e := range v {
							walk(e)
						}
					}
				}
				walk(d.resource(t, id))
			}
		}
	})
}

// TestDeploymentFollowsAPI (defect 1) checks that the deployment is renamed,
// so replaced, when anything the API serves changes (CORS origins
// included), and only then.
func TestDeploymentFollowsAPI(t *testing.T) {
	deployment := func(args ...string) string {
		ids := templateJSON(t, args...).resourcesOfType("AWS::ApiGateway::Deployment")
		if len(ids) != 1 {
			t.Fatalf("%q: deployments %v", args, ids)
		}
		return ids[0]
	}
	base := deployment()
	if again := deployment(); again != base {
		t.Errorf("same options, different deployments %s, %s", base, again)
	}
	seen := map[string][]string{base: nil}
	for _, args := range [][]string{
		{"-integration-timeout-ms", "600000"},
		{"-api-key-required=false"},
		{"-authorizer-cache-seconds", "60"},
		{"-cors-allow-origins", "*"},
		{"-cors-allow-origins", "https://chat.example.com"},
		{"-cors-allow-origins", "https://other.example.com"},
		{"-provisioned-concurrency", "2"},
	} {
		got := deployment(args...)
		if prev, dup := seen[got]; dup {
			t.Errorf("%q: deployment %s, the same as for %q", args, got, prev)
		}
		seen[got] = args
	}
	// Settings of the function alone change no deployment.
	for _, args := range [][]string{
		{"-function-timeout-seconds", "600"},
		{"-allowed-models", defaultModelID + ",eu.amazon.nova-pro-v1:0"},
		{"-image-model-id", "amazon.nova-canvas-v1:0"},
		{"-region", "eu-west-1"},
	} {
		if got := deployment(args...); got != base {
			t.Errorf("%q: deployment %s, want the unchanged %s", args, got, base)
		}
	}
}

// TestDeploymentHashCoversEachResource changes each resource a deployment
// snapshots, one at a time, and checks that the deployment's name changes;
// and that every API Gateway type in the template is either snapshotted or
// known not to be.
func TestDeploymentHashCoversEachResource(t *testing.T) {
	o, err := parseOptions(nil, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := buildTemplate(o)
	if err != nil {
		t.Fatal(err)
	}
	notDeployed := []string{"AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage", "AWS::ApiGateway::ApiKey",
		"AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::UsagePlanKey", "AWS::ApiGateway::Account"}
	var checked int
	for _, id := range sortedKeys(tpl.Resources) {
		typ := tpl.Resources[id].AWSCloudFormationType()
		if !strings.HasPrefix(typ, "AWS::ApiGateway::") || slices.Contains(notDeployed, typ) {
			continue
		}
		if !slices.Contains(deployedTypes(), typ) {
			t.Errorf("%s: %s is neither hashed into the deployment's name nor known to need no deployment", id, typ)
			continue
		}
		fresh, err := buildTemplate(o)
		if err != nil {
			t.Fatal(err)
		}
		before, err := deploymentID(fresh)
		if err != nil {
			t.Fatal(err)
		}
		fresh.Resources[id] = newOverlay(fresh.Resources[id]).set("Description", "changed by the test")
		after, err := deploymentID(fresh)
		if err != nil {
			t.Fatal(err)
		}
		if before == after {
			t.Errorf("changing %s (%s) keeps the deployment %s", id, typ, before)
		}
		checked++
	}
	if checked < 30 {
		t.Errorf("checked %d resources; the API has more", checked)
	}
}

// TestAccessLog (defect 5) checks the stage's access log line: valid JSON
// whatever API Gateway fills in, with the streaming fields AWS documents
// for troubleshooting and the fields operators already rely on.
func TestAccessLog(t *testing.T) {
	d := templateJSON(t)
	logs := get(t, d.props(t, resStage), "AccessLogSetting").(map[string]any)
	if got := resourceString(t, logs["DestinationArn"]); got != "GetAtt:"+resAccessLogGroup+".Arn" {
		t.Errorf("access logs go to %s", got)
	}
	format := logs["Format"].(string)
	filled := regexp.MustCompile(`\$context\.[A-Za-z.]+`).ReplaceAllStringFunc(format, func(v string) string {
		if v == "$context.error.messageString" {
			return `"quoted \"message\""`
		}
		return "-"
	})
	var line map[string]any
	if err := json.Unmarshal([]byte(filled), &line); err != nil {
		t.Fatalf("access log line is not JSON: %v\n%s", err, filled)
	}
	for field, variable := range map[string]string{
		"timeToFirstContent":   "$context.integration.timeToFirstContent",
		"timeToAllHeaders":     "$context.integration.timeToAllHeaders",
		"responseTransferMode": "$context.integration.responseTransferMode",
		"requestId":            "$context.requestId",
		"status":               "$context.status",
		"responseLatency":      "$context.responseLatency",
		"integrationRequestId": "$context.integration.requestId",
		"integrationLatency":   "$context.integration.latency",
		"apiKeyId":             "$context.identity.apiKeyId",
		"principalId":          "$context.authorizer.principalId",
		"errorType":            "$context.error.responseType",
	} {
		if !strings.Contains(format, fmt.Sprintf("%q:%q", field, variable)) {
			t.Errorf("access log format lacks %s (%s): %s", field, variable, format)
		}
	}
}

func TestStage(t *testing.T) {
	d := templateJSON(t)
	p := d.props(t, resStage)
	settings := get(t, p, "MethodSettings", 0).(map[string]any)
	for key, want := range map[string]string{"ThrottlingRateLimit": "ThrottleRateLimit", "ThrottlingBurstLimit": "ThrottleBurstLimit"} {
		if got, _ := refTo(settings[key]); got != want {
			t.Errorf("MethodSettings %s = %#v, want a Ref to %s", key, settings[key], want)
		}
	}
	if settings["ResourcePath"] != "/*" || settings["HttpMethod"] != "*" {
		t.Errorf("method settings apply to %v %v, want every method", settings["HttpMethod"], settings["ResourcePath"])
	}
	// The account's CloudWatch role, when this stack sets it, comes first.
	want := map[string]any{"Fn::If": []any{condConfigureAccount, map[string]any{"Ref": resAccount}, map[string]any{"Ref": "AWS::NoValue"}}}
	if diff := cmp.Diff(want, get(t, d.resources(), resStage, "Metadata", "WaitsFor")); diff != "" {
		t.Errorf("stage waits for (-want +got):\n%s", diff)
	}
	for _, id := range []string{resAccount, resAccountRole} {
		r := d.resource(t, id)
		if r["Condition"] != condConfigureAccount || r["DeletionPolicy"] != "Retain" {
			t.Errorf("%s: Condition %v, DeletionPolicy %v; want %s and Retain", id, r["Condition"], r["DeletionPolicy"], condConfigureAccount)
		}
	}
}

func TestResourceNames(t *testing.T) {
	for _, tc := range []struct{ path, resource, method string }{
		{"/", "", "RootGetMethod"},
		{"/stream", "StreamResource", "StreamGetMethod"},
		{"/stream/{requestId}", "StreamRequestIdResource", "StreamRequestIdGetMethod"},
		{"/generate-image", "GenerateImageResource", "GenerateImageGetMethod"},
		{"/v1/chat/completions/{id}/cancel", "V1ChatCompletionsIdCancelResource", "V1ChatCompletionsIdCancelGetMethod"},
		{"/v1/responses/{id}/input_items", "V1ResponsesIdInputItemsResource", "V1ResponsesIdInputItemsGetMethod"},
	} {
		if got := resourceID(tc.path); got != tc.resource {
			t.Errorf("resourceID(%q) = %q, want %q", tc.path, got, tc.resource)
		}
		if got := methodID(route{path: tc.path, method: "GET"}); got != tc.method {
			t.Errorf("methodID(%q) = %q, want %q", tc.path, got, tc.method)
		}
	}
}
