package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFunction(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		p := d.props(t, resFunction)
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
		want := []string{"ALLOWED_MODELS", "BUDGET_TABLE", "CANCEL_TABLE", "CORS_ALLOW_HEADERS", "CORS_ALLOW_ORIGINS", "DAILY_TOKEN_BUDGET", "EMBEDDING_MODEL_ID", "GODEBUG", "GOMAXPROCS",
			"GUARDRAIL_ID", "GUARDRAIL_STREAM_MODE", "GUARDRAIL_VERSION", "HEARTBEAT_SECONDS",
			"IMAGES_BUCKET", "IMAGE_MODEL_ID", "LOG_LEVEL", "MAX_TOKENS", "MODELS_CACHE_SECONDS", "MODEL_FALLBACKS", "MODEL_ID", "PRESIGN_SECONDS", "PROMPT_CACHE", "SYSTEM_PROMPT"}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("environment (-want +got):\n%s", diff)
		}
		inputs := get(t, d, "Metadata", "Streamgate", "GeneratorInputs").(map[string]any)
		for name, wantValue := range map[string]any{
			"ALLOWED_MODELS":       map[string]any{"Fn::Join": []any{",", map[string]any{"Ref": "AllowedModels"}}},
			"MODEL_ID":             map[string]any{"Ref": "ModelId"},
			"CANCEL_TABLE":         map[string]any{"Ref": resCancelTable},
			"BUDGET_TABLE":         map[string]any{"Ref": resBudgetTable},
			"DAILY_TOKEN_BUDGET":   map[string]any{"Ref": "DailyTokenBudget"},
			"MODEL_FALLBACKS":      map[string]any{"Ref": "ModelFallbacks"},
			"GUARDRAIL_ID":         map[string]any{"Ref": "GuardrailId"},
			"GUARDRAIL_VERSION":    map[string]any{"Fn::If": []any{condGuardrail, map[string]any{"Ref": "GuardrailVersion"}, ""}},
			"PROMPT_CACHE":         map[string]any{"Ref": "PromptCache"},
			"IMAGES_BUCKET":        map[string]any{"Fn::If": []any{condImages, map[string]any{"Ref": resImagesBucket}, ""}},
			"PRESIGN_SECONDS":      map[string]any{"Ref": "PresignSeconds"},
			"MODELS_CACHE_SECONDS": map[string]any{"Ref": "ModelsCacheSeconds"},
			"CORS_ALLOW_HEADERS":   map[string]any{"Ref": "CorsAllowHeaders"},
			"IMAGE_MODEL_ID":       inputs["ImageModelId"],
			"EMBEDDING_MODEL_ID":   inputs["EmbeddingModelId"],
			"CORS_ALLOW_ORIGINS":   inputs["CorsAllowOrigins"],
			"GODEBUG":              "schedtrace=2147483647",
			"GOMAXPROCS":           "1",
		} {
			if diff := cmp.Diff(wantValue, env[name]); diff != "" {
				t.Errorf("%s (-want +got):\n%s", name, diff)
			}
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
		integration := get(t, d, "Metadata", "Streamgate", "GeneratorInputs", "IntegrationTimeoutMs").(float64)
		// CloudFormation itself refuses a shorter function timeout.
		if lo := d.parameterNumber(t, "FunctionTimeoutSeconds", "MinValue"); lo*1000 < integration {
			t.Errorf("FunctionTimeoutSeconds allows %v s, less than the integration timeout %v ms", lo, integration)
		}
		if def := d.parameterNumber(t, "FunctionTimeoutSeconds", "Default"); def*1000 < integration {
			t.Errorf("function timeout %v s does not cover the integration timeout %v ms", def, integration)
		}
		if hi := d.parameterNumber(t, "FunctionTimeoutSeconds", "MaxValue"); hi > 900 {
			t.Errorf("FunctionTimeoutSeconds allows up to %v s; Lambda stops at 900", hi)
		}
	})
}

func TestFunctionTimeoutDefault(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		want, lo float64
	}{
		{nil, 300, 300},
		{[]string{"-integration-timeout-ms", "50"}, 1, 1},
		{[]string{"-integration-timeout-ms", "120500"}, 121, 121},
		{[]string{"-integration-timeout-ms", "900000"}, 900, 900},
		{[]string{"-integration-timeout-ms", "60000", "-function-timeout-seconds", "90"}, 90, 60},
	} {
		d := templateJSON(t, tc.args...)
		if got := d.parameterNumber(t, "FunctionTimeoutSeconds", "Default"); got != tc.want {
			t.Errorf("%q: FunctionTimeoutSeconds default %v, want %v", tc.args, got, tc.want)
		}
		if got := d.parameterNumber(t, "FunctionTimeoutSeconds", "MinValue"); got != tc.lo {
			t.Errorf("%q: FunctionTimeoutSeconds MinValue %v, want %v", tc.args, got, tc.lo)
		}
	}
}

