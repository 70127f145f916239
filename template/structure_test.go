package main

// Structural tests read the generated template as plain JSON: goformation's
// own unmarshaller would reject ResponseTransferMode, and reading plain JSON
// checks what CloudFormation will actually receive.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tmpl is a generated template read as plain JSON.
type tmpl map[string]any

func templateJSON(t *testing.T, args ...string) tmpl {
	t.Helper()
	out := generateArgs(t, append(args, "-format", "json")...)
	var doc tmpl
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("template is not JSON: %v", err)
	}
	return doc
}

// get walks objects and arrays by key or index and fails when a step is
// missing.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	if d, ok := v.(tmpl); ok {
		v = map[string]any(d)
	}
	for i, step := range path {
		switch s := step.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: %v is a %T, not an object", path[:i+1], path[:i], v)
			}
			if v, ok = m[s]; !ok {
				t.Fatalf("%v: no key %q", path[:i+1], s)
			}
		case int:
			a, ok := v.([]any)
			if !ok || s >= len(a) {
				t.Fatalf("%v: no element %d", path[:i+1], s)
			}
			v = a[s]
		}
	}
	return v
}

func (d tmpl) resources() map[string]any { return d["Resources"].(map[string]any) }

// resourcesOfType returns the logical ids of the resources of a type, sorted.
func (d tmpl) resourcesOfType(typ string) []string {
	var ids []string
	for id, r := range d.resources() {
		if r.(map[string]any)["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (d tmpl) props(t *testing.T, id string) map[string]any {
	t.Helper()
	return get(t, d.resources(), id, "Properties").(map[string]any)
}

// parameterNumber is a Number parameter's default, MinValue or MaxValue.
func (d tmpl) parameterNumber(t *testing.T, name, field string) float64 {
	t.Helper()
	v := get(t, d, "Parameters", name, field)
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("Parameters.%s.%s = %#v, want a number", name, field, v)
	}
	return f
}

func refTo(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	s, ok := m["Ref"].(string)
	return s, ok
}

func asStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, asStrings(e)...)
		}
		return out
	}
	return nil
}

// resourceString is an IAM resource or other ARN as written: a literal, or
// the string of its Fn::Sub.
func resourceString(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if s, ok := v["Fn::Sub"].(string); ok && len(v) == 1 {
			return s
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(v) == 1 {
			return fmt.Sprintf("GetAtt:%v.%v", ga[0], ga[1])
		}
	}
	t.Fatalf("unexpected ARN form %#v", v)
	return ""
}

// templateVariants are option sets that every structural test runs on.
func templateVariants() map[string][]string {
	return map[string][]string{
		"default":                nil,
		"models, no key, 15 min": goldenCases()[2].args,
		"short timeout":          {"-integration-timeout-ms", "50"},
		"function longer":        {"-integration-timeout-ms", "120500", "-function-timeout-seconds", "600"},
	}
}

func forEachVariant(t *testing.T, test func(t *testing.T, d tmpl)) {
	for name, args := range templateVariants() {
		t.Run(name, func(t *testing.T) { test(t, templateJSON(t, args...)) })
	}
}

var streamingURIPattern = regexp.MustCompile(`^arn:\$\{AWS::Partition\}:apigateway:\$\{AWS::Region\}:lambda:path/2021-11-15/functions/\$\{Function\.Arn\}/response-streaming-invocations$`)

