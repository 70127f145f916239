package main

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// statement is one IAM policy statement of a role in the template;
// condition is the template condition that includes it ("" = always).
type statement struct {
	role, policy, condition string
	doc                     map[string]any
}

func (d tmpl) statements(t *testing.T) []statement {
	t.Helper()
	var out []statement
	for _, role := range d.resourcesOfType("AWS::IAM::Role") {
		policies, _ := d.props(t, role)["Policies"].([]any)
		for _, p := range policies {
			p := p.(map[string]any)
			for _, s := range get(t, p, "PolicyDocument", "Statement").([]any) {
				st := statement{role: role, policy: p["PolicyName"].(string)}
				if cond, then, otherwise, ok := fnIf(s); ok {
					if !isNoValue(otherwise) {
						t.Fatalf("%s/%s: conditional statement with an else branch %v", role, st.policy, otherwise)
					}
					st.condition, s = cond, then
				}
				st.doc = s.(map[string]any)
				out = append(out, st)
			}
		}
	}
	return out
}

func (s statement) resources(t *testing.T) []string {
	t.Helper()
	var out []string
	switch r := s.doc["Resource"].(type) {
	case []any:
		for _, e := range r {
			out = append(out, resourceString(t, e))
		}
	default:
		out = append(out, resourceString(t, r))
	}
	return out
}

func (s statement) actions() []string { return asStrings(s.doc["Action"]) }

// allowedBedrockResource is the shape of every ARN the function may invoke:
// a foundation model (in this Region, in any Region or Region-less behind
// a cross-Region profile), an inference profile in this account, or a full
// ARN given as a model id. Never a wildcard in the model part.
var allowedBedrockResource = regexp.MustCompile(`^arn:(\$\{AWS::Partition\}|aws[a-z-]*):bedrock:(\$\{AWS::Region\}|\*|[a-z0-9-]+)?:(\$\{AWS::AccountId\}|[0-9]{12})?:[a-z-]+/[A-Za-z0-9._:-]+$`)

// crossRegion matches the foundation-model ARNs of any Region or none.
var crossRegion = regexp.MustCompile(`:bedrock:(\*)?::foundation-model/`)

func TestIAMLeastPrivilege(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		stmts := d.statements(t)
		if len(stmts) == 0 {
			t.Fatal("no IAM statements")
		}
		for _, s := range stmts {
			where := s.role + "/" + s.policy + "/" + s.doc["Sid"].(string)
			if s.doc["Effect"] != "Allow" {
				t.Errorf("%s: Effect %v", where, s.doc["Effect"])
			}
			for _, key := range []string{"NotAction", "NotResource"} {
				if _, ok := s.doc[key]; ok {
					t.Errorf("%s: %s grants everything else", where, key)
				}
			}
			actions := s.actions()
			for _, a := range actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s: wildcard action %q", where, a)
				}
			}
			for _, r := range s.resources(t) {
				// ListFoundationModels has no resource-level permissions.
				if r == "*" && !slices.Equal(actions, []string{"bedrock:ListFoundationModels"}) && !slices.Equal(actions, []string{"bedrock:ListInferenceProfiles"}) {
					t.Errorf("%s: Resource * for %v", where, actions)
				}
				if (strings.HasPrefix(actions[0], "bedrock:Invoke") || actions[0] == actionCountTokens) && !allowedBedrockResource.MatchString(r) {
					t.Errorf("%s: Bedrock resource %q is not one model's ARN", where, r)
				}
			}
		}
		// The roles of the authorizer and of API Gateway's logs.
		for _, s := range stmts {
			if s.role == resAuthorizerRole && !slices.Equal(s.actions(), []string{"logs:CreateLogStream", "logs:PutLogEvents"}) {
				t.Errorf("the authorizer may %v; it calls no AWS API", s.actions())
			}
		}
		p := d.props(t, resAccountRole)
		if _, ok := p["Policies"]; ok {
			t.Errorf("%s has inline policies", resAccountRole)
		}
		if diff := cmp.Diff([]any{map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}}, p["ManagedPolicyArns"]); diff != "" {
			t.Errorf("%s managed policies (-want +got):\n%s", resAccountRole, diff)
		}
	})
}

// grant is one action on one resource, as the function's role allows it.
type grant struct{ action, resource, condition string }