// TestReservedConcurrency (defect 6): the function's concurrency, and so
// the number of streams at once, is bounded by default.
func TestReservedConcurrency(t *testing.T) {
	d := templateJSON(t)
	if def, lo := d.parameterNumber(t, "ReservedConcurrency", "Default"), d.parameterNumber(t, "ReservedConcurrency", "MinValue"); def != 100 || lo != 0 {
		t.Errorf("ReservedConcurrency default %v, min %v; want 100 and 0 (0 = unreserved)", def, lo)
	}
	want := map[string]any{"Fn::If": []any{condReserved, map[string]any{"Ref": "ReservedConcurrency"}, map[string]any{"Ref": "AWS::NoValue"}}}
	if diff := cmp.Diff(want, d.props(t, resFunction)["ReservedConcurrentExecutions"]); diff != "" {
		t.Errorf("ReservedConcurrentExecutions (-want +got):\n%s", diff)
	}
	wantCond := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "ReservedConcurrency"}, "0"}}}}
	if diff := cmp.Diff(wantCond, get(t, d, "Conditions", condReserved)); diff != "" {
		t.Errorf("condition %s (-want +got):\n%s", condReserved, diff)
	}
	// The authorizer answers in milliseconds and takes no reservation.
	if _, ok := d.props(t, resAuthorizerFunction)["ReservedConcurrentExecutions"]; ok {
		t.Errorf("the authorizer reserves concurrency")
	}
}

