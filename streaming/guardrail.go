package streaming

import (
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// StopGuardrail is Bedrock's stop reason of an answer its guardrail ended:
// OpenAI's finish_reason "content_filter", Anthropic's "refusal".
const StopGuardrail = "guardrail_intervened"

// streamInput is c as ConverseStream takes it, with the operator's
// guardrail (GUARDRAIL_ID) attached and PROMPT_CACHE's cache points added.
func (h *Handler) streamInput(c *Call) *bedrockruntime.ConverseStreamInput {
	in := c.streamInput()
	in.System, in.ToolConfig = h.withCachePoints(c)
	if g := h.cfg.Guardrail; g != nil {
		in.GuardrailConfig = &types.GuardrailStreamConfiguration{
			GuardrailIdentifier:  aws.String(g.ID),
			GuardrailVersion:     aws.String(g.Version),
			StreamProcessingMode: types.GuardrailStreamProcessingMode(g.StreamMode),
			// The trace says which policy acted, for the log line; what
			// it matched is never logged.
			Trace: types.GuardrailTraceEnabled,
		}
	}
	return in
}

// converseInput is c as Converse takes it, with the guardrail attached and
// PROMPT_CACHE's cache points added.
func (h *Handler) converseInput(c *Call) *bedrockruntime.ConverseInput {
	in := c.converseInput()
	in.System, in.ToolConfig = h.withCachePoints(c)
	if g := h.cfg.Guardrail; g != nil {
		in.GuardrailConfig = &types.GuardrailConfiguration{
			GuardrailIdentifier: aws.String(g.ID),
			GuardrailVersion:    aws.String(g.Version),
			Trace:               types.GuardrailTraceEnabled,
		}
	}
	return in
}

// guardrailAction is what the log line says of a guardrail that acted:
// "intervened", and where and by which policies ("input: word"), from its
// trace. Never what it matched.
func guardrailAction(t *types.GuardrailTraceAssessment) string {
	if t == nil {
		return "intervened"
	}
	var where []string
	if names := policies(mapsValues(t.InputAssessment)); names != "" {
		where = append(where, "input: "+names)
	}
	var out []types.GuardrailAssessment
	for _, list := range t.OutputAssessments {
		out = append(out, list...)
	}
	if names := policies(out); names != "" {
		where = append(where, "output: "+names)
	}
	if len(where) == 0 {
		return "intervened"
	}
	return "intervened (" + strings.Join(where, "; ") + ")"
}

func mapsValues(m map[string]types.GuardrailAssessment) []types.GuardrailAssessment {
	out := make([]types.GuardrailAssessment, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// policies names the policies that assessed something.
func policies(as []types.GuardrailAssessment) string {
	var names []string
	add := func(present bool, name string) {
		if present && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, a := range as {
		add(a.WordPolicy != nil, "word")
		add(a.ContentPolicy != nil, "content")
		add(a.TopicPolicy != nil, "topic")
		add(a.SensitiveInformationPolicy != nil, "sensitive-information")
		add(a.ContextualGroundingPolicy != nil, "contextual-grounding")
		add(a.AutomatedReasoningPolicy != nil, "automated-reasoning")
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