func TestStreamingMethods(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		paths := map[string]string{}
		for _, id := range d.resourcesOfType("AWS::ApiGateway::Resource") {
			paths[id] = "/" + get(t, d.props(t, id), "PathPart").(string)
		}
		var routes []string
		for _, id := range d.resourcesOfType("AWS::ApiGateway::Method") {
			p := d.props(t, id)
			resource, _ := refTo(p["ResourceId"])
			routes = append(routes, p["HttpMethod"].(string)+" "+paths[resource])
			in := get(t, p, "Integration").(map[string]any)
			if in["Type"] != "AWS_PROXY" {
				t.Errorf("%s: integration Type %v, want AWS_PROXY", id, in["Type"])
			}
			if in["IntegrationHttpMethod"] != "POST" {
				t.Errorf("%s: IntegrationHttpMethod %v, want POST (Lambda is always invoked with POST)", id, in["IntegrationHttpMethod"])
			}
			if in["ResponseTransferMode"] != "STREAM" {
				t.Errorf("%s: ResponseTransferMode %v, want STREAM", id, in["ResponseTransferMode"])
			}
			if uri := resourceString(t, in["Uri"]); !streamingURIPattern.MatchString(uri) {
				t.Errorf("%s: Uri %q is not the response-streaming-invocations Uri", id, uri)
			}
			// TimeoutInMillis: a literal, or a Ref to a parameter whose
			// whole range is within what STREAM allows.
			timeout := in["TimeoutInMillis"]
			if name, ok := refTo(timeout); ok {
				lo, hi := d.parameterNumber(t, name, "MinValue"), d.parameterNumber(t, name, "MaxValue")
				def := d.parameterNumber(t, name, "Default")
				if lo < 50 || hi > 900000 || def < lo || def > hi {
					t.Errorf("%s: TimeoutInMillis parameter %s allows %v..%v (default %v), want within 50..900000", id, name, lo, hi, def)
				}
			} else if ms, ok := timeout.(float64); !ok || ms < 50 || ms > 900000 {
				t.Errorf("%s: TimeoutInMillis %#v, want 50..900000", id, timeout)
			}
			if p["AuthorizationType"] != "NONE" {
				t.Errorf("%s: AuthorizationType %v", id, p["AuthorizationType"])
			}
		}
		sort.Strings(routes)
		want := []string{"GET /healthz", "OPTIONS /healthz", "OPTIONS /stream", "POST /stream"}
		if diff := cmp.Diff(want, routes); diff != "" {
			t.Errorf("routes (-want +got):\n%s", diff)
		}
		timeout, _ := refTo(get(t, d.props(t, resStreamPost), "Integration", "TimeoutInMillis"))
		if timeout != "IntegrationTimeoutMs" {
			t.Errorf("POST /stream TimeoutInMillis refers to %q, want the IntegrationTimeoutMs parameter", timeout)
		}
	})
}

func TestIntegrationTimeoutParameterBounds(t *testing.T) {
	for _, ms := range []string{"50", "300000", "900000"} {
		d := templateJSON(t, "-integration-timeout-ms", ms)
		if lo, hi := d.parameterNumber(t, "IntegrationTimeoutMs", "MinValue"), d.parameterNumber(t, "IntegrationTimeoutMs", "MaxValue"); lo != 50 || hi != 900000 {
			t.Errorf("IntegrationTimeoutMs allows %v..%v, want 50..900000", lo, hi)
		}
		if def := d.parameterNumber(t, "IntegrationTimeoutMs", "Default"); fmt.Sprint(def) != ms {
			t.Errorf("-integration-timeout-ms %s: parameter default %v", ms, def)
		}
	}
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

func TestFunction(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		fns := d.resourcesOfType("AWS::Lambda::Function")
		if len(fns) != 1 {
			t.Fatalf("functions: %v, want one", fns)
		}
		p := d.props(t, fns[0])
		for key, want := range map[string]any{
			"Runtime":       "provided.al2023",
			"Architectures": []any{"arm64"},
			"Handler":       "bootstrap",
		} {
			if diff := cmp.Diff(want, p[key]); diff != "" {
				t.Errorf("%s (-want +got):\n%s", key, diff)
			}
		}
		env := get(t, p, "Environment", "Variables").(map[string]any)
		var names []string
		for name := range env {
			names = append(names, name)
		}
		sort.Strings(names)
		want := []string{"ALLOWED_MODELS", "CORS_ALLOW_ORIGINS", "HEARTBEAT_SECONDS", "LOG_LEVEL", "MAX_TOKENS", "MODEL_ID", "SYSTEM_PROMPT"}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("environment (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]any{"Fn::Join": []any{",", map[string]any{"Ref": "AllowedModels"}}}, env["ALLOWED_MODELS"]); diff != "" {
			t.Errorf("ALLOWED_MODELS (-want +got):\n%s", diff)
		}
		if lg, _ := refTo(get(t, p, "LoggingConfig", "LogGroup")); lg != resFunctionLogGroup {
			t.Errorf("function logs to %q, want its own log group %s", lg, resFunctionLogGroup)
		}
	})
}

