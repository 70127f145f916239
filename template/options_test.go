package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRefusesBadOptions checks that the generator refuses what the platform
// would refuse (or silently mishandle) with an error naming the flag.
func TestRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the error
	}{
		{"integration timeout over 15 minutes", []string{"-integration-timeout-ms", "900001"},
			[]string{"-integration-timeout-ms=900001 is out of range", "50 to 900000 ms"}},
		{"integration timeout under 50 ms", []string{"-integration-timeout-ms", "49"},
			[]string{"-integration-timeout-ms=49 is out of range"}},
		{"function shorter than the integration", []string{"-integration-timeout-ms", "300000", "-function-timeout-seconds", "299"},
			[]string{"-function-timeout-seconds=299 is shorter than -integration-timeout-ms=300000", "300 s or more"}},
		{"function shorter by a fraction of a second", []string{"-integration-timeout-ms", "120500", "-function-timeout-seconds", "120"},
			[]string{"-function-timeout-seconds=120 is shorter", "121 s or more"}},
		{"function over Lambda's limit", []string{"-function-timeout-seconds", "901"},
			[]string{"-function-timeout-seconds=901 is out of range", "1 to 900 seconds"}},
		{"negative function timeout", []string{"-function-timeout-seconds", "-5"},
			[]string{"-function-timeout-seconds=-5 is out of range"}},
		{"emulator default model", []string{"-model-id", "emulator.steady-v1"},
			[]string{"-model-id", "emulator models exist only in local mode"}},
		{"emulator in the allowed list", []string{"-allowed-models", "us.anthropic.claude-sonnet-4-20250514-v1:0,emulator.fast-v1"},
			[]string{"-allowed-models", `"emulator.fast-v1"`, "local mode"}},
		{"default model not allowed", []string{"-model-id", "amazon.nova-pro-v1:0", "-allowed-models", "amazon.nova-lite-v1:0"},
			[]string{`-model-id="amazon.nova-pro-v1:0" is not in -allowed-models="amazon.nova-lite-v1:0"`}},
		{"wildcard model", []string{"-allowed-models", "us.anthropic.claude-sonnet-4-20250514-v1:0,anthropic.*"},
			[]string{"wildcards are not allowed"}},
		{"not a model id", []string{"-model-id", "claude"},
			[]string{`model "claude": not a Bedrock model id`}},
		{"template variable in a model id", []string{"-model-id", "us.${AWS::AccountId}"},
			[]string{"not a Bedrock model id"}},
		{"not a Bedrock ARN", []string{"-model-id", "arn:aws:s3:::bucket/key"},
			[]string{"not a Bedrock ARN"}},
		{"empty allowed list", []string{"-allowed-models", " , "},
			[]string{"-allowed-models: no models"}},
		{"unknown format", []string{"-format", "xml"},
			[]string{`-format="xml": must be yaml or json`}},
		{"stray argument", []string{"template.yaml"},
			[]string{`unexpected argument "template.yaml"`}},
		{"unknown flag", []string{"-timeout", "5"},
			[]string{"flag provided but not defined: -timeout"}},
		{"several problems at once", []string{"-integration-timeout-ms", "1000000", "-format", "xml"},
			[]string{"-integration-timeout-ms=1000000", "-format=\"xml\""}},
		{"emulator image model", []string{"-image-model-id", "emulator.image-v1"},
			[]string{"-image-model-id", "emulator models exist only in local mode"}},
		{"emulator embedding model", []string{"-embedding-model-id", "emulator.embed-v1"},
			[]string{"-embedding-model-id", "emulator models exist only in local mode"}},
		{"authorizer cache over an hour", []string{"-authorizer-cache-seconds", "3601"},
			[]string{"-authorizer-cache-seconds=3601 is out of range", "0 to 3600 seconds"}},
		{"negative authorizer cache", []string{"-authorizer-cache-seconds", "-1"},
			[]string{"-authorizer-cache-seconds=-1 is out of range"}},
		{"authorizer cache without keys", []string{"-authorizer-cache-seconds", "60", "-api-key-required=false"},
			[]string{"there is no authorizer to cache"}},
		{"negative provisioned concurrency", []string{"-provisioned-concurrency", "-1"},
			[]string{"-provisioned-concurrency=-1 is out of range"}},
		{"origin with a path", []string{"-cors-allow-origins", "https://chat.example.com/app"},
			[]string{"-cors-allow-origins", `"https://chat.example.com/app" is not an origin`}},
		{"origin with a trailing slash", []string{"-cors-allow-origins", "https://chat.example.com/"},
			[]string{`"https://chat.example.com/" is not an origin`}},
		{"origin without a scheme", []string{"-cors-allow-origins", "chat.example.com"},
			[]string{`"chat.example.com" is not an origin`}},
		{"origin with a quote", []string{"-cors-allow-origins", "https://chat.example.com'"},
			[]string{"is not an origin"}},
		{"* in a list", []string{"-cors-allow-origins", "https://a.example,*"},
			[]string{"* allows any origin and cannot be part of a list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(tc.args, &stdout, &stderr)
			if err == nil {
				t.Fatalf("run(%q) succeeded, want an error", tc.args)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("wrote %d bytes of template despite the error", stdout.Len())
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want options
	}{
		{"defaults", nil, options{
			Format: "yaml", ModelID: defaultModelID, IntegrationTimeoutMs: 300000, FunctionTimeoutSeconds: 300, APIKeyRequired: true,
		}},
		{"json by extension", []string{"-o", "out/stack.JSON"}, options{
			Output: "out/stack.JSON", Format: "json", ModelID: defaultModelID, IntegrationTimeoutMs: 300000, FunctionTimeoutSeconds: 300, APIKeyRequired: true,
		}},
		{"explicit format wins", []string{"-o", "stack.json", "-format", "yaml"}, options{
			Output: "stack.json", Format: "yaml", ModelID: defaultModelID, IntegrationTimeoutMs: 300000, FunctionTimeoutSeconds: 300, APIKeyRequired: true,
		}},
		{"origins tidied", []string{"-cors-allow-origins", " https://a.example, ,https://b.example:8443,https://a.example "}, options{
			Format: "yaml", ModelID: defaultModelID, IntegrationTimeoutMs: 300000, FunctionTimeoutSeconds: 300, APIKeyRequired: true,
			CORSAllowOrigins: "https://a.example,https://b.example:8443",
		}},
		{"everything", []string{"-model-id", "amazon.nova-pro-v1:0", "-allowed-models", " amazon.nova-lite-v1:0 , amazon.nova-pro-v1:0,amazon.nova-lite-v1:0",
			"-integration-timeout-ms", "60000", "-function-timeout-seconds", "75", "-api-key-required=false", "-cors-allow-origins", "*",
			"-provisioned-concurrency", "3", "-region", "eu-west-1"}, options{
			Format: "yaml", ModelID: "amazon.nova-pro-v1:0", IntegrationTimeoutMs: 60000, FunctionTimeoutSeconds: 75,
			CORSAllowOrigins: "*", ProvisionedConcurrency: 3, Region: "eu-west-1",
		}},
		{"cached authorizer", []string{"-authorizer-cache-seconds", "300"}, options{
			Format: "yaml", ModelID: defaultModelID, IntegrationTimeoutMs: 300000, FunctionTimeoutSeconds: 300, APIKeyRequired: true,
			AuthorizerCacheSeconds: 300,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOptions(tc.args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			ids := got.allowedIDs()
			if got.ImageModel.ID != defaultImageModelID || got.EmbeddingModel.ID != defaultEmbeddingModelID {
				t.Errorf("image model %q, embedding model %q", got.ImageModel.ID, got.EmbeddingModel.ID)
			}
			got.AllowedModels, got.ImageModel, got.EmbeddingModel = nil, model{}, model{}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(options{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if len(ids) == 0 || (tc.name == "everything" && strings.Join(ids, ",") != "amazon.nova-lite-v1:0,amazon.nova-pro-v1:0") {
				t.Errorf("allowed models %q", ids)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	if err := run([]string{"-h"}, &bytes.Buffer{}, &stderr); err == nil {
		t.Fatal("-h: no error")
	}
	for _, flag := range []string{"-o", "-format", "-model-id", "-allowed-models", "-image-model-id", "-embedding-model-id", "-integration-timeout-ms",
		"-function-timeout-seconds", "-api-key-required", "-authorizer-cache-seconds", "-cors-allow-origins", "-provisioned-concurrency", "-region"} {
		if !strings.Contains(stderr.String(), flag+" ") && !strings.Contains(stderr.String(), flag+"\n") {
			t.Errorf("usage does not list %s:\n%s", flag, stderr.String())
		}
	}
}
