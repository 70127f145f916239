package emulator

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// invoke answers InvokeModel and InvokeModelWithResponseStream: the body's
// shape is the model's (Titan text for text-v1, Titan image for image-v1,
// Titan embeddings for embed-v1, Anthropic Messages for the other text
// models), as on Bedrock, where each model family has its own.
func (e *Emulator) invoke(ctx context.Context, w http.ResponseWriter, rec *Record, op string, m *model, body []byte, start time.Time) result {
	invalid := func(err error) result {
		writeError(w, http.StatusBadRequest, "ValidationException", err.Error())
		return result{status: http.StatusBadRequest, outcome: outcomeError, errorType: "ValidationException", errorMessage: err.Error()}
	}
	stream := op == opInvokeModelWithResponseStream
	switch m.kind {
	case kindImage:
		return e.invokeImage(w, rec, body, invalid)
	case kindEmbed:
		return invokeEmbed(w, body, invalid, start)
	case kindText:
		conv, err := parseTitanText(body)
		if err != nil {
			return invalid(err)
		}
		p := e.plan(m.kind, conv)
		if stream {
			return e.streamTitanText(ctx, w, rec, &p, conv, start)
		}
		return e.invokeTitanText(ctx, w, rec, &p, conv, start)
	}
	conv, err := parseAnthropic(body, m)
	if err != nil {
		return invalid(err)
	}
	if m.kind == kindThrottle {
		return throttled(w)
	}
	e.applyCache(conv, conv.cachePoints)
	p := e.plan(m.kind, conv)
	if stream {
		return e.streamAnthropic(ctx, w, rec, m, &p, conv, body, start)
	}
	return e.invokeAnthropic(ctx, w, rec, m, &p, conv, body, start)
}

type titanTextRequest struct {
	InputText            string `json:"inputText"`
	TextGenerationConfig *struct {
		MaxTokenCount *int     `json:"maxTokenCount"`
		StopSequences []string `json:"stopSequences"`
	} `json:"textGenerationConfig"`
}

func parseTitanText(body []byte) (*conversation, error) {
	var req titanTextRequest
	if err := decodeBody(body, titanTextSchema, &req); err != nil {
		return nil, err
	}
	conv := &conversation{prompt: req.InputText, inputTokens: len(strings.Fields(req.InputText)), maxTokens: defaultTitanMaxTokens}
	if c := req.TextGenerationConfig; c != nil {
		if c.MaxTokenCount != nil {
			conv.maxTokens = *c.MaxTokenCount
		}
		conv.stopSequences = c.StopSequences
	}
	return conv, nil
}

// titanCompletion maps a stop reason to Titan's completionReason.
func titanCompletion(stop string) string {
	switch stop {
	case stopMaxTokens:
		return "LENGTH"
	case stopStopSequence:
		return "STOP_CRITERIA_MET"
	}
	return "FINISH"
}

// invokeTitanText answers InvokeModel on text-v1 after the generation
// time: {"inputTextTokenCount", "results": [{"tokenCount", "outputText",
// "completionReason"}]}.
func (e *Emulator) invokeTitanText(ctx context.Context, w http.ResponseWriter, rec *Record, p *plan, conv *conversation, start time.Time) result {
	res, col, stop, ok := e.generateWhole(ctx, w, rec, p, conv)
	if !ok {
		return res
	}
	return writeJSONAnswer(w, res, p, stop, map[string]any{
		"inputTextTokenCount": res.inputTokens,
		"results": []map[string]any{{
			"tokenCount":       res.deltas,
			"outputText":       col.text(0),
			"completionReason": titanCompletion(stop),
		}},
	}, tokenHeaders(res.inputTokens, res.deltas, start))
}

// titanRenderer writes Titan text streaming chunks, one a delta; the
// first carries inputTextTokenCount.
type titanRenderer struct {
	fw          *frameWriter
	inputTokens int
	sent        int
}

func (t *titanRenderer) blockStart(int, *block) error { return nil }
func (t *titanRenderer) blockStop(int, *block) error  { return nil }

func (t *titanRenderer) delta(_ int, _ *block, text string) error {
	t.sent++
	return t.fw.chunk(titanChunk(text, t.inputTokens, t.sent == 1))
}

func titanChunk(text string, inputTokens int, first bool) map[string]any {
	c := map[string]any{
		"outputText": text, "index": 0,
		"totalOutputTextTokenCount": nil, "completionReason": nil, "inputTextTokenCount": nil,
	}
	if first {
		c["inputTextTokenCount"] = inputTokens
	}
	return c
}

// streamTitanText answers InvokeModelWithResponseStream on text-v1: a
// chunk per delta, then a last chunk with the completion reason, the
// token count and the invocation metrics.
func (e *Emulator) streamTitanText(ctx context.Context, w http.ResponseWriter, rec *Record, p *plan, conv *conversation, start time.Time) result {
	res := result{status: http.StatusOK, inputTokens: conv.inputTokens}
	fw := startEventStream(w)
	firstByte := time.Now()
	var err error
	r := &titanRenderer{fw: fw, inputTokens: conv.inputTokens}
	res.deltas, err = generate(ctx, p, r, e.counter(rec))
	if err != nil {
		res.outcome = outcomeCancelled
		return res
	}
	if done, fr := endFailingStream(fw, p, res, func() any { return titanChunk(p.nextWord, conv.inputTokens, false) }); done {
		return fr
	}
	last := titanChunk("", conv.inputTokens, res.deltas == 0)
	last["completionReason"] = titanCompletion(p.stopReason)
	last["totalOutputTextTokenCount"] = res.deltas
	last["amazon-bedrock-invocationMetrics"] = invocationMetrics(res.inputTokens, res.deltas, start, firstByte)
	if err := fw.chunk(last); err != nil {
		res.outcome = outcomeCancelled
		return res
	}
	res.stopReason = p.stopReason
	res.outcome = outcomeCompleted
	return res
}

