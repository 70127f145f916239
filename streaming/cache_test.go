package streaming

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// TestCacheSupport: the documented models take cache points (with the
// tools or not), through cross-Region profiles and ARNs; others do not.
func TestCacheSupport(t *testing.T) {
	for id, want := range map[string][2]bool{
		"us.anthropic.claude-sonnet-4-5-20250929-v1:0":                                               {true, true},
		"anthropic.claude-3-7-sonnet-20250219-v1:0":                                                  {true, true},
		"global.anthropic.claude-haiku-4-5-20251001-v1:0":                                            {true, true},
		"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-1-v1:0": {true, true},
		"us.amazon.nova-pro-v1:0":                                                                    {true, false},
		"anthropic.claude-3-5-sonnet-20241022-v2:0":                                                  {false, false},
		"meta.llama3-70b-instruct-v1:0":                                                              {false, false},
		"emulator.steady-v1":                                                                         {true, true},
		"us.anthropic.claude-instant-v1":                                                             {false, false},
	} {
		s, tl := cacheSupport(id)
		if [2]bool{s, tl} != want {
			t.Errorf("cacheSupport(%q) = %v, %v; want %v", id, s, tl, want)
		}
	}
}

// TestWithCachePoints: PROMPT_CACHE=auto adds a point after the system
// prompt and after the tools, never twice, never beyond Bedrock's four,
// and leaves the Call as it was.
func TestWithCachePoints(t *testing.T) {
	point := types.CachePointBlock{Type: types.CachePointTypeDefault}
	sys := []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "rules"}}
	tools := &types.ToolConfiguration{Tools: []types.Tool{&types.ToolMemberToolSpec{}}}
	msgPoints := func(n int) []types.Message {
		var content []types.ContentBlock
		for range n {
			content = append(content, &types.ContentBlockMemberText{Value: "x"}, &types.ContentBlockMemberCachePoint{Value: point})
		}
		return []types.Message{{Role: types.ConversationRoleUser, Content: content}}
	}
	tests := []struct {
		name                  string
		cache, model          string
		messages              []types.Message
		wantSystem, wantTools int // blocks after the transform
	}{
		{"off", "", "emulator.steady-v1", msgPoints(0), 1, 1},
		{"auto, Claude", "auto", "us.anthropic.claude-sonnet-4-20250514-v1:0", msgPoints(0), 2, 2},
		{"auto, Nova: no point after the tools", "auto", "us.amazon.nova-lite-v1:0", msgPoints(0), 2, 1},
		{"auto, a model that does not cache", "auto", "meta.llama3-70b-instruct-v1:0", msgPoints(0), 1, 1},
		{"three points already: one more fits", "auto", "emulator.steady-v1", msgPoints(3), 2, 1},
		{"four already: none", "auto", "emulator.steady-v1", msgPoints(4), 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Handler{cfg: Config{PromptCache: tt.cache}}
			c := &Call{ModelID: tt.model, System: sys, Tools: tools, Messages: tt.messages}
			gotSys, gotTools := h.withCachePoints(c)
			if len(gotSys) != tt.wantSystem || len(gotTools.Tools) != tt.wantTools {
				t.Errorf("system %d blocks, tools %d; want %d and %d", len(gotSys), len(gotTools.Tools), tt.wantSystem, tt.wantTools)
			}
			if len(c.System) != 1 || len(c.Tools.Tools) != 1 {
				t.Errorf("the Call was changed")
			}
			again := &Call{ModelID: tt.model, System: gotSys, Tools: gotTools, Messages: tt.messages}
			if s2, t2 := h.withCachePoints(again); len(s2) != len(gotSys) || len(t2.Tools) != len(gotTools.Tools) {
				t.Errorf("a second pass added points after points")
			}
		})
	}
}
