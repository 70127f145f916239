package bedrockapi

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"

	"github.com/streamgate/streamgate/streaming"
)

// maxProfilePages bounds the pages of ListInferenceProfiles one request
// reads.
const maxProfilePages = 20

// profile is one InferenceProfileSummary as Bedrock's REST JSON writes it.
type profile struct {
	InferenceProfileName string         `json:"inferenceProfileName"`
	Description          string         `json:"description,omitempty"`
	CreatedAt            string         `json:"createdAt,omitempty"`
	UpdatedAt            string         `json:"updatedAt,omitempty"`
	InferenceProfileArn  string         `json:"inferenceProfileArn"`
	Models               []profileModel `json:"models"`
	InferenceProfileID   string         `json:"inferenceProfileId"`
	Status               string         `json:"status"`
	Type                 string         `json:"type"`
}

type profileModel struct {
	ModelArn string `json:"modelArn,omitempty"`
}

// serveInferenceProfiles answers the control plane's ListInferenceProfiles
// (GET /inference-profiles?type=SYSTEM_DEFINED|APPLICATION), which Claude
// Code's Bedrock mode calls first: Bedrock's own list, of the profiles the
// allowlist names (by id or ARN), in one page.
func (d *dialect) serveInferenceProfiles(w http.ResponseWriter, r *http.Request) {
	control := d.h.Upstreams().Control
	if control == nil {
		streaming.WriteError(w, r, &streaming.Error{Status: http.StatusServiceUnavailable, Code: streaming.CodeNotConfigured,
			Message: "this gateway has no Bedrock control-plane client"})
		return
	}
	typ := types.InferenceProfileType(r.URL.Query().Get("type"))
	if typ != "" && !slices.Contains(typ.Values(), typ) {
		streaming.WriteError(w, r, streaming.InvalidParam("type", "type must be SYSTEM_DEFINED or APPLICATION"))
		return
	}
	allowed := d.h.Config().AllowedModels
	out := []profile{}
	if e := d.h.UpstreamCall(r, func(ctx context.Context) error {
		p := bedrock.NewListInferenceProfilesPaginator(control, &bedrock.ListInferenceProfilesInput{TypeEquals: typ})
		for page := 0; p.HasMorePages() && page < maxProfilePages; page++ {
			res, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, s := range res.InferenceProfileSummaries {
				if !slices.Contains(allowed, deref(s.InferenceProfileId)) && !slices.Contains(allowed, deref(s.InferenceProfileArn)) {
					continue
				}
				pr := profile{
					InferenceProfileName: deref(s.InferenceProfileName), Description: deref(s.Description),
					CreatedAt: timestamp(s.CreatedAt), UpdatedAt: timestamp(s.UpdatedAt),
					InferenceProfileArn: deref(s.InferenceProfileArn), InferenceProfileID: deref(s.InferenceProfileId),
					Status: string(s.Status), Type: string(s.Type), Models: []profileModel{},
				}
				for _, m := range s.Models {
					pr.Models = append(pr.Models, profileModel{ModelArn: deref(m.ModelArn)})
				}
				out = append(out, pr)
			}
		}
		return nil
	}); e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	streaming.WriteJSON(w, http.StatusOK, map[string]any{"inferenceProfileSummaries": out})
}

func timestamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