func TestFunctionTimeoutCoversIntegrationTimeout(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		p := d.props(t, resFunction)
		if name, _ := refTo(p["Timeout"]); name != "FunctionTimeoutSeconds" {
			t.Fatalf("function Timeout %#v, want a Ref to FunctionTimeoutSeconds", p["Timeout"])
		}
		fnTimeout := d.parameterNumber(t, "FunctionTimeoutSeconds", "Default")
		integration := d.parameterNumber(t, "IntegrationTimeoutMs", "Default")
		if fnTimeout*1000 < integration {
			t.Errorf("function timeout %v s does not cover the integration timeout %v ms", fnTimeout, integration)
		}
		if hi := d.parameterNumber(t, "FunctionTimeoutSeconds", "MaxValue"); hi > 900 {
			t.Errorf("FunctionTimeoutSeconds allows up to %v s; Lambda stops at 900", hi)
		}
		// The literal timeouts of the other routes are covered too.
		for _, id := range d.resourcesOfType("AWS::ApiGateway::Method") {
			if ms, ok := get(t, d.props(t, id), "Integration", "TimeoutInMillis").(float64); ok && ms > fnTimeout*1000 {
				t.Errorf("%s: TimeoutInMillis %v exceeds the function timeout %v s", id, ms, fnTimeout)
			}
		}
	})
}

func TestFunctionTimeoutDefault(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want float64
	}{
		{nil, 300},
		{[]string{"-integration-timeout-ms", "50"}, 1},
		{[]string{"-integration-timeout-ms", "120500"}, 121},
		{[]string{"-integration-timeout-ms", "900000"}, 900},
		{[]string{"-integration-timeout-ms", "60000", "-function-timeout-seconds", "90"}, 90},
	} {
		d := templateJSON(t, tc.args...)
		if got := d.parameterNumber(t, "FunctionTimeoutSeconds", "Default"); got != tc.want {
			t.Errorf("%q: FunctionTimeoutSeconds default %v, want %v", tc.args, got, tc.want)
		}
	}
}

// statement is one IAM policy statement of a role in the template.
type statement struct {
	role, policy string
	doc          map[string]any
}

func (d tmpl) statements(t *testing.T) []statement {
	var out []statement
	for _, role := range d.resourcesOfType("AWS::IAM::Role") {
		policies, _ := d.props(t, role)["Policies"].([]any)
		for _, p := range policies {
			p := p.(map[string]any)
			for _, s := range get(t, p, "PolicyDocument", "Statement").([]any) {
				out = append(out, statement{role, p["PolicyName"].(string), s.(map[string]any)})
			}
		}
	}
	return out
}

// allowedBedrockResource is the shape of every ARN the function may invoke:
// a foundation model (in this Region, or in any Region for a cross-Region
// profile's base model), an inference profile in this account, or a full
// ARN given as a model id. Never a wildcard in the model part.
var allowedBedrockResource = regexp.MustCompile(`^arn:(\$\{AWS::Partition\}|aws[a-z-]*):bedrock:(\$\{AWS::Region\}|\*|[a-z0-9-]+):(\$\{AWS::AccountId\}|[0-9]{12})?:[a-z-]+/[A-Za-z0-9._:-]+$`)

