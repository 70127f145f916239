package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseModel(t *testing.T) {
	const (
		region  = "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/"
		profile = "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/"
		any     = "arn:${AWS::Partition}:bedrock:*::foundation-model/"
		none    = "arn:${AWS::Partition}:bedrock:::foundation-model/"
	)
	sub := func(arn string) arnSpec { return arnSpec{arn, true} }
	lit := func(arn string) arnSpec { return arnSpec{arn, false} }
	for _, tc := range []struct {
		id          string
		direct, via []arnSpec
		profile     *arnSpec
		wantErr     string
	}{
		{id: "anthropic.claude-3-5-haiku-20241022-v1:0", direct: []arnSpec{sub(region + "anthropic.claude-3-5-haiku-20241022-v1:0")}},
		{id: "anthropic.claude-3-sonnet-20240229-v1:0:200k", direct: []arnSpec{sub(region + "anthropic.claude-3-sonnet-20240229-v1:0:200k")}},
		{id: "us.anthropic.claude-sonnet-4-20250514-v1:0",
			direct:  []arnSpec{sub(profile + "us.anthropic.claude-sonnet-4-20250514-v1:0")},
			via:     []arnSpec{sub(any + "anthropic.claude-sonnet-4-20250514-v1:0")},
			profile: &arnSpec{profile + "us.anthropic.claude-sonnet-4-20250514-v1:0", true}},
		{id: "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
			direct:  []arnSpec{sub(profile + "global.anthropic.claude-sonnet-4-5-20250929-v1:0")},
			via:     []arnSpec{sub(any + "anthropic.claude-sonnet-4-5-20250929-v1:0"), sub(none + "anthropic.claude-sonnet-4-5-20250929-v1:0")},
			profile: &arnSpec{profile + "global.anthropic.claude-sonnet-4-5-20250929-v1:0", true}},
		{id: "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
			direct:  []arnSpec{sub(profile + "jp.anthropic.claude-sonnet-4-5-20250929-v1:0")},
			via:     []arnSpec{sub(any + "anthropic.claude-sonnet-4-5-20250929-v1:0")},
			profile: &arnSpec{profile + "jp.anthropic.claude-sonnet-4-5-20250929-v1:0", true}},
		{id: "au.anthropic.claude-sonnet-4-5-20250929-v1:0",
			direct:  []arnSpec{sub(profile + "au.anthropic.claude-sonnet-4-5-20250929-v1:0")},
			via:     []arnSpec{sub(any + "anthropic.claude-sonnet-4-5-20250929-v1:0")},
			profile: &arnSpec{profile + "au.anthropic.claude-sonnet-4-5-20250929-v1:0", true}},
		{id: "ca.amazon.nova-lite-v1:0",
			direct:  []arnSpec{sub(profile + "ca.amazon.nova-lite-v1:0")},
			via:     []arnSpec{sub(any + "amazon.nova-lite-v1:0")},
			profile: &arnSpec{profile + "ca.amazon.nova-lite-v1:0", true}},
		{id: "arn:aws-us-gov:bedrock:us-gov-west-1:111122223333:inference-profile/us-gov.anthropic.claude-3-haiku-20240307-v1:0",
			direct:  []arnSpec{lit("arn:aws-us-gov:bedrock:us-gov-west-1:111122223333:inference-profile/us-gov.anthropic.claude-3-haiku-20240307-v1:0")},
			via:     []arnSpec{lit("arn:aws-us-gov:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0")},
			profile: &arnSpec{"arn:aws-us-gov:bedrock:us-gov-west-1:111122223333:inference-profile/us-gov.anthropic.claude-3-haiku-20240307-v1:0", false}},
		{id: "arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0",
			direct: []arnSpec{lit("arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0")},
			via: []arnSpec{lit("arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"),
				lit("arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0")},
			profile: &arnSpec{"arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0", false}},
		{id: "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/abc123", direct: []arnSpec{lit("arn:aws:bedrock:us-east-1:111122223333:provisioned-model/abc123")}},
		{id: "emulator.steady-v1", wantErr: "emulator models exist only in local mode"},
		{id: "emulator.long-v1", wantErr: "cannot be deployed"},
		{id: "anthropic.*", wantErr: "wildcards are not allowed"},
		{id: "arn:aws:bedrock:*::foundation-model/anthropic.claude-v2", wantErr: "wildcards"},
		{id: "arn:aws:bedrock:us-east-1::foundation-model/${Model}", wantErr: "not a Bedrock ARN"},
		{id: "arn:aws:iam::111122223333:role/x", wantErr: "not a Bedrock ARN"},
		{id: "gpt-4", wantErr: "not a Bedrock model id"},
		{id: "anthropic.claude v2", wantErr: "not a Bedrock model id"},
		{id: "a.b,c.d", wantErr: "not a Bedrock model id"},
		{id: "", wantErr: "empty model id"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			m, err := parseModel(tc.id)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseModel(%q) error %v, want %q", tc.id, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.ID != tc.id {
				t.Errorf("ID %q", m.ID)
			}
			if diff := cmp.Diff(tc.direct, m.Direct); diff != "" {
				t.Errorf("direct ARNs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.via, m.ViaProfile); diff != "" {
				t.Errorf("ARNs through the profile (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.profile, m.Profile); diff != "" {
				t.Errorf("profile (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetPath(t *testing.T) {
	doc := map[string]any{"A": []any{map[string]any{}}, "S": "x"}
	for _, tc := range []struct {
		path, wantErr string
	}{
		{"A.0.B", ""},
		{"New.Deep.Key", ""},
		{"A.1.B", `no element "1"`},
		{"A.x", `no element "x"`},
		{"S.B", `"B" is inside a string`},
	} {
		err := setPath(doc, strings.Split(tc.path, "."), 1)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("setPath(%s): %v, want %q", tc.path, err, tc.wantErr)
		}
	}
	want := map[string]any{"A": []any{map[string]any{"B": 1}}, "S": "x", "New": map[string]any{"Deep": map[string]any{"Key": 1}}}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
