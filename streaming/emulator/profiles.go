package emulator

import (
	"net/http"
	"strconv"
	"strings"
)

// profileCreated is when the emulator's inference profiles were made.
const profileCreated = "2025-01-01T00:00:00Z"

// profileGeos are the geographies the emulator has system-defined
// inference profiles for: "us.emulator.steady-v1" routes to
// emulator.steady-v1 in us-east-1, us-east-2 and us-west-2, as Bedrock's
// US profiles do.
var profileGeos = map[string][]string{"us.": {"us-east-1", "us-east-2", "us-west-2"}, "eu.": {"eu-central-1", "eu-west-1", "eu-west-3"}}

// listInferenceProfiles answers the control plane's ListInferenceProfiles
// (GET /inference-profiles, query type=SYSTEM_DEFINED|APPLICATION,
// maxResults, nextToken): a system-defined profile of every chat model for
// the geography of the signing region (us. otherwise), and no
// application profiles.
func listInferenceProfiles(w http.ResponseWriter, r *http.Request) result {
	q := r.URL.Query()
	fail := func(msg string) result {
		writeError(w, http.StatusBadRequest, "ValidationException", msg)
		return result{status: http.StatusBadRequest, outcome: outcomeError, errorType: "ValidationException", errorMessage: msg}
	}
	typ := q.Get("type")
	if typ != "" && typ != "SYSTEM_DEFINED" && typ != "APPLICATION" {
		return fail("1 validation error detected: Value '" + capEcho(typ) + "' at 'typeEquals' failed to satisfy constraint: Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]")
	}
	limit := 1000
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return fail("1 validation error detected: Value '" + capEcho(v) + "' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000")
		}
		limit = n
	}
	region := signingRegion(r.Header.Get("Authorization"))
	geo := "us."
	if len(region) > 3 && region[:3] == "eu-" {
		geo = "eu."
	}
	summaries := []map[string]any{}
	if typ != "APPLICATION" {
		for i := range modelTable {
			m := &modelTable[i]
			if !m.chat() {
				continue
			}
			id := geo + m.id
			var models []map[string]string
			for _, reg := range profileGeos[geo] {
				models = append(models, map[string]string{"modelArn": "arn:aws:bedrock:" + reg + "::foundation-model/" + m.id})
			}
			summaries = append(summaries, map[string]any{
				"inferenceProfileName": strings.ToUpper(strings.TrimSuffix(geo, ".")) + " " + m.name,
				"inferenceProfileId":   id,
				"inferenceProfileArn":  "arn:aws:bedrock:" + region + ":111122223333:inference-profile/" + id,
				"description":          "Routes requests to " + m.name + " in the geography's Regions.",
				"createdAt":            profileCreated,
				"updatedAt":            profileCreated,
				"models":               models,
				"status":               "ACTIVE",
				"type":                 "SYSTEM_DEFINED",
			})
		}
	}
	start := 0
	if t := q.Get("nextToken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > len(summaries) {
			return fail("The pagination token is invalid.")
		}
		start = n
	}
	page := map[string]any{"inferenceProfileSummaries": summaries[start:min(start+limit, len(summaries))]}
	if start+limit < len(summaries) {
		page["nextToken"] = strconv.Itoa(start + limit)
	}
	return writeJSONAnswer(w, result{}, nil, "", page, nil)
}