func TestIAMLeastPrivilege(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		stmts := d.statements(t)
		if len(stmts) == 0 {
			t.Fatal("no IAM statements")
		}
		var bedrock int
		for _, s := range stmts {
			where := s.role + "/" + s.policy
			if s.doc["Effect"] != "Allow" {
				t.Errorf("%s: Effect %v", where, s.doc["Effect"])
			}
			if _, ok := s.doc["NotAction"]; ok {
				t.Errorf("%s: NotAction grants everything else", where)
			}
			if _, ok := s.doc["NotResource"]; ok {
				t.Errorf("%s: NotResource grants everything else", where)
			}
			actions := asStrings(s.doc["Action"])
			for _, a := range actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s: wildcard action %q", where, a)
				}
			}
			var resources []string
			switch r := s.doc["Resource"].(type) {
			case []any:
				for _, e := range r {
					resources = append(resources, resourceString(t, e))
				}
			default:
				resources = append(resources, resourceString(t, r))
			}
			for _, r := range resources {
				if r == "*" {
					t.Errorf("%s: Resource *", where)
				}
			}
			switch {
			case slices.ContainsFunc(actions, func(a string) bool { return strings.HasPrefix(a, "bedrock:") }):
				bedrock++
				if diff := cmp.Diff([]string{"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}, actions); diff != "" {
					t.Errorf("%s: Bedrock actions (-want +got):\n%s", where, diff)
				}
				for _, r := range resources {
					if !allowedBedrockResource.MatchString(r) {
						t.Errorf("%s: Bedrock resource %q is not one model's ARN", where, r)
					}
				}
			case slices.ContainsFunc(actions, func(a string) bool { return strings.HasPrefix(a, "logs:") }):
				if diff := cmp.Diff([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, actions); diff != "" {
					t.Errorf("%s: logs actions (-want +got):\n%s", where, diff)
				}
				if diff := cmp.Diff([]string{"GetAtt:" + resFunctionLogGroup + ".Arn"}, resources); diff != "" {
					t.Errorf("%s: logs resources (-want +got):\n%s", where, diff)
				}
			default:
				t.Errorf("%s: unexpected statement %v", where, s.doc)
			}
		}
		if bedrock != 1 {
			t.Errorf("%d Bedrock statements, want 1", bedrock)
		}
		// API Gateway's account role uses the AWS managed policy made for it
		// and nothing else.
		p := d.props(t, resAccountRole)
		if _, ok := p["Policies"]; ok {
			t.Errorf("%s has inline policies", resAccountRole)
		}
		if diff := cmp.Diff([]any{map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}}, p["ManagedPolicyArns"]); diff != "" {
			t.Errorf("%s managed policies (-want +got):\n%s", resAccountRole, diff)
		}
	})
}

// bedrockResources returns the Bedrock grant of a generated template.
func (d tmpl) bedrockResources(t *testing.T) []string {
	for _, s := range d.statements(t) {
		if slices.Contains(asStrings(s.doc["Action"]), "bedrock:InvokeModelWithResponseStream") {
			var out []string
			for _, r := range s.doc["Resource"].([]any) {
				out = append(out, resourceString(t, r))
			}
			return out
		}
	}
	t.Fatal("no Bedrock statement")
	return nil
}

func TestModelARNs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed string
		want    []string
	}{
		{"foundation model", "anthropic.claude-3-5-haiku-20241022-v1:0", []string{
			"arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0",
		}},
		{"US inference profile", "us.anthropic.claude-sonnet-4-20250514-v1:0", []string{
			"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
			"arn:${AWS::Partition}:bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0",
		}},
		{"global profile", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", []string{
			"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0",
			"arn:${AWS::Partition}:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
		}},
		{"apac and us-gov profiles", "apac.amazon.nova-lite-v1:0,us-gov.anthropic.claude-3-haiku-20240307-v1:0", []string{
			"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/apac.amazon.nova-lite-v1:0",
			"arn:${AWS::Partition}:bedrock:*::foundation-model/amazon.nova-lite-v1:0",
			"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/us-gov.anthropic.claude-3-haiku-20240307-v1:0",
			"arn:${AWS::Partition}:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
		}},
		{"two profiles of one model share the base grant", "us.amazon.nova-pro-v1:0,eu.amazon.nova-pro-v1:0,amazon.nova-pro-v1:0", []string{
			"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/us.amazon.nova-pro-v1:0",
			"arn:${AWS::Partition}:bedrock:*::foundation-model/amazon.nova-pro-v1:0",
			"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/eu.amazon.nova-pro-v1:0",
			"arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/amazon.nova-pro-v1:0",
		}},
		{"foundation model ARN as is", "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-70b-instruct-v1:0", []string{
			"arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-70b-instruct-v1:0",
		}},
		{"inference profile ARN and its base model", "arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0", []string{
			"arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
			"arn:aws:bedrock:*::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0",
		}},
		{"application inference profile ARN as is", "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6", []string{
			"arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, _, _ := strings.Cut(tc.allowed, ",")
			d := templateJSON(t, "-model-id", first, "-allowed-models", tc.allowed)
			if diff := cmp.Diff(tc.want, d.bedrockResources(t)); diff != "" {
				t.Errorf("Bedrock grant (-want +got):\n%s", diff)
			}
			// The parameters offer exactly the granted models.
			ids := strings.Split(tc.allowed, ",")
			var want []any
			for _, id := range ids {
				want = append(want, id)
			}
			if diff := cmp.Diff(want, get(t, d, "Parameters", "AllowedModels", "AllowedValues")); diff != "" {
				t.Errorf("AllowedModels AllowedValues (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, get(t, d, "Parameters", "ModelId", "AllowedValues")); diff != "" {
				t.Errorf("ModelId AllowedValues (-want +got):\n%s", diff)
			}
			if got := get(t, d, "Parameters", "AllowedModels", "Default"); got != tc.allowed {
				t.Errorf("AllowedModels default %q, want %q", got, tc.allowed)
			}
			if got := get(t, d, "Parameters", "ModelId", "Default"); got != first {
				t.Errorf("ModelId default %q, want %q", got, first)
			}
		})
	}
}

