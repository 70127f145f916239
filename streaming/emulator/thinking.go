package emulator

import (
	"crypto/sha256"
	"encoding/base64"
)

// Thinking blocks sent back, checked as Claude checks them: reasoning
// only in assistant messages and before anything else there; each
// reasoning text with the signature the model gave it (reasoning-v1 signs
// what it thinks, see Reasoning, and a signature that does not match the
// text is refused, as Claude refuses a thinking block that was altered);
// and, with thinking on, a final assistant message that calls tools must
// start with its thinking (the tool loop of extended thinking).

// msgBlock is one content block of a message, as the checks see it,
// whatever the request's shape (Converse or an Anthropic body).
type msgBlock struct {
	kind      string // "thinking", "redacted_thinking", "tool_use", "tool_result" or "other"
	text      string // thinking: the reasoning text
	signature string
}

// signatureOf is the signature reasoning-v1 gives a reasoning text.
func signatureOf(text string) string {
	sum := sha256.Sum256([]byte("emulator reasoning signature\x00" + text))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// checkThinkingBlocks applies the rules above to messages (roles and
// blocks); thinkingOn says the request enabled thinking.
func checkThinkingBlocks(roles []string, messages [][]msgBlock, thinkingOn bool) error {
	lastAssistant := -1
	for i, blocks := range messages {
		if roles[i] == "assistant" {
			lastAssistant = i
		}
		seenOther := false
		for j, b := range blocks {
			switch b.kind {
			case "cache_point":
			case "thinking", "redacted_thinking":
				if roles[i] != "assistant" {
					return invalidf("messages.%d.content.%d.type: `%s` blocks may only appear in `assistant` messages", i, j, b.kind)
				}
				if seenOther {
					return invalidf("messages.%d.content.%d: `%s` blocks must come before any other content of an `assistant` message", i, j, b.kind)
				}
				if b.kind == "thinking" && (b.signature == "" || b.signature != signatureOf(b.text)) {
					return invalidf("messages.%d.content.%d: Invalid `signature` in `thinking` block", i, j)
				}
			default:
				seenOther = true
			}
		}
	}
	if !thinkingOn || lastAssistant < 0 || lastAssistant+1 >= len(messages) {
		return nil
	}
	usesTools := false
	for _, b := range messages[lastAssistant] {
		usesTools = usesTools || b.kind == "tool_use"
	}
	answered := false
	for _, b := range messages[lastAssistant+1] {
		answered = answered || b.kind == "tool_result"
	}
	if usesTools && answered {
		if first := messages[lastAssistant][0].kind; first != "thinking" && first != "redacted_thinking" {
			return invalidf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`.", lastAssistant, first)
		}
	}
	return nil
}

// kindOfAnthropic is an Anthropic block's kind for the checks.
func kindOfAnthropic(b *anthropicBlock) msgBlock {
	switch b.Type {
	case "thinking":
		text := ""
		if b.Thinking != nil {
			text = *b.Thinking
		}
		return msgBlock{kind: "thinking", text: text, signature: b.Signature}
	case "redacted_thinking", "tool_use", "tool_result":
		return msgBlock{kind: b.Type}
	}
	return msgBlock{kind: "other"}
}

// kindOfConverse is a Converse block's kind for the checks.
func kindOfConverse(c *contentBlock) msgBlock {
	switch {
	case c.ReasoningContent != nil && c.ReasoningContent.ReasoningText != nil:
		rt := c.ReasoningContent.ReasoningText
		return msgBlock{kind: "thinking", text: rt.Text, signature: rt.Signature}
	case c.ReasoningContent != nil:
		return msgBlock{kind: "redacted_thinking"}
	case c.ToolUse != nil:
		return msgBlock{kind: "tool_use"}
	case c.ToolResult != nil:
		return msgBlock{kind: "tool_result"}
	case c.CachePoint != nil:
		return msgBlock{kind: "cache_point"}
	}
	return msgBlock{kind: "other"}
}

// thinkingEnabled reads {"thinking": {"type": ...}} from additional model
// request fields or an Anthropic body: enabled or adaptive.
func thinkingEnabled(typ string) bool { return typ == "enabled" || typ == "adaptive" }
