package anthropic

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/streamgate/streamgate/streaming"
)

// claudeAliases are the short names of Claude models that Anthropic's API
// accepts, each with the dated id it stands for.
var claudeAliases = map[string]string{
	"claude-opus-4-5":          "claude-opus-4-5-20251101",
	"claude-haiku-4-5":         "claude-haiku-4-5-20251001",
	"claude-sonnet-4-5":        "claude-sonnet-4-5-20250929",
	"claude-opus-4-1":          "claude-opus-4-1-20250805",
	"claude-opus-4-0":          "claude-opus-4-20250514",
	"claude-opus-4":            "claude-opus-4-20250514",
	"claude-sonnet-4-0":        "claude-sonnet-4-20250514",
	"claude-sonnet-4":          "claude-sonnet-4-20250514",
	"claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
	"claude-3-5-haiku-latest":  "claude-3-5-haiku-20241022",
}

// geoPrefix is the cross-Region inference profile prefix of an AWS
// Region: us. for us-*, us-gov. for us-gov-*, eu. for eu-*, apac. for
// ap-*, ca. for ca-*; "" (the foundation model, in-Region) elsewhere.
func geoPrefix(region string) string {
	for _, p := range [...][2]string{{"us-gov-", "us-gov."}, {"us-", "us."}, {"eu-", "eu."}, {"ap-", "apac."}, {"ca-", "ca."}} {
		if strings.HasPrefix(region, p[0]) {
			return p[1]
		}
	}
	return ""
}

// ClaudeBedrockID maps a Claude model name as Anthropic's clients send it
// to its Bedrock id in region, by one rule: a short alias becomes the
// dated id it stands for, then the Region's cross-Region inference
// profile prefix, "anthropic.", the id and "-v1:0". So
// claude-sonnet-4-5 in us-east-1 is
// us.anthropic.claude-sonnet-4-5-20250929-v1:0. ok is false for a name
// that is not Claude's (it does not start with "claude-").
func ClaudeBedrockID(name, region string) (id string, ok bool) {
	if !strings.HasPrefix(name, "claude-") {
		return "", false
	}
	if dated, isAlias := claudeAliases[name]; isAlias {
		name = dated
	}
	return geoPrefix(region) + "anthropic." + name + "-v1:0", true
}

func (d *dialect) region() string {
	if up := d.h.Upstreams(); up.Bedrock != nil {
		return up.Bedrock.Options().Region
	}
	return ""
}

// modelID is the Bedrock model that answers a request for name:
// MODEL_ALIASES first (its names win over the rule), then Claude's rule,
// else name as a Bedrock id; ALLOWED_MODELS applies to the result.
func (d *dialect) modelID(name *string) (string, *streaming.Error) {
	cfg := d.h.Config()
	if name == nil || strings.TrimSpace(*name) == "" {
		return "", streaming.InvalidParam("model", "model: Field required (a Claude model name such as claude-sonnet-4-5, or a Bedrock model id)")
	}
	if _, aliased := cfg.ModelAliases[*name]; aliased {
		return cfg.CheckModel(name, "model")
	}
	id, ok := ClaudeBedrockID(*name, d.region())
	if !ok {
		return cfg.CheckModel(name, "model")
	}
	got, e := cfg.CheckModel(&id, "model")
	if e != nil && e.Status == http.StatusForbidden {
		e.Message = fmt.Sprintf("model %q maps to the Bedrock model %s, which is not allowed here (the operator can map the name with MODEL_ALIASES); allowed: %s",
			streaming.Truncate(*name, 100), id, strings.Join(cfg.AllowedModels, ", "))
	}
	return got, e
}

// modelNames are the names a Claude client may send here: the
// MODEL_ALIASES names whose models are allowed, the allowed ids, and the
// Claude names that map to an allowed id; sorted.
func (d *dialect) modelNames() []string {
	cfg := d.h.Config()
	seen := map[string]bool{}
	for name, id := range cfg.ModelAliases {
		if slices.Contains(cfg.AllowedModels, id) {
			seen[name] = true
		}
	}
	for _, id := range cfg.AllowedModels {
		seen[id] = true
	}
	region := d.region()
	for alias, dated := range claudeAliases {
		for _, name := range []string{alias, dated} {
			if id, _ := ClaudeBedrockID(name, region); slices.Contains(cfg.AllowedModels, id) {
				if _, aliased := cfg.ModelAliases[name]; !aliased {
					seen[name] = true
				}
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type modelInfo struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// modelsEpoch stands for the models' creation time, which Bedrock does
// not tell.
const modelsEpoch = "2025-01-01T00:00:00Z"

func newModelInfo(name string) modelInfo {
	return modelInfo{Type: "model", ID: name, DisplayName: name, CreatedAt: modelsEpoch}
}

// serveModels answers GET /v1/models for Anthropic's clients: the names
// they may send, in Anthropic's list shape (one page).
func (d *dialect) serveModels(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Request-Id", streaming.LogOf(r).ID())
	names := d.modelNames()
	data := make([]modelInfo, len(names))
	for i, n := range names {
		data[i] = newModelInfo(n)
	}
	page := map[string]any{"data": data, "has_more": false, "first_id": nil, "last_id": nil}
	if len(names) > 0 {
		page["first_id"], page["last_id"] = names[0], names[len(names)-1]
	}
	streaming.WriteJSON(w, http.StatusOK, page)
}

// serveModel answers GET /v1/models/{model}.
func (d *dialect) serveModel(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Request-Id", streaming.LogOf(r).ID())
	name := r.PathValue("model")
	if slices.Contains(d.modelNames(), name) {
		streaming.WriteJSON(w, http.StatusOK, newModelInfo(name))
		return
	}
	streaming.WriteError(w, r, &streaming.Error{Status: http.StatusNotFound, Code: streaming.CodeNotFound, Param: "model",
		Message: fmt.Sprintf("model: %s is not a model this gateway serves", streaming.Truncate(name, 200))})
}