// TestProvisionedConcurrency checks the optional provisioned concurrency:
// off by default (API Gateway calls the function); on, API Gateway calls an
// alias of a published version that carries it.
func TestProvisionedConcurrency(t *testing.T) {
	d := templateJSON(t)
	for _, id := range []string{resFunctionVersion, resFunctionAlias} {
		if d.has(id) {
			t.Errorf("%s exists with provisioned concurrency off", id)
		}
	}
	if got := resourceString(t, d.props(t, resPermission)["FunctionName"]); got != "GetAtt:Function.Arn" {
		t.Errorf("permission on %q, want the function", got)
	}

	d = templateJSON(t, "-provisioned-concurrency", "5")
	if def, lo := d.parameterNumber(t, "ProvisionedConcurrency", "Default"), d.parameterNumber(t, "ProvisionedConcurrency", "MinValue"); def != 5 || lo != 1 {
		t.Errorf("ProvisionedConcurrency default %v, min %v; want 5 and 1", def, lo)
	}
	alias := d.props(t, resFunctionAlias)
	if diff := cmp.Diff(map[string]any{"ProvisionedConcurrentExecutions": map[string]any{"Ref": "ProvisionedConcurrency"}}, alias["ProvisionedConcurrencyConfig"]); diff != "" {
		t.Errorf("alias provisioned concurrency (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"Fn::GetAtt": []any{resFunctionVersion, "Version"}}, alias["FunctionVersion"]); diff != "" {
		t.Errorf("alias version (-want +got):\n%s", diff)
	}
	// A new code key or revision publishes a new version.
	if got := resourceString(t, d.props(t, resFunctionVersion)["Description"]); !strings.Contains(got, "${CodeS3Key}") || !strings.Contains(got, "${FunctionRevision}") {
		t.Errorf("version description %q does not follow the code and the revision", got)
	}
	if got, _ := refTo(d.props(t, resPermission)["FunctionName"]); got != resFunctionAlias {
		t.Errorf("permission on %q, want the alias (a permission on the function does not cover its aliases)", got)
	}
	for _, id := range d.resourcesOfType("AWS::ApiGateway::Method") {
		if uri := resourceString(t, get(t, d.props(t, id), "Integration", "Uri")); !strings.Contains(uri, "/functions/${FunctionAlias}/") {
			t.Errorf("%s calls %q, not the alias", d.methodRoute(t, id), uri)
		}
	}
}

func TestLambdaPermission(t *testing.T) {
	d := templateJSON(t)
	perms := d.resourcesOfType("AWS::Lambda::Permission")
	if diff := cmp.Diff([]string{resPermission, resAuthorizerPermission}, perms, cmp.Transformer("sort", func(s []string) []string {
		out := append([]string(nil), s...)
		sort.Strings(out)
		return out
	})); diff != "" {
		t.Errorf("permissions (-want +got):\n%s", diff)
	}
	p := d.props(t, resPermission)
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

// TestTables: the cancel and budget tables the gateway's DynamoDB stores
// expect (partition key "id", on demand, TTL on expiresAt).
func TestTables(t *testing.T) {
	d := templateJSON(t)
	for _, id := range []string{resCancelTable, resBudgetTable} {
		r := d.resource(t, id)
		if r["Type"] != "AWS::DynamoDB::Table" || r["DeletionPolicy"] != "Delete" {
			t.Errorf("%s: Type %v, DeletionPolicy %v", id, r["Type"], r["DeletionPolicy"])
		}
		p := d.props(t, id)
		for key, want := range map[string]any{
			"BillingMode":             "PAY_PER_REQUEST",
			"AttributeDefinitions":    []any{map[string]any{"AttributeName": "id", "AttributeType": "S"}},
			"KeySchema":               []any{map[string]any{"AttributeName": "id", "KeyType": "HASH"}},
			"TimeToLiveSpecification": map[string]any{"AttributeName": "expiresAt", "Enabled": true},
		} {
			if diff := cmp.Diff(want, p[key]); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", id, key, diff)
			}
		}
	}
	// The per-key budgets an operator wrote survive a replacement of the table.
	if got := d.resource(t, resBudgetTable)["UpdateReplacePolicy"]; got != "Retain" {
		t.Errorf("budget table UpdateReplacePolicy %v, want Retain", got)
	}
}

func TestImagesBucket(t *testing.T) {
	d := templateJSON(t)
	for _, id := range []string{resImagesBucket, resImagesBucketPolicy} {
		if got := d.resource(t, id)["Condition"]; got != condImages {
			t.Errorf("%s: Condition %v, want %s", id, got, condImages)
		}
	}
	if diff := cmp.Diff(map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "EnableImages"}, "true"}}, get(t, d, "Conditions", condImages)); diff != "" {
		t.Errorf("condition (-want +got):\n%s", diff)
	}
	p := d.props(t, resImagesBucket)
	if diff := cmp.Diff(map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
		p["PublicAccessBlockConfiguration"]); diff != "" {
		t.Errorf("public access block (-want +got):\n%s", diff)
	}
	if got := get(t, p, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "SSEAlgorithm"); got != "AES256" {
		t.Errorf("encryption %v, want SSE-S3 (AES256)", got)
	}
	rule := get(t, p, "LifecycleConfiguration", "Rules", 0).(map[string]any)
	if got, _ := refTo(rule["ExpirationInDays"]); got != "ImageRetentionDays" || rule["Status"] != "Enabled" || rule["Prefix"] != "images/" {
		t.Errorf("lifecycle rule %v, want images/ expiring after ImageRetentionDays", rule)
	}
	if def := d.parameterNumber(t, "ImageRetentionDays", "Default"); def != 1 {
		t.Errorf("ImageRetentionDays default %v, want 1", def)
	}
	policy := d.props(t, resImagesBucketPolicy)
	if got, _ := refTo(policy["Bucket"]); got != resImagesBucket {
		t.Errorf("policy on %q", got)
	}
	want := map[string]any{
		"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
		"Resource":  []any{map[string]any{"Fn::GetAtt": []any{resImagesBucket, "Arn"}}, map[string]any{"Fn::Sub": "${ImagesBucket.Arn}/*"}},
		"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
	}
	if diff := cmp.Diff([]any{want}, get(t, policy, "PolicyDocument", "Statement")); diff != "" {
		t.Errorf("bucket policy (-want +got):\n%s", diff)
	}
}

