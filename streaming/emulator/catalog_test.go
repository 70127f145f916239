package emulator

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	bedrocktypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/google/go-cmp/cmp"
)

func newControlClient(url, region string) *bedrock.Client {
	return bedrock.New(bedrock.Options{
		Region:       region,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		HTTPClient:   awshttp.NewBuildableClient(),
	})
}

func modelIDs(ms []bedrocktypes.FoundationModelSummary) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, aws.ToString(m.ModelId))
	}
	return ids
}

func TestListFoundationModels(t *testing.T) {
	h := newHarness(t, Options{})
	client := newControlClient(h.srv.URL, "eu-central-1")
	all := append(Models(), ImageModelID, EmbeddingModelID)
	tests := []struct {
		name string
		in   bedrock.ListFoundationModelsInput
		want []string
	}{
		{"all", bedrock.ListFoundationModelsInput{}, all},
		{"provider", bedrock.ListFoundationModelsInput{ByProvider: aws.String("emulator")}, all},
		{"other provider", bedrock.ListFoundationModelsInput{ByProvider: aws.String("Anthropic")}, nil},
		{"text", bedrock.ListFoundationModelsInput{ByOutputModality: bedrocktypes.ModelModalityText}, Models()},
		{"image", bedrock.ListFoundationModelsInput{ByOutputModality: bedrocktypes.ModelModalityImage}, []string{ImageModelID}},
		{"embedding", bedrock.ListFoundationModelsInput{ByOutputModality: bedrocktypes.ModelModalityEmbedding}, []string{EmbeddingModelID}},
		{"provisioned", bedrock.ListFoundationModelsInput{ByInferenceType: bedrocktypes.InferenceTypeProvisioned}, []string{"emulator.steady-v1", "emulator.text-v1", ImageModelID}},
		{"fine-tuning", bedrock.ListFoundationModelsInput{ByCustomizationType: bedrocktypes.ModelCustomizationFineTuning}, []string{"emulator.text-v1", ImageModelID}},
		{"combined", bedrock.ListFoundationModelsInput{ByProvider: aws.String("Emulator"), ByOutputModality: bedrocktypes.ModelModalityText, ByInferenceType: bedrocktypes.InferenceTypeProvisioned}, []string{"emulator.steady-v1", "emulator.text-v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client.ListFoundationModels(testContext(t), &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, modelIDs(out.ModelSummaries)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}

	out, err := client.ListFoundationModels(testContext(t), &bedrock.ListFoundationModelsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range out.ModelSummaries {
		id := aws.ToString(m.ModelId)
		if aws.ToString(m.ModelArn) != "arn:aws:bedrock:eu-central-1::foundation-model/"+id || aws.ToString(m.ProviderName) != "Emulator" ||
			aws.ToString(m.ModelName) == "" || len(m.InputModalities) == 0 || len(m.OutputModalities) != 1 ||
			m.ModelLifecycle == nil || m.ModelLifecycle.Status != bedrocktypes.FoundationModelLifecycleStatusActive || len(m.InferenceTypesSupported) == 0 {
			t.Errorf("summary %+v", m)
		}
		chat := slices.Contains(Models(), id)
		if aws.ToBool(m.ResponseStreamingSupported) != chat {
			t.Errorf("%s: responseStreamingSupported %v", id, aws.ToBool(m.ResponseStreamingSupported))
		}
		if chat != (m.OutputModalities[0] == bedrocktypes.ModelModalityText) {
			t.Errorf("%s: output %v", id, m.OutputModalities)
		}
		if chat && id != "emulator.text-v1" && !slices.Contains(m.InputModalities, bedrocktypes.ModelModalityImage) {
			t.Errorf("%s takes image blocks but lists %v", id, m.InputModalities)
		}
	}

	recs := h.records(t)
	if r := recs[1]; r.Operation != "ListFoundationModels" || r.ModelID != "" || r.Query != "byProvider=emulator" || r.Outcome != "completed" {
		t.Errorf("record %+v", r)
	}
}

func TestListFoundationModelsValidation(t *testing.T) {
	h := newHarness(t, Options{})
	client := newControlClient(h.srv.URL, "us-east-1")
	tests := []struct {
		name    string
		in      bedrock.ListFoundationModelsInput
		wantMsg string
	}{
		{"modality", bedrock.ListFoundationModelsInput{ByOutputModality: "AUDIO"}, "Value 'AUDIO' at 'byOutputModality' failed to satisfy constraint: Member must satisfy enum value set: [TEXT, IMAGE, EMBEDDING]"},
		{"inference", bedrock.ListFoundationModelsInput{ByInferenceType: "SPOT"}, "at 'byInferenceType' failed to satisfy constraint: Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]"},
		{"customization", bedrock.ListFoundationModelsInput{ByCustomizationType: "LORA"}, "at 'byCustomizationType'"},
		{"provider", bedrock.ListFoundationModelsInput{ByProvider: aws.String("not/a provider")}, "at 'byProvider' failed to satisfy constraint: Member must satisfy regular expression pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.ListFoundationModels(testContext(t), &tt.in)
			var ve *bedrocktypes.ValidationException
			if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), tt.wantMsg) {
				t.Errorf("err = %v, want a ValidationException containing %q", err, tt.wantMsg)
			}
		})
	}
	req, _ := http.NewRequestWithContext(testContext(t), http.MethodPost, h.srv.URL+"/foundation-models", nil)
	req.Header.Set("Authorization", testAuth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("X-Amzn-ErrorType") != "UnknownOperationException" {
		t.Errorf("POST /foundation-models: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
}
