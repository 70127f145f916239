package emulator

import (
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// kind is what a model does with a request.
type kind int

const (
	kindSteady kind = iota
	kindFast
	kindLong
	kindSlowStart
	kindThrottle
	kindMidstreamError
	kindTruncated
	kindTimestamp
	kindReasoning
	kindTools
	kindText
	kindImage
	kindEmbed
	kindEcho
	kindCode
)

// Model ids of the InvokeModel-only models. They are not in Models(),
// which lists the models that Converse and ConverseStream accept.
const (
	// ImageModelID takes a Titan Image Generator v2 / Nova Canvas
	// TEXT_IMAGE body and answers {"images": [base64 PNG, ...]}; see Image.
	ImageModelID = "emulator.image-v1"
	// EmbeddingModelID takes a Titan Text Embeddings v2 body and answers
	// {"embedding": [...], "inputTextTokenCount": n}; see Embedding.
	EmbeddingModelID = "emulator.embed-v1"
)

// Modalities and inference types, as the bedrock control plane spells them.
const (
	modalityText         = "TEXT"
	modalityImage        = "IMAGE"
	modalityEmbedding    = "EMBEDDING"
	inferenceOnDemand    = "ON_DEMAND"
	inferenceProvisioned = "PROVISIONED"
)

// model is one entry of the catalogue: what the model does, and what
// ListFoundationModels says about it.
type model struct {
	id             string
	kind           kind
	name           string   // modelName
	input          []string // inputModalities
	output         string   // the one output modality
	streaming      bool     // responseStreamingSupported
	inference      []string // inferenceTypesSupported
	customizations []string // customizationsSupported
}

// chat reports whether the model answers Converse, ConverseStream and
// Anthropic-messages bodies (every model but the image and embedding ones).
func (m *model) chat() bool { return m.kind != kindImage && m.kind != kindEmbed }

var (
	textIn        = []string{modalityText}
	textImageIn   = []string{modalityText, modalityImage}
	onDemand      = []string{inferenceOnDemand}
	bothInference = []string{inferenceOnDemand, inferenceProvisioned}
)

// modelTable is the emulator's catalogue. It is read-only after
// initialisation, so it is shared by all Emulators without locking.
//
// Lengths: steady-v1, fast-v1 and slow-start-v1 send their natural answer
// (40..120 words) or stop at maxTokens; code-v1 its answer with code
// (CodeMinDeltas to about 1,800 pieces, at the steady pace); timestamp-v1 sends exactly
// maxTokens deltas when the request sets maxTokens (up to
// maxTimestampDeltas; stop reason max_tokens), so that a latency benchmark
// can ask for a stream of any length, and the natural length otherwise.
var modelTable = [...]model{
	{"emulator.steady-v1", kindSteady, "Emulator Steady", textImageIn, modalityText, true, bothInference, nil},
	{"emulator.fast-v1", kindFast, "Emulator Fast", textImageIn, modalityText, true, onDemand, nil},
	{"emulator.long-v1", kindLong, "Emulator Long", textImageIn, modalityText, true, onDemand, nil},
	{"emulator.slow-start-v1", kindSlowStart, "Emulator Slow Start", textImageIn, modalityText, true, onDemand, nil},
	{"emulator.throttle-v1", kindThrottle, "Emulator Throttle", textImageIn, modalityText, true, onDemand, nil},
	{"emulator.midstream-error-v1", kindMidstreamError, "Emulator Midstream Error", textImageIn, modalityText, true, onDemand, nil},
	{"emulator.truncated-v1", kindTruncated, "Emulator Truncated", textImageIn, modalityText, true, onDemand, nil},
	{"emulator.timestamp-v1", kindTimestamp, "Emulator Timestamp", textImageIn, modalityText, true, onDemand, nil},
	{"emulator.reasoning-v1", kindReasoning, "Emulator Reasoning", textImageIn, modalityText, true, onDemand, nil},
	{"emulator.tools-v1", kindTools, "Emulator Tools", textImageIn, modalityText, true, onDemand, nil},
	{"emulator.echo-v1", kindEcho, "Emulator Echo", textImageIn, modalityText, true, onDemand, nil},
	{"emulator.code-v1", kindCode, "Emulator Code", textImageIn, modalityText, true, onDemand, nil},
	{"emulator.text-v1", kindText, "Emulator Text", textIn, modalityText, true, bothInference, []string{"FINE_TUNING", "CONTINUED_PRE_TRAINING"}},
	{ImageModelID, kindImage, "Emulator Image Generator", textIn, modalityImage, false, bothInference, []string{"FINE_TUNING"}},
	{EmbeddingModelID, kindEmbed, "Emulator Text Embeddings", textIn, modalityEmbedding, false, onDemand, nil},
}

const (
	// minWords and maxWords bound the natural length of a steady answer.
	minWords = 40
	maxWords = 120
	// longAnswerBytes is the size of emulator.long-v1's answer: on the
	// scale of a long real Claude answer.
	longAnswerBytes = 52 * 1024
	// failAfter is how many deltas the failing models send before failing.
	failAfter = 5
	// maxTimestampDeltas bounds the deltas timestamp-v1 sends for a large
	// maxTokens (about an hour at 50 a second), so that a request cannot
	// make the emulator allocate without limit.
	maxTimestampDeltas = 200000
)

// Stop reasons, as Bedrock spells them.
const (
	stopEndTurn      = "end_turn"
	stopMaxTokens    = "max_tokens"
	stopStopSequence = "stop_sequence"
	stopToolUse      = "tool_use"
)

// inferenceProfilePrefixes are the geographic prefixes of cross-region
// inference profile ids ("us.anthropic..."); the emulator accepts them in
// front of its own ids so that profile-shaped ids can be tested.
var inferenceProfilePrefixes = [...]string{"us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca.", "global."}

// Models lists the ids of the emulator's models that Converse and
// ConverseStream accept (all but ImageModelID and EmbeddingModelID), for
// allowlists and for the local-mode default. Besides these exact ids, a
// request may name a model
// with a version suffix (":0"), a geographic inference-profile prefix
// ("us."), or as a Bedrock foundation-model or inference-profile ARN whose
// resource id is one of these (for example
// "arn:aws:bedrock:us-east-1::foundation-model/emulator.fast-v1").
func Models() []string {
	var ids []string
	for i := range modelTable {
		if modelTable[i].chat() {
			ids = append(ids, modelTable[i].id)
		}
	}
	return ids
}

// resolveModel maps a requested model id, inference profile id or ARN to
// the model's kind.
func resolveModel(id string) (kind, bool) {
	m := lookupModel(id)
	if m == nil {
		return 0, false
	}
	return m.kind, true
}

// lookupModel maps a requested model id, inference profile id or ARN to
// its catalogue entry, or nil.
func lookupModel(id string) *model {
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 6)
		if len(parts) != 6 || parts[2] != "bedrock" {
			return nil
		}
		typ, rest, ok := strings.Cut(parts[5], "/")
		if !ok || (typ != "foundation-model" && typ != "inference-profile") {
			return nil
		}
		id = rest
	}
	for _, p := range inferenceProfilePrefixes {
		if strings.HasPrefix(id, p) {
			id = id[len(p):]
			break
		}
	}
	if i := strings.LastIndexByte(id, ':'); i >= 0 && isDigits(id[i+1:]) {
		id = id[:i]
	}
	for i := range modelTable {
		if modelTable[i].id == id {
			return &modelTable[i]
		}
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Answer returns the delta texts a model would stream for prompt with
// maxTokens (0 = no cap), and the stop reason, so that tests can compute
// the expected text without copying the generator. strings.Join(deltas, "")
// is the whole answer text.
//
// Convention: one word a delta. Each delta is a word followed by one space,
// except where a sentence ends ("word. ") and the very last word of the
// natural answer, which ends with "." and no space. The first word of each
// sentence is capitalised. A max_tokens cut simply stops early, so a capped
// answer is a prefix of the uncapped one (and usually ends with a space).
//
// code-v1 answers with Markdown and fenced code, one word-ish piece a
// delta, most of them with a character JSON escapes (see codeAnswer).
// steady-v1, fast-v1, slow-start-v1, timestamp-v1, text-v1 and tools-v1
// (without tools) share one answer (40..120 words, from a hash of the
// prompt), except that timestamp-v1 with maxTokens set sends exactly
// maxTokens deltas (up to 200000); long-v1 is about 52 KB. For
// reasoning-v1 the result is the answer block that follows the reasoning
// (see Reasoning), with the reasoning's deltas counted against maxTokens
// first (a cap inside the reasoning leaves no answer: nil, "max_tokens").
// For midstream-error-v1 and truncated-v1 the result is the deltas sent
// before the failure, with an empty stop reason. For timestamp-v1 (whose
// texts are send times), throttle-v1, the image and embedding models and
// unknown ids it is nil, "".
//
// The same answer is text-v1's outputText (InvokeModel with a Titan body,
// whose maxTokenCount defaults to 512) and the text of an Anthropic
// Messages answer on the text models. For tools-v1 with tools, see
// ToolCallFor and ToolResultAnswer.
func Answer(modelID, prompt string, maxTokens int) (deltas []string, stopReason string) {
	k, ok := resolveModel(modelID)
	if !ok || k == kindThrottle || k == kindTimestamp || k == kindImage || k == kindEmbed {
		return nil, ""
	}
	blocks, stop, _ := replyFor(k, &conversation{prompt: prompt, maxTokens: maxTokens})
	for _, b := range blocks {
		if b.typ == blockText {
			return b.deltas, stop
		}
	}
	return nil, stop
}

// answerFor is Answer with stop sequences. A stop sequence matches a word
// when it equals the word as sent without its trailing ". " (so the first
// word of a sentence matches only in its capitalised form); the matching
// word is not sent.
func answerFor(k kind, prompt string, maxTokens int, stopSequences []string) ([]string, string) {
	if k == kindThrottle {
		return nil, ""
	}
	if k == kindTimestamp && maxTokens > 0 {
		// Only the count matters: the texts are send times.
		if maxTokens > maxTimestampDeltas {
			return make([]string, maxTimestampDeltas), stopEndTurn
		}
		return make([]string, maxTokens), stopMaxTokens
	}
	full := fullAnswer(k, prompt)
	deltas, stop := full, stopEndTurn
	for i, d := range full {
		if maxTokens > 0 && i == maxTokens {
			deltas, stop = full[:i], stopMaxTokens
			break
		}
		if matchesStop(d, stopSequences) {
			deltas, stop = full[:i], stopStopSequence
			break
		}
	}
	if k == kindMidstreamError || k == kindTruncated {
		if len(deltas) > failAfter {
			deltas = deltas[:failAfter]
		}
		stop = ""
	}
	return deltas, stop
}

func matchesStop(delta string, stopSequences []string) bool {
	if len(stopSequences) == 0 {
		return false
	}
	word := stripWord(delta)
	for _, s := range stopSequences {
		if s != "" && s == word {
			return true
		}
	}
	return false
}

// stripWord is a delta without its trailing ". ".
func stripWord(delta string) string { return strings.TrimRight(delta, ". ") }

// echoWords splits a prompt for echo-v1: each delta a run of non-space
// characters with the spaces after it, so that the deltas join to the
// prompt (less any leading spaces).
var echoWords = regexp.MustCompile(`\S+\s*`)

// fullAnswer is the uncapped answer of model kind k: echo-v1 repeats the
// prompt, markup and all (a chat UI's rendering can be tested with model
// text it chooses); code-v1 answers with code; the others say their
// natural answer.
func fullAnswer(k kind, prompt string) []string {
	switch k {
	case kindEcho:
		return echoWords.FindAllString(prompt, -1)
	case kindCode:
		return codeAnswer(prompt)
	}
	return naturalAnswer(prompt, k == kindLong)
}

// naturalAnswer renders the uncapped answer for prompt. The PRNG is seeded
// from the prompt's FNV-1a hash, so the answer is a pure function of the
// prompt and of whether it is the long one.
func naturalAnswer(prompt string, long bool) []string {
	h := fnv.New64a()
	h.Write([]byte(prompt))
	seed := h.Sum64()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	n := minWords + int(seed%uint64(maxWords-minWords+1))
	var words []string
	var ends []bool
	size := 0
	left := 6 + rng.IntN(9)
	for {
		w := vocabulary[rng.IntN(len(vocabulary))]
		words = append(words, w)
		size += len(w) + 1
		left--
		ends = append(ends, left == 0)
		if left == 0 {
			left = 6 + rng.IntN(9)
			size++
		}
		if long && size >= longAnswerBytes || !long && len(words) == n {
			break
		}
	}
	ends[len(ends)-1] = true

	deltas := make([]string, len(words))
	for i, w := range words {
		if i == 0 || ends[i-1] {
			w = capitalize(w)
		}
		if ends[i] {
			w += "."
		}
		if i < len(words)-1 {
			w += " "
		}
		deltas[i] = w
	}
	return deltas
}

func capitalize(w string) string {
	r, size := utf8.DecodeRuneInString(w)
	return string(unicode.ToUpper(r)) + w[size:]
}

// vocabulary holds ordinary English words so that answers look like text
// in a chat UI. Read-only.
var vocabulary = [...]string{
	"the", "a", "an", "and", "or", "but", "so", "because", "while", "when",
	"this", "that", "these", "those", "it", "they", "we", "you", "our", "their",
	"is", "are", "was", "were", "will", "can", "could", "should", "would", "may",
	"answer", "question", "system", "stream", "token", "model", "request", "response", "message", "result",
	"time", "people", "way", "day", "world", "life", "work", "part", "place", "case",
	"point", "group", "number", "problem", "fact", "idea", "example", "reason", "detail", "step",
	"water", "river", "mountain", "garden", "window", "house", "city", "road", "light", "morning",
	"evening", "winter", "summer", "paper", "letter", "story", "history", "science", "music", "language",
	"good", "new", "first", "last", "long", "great", "little", "other", "old", "right",
	"big", "high", "different", "small", "large", "next", "early", "young", "important", "few",
	"simple", "clear", "quiet", "bright", "careful", "steady", "quick", "gentle", "useful", "common",
	"make", "take", "give", "find", "think", "tell", "become", "leave", "feel", "bring",
	"begin", "keep", "hold", "write", "stand", "hear", "let", "mean", "set", "meet",
	"run", "move", "live", "believe", "happen", "provide", "carry", "build", "follow", "explain",
	"often", "always", "never", "sometimes", "usually", "really", "almost", "already", "still", "soon",
	"here", "there", "now", "then", "together", "perhaps", "quite", "rather", "again", "also",
	"of", "in", "on", "at", "by", "with", "from", "about", "into", "over",
	"after", "before", "under", "between", "through", "during", "without", "around", "along", "across",
	"table", "chair", "door", "book", "friend", "teacher", "student", "family", "child", "voice",
	"color", "sound", "plan", "change", "interest", "order", "minute", "hour", "moment", "season",
}
