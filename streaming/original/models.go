package original

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	bedrocktypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"

	"github.com/streamgate/streamgate/streaming"
)

// foundationModel is one entry of GET /models.
type foundationModel struct {
	ModelID          string   `json:"modelId"`
	ModelName        string   `json:"modelName"`
	Provider         string   `json:"provider"`
	InputModalities  []string `json:"inputModalities"`
	OutputModalities []string `json:"outputModalities"`
	Streaming        bool     `json:"streaming"`
	// Allowed says whether ALLOWED_MODELS lets a caller use the model
	// (directly, or through an allowed inference profile of it).
	Allowed bool `json:"allowed"`
}

// modelsCache keeps Bedrock's answers to ListFoundationModels for
// MODELS_CACHE_SECONDS, one per combination of filters.
type modelsCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]modelsEntry
}

type modelsEntry struct {
	models  []foundationModel
	fetched time.Time
}

// maxModelsCacheEntries bounds the cache: provider is free text, so a
// caller could otherwise fill it with filters.
const maxModelsCacheEntries = 256

func newModelsCache(ttl time.Duration) *modelsCache {
	return &modelsCache{ttl: ttl, entries: map[string]modelsEntry{}}
}

func (c *modelsCache) get(key string) ([]foundationModel, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || time.Since(e.fetched) >= c.ttl {
		return nil, false
	}
	return e.models, true
}

func (c *modelsCache) put(key string, models []foundationModel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxModelsCacheEntries {
		for k, e := range c.entries {
			if time.Since(e.fetched) >= c.ttl {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxModelsCacheEntries {
			clear(c.entries)
		}
	}
	c.entries[key] = modelsEntry{models, time.Now()}
}

var (
	outputModalities = []string{"TEXT", "IMAGE", "EMBEDDING"}
	inferenceTypes   = []string{"ON_DEMAND", "PROVISIONED"}
)

// serveModels answers GET /models: Bedrock's foundation models, filtered
// by provider, outputModality and inferenceType, each marked with whether
// this gateway allows it.
func (d *dialect) serveModels(w http.ResponseWriter, r *http.Request) {
	control := d.h.Upstreams().Control
	in, e := listModelsInput(r)
	if e == nil && control == nil {
		e = &streaming.Error{Status: http.StatusServiceUnavailable, Code: streaming.CodeNotConfigured, Message: "model listing is not configured on this gateway"}
	}
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	key := fmt.Sprintf("%s|%s|%s", aws.ToString(in.ByProvider), in.ByOutputModality, in.ByInferenceType)
	models, cached := d.models.get(key)
	if !cached {
		var out *bedrock.ListFoundationModelsOutput
		if e := d.h.UpstreamCall(r, func(ctx context.Context) (err error) {
			out, err = control.ListFoundationModels(ctx, in)
			return err
		}); e != nil {
			streaming.WriteError(w, r, e)
			return
		}
		models = make([]foundationModel, 0, len(out.ModelSummaries))
		for _, m := range out.ModelSummaries {
			models = append(models, foundationModel{
				ModelID:          aws.ToString(m.ModelId),
				ModelName:        aws.ToString(m.ModelName),
				Provider:         aws.ToString(m.ProviderName),
				InputModalities:  modalities(m.InputModalities),
				OutputModalities: modalities(m.OutputModalities),
				Streaming:        aws.ToBool(m.ResponseStreamingSupported),
			})
		}
		d.models.put(key, models)
	}
	answer := make([]foundationModel, len(models))
	for i, m := range models {
		m.Allowed = d.h.Config().AllowsFoundationModel(m.ModelID)
		answer[i] = m
	}
	w.Header().Set("X-Cache", map[bool]string{true: "hit", false: "miss"}[cached])
	streaming.WriteJSON(w, http.StatusOK, map[string]any{"models": answer})
}

func modalities(in []bedrocktypes.ModelModality) []string {
	out := make([]string, len(in))
	for i, m := range in {
		out[i] = string(m)
	}
	return out
}

func listModelsInput(r *http.Request) (*bedrock.ListFoundationModelsInput, *streaming.Error) {
	in := &bedrock.ListFoundationModelsInput{}
	for name, values := range r.URL.Query() {
		if len(values) != 1 {
			return nil, streaming.InvalidParam(name, "give %s once", streaming.Truncate(name, 40))
		}
		v := strings.TrimSpace(values[0])
		switch name {
		case "provider":
			if v == "" || len(v) > 64 || strings.ContainsAny(v, "\x00\r\n") {
				return nil, streaming.InvalidParam(name, "provider must be 1 to 64 characters, such as Anthropic or Amazon")
			}
			in.ByProvider = aws.String(v)
		case "outputModality":
			v = strings.ToUpper(v)
			if !slices.Contains(outputModalities, v) {
				return nil, streaming.InvalidParam(name, "outputModality must be TEXT, IMAGE or EMBEDDING (got %q)", streaming.Truncate(values[0], 40))
			}
			in.ByOutputModality = bedrocktypes.ModelModality(v)
		case "inferenceType":
			v = strings.ToUpper(v)
			if !slices.Contains(inferenceTypes, v) {
				return nil, streaming.InvalidParam(name, "inferenceType must be ON_DEMAND or PROVISIONED (got %q)", streaming.Truncate(values[0], 40))
			}
			in.ByInferenceType = bedrocktypes.InferenceType(v)
		default:
			return nil, streaming.InvalidParam(name, "unknown query parameter %q; known: provider, outputModality, inferenceType", streaming.Truncate(name, 40))
		}
	}
	return in, nil
}
