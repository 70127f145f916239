package emulator

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// conversation is what every request shape (Converse, ConverseStream, an
// Anthropic-messages or a Titan-text InvokeModel body) boils down to once
// it is validated: all a model needs to plan its answer.
type conversation struct {
	prompt        string // the text of the last user message
	inputTokens   int
	maxTokens     int // 0: no cap
	stopSequences []string
	tools         []toolSpec // nil without a toolConfig (or Anthropic tools)
	toolChoice    toolChoice
	toolResults   []toolResult // the toolResult blocks of the last user message
	noReasoning   bool         // thinking explicitly disabled
	guardrail     *guardrail   // the request's guardrail (Converse and ConverseStream); nil = none
	// cacheRead and cacheWrite are the prompt's tokens read from the cache
	// and written to it (not counted in inputTokens).
	cacheRead, cacheWrite int
	cachePoints           []cachePointMark // an Anthropic body's, applied once the request is known to run
}

// blockType is the kind of one content block of an answer.
type blockType int

const (
	blockText blockType = iota
	blockReasoning
	blockToolUse
)

// block is one content block of an answer: its deltas are sent one at a
// time on the model's schedule.
type block struct {
	typ       blockType
	deltas    []string // text, reasoning text or tool-input JSON fragments
	signature string   // reasoning: sent after the last delta; "" when the block was cut
	toolUseID string
	toolName  string
}

// plan is the schedule of one answer.
type plan struct {
	kind         kind
	blocks       []block
	stopReason   string // "" for the failing models
	stopSequence string // the stop sequence that ended the answer, if one did
	initialDelay time.Duration
	interval     time.Duration
	nextWord     string // truncated-v1: the word in the frame cut in half
	// guardrailTrace is the guardrail's assessment when it intervened,
	// for the trace of the metadata event (or of the Converse answer).
	guardrailTrace map[string]any
}

// deltaCount is the number of deltas of the answer, which is also its
// output token count.
func (p *plan) deltaCount() int {
	n := 0
	for i := range p.blocks {
		n += len(p.blocks[i].deltas)
	}
	return n
}

// failing reports whether the answer ends in a failure rather than a stop.
func (p *plan) failing() bool { return p.kind == kindMidstreamError || p.kind == kindTruncated }

// replyFor decides what model k answers to conv: its blocks, stop reason
// and the stop sequence that ended it. It is the one place where the
// models' behaviour is defined; Answer, Reasoning and the tool helpers
// are views of it.
func replyFor(k kind, conv *conversation) (blocks []block, stopReason, stopSequence string) {
	switch {
	case k == kindReasoning && !conv.noReasoning && len(conv.toolResults) > 0:
		// The tool loop's second step: the thinking came before the call.
		text, stop := capDeltas(toolResultAnswer(conv.toolResults), conv.maxTokens, stopEndTurn)
		return []block{{typ: blockText, deltas: text}}, stop, ""
	case k == kindReasoning && !conv.noReasoning:
		reasoning, signature := reasoningFor(conv.prompt)
		if conv.maxTokens > 0 && conv.maxTokens <= len(reasoning) {
			return []block{{typ: blockReasoning, deltas: reasoning[:conv.maxTokens]}}, stopMaxTokens, ""
		}
		rest := 0
		if conv.maxTokens > 0 {
			rest = conv.maxTokens - len(reasoning)
		}
		if conv.tools != nil {
			// Thinking, then a tool call, as Claude does with tools.
			call := toolCallFor(conv.prompt, chooseTool(conv.prompt, conv.tools, conv.toolChoice))
			fragments, stop := capDeltas(call.Fragments, rest, stopToolUse)
			return []block{
				{typ: blockReasoning, deltas: reasoning, signature: signature},
				{typ: blockToolUse, deltas: fragments, toolUseID: call.ID, toolName: call.Name},
			}, stop, ""
		}
		text, stop := answerFor(k, conv.prompt, rest, conv.stopSequences)
		return []block{
			{typ: blockReasoning, deltas: reasoning, signature: signature},
			{typ: blockText, deltas: text},
		}, stop, matchedStop(k, conv, text, stop)
	case k == kindTools && len(conv.toolResults) > 0:
		// Tool results are answered even when no tool may be called now
		// (Anthropic's tool_choice none).
		text, stop := capDeltas(toolResultAnswer(conv.toolResults), conv.maxTokens, stopEndTurn)
		return []block{{typ: blockText, deltas: text}}, stop, ""
	case k == kindTools && conv.tools != nil:
		call := toolCallFor(conv.prompt, chooseTool(conv.prompt, conv.tools, conv.toolChoice))
		fragments, stop := capDeltas(call.Fragments, conv.maxTokens, stopToolUse)
		return []block{{typ: blockToolUse, deltas: fragments, toolUseID: call.ID, toolName: call.Name}}, stop, ""
	}
	text, stop := answerFor(k, conv.prompt, conv.maxTokens, conv.stopSequences)
	return []block{{typ: blockText, deltas: text}}, stop, matchedStop(k, conv, text, stop)
}

