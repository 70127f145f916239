package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"hash"
	"strings"
	"time"
)

// Prompt caching, as Bedrock reports it. A request marks cache points:
// Converse with cachePoint blocks among its tools, system blocks and
// message content, an Anthropic body with cache_control on a tool, a
// system block or a content block. Each point stands for the prefix before
// it, in the order tools, system, messages. The longest prefix the cache
// holds (for the same model, within its TTL) is read from the cache; the
// prefix of the last point, when longer, is written to it. The usage then
// reports cacheReadInputTokens (cache_read_input_tokens) and
// cacheWriteInputTokens (cache_creation_input_tokens) apart from
// inputTokens, which counts only the rest, as Bedrock does. A prefix's
// tokens are counted as inputTokens counts them (words of text). Unlike
// Claude, the emulator caches prefixes of any length (Claude needs 1,024
// tokens or more).

// cachePointMark is one cache point of a request: the hash of the prefix
// before it and that prefix's tokens.
type cachePointMark struct {
	key    [sha256.Size]byte
	tokens int
	ttl    time.Duration
}

// prefixWalker hashes a request's prefix block by block.
type prefixWalker struct {
	h      hash.Hash
	words  int
	points []cachePointMark
}

func newPrefixWalker(modelID string) *prefixWalker {
	w := &prefixWalker{h: sha256.New()}
	w.h.Write([]byte(modelID + "\x00"))
	return w
}

// block adds one block: its JSON without cache_control (a mark moved from
// one block to another between turns does not change the prefix), keys
// sorted, and its words.
func (w *prefixWalker) block(raw json.RawMessage, words int) {
	w.h.Write(canonicalBlock(raw))
	w.h.Write([]byte{0})
	w.words += words
}

func (w *prefixWalker) mark(ttl string) {
	var p cachePointMark
	copy(p.key[:], w.h.Sum(nil))
	p.tokens = w.words
	p.ttl = 5 * time.Minute
	if ttl == "1h" {
		p.ttl = time.Hour
	}
	w.points = append(w.points, p)
}

func canonicalBlock(raw json.RawMessage) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		var b bytes.Buffer
		if json.Compact(&b, raw) != nil {
			return raw
		}
		return b.Bytes()
	}
	delete(m, "cache_control")
	b, _ := json.Marshal(m) // map keys sorted
	return b
}

func textWords(s *string) int {
	if s == nil {
		return 0
	}
	return len(strings.Fields(*s))
}

// maxCacheEntries bounds the emulator's cache.
const maxCacheEntries = 10000

// applyCache looks the request's cache points up, writes the new ones, and
// moves the cached tokens out of conv.inputTokens.
func (e *Emulator) applyCache(conv *conversation, points []cachePointMark) {
	if len(points) == 0 {
		return
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cache == nil {
		e.cache = map[[sha256.Size]byte]time.Time{}
	}
	hit := -1
	for i := len(points) - 1; i >= 0; i-- {
		if exp, ok := e.cache[points[i].key]; ok && now.Before(exp) {
			hit = i
			break
		}
	}
	read := 0
	if hit >= 0 {
		read = points[hit].tokens
		e.cache[points[hit].key] = now.Add(points[hit].ttl) // a read refreshes the entry
	}
	write := 0
	if last := len(points) - 1; last > hit {
		write = points[last].tokens - read
	}
	if len(e.cache)+len(points) > maxCacheEntries {
		for k, exp := range e.cache {
			if !now.Before(exp) || len(e.cache) > maxCacheEntries/2 {
				delete(e.cache, k)
			}
		}
	}
	for _, p := range points[hit+1:] {
		e.cache[p.key] = now.Add(p.ttl)
	}
	conv.cacheRead, conv.cacheWrite = read, write
	conv.inputTokens -= read + write
}

// converseCachePoints walks a Converse body's tools, system blocks and
// messages for their cachePoint blocks.
func converseCachePoints(modelID string, body []byte) []cachePointMark {
	var req struct {
		ToolConfig *struct {
			Tools []json.RawMessage `json:"tools"`
		} `json:"toolConfig"`
		System   []json.RawMessage `json:"system"`
		Messages []struct {
			Role    string            `json:"role"`
			Content []json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	w := newPrefixWalker(modelID)
	visit := func(raw json.RawMessage) {
		var b struct {
			CachePoint *struct {
				TTL string `json:"ttl"`
			} `json:"cachePoint"`
			Text *string `json:"text"`
		}
		_ = json.Unmarshal(raw, &b)
		if b.CachePoint != nil {
			w.mark(b.CachePoint.TTL)
			return
		}
		w.block(raw, textWords(b.Text))
	}
	if req.ToolConfig != nil {
		for _, t := range req.ToolConfig.Tools {
			visit(t)
		}
	}
	for _, s := range req.System {
		visit(s)
	}
	for _, m := range req.Messages {
		w.block(json.RawMessage(`"`+m.Role+`"`), 0)
		for _, c := range m.Content {
			visit(c)
		}
	}
	return w.points
}

// anthropicCachePoints walks an Anthropic body's tools, system blocks and
// messages for their cache_control marks.
func anthropicCachePoints(modelID string, req *anthropicRequest, messages [][]anthropicBlock, raw [][]json.RawMessage) []cachePointMark {
	w := newPrefixWalker(modelID)
	visit := func(b json.RawMessage, words int) {
		var c struct {
			CacheControl *struct {
				TTL string `json:"ttl"`
			} `json:"cache_control"`
		}
		_ = json.Unmarshal(b, &c)
		w.block(b, words)
		if c.CacheControl != nil {
			w.mark(c.CacheControl.TTL)
		}
	}
	for _, t := range req.rawTools {
		visit(t, 0)
	}
	if len(req.System) > 0 {
		if bytes.HasPrefix(bytes.TrimSpace(req.System), []byte(`"`)) {
			var s string
			_ = json.Unmarshal(req.System, &s)
			w.block(req.System, len(strings.Fields(s)))
		} else {
			var blocks []json.RawMessage
			_ = json.Unmarshal(req.System, &blocks)
			for _, b := range blocks {
				var t struct {
					Text *string `json:"text"`
				}
				_ = json.Unmarshal(b, &t)
				visit(b, textWords(t.Text))
			}
		}
	}
	for i, m := range req.Messages {
		w.block(json.RawMessage(`"`+m.Role+`"`), 0)
		if raw[i] == nil { // a string content: one text block, no mark
			w.block(m.Content, len(strings.Fields(anthropicText(messages[i]))))
			continue
		}
		for j, b := range raw[i] {
			words := 0
			if messages[i][j].Type == "text" {
				words = textWords(messages[i][j].Text)
			}
			visit(b, words)
		}
	}
	return w.points
}
