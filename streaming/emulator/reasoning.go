package emulator

import "hash/fnv"

// Bounds of reasoning-v1's reasoning, in words (deltas).
const (
	minReasoningWords = 12
	maxReasoningWords = 36
)

// Reasoning returns what emulator.reasoning-v1 thinks before it answers
// prompt: the reasoning deltas (one word a delta, the convention of
// Answer), sent as reasoningContent text deltas of content block 0, and
// the signature sent after them as one reasoningContent signature delta.
// The answer itself follows in content block 1; Answer gives its deltas.
//
// With maxTokens set, the reasoning's deltas count first: a cap inside
// the reasoning ends the answer there with max_tokens, without a
// signature and without an answer block. Thinking disabled by the request
// (additionalModelRequestFields or the Anthropic body's
// {"thinking": {"type": "disabled"}}) leaves only the answer.
//
// With tools (a Converse toolConfig), reasoning-v1 thinks, then calls a
// tool as tools-v1 does (ToolCallFor; stop tool_use); given the tool's
// result, it answers as tools-v1 does (ToolResultAnswer), and, with
// thinking on, requires the assistant message before that result to start
// with the reasoning block it was given, signature intact, as Claude does.
func Reasoning(prompt string) (deltas []string, signature string) {
	return reasoningFor(prompt)
}

func reasoningFor(prompt string) ([]string, string) {
	seedText := "\x00reasoning\x00" + prompt
	h := fnv.New64a()
	h.Write([]byte(seedText))
	n := minReasoningWords + int(h.Sum64()%uint64(maxReasoningWords-minReasoningWords+1))
	words := naturalAnswer(seedText, false)[:n]
	deltas := make([]string, n)
	copy(deltas, words)
	deltas[n-1] = stripWord(deltas[n-1]) + "."
	text := ""
	for _, d := range deltas {
		text += d
	}
	return deltas, signatureOf(text)
}
