package emulator

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// providerName is the emulator's provider, as ListFoundationModels names
// it (byProvider matches it case-insensitively, as Bedrock does).
const providerName = "Emulator"

var (
	providerPattern = regexp.MustCompile(`^[A-Za-z0-9- ]{1,63}$`)
	regionPattern   = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
)

// listFoundationModels answers the bedrock control plane's
// ListFoundationModels (GET /foundation-models, REST JSON) with the
// emulator's catalogue, filtered by byProvider, byOutputModality,
// byInferenceType and byCustomizationType.
func listFoundationModels(w http.ResponseWriter, r *http.Request) result {
	q := r.URL.Query()
	fail := func(msg string) result {
		writeError(w, http.StatusBadRequest, "ValidationException", msg)
		return result{status: http.StatusBadRequest, outcome: outcomeError, errorType: "ValidationException", errorMessage: msg}
	}
	filters := []struct {
		name    string
		allowed []string
	}{
		{"byOutputModality", []string{modalityText, modalityImage, modalityEmbedding}},
		{"byInferenceType", []string{inferenceOnDemand, inferenceProvisioned}},
		{"byCustomizationType", []string{"FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"}},
	}
	for _, f := range filters {
		if v := q.Get(f.name); v != "" && !slices.Contains(f.allowed, v) {
			return fail("1 validation error detected: Value '" + capEcho(v) + "' at '" + f.name + "' failed to satisfy constraint: Member must satisfy enum value set: [" + strings.Join(f.allowed, ", ") + "]")
		}
	}
	provider := q.Get("byProvider")
	if q.Has("byProvider") && !providerPattern.MatchString(provider) {
		return fail("1 validation error detected: Value '" + capEcho(provider) + "' at 'byProvider' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9- ]{1,63}")
	}

	region := signingRegion(r.Header.Get("Authorization"))
	summaries := []map[string]any{}
	for i := range modelTable {
		m := &modelTable[i]
		if provider != "" && !strings.EqualFold(provider, providerName) ||
			q.Get("byOutputModality") != "" && q.Get("byOutputModality") != m.output ||
			q.Get("byInferenceType") != "" && !slices.Contains(m.inference, q.Get("byInferenceType")) ||
			q.Get("byCustomizationType") != "" && !slices.Contains(m.customizations, q.Get("byCustomizationType")) {
			continue
		}
		s := map[string]any{
			"modelArn":                   "arn:aws:bedrock:" + region + "::foundation-model/" + m.id,
			"modelId":                    m.id,
			"modelName":                  m.name,
			"providerName":               providerName,
			"inputModalities":            m.input,
			"outputModalities":           []string{m.output},
			"responseStreamingSupported": m.streaming,
			"customizationsSupported":    nonNil(m.customizations),
			"inferenceTypesSupported":    m.inference,
			"modelLifecycle":             map[string]string{"status": "ACTIVE"},
		}
		summaries = append(summaries, s)
	}
	return writeJSONAnswer(w, result{}, nil, "", map[string]any{"modelSummaries": summaries}, nil)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// signingRegion is the region of a SigV4 Authorization header's
// credential scope (Credential=AKID/DATE/REGION/SERVICE/aws4_request), or
// us-east-1.
func signingRegion(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if ok {
		cred, _, _ = strings.Cut(cred, ",")
		parts := strings.Split(cred, "/")
		if len(parts) == 5 && regionPattern.MatchString(parts[2]) {
			return parts[2]
		}
	}
	return "us-east-1"
}