// TestIAMPerRoute (defect 2) checks that the function's role grants
// exactly what its routes call (CONTRACTS, "IAM per route"): ConverseStream
// (InvokeModelWithResponseStream) and Converse (InvokeModel) on the text
// models, InvokeModel on the image model (with images enabled) and the
// embedding model, ListFoundationModels, the cancel table's PutItem and
// GetItem, the images prefix's PutObject and GetObject; each route group
// in a statement named after it, and logs.
func TestIAMPerRoute(t *testing.T) {
	d := templateJSON(t,
		"-model-id", "us.anthropic.claude-sonnet-4-20250514-v1:0",
		"-allowed-models", "us.anthropic.claude-sonnet-4-20250514-v1:0,anthropic.claude-3-5-haiku-20241022-v1:0",
		"-image-model-id", "amazon.nova-canvas-v1:0", "-embedding-model-id", "amazon.titan-embed-text-v2:0")
	var got []grant
	sids := map[string]bool{}
	for _, s := range d.statements(t) {
		if s.role != resFunctionRole {
			continue
		}
		sids[s.doc["Sid"].(string)] = true
		for _, a := range s.actions() {
			for _, r := range s.resources(t) {
				if crossRegion.MatchString(r) {
					continue // TestCrossRegionCondition
				}
				got = append(got, grant{a, r, s.condition})
			}
		}
	}
	const (
		profile = "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"
		haiku   = "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0"
		canvas  = "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/amazon.nova-canvas-v1:0"
		titan   = "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/amazon.titan-embed-text-v2:0"
	)
	want := []grant{
		// POST /stream, POST /v1/chat/completions and /v1/responses (stream), POST /generate?stream=1
		{actionInvokeStream, profile, ""}, {actionInvokeStream, haiku, ""},
		// POST /v1/chat/completions and /v1/responses (no stream), POST /generate
		{actionInvoke, profile, ""}, {actionInvoke, haiku, ""},
		// POST /v1/embeddings
		{actionInvoke, titan, ""},
		// GET|POST /generate-image, POST /v1/images/generations
		{actionInvoke, canvas, condImages},
		{"s3:PutObject", "${ImagesBucket.Arn}/images/*", condImages}, {"s3:GetObject", "${ImagesBucket.Arn}/images/*", condImages},
		// POST /v1/messages/count_tokens: the foundation models, in this Region
		{actionCountTokens, "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0", ""},
		{actionCountTokens, haiku, ""},
		// GET /models
		{"bedrock:ListFoundationModels", "*", ""},
		// GET /inference-profiles
		{"bedrock:ListInferenceProfiles", "*", ""},
		// DELETE /stream/{requestId}, POST /v1/chat/completions/{id}/cancel, POST /v1/responses/{id}/cancel, and every stream's poll
		{"dynamodb:PutItem", "GetAtt:CancelTable.Arn", ""}, {"dynamodb:GetItem", "GetAtt:CancelTable.Arn", ""},
		// every route that calls a model: its key's budget and counter
		{"dynamodb:GetItem", "GetAtt:BudgetTable.Arn", ""}, {"dynamodb:UpdateItem", "GetAtt:BudgetTable.Arn", ""},
		// the guardrail, only when one is set, and only that one
		{"bedrock:ApplyGuardrail", "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:guardrail/${GuardrailId}", condGuardrail},
		// its logs
		{"logs:CreateLogStream", "GetAtt:FunctionLogGroup.Arn", ""}, {"logs:PutLogEvents", "GetAtt:FunctionLogGroup.Arn", ""},
	}
	less := func(a, b grant) bool { return a.action+a.resource+a.condition < b.action+b.resource+b.condition }
	sort.Slice(want, func(i, j int) bool { return less(want[i], want[j]) })
	sort.Slice(got, func(i, j int) bool { return less(got[i], got[j]) })
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(grant{})); diff != "" {
		t.Errorf("the function's grants (-want +got):\n%s", diff)
	}
	for _, sid := range []string{"StreamingRoutes", "ConverseRoutes", "CountTokensRoute", "EmbeddingsRoute", "ImageRoutes", "ImageRoutesBucket", "ModelsRoute", "ProfilesRoute", "CancelStore", "TokenBudgets", "Guardrail"} {
		if !sids[sid] {
			t.Errorf("no statement %s", sid)
		}
	}
	// Streaming needs only the streaming action: no statement mixes them.
	for _, s := range d.statements(t) {
		if a := s.actions(); slices.Contains(a, actionInvoke) && slices.Contains(a, actionInvokeStream) {
			t.Errorf("%s grants both %v", s.doc["Sid"], a)
		}
	}
}

