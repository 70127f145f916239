package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRegionWarnings checks the warnings for models whose geography prefix
// or ARN does not fit the stack's Region.
func TestRegionWarnings(t *testing.T) {
	for _, tc := range []struct {
		region, model string
		want          string // "" = no warning
	}{
		{"us-east-1", "us.anthropic.claude-sonnet-4-20250514-v1:0", ""},
		{"us-west-2", "us.amazon.nova-pro-v1:0", ""},
		{"eu-west-1", "us.anthropic.claude-sonnet-4-20250514-v1:0", `a cross-Region inference profile of the US geography (prefix "us."), but the stack is in eu-west-1`},
		{"eu-west-1", "us.anthropic.claude-sonnet-4-20250514-v1:0", "(eu.anthropic.claude-sonnet-4-20250514-v1:0)"},
		{"eu-central-1", "eu.amazon.nova-pro-v1:0", ""},
		{"us-east-1", "eu.amazon.nova-pro-v1:0", "of the EU geography"},
		{"ap-southeast-1", "apac.amazon.nova-lite-v1:0", ""},
		{"eu-west-3", "apac.amazon.nova-lite-v1:0", "Asia Pacific"},
		{"us-gov-west-1", "us.anthropic.claude-3-haiku-20240307-v1:0", "(us-gov.anthropic.claude-3-haiku-20240307-v1:0)"},
		{"us-gov-west-1", "us-gov.anthropic.claude-3-haiku-20240307-v1:0", ""},
		{"us-east-1", "us-gov.anthropic.claude-3-haiku-20240307-v1:0", "US GovCloud"},
		{"ap-northeast-1", "jp.anthropic.claude-sonnet-4-5-20250929-v1:0", ""},
		{"ap-southeast-1", "jp.anthropic.claude-sonnet-4-5-20250929-v1:0", "Japan"},
		{"ap-southeast-2", "au.anthropic.claude-sonnet-4-5-20250929-v1:0", ""},
		{"ca-central-1", "ca.amazon.nova-lite-v1:0", ""},
		{"eu-west-1", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", ""},
		{"us-gov-east-1", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "global cross-Region inference profile, which us-gov-east-1 cannot use"},
		{"eu-west-1", "anthropic.claude-3-5-haiku-20241022-v1:0", ""},
		{"eu-west-1", "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0", ""},
		{"eu-west-1", "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc", "is in us-east-1, but the stack is in eu-west-1"},
		{"Frankfurt", "us.amazon.nova-pro-v1:0", `-region="Frankfurt" does not look like an AWS Region`},
	} {
		m, err := parseModel(tc.model)
		if err != nil {
			t.Fatal(err)
		}
		got := regionWarnings(tc.region, []model{m})
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s in %s: warnings %q, want none", tc.model, tc.region, got)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
			t.Errorf("%s in %s: warnings %q, want one saying %q", tc.model, tc.region, got, tc.want)
		}
	}
	if got := regionWarnings("", []model{{ID: "us.x.y"}}); got != nil {
		t.Errorf("no region: %q", got)
	}
}

// TestRegionWarningsOnStderr checks that -region warns on stderr about
// every model (text, image and embedding) and still writes the template,
// the same as without -region.
func TestRegionWarningsOnStderr(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"-image-model-id", "us.amazon.nova-canvas-v1:0", "-embedding-model-id", "amazon.titan-embed-text-v2:0"}
	if err := run(append(args, "-region", "eu-west-1"), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "us.anthropic.claude-sonnet-4-20250514-v1:0") || !strings.Contains(lines[1], "us.amazon.nova-canvas-v1:0") {
		t.Errorf("stderr:\n%s\nwant a warning for the default model and the image model", stderr.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "template: warning: ") {
			t.Errorf("warning line %q", l)
		}
	}
	if !bytes.Equal(stdout.Bytes(), generateArgs(t, args...)) {
		t.Error("-region changed the template")
	}
}
