package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenCases are the configurations whose whole template is kept in
// testdata/: the defaults (YAML and JSON); a template with several kinds
// of model id, no API key, the longest timeout and a list of CORS
// origins; and one with a cached authorizer, one CORS origin, other image
// and embedding models and provisioned concurrency.
type goldenCase struct {
	name, file string
	args       []string
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{"default yaml", "template.yaml", nil},
		{"default json", "template.json", []string{"-format", "json"}},
		{"models, no key, 15 min", "template-models.yaml", []string{
			"-model-id", "anthropic.claude-3-5-haiku-20241022-v1:0",
			"-allowed-models", "anthropic.claude-3-5-haiku-20241022-v1:0,global.anthropic.claude-sonnet-4-5-20250929-v1:0,eu.amazon.nova-pro-v1:0," +
				"arn:aws:bedrock:us-west-2:111122223333:application-inference-profile/a1b2c3d4e5f6",
			"-api-key-required=false",
			"-integration-timeout-ms", "900000",
			"-function-timeout-seconds", "900",
			"-cors-allow-origins", "https://chat.example.com,https://admin.example.com",
		}},
		{"keys cached, provisioned", "template-keys.yaml", []string{
			"-model-id", "eu.anthropic.claude-sonnet-4-20250514-v1:0",
			"-image-model-id", "amazon.nova-canvas-v1:0",
			"-embedding-model-id", "cohere.embed-multilingual-v3",
			"-authorizer-cache-seconds", "300",
			"-cors-allow-origins", "https://chat.example.com",
			"-provisioned-concurrency", "5",
		}},
	}
}

// generateArgs runs the generator as the command line would and returns
// what it writes to stdout.
func generateArgs(t *testing.T, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q): %v\nstderr: %s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := generateArgs(t, tc.args...)
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./template -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("template differs from %s (-want +got); if the change is intended, run go test ./template -update:\n%s", path, diff)
			}
		})
	}
}

// TestOutputFile checks -o, and that the format follows its extension.
func TestOutputFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file  string
		args  []string
		start string
	}{
		{"t.yaml", nil, "AWSTemplateFormatVersion:"},
		{"t.json", nil, "{"},
		{"t.template", []string{"-format", "json"}, "{"},
	} {
		path := filepath.Join(dir, tc.file)
		var stdout bytes.Buffer
		if err := run(append([]string{"-o", path}, tc.args...), &stdout, &bytes.Buffer{}); err != nil {
			t.Fatalf("-o %s: %v", tc.file, err)
		}
		if stdout.Len() != 0 {
			t.Errorf("-o %s: wrote %d bytes to stdout too", tc.file, stdout.Len())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(tc.start)) {
			t.Errorf("-o %s %q: starts with %.40q, want %q", tc.file, tc.args, b, tc.start)
		}
	}
}