// TestCrossRegionCondition (defect 2) checks that the base models behind
// cross-Region inference profiles are granted only through those profiles
// (ArnLike bedrock:InferenceProfileArn), so that the role cannot call a
// base model on demand in any Region; and that a global. profile's
// Region-less foundation-model ARN is granted explicitly.
func TestCrossRegionCondition(t *testing.T) {
	for _, tc := range []struct {
		name, allowed string
		profiles      []string // what the condition must list
		bases         []string // the cross-Region resources
	}{
		{"US profile", "us.anthropic.claude-sonnet-4-20250514-v1:0",
			[]string{"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"},
			[]string{"arn:${AWS::Partition}:bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0"}},
		{"global profile", "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
			[]string{"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0"},
			[]string{
				"arn:${AWS::Partition}:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
				"arn:${AWS::Partition}:bedrock:::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
			}},
		{"profile ARN", "arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.amazon.nova-pro-v1:0",
			[]string{"arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.amazon.nova-pro-v1:0"},
			[]string{"arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0"}},
		{"two profiles and a plain model", "eu.amazon.nova-pro-v1:0,us.amazon.nova-pro-v1:0,amazon.nova-lite-v1:0",
			[]string{
				"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/eu.amazon.nova-pro-v1:0",
				"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/us.amazon.nova-pro-v1:0",
			},
			[]string{"arn:${AWS::Partition}:bedrock:*::foundation-model/amazon.nova-pro-v1:0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, _, _ := strings.Cut(tc.allowed, ",")
			d := templateJSON(t, "-model-id", first, "-allowed-models", tc.allowed)
			var viaProfile int
			for _, s := range d.statements(t) {
				var cross []string
				for _, r := range s.resources(t) {
					if crossRegion.MatchString(r) {
						cross = append(cross, r)
					}
				}
				if len(cross) == 0 {
					continue
				}
				if len(cross) != len(s.resources(t)) {
					t.Errorf("%s mixes cross-Region resources with others: %v", s.doc["Sid"], s.resources(t))
				}
				cond, ok := s.doc["Condition"].(map[string]any)
				if !ok || len(cond) != 1 {
					t.Errorf("%s grants %v with condition %v, want exactly ArnLike bedrock:InferenceProfileArn", s.doc["Sid"], cross, s.doc["Condition"])
					continue
				}
				var profiles []string
				for _, p := range asList(get(t, cond, "ArnLike", "bedrock:InferenceProfileArn")) {
					profiles = append(profiles, resourceString(t, p))
				}
				if diff := cmp.Diff(tc.profiles, profiles); diff != "" {
					t.Errorf("%s condition profiles (-want +got):\n%s", s.doc["Sid"], diff)
				}
				if s.doc["Sid"] == "StreamingRoutesViaProfile" || s.doc["Sid"] == "ConverseRoutesViaProfile" {
					viaProfile++
					if diff := cmp.Diff(tc.bases, cross); diff != "" {
						t.Errorf("%s resources (-want +got):\n%s", s.doc["Sid"], diff)
					}
				}
			}
			if viaProfile != 2 {
				t.Errorf("%d text-model statements through profiles, want 2 (streaming and Converse)", viaProfile)
			}
		})
	}
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// TestModelARNs checks the ARNs granted directly for each kind of model id,
// and that the parameters offer exactly the granted models.
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
		}},
		{"apac and us-gov profiles", "apac.amazon.nova-lite-v1:0,us-gov.anthropic.claude-3-haiku-20240307-v1:0", []string{
			"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/apac.amazon.nova-lite-v1:0",
			"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/us-gov.anthropic.claude-3-haiku-20240307-v1:0",
		}},
		{"foundation model ARN as is", "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-70b-instruct-v1:0", []string{
			"arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-70b-instruct-v1:0",
		}},
		{"application inference profile ARN as is", "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6", []string{
			"arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, _, _ := strings.Cut(tc.allowed, ",")
			d := templateJSON(t, "-model-id", first, "-allowed-models", tc.allowed)
			var got []string
			for _, s := range d.statements(t) {
				if s.doc["Sid"] == "StreamingRoutes" {
					got = s.resources(t)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("streaming grant (-want +got):\n%s", diff)
			}
			var want []any
			for _, id := range strings.Split(tc.allowed, ",") {
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
		})
	}
}