func TestModelIdRule(t *testing.T) {
	d := templateJSON(t)
	want := map[string]any{"Fn::Contains": []any{map[string]any{"Ref": "AllowedModels"}, map[string]any{"Ref": "ModelId"}}}
	if diff := cmp.Diff(want, get(t, d, "Rules", "ModelIdIsAllowed", "Assertions", 0, "Assert")); diff != "" {
		t.Errorf("rule (-want +got):\n%s", diff)
	}
}

func TestLambdaPermission(t *testing.T) {
	d := templateJSON(t)
	perms := d.resourcesOfType("AWS::Lambda::Permission")
	if len(perms) != 1 {
		t.Fatalf("permissions %v, want one", perms)
	}
	p := d.props(t, perms[0])
	want := map[string]any{
		"Action":       "lambda:InvokeFunction",
		"Principal":    "apigateway.amazonaws.com",
		"FunctionName": map[string]any{"Fn::GetAtt": []any{resFunction, "Arn"}},
		"SourceArn":    map[string]any{"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*"},
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("permission (-want +got):\n%s", diff)
	}
}

func TestAPIKey(t *testing.T) {
	for _, required := range []bool{true, false} {
		t.Run(fmt.Sprint(required), func(t *testing.T) {
			d := templateJSON(t, fmt.Sprintf("-api-key-required=%t", required))
			if got := get(t, d, "Parameters", "ApiKeyRequired", "Default"); got != fmt.Sprint(required) {
				t.Errorf("ApiKeyRequired default %v", got)
			}
			for _, id := range []string{resAPIKey, resUsagePlan, resUsagePlanKey} {
				if got := get(t, d.resources(), id, "Condition"); got != condUseAPIKey {
					t.Errorf("%s: Condition %v, want %s", id, got, condUseAPIKey)
				}
			}
			for _, out := range []string{"ApiKeyId", "GetApiKeyCommand"} {
				if got := get(t, d, "Outputs", out, "Condition"); got != condUseAPIKey {
					t.Errorf("output %s: Condition %v", out, got)
				}
			}
			want := map[string]any{"Fn::If": []any{condUseAPIKey, true, false}}
			if diff := cmp.Diff(want, d.props(t, resStreamPost)["ApiKeyRequired"]); diff != "" {
				t.Errorf("POST /stream ApiKeyRequired (-want +got):\n%s", diff)
			}
			// Preflights carry no key, and health checks need none.
			for _, id := range []string{resStreamOptions, resHealthzGet, resHealthzOptions} {
				if got := d.props(t, id)["ApiKeyRequired"]; got != false {
					t.Errorf("%s: ApiKeyRequired %v, want false", id, got)
				}
			}
			if got, _ := refTo(get(t, d.props(t, resUsagePlanKey), "KeyId")); got != resAPIKey {
				t.Errorf("usage plan key names %q", got)
			}
			if got, _ := refTo(get(t, d.props(t, resUsagePlan), "ApiStages", 0, "Stage")); got != resStage {
				t.Errorf("usage plan stage %q", got)
			}
		})
	}
}

