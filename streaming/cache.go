package streaming

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// Prompt caching (PROMPT_CACHE=auto): a cachePoint after the system prompt
// and one after the tools, so that a conversation's unchanging prefix is
// billed as cache reads from the second call on. Bedrock caches for these
// models only (its prompt caching guide); others get the call unchanged.
// Explicit cache points (Anthropic clients' cache_control) pass through
// either way.

// cachingModels are the model ids (after a cross-Region profile's prefix)
// that take cache points, by prefix, and whether they take one after the
// tools too (Amazon Nova caches the system prompt and messages only).
var cachingModels = []struct {
	prefix string
	tools  bool
}{
	{"anthropic.claude-3-7-sonnet", true},
	{"anthropic.claude-3-5-haiku", true},
	{"anthropic.claude-sonnet-4", true},
	{"anthropic.claude-opus-4", true},
	{"anthropic.claude-haiku-4", true},
	{"amazon.nova-micro", false},
	{"amazon.nova-lite", false},
	{"amazon.nova-pro", false},
	{"amazon.nova-premier", false},
	{"emulator.", true}, // the emulator's chat models cache as Claude does
}

// maxCachePoints is Bedrock's limit on the cache points of one request.
const maxCachePoints = 4

// cacheSupport says whether modelID takes cache points, and after the
// tools too.
func cacheSupport(modelID string) (system, tools bool) {
	id := modelID
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:] // an ARN: the model or profile id at its end
	}
	for _, m := range cachingModels {
		if i := strings.Index(id, m.prefix); i == 0 || i > 0 && id[i-1] == '.' {
			return true, m.tools
		}
	}
	return false, false
}

// withCachePoints returns system and tools with PROMPT_CACHE's cache
// points added, as new slices (the Call is not changed: a fallback model
// may take other points). Points already there, and Bedrock's limit of
// four a request, are respected.
func (h *Handler) withCachePoints(c *Call) ([]types.SystemContentBlock, *types.ToolConfiguration) {
	system, tools := c.System, c.Tools
	if h.cfg.PromptCache != "auto" {
		return system, tools
	}
	cacheSystem, cacheTools := cacheSupport(c.ModelID)
	if !cacheSystem {
		return system, tools
	}
	points := countCachePoints(c)
	point := types.CachePointBlock{Type: types.CachePointTypeDefault}
	if n := len(system); n > 0 && points < maxCachePoints {
		if _, already := system[n-1].(*types.SystemContentBlockMemberCachePoint); !already {
			system = append(system[:n:n], &types.SystemContentBlockMemberCachePoint{Value: point})
			points++
		}
	}
	if cacheTools && tools != nil && len(tools.Tools) > 0 && points < maxCachePoints {
		if _, already := tools.Tools[len(tools.Tools)-1].(*types.ToolMemberCachePoint); !already {
			withPoint := *tools
			withPoint.Tools = append(tools.Tools[:len(tools.Tools):len(tools.Tools)], &types.ToolMemberCachePoint{Value: point})
			tools = &withPoint
		}
	}
	return system, tools
}

func countCachePoints(c *Call) int {
	n := 0
	for _, b := range c.System {
		if _, ok := b.(*types.SystemContentBlockMemberCachePoint); ok {
			n++
		}
	}
	if c.Tools != nil {
		for _, t := range c.Tools.Tools {
			if _, ok := t.(*types.ToolMemberCachePoint); ok {
				n++
			}
		}
	}
	for _, m := range c.Messages {
		for _, b := range m.Content {
			if _, ok := b.(*types.ContentBlockMemberCachePoint); ok {
				n++
			}
		}
	}
	return n
}
