package emulator

import (
	"strings"
	"testing"
)

// TestGuardrail: the emulator's guardrail blocks the word in the user's
// text before the model answers, and in the answer where it appears,
// holding it back (sync) or not (async); another guardrail is unknown.
func TestGuardrail(t *testing.T) {
	answer := func(words ...string) plan {
		return plan{blocks: []block{
			{typ: blockReasoning, deltas: []string{"hmm "}},
			{typ: blockText, deltas: words},
			{typ: blockToolUse, deltas: []string{"{}"}},
		}, stopReason: "tool_use"}
	}
	tests := []struct {
		name      string
		g         guardrail
		p         plan
		wantText  string
		wantStop  string
		wantTrace string // "" = none
	}{
		{"input blocked", guardrail{inputBlocked: true}, answer("fine ", "words "), GuardrailMessage, StopGuardrail, "inputAssessment"},
		{"output, sync", guardrail{}, answer("this ", "is ", "Forbidden. ", "Really "), "this is " + GuardrailMessage, StopGuardrail, "outputAssessments"},
		{"output, async", guardrail{async: true}, answer("this ", "is ", "forbidden ", "really "), "this is forbidden ", StopGuardrail, "outputAssessments"},
		{"a word that only contains it", guardrail{}, answer("unforbiddenness "), "unforbiddenness ", "tool_use", ""},
		{"nothing to block", guardrail{}, answer("all ", "fine "), "all fine ", "tool_use", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			applyGuardrail(&p, &tt.g)
			var text string
			for _, b := range p.blocks {
				if b.typ == blockText {
					text = strings.Join(b.deltas, "")
				}
			}
			trace := ""
			for k := range p.guardrailTrace {
				trace = k
			}
			if text != tt.wantText || p.stopReason != tt.wantStop || trace != tt.wantTrace {
				t.Errorf("text %q, stop %q, trace %q; want %q, %q, %q", text, p.stopReason, trace, tt.wantText, tt.wantStop, tt.wantTrace)
			}
			if tt.wantStop == StopGuardrail && p.blocks[len(p.blocks)-1].typ != blockText {
				t.Errorf("blocks after the intervention were kept: %+v", p.blocks)
			}
		})
	}
	for _, bad := range []guardrailConfigJSON{
		{GuardrailIdentifier: "other", GuardrailVersion: "1"},
		{GuardrailIdentifier: GuardrailID, GuardrailVersion: "2"},
		{GuardrailIdentifier: GuardrailID, GuardrailVersion: "1", StreamProcessingMode: "later"},
	} {
		if _, err := parseGuardrail(&bad); err == nil {
			t.Errorf("parseGuardrail(%+v) accepted it", bad)
		}
	}
}