// capDeltas cuts deltas at maxTokens (0: no cap).
func capDeltas(deltas []string, maxTokens int, stop string) ([]string, string) {
	if maxTokens > 0 && len(deltas) > maxTokens {
		return deltas[:maxTokens], stopMaxTokens
	}
	return deltas, stop
}

// matchedStop names the stop sequence that ended an answer (Anthropic's
// stop_sequence field): the word that would have come next.
func matchedStop(k kind, conv *conversation, sent []string, stop string) string {
	if stop != stopStopSequence {
		return ""
	}
	full := fullAnswer(k, conv.prompt)
	// sent is a prefix of the full answer (after any reasoning).
	if len(sent) < len(full) {
		return stripWord(full[len(sent)])
	}
	return ""
}

// plan turns a reply into a schedule with the emulator's timing.
func (e *Emulator) plan(k kind, conv *conversation) plan {
	p := plan{kind: k}
	p.blocks, p.stopReason, p.stopSequence = replyFor(k, conv)
	switch k {
	case kindFast:
	case kindLong:
		p.interval = e.long / time.Duration(len(naturalAnswer(conv.prompt, true)))
	case kindSlowStart:
		p.initialDelay = e.slowStart
		p.interval = e.interval
	default:
		p.interval = e.interval
	}
	if conv.guardrail != nil && !p.failing() {
		applyGuardrail(&p, conv.guardrail)
	}
	if k == kindTruncated {
		full := naturalAnswer(conv.prompt, false)
		p.nextWord = "cut"
		if n := p.deltaCount(); len(full) > n {
			p.nextWord = full[n]
		}
	}
	return p
}

// renderer writes an answer in one wire format as generate produces it.
type renderer interface {
	blockStart(index int, b *block) error
	delta(index int, b *block, text string) error
	// blockStop ends a block (a reasoning block's signature goes here).
	// It is not called for the last block of a failing answer.
	blockStop(index int, b *block) error
}

// generate produces p's deltas at their scheduled times: the first after
// initialDelay, then one every interval, on an absolute schedule so that
// slow writes do not make the stream drift. It stops at once when ctx
// ends. sent is called after each delta with the number sent so far.
func generate(ctx context.Context, p *plan, r renderer, sentSoFar func(int)) (sent int, err error) {
	if err := sleep(ctx, p.initialDelay); err != nil {
		return 0, err
	}
	first := time.Now()
	for bi := range p.blocks {
		b := &p.blocks[bi]
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		if err := r.blockStart(bi, b); err != nil {
			return sent, err
		}
		for _, text := range b.deltas {
			if sent > 0 && p.interval > 0 {
				if err := sleep(ctx, time.Until(first.Add(time.Duration(sent)*p.interval))); err != nil {
					return sent, err
				}
			}
			if err := ctx.Err(); err != nil {
				return sent, err
			}
			if p.kind == kindTimestamp {
				text = "t" + strconv.FormatInt(time.Now().UnixNano(), 10) + " "
			}
			if err := r.delta(bi, b, text); err != nil {
				return sent, err
			}
			sent++
			if sentSoFar != nil {
				sentSoFar(sent)
			}
		}
		if bi == len(p.blocks)-1 && p.failing() {
			break
		}
		if err := r.blockStop(bi, b); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// collector is the renderer of the non-streaming operations: it gathers
// each block's text.
type collector struct {
	texts []*strings.Builder
}

func (c *collector) blockStart(int, *block) error {
	c.texts = append(c.texts, new(strings.Builder))
	return nil
}

func (c *collector) delta(i int, _ *block, text string) error {
	c.texts[i].WriteString(text)
	return nil
}

func (c *collector) blockStop(int, *block) error { return nil }

// text is block i's text so far ("" for a block never started).
func (c *collector) text(i int) string {
	if i < len(c.texts) {
		return c.texts[i].String()
	}
	return ""
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