func TestStage(t *testing.T) {
	d := templateJSON(t)
	deployments := d.resourcesOfType("AWS::ApiGateway::Deployment")
	if len(deployments) != 1 {
		t.Fatalf("deployments %v, want one", deployments)
	}
	p := d.props(t, resStage)
	if got, _ := refTo(p["DeploymentId"]); got != deployments[0] {
		t.Errorf("stage deployment %q, want %q", got, deployments[0])
	}
	dependsOn := asStrings(get(t, d.resources(), deployments[0], "DependsOn"))
	methods := d.resourcesOfType("AWS::ApiGateway::Method")
	if diff := cmp.Diff(methods, dependsOn); diff != "" {
		t.Errorf("deployment DependsOn (-methods +got):\n%s", diff)
	}

	settings := get(t, p, "MethodSettings", 0).(map[string]any)
	for key, want := range map[string]string{"ThrottlingRateLimit": "ThrottleRateLimit", "ThrottlingBurstLimit": "ThrottleBurstLimit"} {
		if got, _ := refTo(settings[key]); got != want {
			t.Errorf("MethodSettings %s = %#v, want a Ref to %s", key, settings[key], want)
		}
	}
	if settings["ResourcePath"] != "/*" || settings["HttpMethod"] != "*" {
		t.Errorf("method settings apply to %v %v, want every method", settings["HttpMethod"], settings["ResourcePath"])
	}

	logs := get(t, p, "AccessLogSetting").(map[string]any)
	if got := resourceString(t, logs["DestinationArn"]); got != "GetAtt:"+resAccessLogGroup+".Arn" {
		t.Errorf("access logs go to %s", got)
	}
	// The format is a JSON object once API Gateway fills in the variables,
	// whatever they hold.
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
	if !strings.Contains(format, `"responseTransferMode":"$context.integration.responseTransferMode"`) {
		t.Errorf("access log format lacks responseTransferMode: %s", format)
	}
	// The account's CloudWatch role, when this stack sets it, comes first.
	want := map[string]any{"Fn::If": []any{condConfigureAccount, map[string]any{"Ref": resAccount}, map[string]any{"Ref": "AWS::NoValue"}}}
	if diff := cmp.Diff(want, get(t, d.resources(), resStage, "Metadata", "WaitsFor")); diff != "" {
		t.Errorf("stage waits for (-want +got):\n%s", diff)
	}
	for _, id := range []string{resAccount, resAccountRole} {
		r := d.resources()[id].(map[string]any)
		if r["Condition"] != condConfigureAccount || r["DeletionPolicy"] != "Retain" {
			t.Errorf("%s: Condition %v, DeletionPolicy %v; want %s and Retain", id, r["Condition"], r["DeletionPolicy"], condConfigureAccount)
		}
	}
}

// TestDeploymentFollowsAPI checks that the deployment is replaced when the
// API changes, so that the stage serves the new methods, and only then.
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
	for _, args := range [][]string{
		{"-integration-timeout-ms", "600000"},
		{"-api-key-required=false"},
	} {
		if got := deployment(args...); got == base {
			t.Errorf("%q: deployment %s unchanged", args, got)
		}
	}
}

func TestOutputs(t *testing.T) {
	d := templateJSON(t)
	if got := resourceString(t, get(t, d, "Outputs", "ApiUrl", "Value")); got != baseURL {
		t.Errorf("ApiUrl %q", got)
	}
	branches := get(t, d, "Outputs", "CurlCommand", "Value", "Fn::If").([]any)
	withKey, withoutKey := resourceString(t, branches[1]), resourceString(t, branches[2])
	for _, cmd := range []string{withKey, withoutKey} {
		if !strings.HasPrefix(cmd, "curl --no-buffer ") || !strings.HasSuffix(cmd, baseURL+"/stream") {
			t.Errorf("curl command %q", cmd)
		}
	}
	if !strings.Contains(withKey, `-H "x-api-key: $(aws apigateway get-api-key --api-key ${ApiKey} --include-value`) {
		t.Errorf("curl command with a key does not send it: %q", withKey)
	}
	if strings.Contains(withoutKey, "x-api-key") {
		t.Errorf("curl command without a key sends one: %q", withoutKey)
	}
}