// TestParameters checks the parameters that operators and scripts/deploy
// rely on by name.
func TestParameters(t *testing.T) {
	d := templateJSON(t)
	params := d["Parameters"].(map[string]any)
	names := []string{
		"CodeS3Bucket", "CodeS3Key", "ModelId", "AllowedModels", "MaxTokens", "SystemPrompt", "StageName",
		"FunctionTimeoutSeconds", "MemorySize", "ReservedConcurrency", "LogRetentionDays",
		"ThrottleRateLimit", "ThrottleBurstLimit", "KeyThrottleRateLimit", "KeyThrottleBurstLimit", "KeyQuotaLimit", "KeyQuotaPeriod",
		"CorsAllowHeaders", "LogLevel", "HeartbeatSeconds", "EnableImages", "ImageRetentionDays", "PresignSeconds", "ModelsCacheSeconds",
		"AlarmEmail", "AlarmTtftP99Ms", "Alarm5xxRatePercent", "ConfigureApiGatewayAccount",
		"DailyTokenBudget", "ModelFallbacks", "GuardrailId", "GuardrailVersion", "GuardrailStreamMode", "PromptCache",
	}
	for _, name := range names {
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
	if len(params) != len(names) {
		var extra []string
		for name := range params {
			if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+name+" ") {
				extra = append(extra, name)
			}
		}
		t.Errorf("unexpected parameters %v", extra)
	}
	// What a deployment snapshots is not a parameter any more.
	for _, gone := range []string{"IntegrationTimeoutMs", "ApiKeyRequired", "CorsAllowOrigins"} {
		if _, ok := params[gone]; ok {
			t.Errorf("parameter %s would change the API without redeploying it", gone)
		}
	}
	fallbacks := regexp.MustCompile(params["ModelFallbacks"].(map[string]any)["AllowedPattern"].(string))
	for value, ok := range map[string]bool{
		"": true, "a=b": true, "us.anthropic.claude-sonnet-4-5-20250929-v1:0=us.amazon.nova-pro-v1:0|b": true, "a=b|c,d=e": true,
		"a": false, "a=": false, "=b": false, "a=b|": false, "a=b,": false, "a=b=c": false, "a = b": false,
	} {
		if fallbacks.MatchString(value) != ok {
			t.Errorf("ModelFallbacks pattern on %q: match %v, want %v", value, !ok, ok)
		}
	}
	for name, want := range map[string]float64{"MemorySize": 128, "PresignSeconds": 3600, "ModelsCacheSeconds": 300, "DailyTokenBudget": 0} {
		if got := d.parameterNumber(t, name, "Default"); got != want {
			t.Errorf("%s default %v, want %v", name, got, want)
		}
	}
	if got := get(t, d, "Parameters", "ModelId", "Default"); got != defaultModelID {
		t.Errorf("ModelId default %v", got)
	}
	// Every parameter is in exactly one console group.
	seen := map[string]int{}
	for _, g := range get(t, d, "Metadata", "AWS::CloudFormation::Interface", "ParameterGroups").([]any) {
		for _, name := range asStrings(g.(map[string]any)["Parameters"]) {
			seen[name]++
		}
	}
	for name := range params {
		if seen[name] != 1 {
			t.Errorf("parameter %s is in %d console groups", name, seen[name])
		}
	}
}

func TestModelIdRule(t *testing.T) {
	d := templateJSON(t)
	want := map[string]any{"Fn::Contains": []any{map[string]any{"Ref": "AllowedModels"}, map[string]any{"Ref": "ModelId"}}}
	if diff := cmp.Diff(want, get(t, d, "Rules", "ModelIdIsAllowed", "Assertions", 0, "Assert")); diff != "" {
		t.Errorf("rule (-want +got):\n%s", diff)
	}
}

func TestOutputs(t *testing.T) {
	for _, keys := range []bool{true, false} {
		t.Run(fmt.Sprint("keys ", keys), func(t *testing.T) {
			d := templateJSON(t, fmt.Sprintf("-api-key-required=%t", keys))
			if got := resourceString(t, get(t, d, "Outputs", "ApiUrl", "Value")); got != baseURL {
				t.Errorf("ApiUrl %q", got)
			}
			if got := resourceString(t, get(t, d, "Outputs", "OpenAIBaseUrl", "Value")); got != baseURL+"/v1" {
				t.Errorf("OpenAIBaseUrl %q", got)
			}
			curl := resourceString(t, get(t, d, "Outputs", "CurlCommand", "Value"))
			if !strings.HasPrefix(curl, "curl --no-buffer ") || !strings.HasSuffix(curl, baseURL+"/stream") {
				t.Errorf("curl command %q", curl)
			}
			sendsKey := strings.Contains(curl, `-H "Authorization: Bearer $(aws apigateway get-api-key --api-key ${ApiKey} --include-value`)
			if sendsKey != keys {
				t.Errorf("curl command sends a key: %v, want %v: %q", sendsKey, keys, curl)
			}
			outputs := d["Outputs"].(map[string]any)
			for _, name := range []string{"ApiKeyId", "GetApiKeyCommand", "UsagePlanId", "AuthorizerFunctionName"} {
				if _, ok := outputs[name]; ok != keys {
					t.Errorf("output %s present: %v, want %v", name, ok, keys)
				}
			}
		})
	}
}
