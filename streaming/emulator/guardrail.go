package emulator

import (
	"regexp"
	"strings"
)

// The emulator's one guardrail, as GUARDRAIL_ID and GUARDRAIL_VERSION name
// it: it blocks the word "forbidden", in the user's text (the input) and in
// the answer (the output), as a Bedrock guardrail with a word filter does.
const (
	GuardrailID      = "emulator.guardrail-v1"
	GuardrailVersion = "1"
	// GuardrailMessage is what the guardrail answers instead: Bedrock's
	// default blocked-input and blocked-output messaging.
	GuardrailMessage = "Sorry, the model cannot answer this question."
	// StopGuardrail is the stop reason of an answer the guardrail ended.
	StopGuardrail = "guardrail_intervened"
)

// blockedWord is what the guardrail's word filter matches, as a word.
var blockedWord = regexp.MustCompile(`(?i)\bforbidden\b`)

// guardrailConfigJSON is Converse's guardrailConfig and ConverseStream's
// (which adds streamProcessingMode).
type guardrailConfigJSON struct {
	GuardrailIdentifier  string `json:"guardrailIdentifier"`
	GuardrailVersion     string `json:"guardrailVersion"`
	Trace                string `json:"trace"`
	StreamProcessingMode string `json:"streamProcessingMode"`
}

// guardrail is a request's guardrail and what it found in the input.
type guardrail struct {
	async        bool // streamProcessingMode async: text goes out before it is checked
	trace        bool // the request asked for the guardrail's trace
	inputBlocked bool
}

func parseGuardrail(g *guardrailConfigJSON) (*guardrail, error) {
	if g.GuardrailIdentifier != GuardrailID || g.GuardrailVersion != GuardrailVersion {
		return nil, invalidf("The guardrail identifier or version provided in the request does not exist.")
	}
	switch g.StreamProcessingMode {
	case "", "sync", "async":
	default:
		return nil, constraint(g.StreamProcessingMode, "guardrailConfig.streamProcessingMode", "a member of [sync, async]")
	}
	switch g.Trace {
	case "", "enabled", "disabled", "enabled_full":
	default:
		return nil, constraint(g.Trace, "guardrailConfig.trace", "a member of [enabled, disabled, enabled_full]")
	}
	return &guardrail{async: g.StreamProcessingMode == "async", trace: g.Trace == "enabled" || g.Trace == "enabled_full"}, nil
}

// wordAssessment is a guardrail assessment of the word filter's match.
func wordAssessment() map[string]any {
	return map[string]any{"wordPolicy": map[string]any{"customWords": []any{
		map[string]any{"match": "forbidden", "action": "BLOCKED", "detected": true},
	}}}
}

// applyGuardrail ends p as the guardrail would: a blocked input answers
// the guardrail's message alone; an answer whose text has the blocked word
// ends at that word (sync: the word is held back and the message sent
// instead; async: the word went out before the guardrail saw it).
func applyGuardrail(p *plan, g *guardrail) {
	if g.inputBlocked {
		p.blocks = []block{{typ: blockText, deltas: []string{GuardrailMessage}}}
		p.stopReason, p.stopSequence = StopGuardrail, ""
		p.guardrailTrace = map[string]any{"inputAssessment": map[string]any{GuardrailID: wordAssessment()}}
		return
	}
	for bi := range p.blocks {
		b := &p.blocks[bi]
		if b.typ != blockText {
			continue
		}
		for di, d := range b.deltas {
			if !blockedWord.MatchString(d) {
				continue
			}
			if g.async {
				b.deltas = b.deltas[:di+1]
			} else {
				b.deltas = append(b.deltas[:di:di], GuardrailMessage)
			}
			p.blocks = p.blocks[:bi+1]
			p.stopReason, p.stopSequence = StopGuardrail, ""
			p.guardrailTrace = map[string]any{"outputAssessments": map[string]any{GuardrailID: []any{wordAssessment()}}}
			return
		}
	}
}

// inputBlocked reports whether the user's text has the blocked word.
func inputBlocked(texts []string) bool {
	return blockedWord.MatchString(strings.Join(texts, "\n"))
}