// TestIntrinsicsNotEvaluated guards the encoding of intrinsics: goformation
// evaluates an intrinsic given as a plain map (Ref AWS::AccountId becomes
// 123456789012), and an encoded one that escaped decoding would stay base64.
func TestIntrinsicsNotEvaluated(t *testing.T) {
	for _, tc := range goldenCases() {
		out := string(generateArgs(t, tc.args...))
		for _, s := range []string{"123456789012", "goformation-stack", "us-east-1", "MyStack"} {
			if strings.Contains(out, s) {
				t.Errorf("%s: output contains %q, an evaluated intrinsic", tc.name, s)
			}
		}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for _, e := range v {
					walk(e)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			case string:
				if b, err := base64.StdEncoding.DecodeString(v); err == nil && strings.HasPrefix(string(b), "{") {
					t.Errorf("%s: undecoded intrinsic %q = %s", tc.name, v, b)
				}
			}
		}
		walk(map[string]any(templateJSON(t, tc.args...)))
	}
}

// TestReferencesResolve checks that every Ref, GetAtt and ${} names a
// parameter, resource or pseudo parameter, and every condition exists.
func TestReferencesResolve(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		known := map[string]bool{"AWS::Region": true, "AWS::AccountId": true, "AWS::Partition": true, "AWS::StackName": true, "AWS::URLSuffix": true, "AWS::NoValue": true}
		for name := range d["Parameters"].(map[string]any) {
			known[name] = true
		}
		for name := range d.resources() {
			known[name] = true
		}
		conditions := d["Conditions"].(map[string]any)
		subVar := regexp.MustCompile(`\$\{([^}]+)\}`)
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, e := range v {
					switch k {
					case "Ref":
						if !known[e.(string)] {
							t.Errorf("%s: Ref to unknown %q", path, e)
						}
					case "Fn::GetAtt":
						if !known[e.([]any)[0].(string)] {
							t.Errorf("%s: GetAtt of unknown %q", path, e)
						}
					case "Fn::Sub":
						for _, m := range subVar.FindAllStringSubmatch(e.(string), -1) {
							name, _, _ := strings.Cut(m[1], ".")
							if !known[name] {
								t.Errorf("%s: ${%s} is unknown", path, m[1])
							}
						}
					case "Fn::If":
						if _, ok := conditions[e.([]any)[0].(string)]; !ok {
							t.Errorf("%s: Fn::If on unknown condition %v", path, e.([]any)[0])
						}
					}
					walk(path+"."+k, e)
				}
			case []any:
				for i, e := range v {
					walk(fmt.Sprintf("%s.%d", path, i), e)
				}
			}
		}
		walk("", map[string]any(d))
		for id, r := range d.resources() {
			if c, ok := r.(map[string]any)["Condition"].(string); ok {
				if _, ok := conditions[c]; !ok {
					t.Errorf("%s: unknown condition %q", id, c)
				}
			}
		}
	})
}

// TestParameters checks the parameters that operators and scripts/deploy
// rely on by name.
func TestParameters(t *testing.T) {
	d := templateJSON(t)
	params := d["Parameters"].(map[string]any)
	for _, name := range []string{
		"CodeS3Bucket", "CodeS3Key", "ModelId", "AllowedModels", "MaxTokens", "SystemPrompt", "StageName",
		"IntegrationTimeoutMs", "FunctionTimeoutSeconds", "MemorySize", "LogRetentionDays", "ApiKeyRequired",
		"ThrottleRateLimit", "ThrottleBurstLimit", "CorsAllowOrigins", "LogLevel", "HeartbeatSeconds", "ConfigureApiGatewayAccount",
	} {
		p, ok := params[name].(map[string]any)
		if !ok {
			t.Errorf("no parameter %s", name)
			continue
		}
		if p["Description"] == nil {
			t.Errorf("parameter %s has no description", name)
		}
		_, hasDefault := p["Default"]
		if required := name == "CodeS3Bucket" || name == "CodeS3Key"; hasDefault == required {
			t.Errorf("parameter %s: has default %v, want %v", name, hasDefault, !required)
		}
	}
	if got := d.parameterNumber(t, "MemorySize", "Default"); got != 128 {
		t.Errorf("MemorySize default %v, want 128", got)
	}
	if got := d.parameterNumber(t, "IntegrationTimeoutMs", "Default"); got != 300000 {
		t.Errorf("IntegrationTimeoutMs default %v, want 300000", got)
	}
	if got := get(t, d, "Parameters", "ModelId", "Default"); got != defaultModelID {
		t.Errorf("ModelId default %v", got)
	}
}