type titanImageRequest struct {
	TaskType          string `json:"taskType"`
	TextToImageParams *struct {
		Text string `json:"text"`
	} `json:"textToImageParams"`
	ImageGenerationConfig *struct {
		NumberOfImages *int   `json:"numberOfImages"`
		Width          *int   `json:"width"`
		Height         *int   `json:"height"`
		Seed           *int64 `json:"seed"`
	} `json:"imageGenerationConfig"`
}

// BlockedWord makes image-v1 refuse a prompt that contains it (as a whole
// word, in any case), as Titan's content filter refuses a harmful prompt.
const BlockedWord = "forbidden"

var blockedPrompt = regexp.MustCompile(`(?i)\b` + BlockedWord + `\b`)

// msgContentFiltered is Titan Image Generator's refusal.
const msgContentFiltered = "This request has been blocked by our content filters."

// invokeImage answers InvokeModel on image-v1 with {"images": [...]}, one
// base64 PNG per image (see Image).
func (e *Emulator) invokeImage(w http.ResponseWriter, rec *Record, body []byte, invalid func(error) result) result {
	var req titanImageRequest
	if err := decodeBody(body, titanImageSchema, &req); err != nil {
		return invalid(err)
	}
	if req.TaskType != "TEXT_IMAGE" {
		return invalid(invalidf("The emulator generates images from text only: taskType %s is not supported; use TEXT_IMAGE.", req.TaskType))
	}
	if req.TextToImageParams == nil {
		return invalid(malformed("#: required key [textToImageParams] not found"))
	}
	n, width, height, seed := 1, defaultImageWidth, defaultImageHeight, int64(DefaultImageSeed)
	if c := req.ImageGenerationConfig; c != nil {
		if c.NumberOfImages != nil {
			n = *c.NumberOfImages
		}
		if c.Width != nil {
			width = *c.Width
		}
		if c.Height != nil {
			height = *c.Height
		}
		if c.Seed != nil {
			seed = *c.Seed
		}
	}
	if !imageSizeAllowed(width, height) {
		sizes := make([]string, len(imageSizes))
		for i, s := range imageSizes {
			sizes[i] = fmt.Sprintf("%dx%d", s[0], s[1])
		}
		return invalid(malformed(fmt.Sprintf("#/imageGenerationConfig: %dx%d (width x height) is not a supported size; supported sizes: %s", width, height, strings.Join(sizes, ", "))))
	}
	prompt := req.TextToImageParams.Text
	if blockedPrompt.MatchString(prompt) {
		return invalid(validationError(msgContentFiltered))
	}
	images := make([]string, n)
	for i := range images {
		images[i] = base64.StdEncoding.EncodeToString(Image(prompt, seed, i, width, height))
		e.update(func() { rec.DeltasSent = i + 1 })
	}
	return writeJSONAnswer(w, result{deltas: n}, nil, "", map[string]any{"images": images}, nil)
}

type titanEmbedRequest struct {
	InputText      string   `json:"inputText"`
	Dimensions     *int     `json:"dimensions"`
	Normalize      *bool    `json:"normalize"`
	EmbeddingTypes []string `json:"embeddingTypes"`
}

// invokeEmbed answers InvokeModel on embed-v1 with {"embedding": [...],
// "inputTextTokenCount"} (and "embeddingsByType" when the body asks for
// embeddingTypes), see Embedding.
func invokeEmbed(w http.ResponseWriter, body []byte, invalid func(error) result, start time.Time) result {
	var req titanEmbedRequest
	if err := decodeBody(body, titanEmbedSchema, &req); err != nil {
		return invalid(err)
	}
	dims, normalize := defaultEmbeddingDimensions, true
	if req.Dimensions != nil {
		dims = *req.Dimensions
	}
	if req.Normalize != nil {
		normalize = *req.Normalize
	}
	vec := Embedding(req.InputText, dims, normalize)
	tokens := len(strings.Fields(req.InputText))
	answer := map[string]any{"embedding": vec, "inputTextTokenCount": tokens}
	if len(req.EmbeddingTypes) > 0 {
		byType := map[string]any{}
		for _, t := range req.EmbeddingTypes {
			switch t {
			case "float":
				byType["float"] = vec
			case "binary":
				bits := make([]int, len(vec))
				for i, v := range vec {
					if v > 0 {
						bits[i] = 1
					}
				}
				byType["binary"] = bits
			}
		}
		answer["embeddingsByType"] = byType
	}
	h := tokenHeaders(tokens, 0, start)
	return writeJSONAnswer(w, result{inputTokens: tokens}, nil, "", answer, h)
}
