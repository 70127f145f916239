package openai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync"
	"unicode/utf8"

	"github.com/streamgate/streamgate/streaming"
)

// embeddingsRequest is the body of POST /v1/embeddings (OpenAI's shape).
type embeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"` // a string or an array of strings
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

// Limits of /v1/embeddings. Titan Text Embeddings v2 takes one text per
// call, up to 8,192 tokens or 50,000 characters.
const (
	maxEmbeddingInputs   = 32
	maxEmbeddingChars    = 50_000
	embeddingConcurrency = 4
)

// serveEmbeddings answers POST /v1/embeddings with EMBEDDING_MODEL_ID
// (a Titan Text Embeddings v2 body per input), in OpenAI's list shape.
func (d *dialect) serveEmbeddings(w http.ResponseWriter, r *http.Request) {
	cfg := d.h.Config()
	rec := streaming.LogOf(r)
	body, e := cfg.ReadJSON(w, r)
	var req embeddingsRequest
	if e == nil {
		e = streaming.DecodeLenient(body, &req)
	}
	var inputs []string
	if e == nil {
		inputs, e = checkEmbeddings(cfg, &req)
	}
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	rec.SetModel(cfg.EmbeddingModelID, "json")
	if e := d.h.Admit(r); e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	dims := streaming.ValueOr(req.Dimensions, 1024)
	vectors := make([][]float64, len(inputs))
	tokens := make([]int, len(inputs))
	errs := make([]*streaming.Error, len(inputs))
	sem := make(chan struct{}, embeddingConcurrency)
	var wg sync.WaitGroup
	for i, text := range inputs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			vectors[i], tokens[i], errs[i] = d.embed(r, text, dims)
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			streaming.WriteError(w, r, e)
			return
		}
	}
	total := 0
	data := make([]map[string]any, len(inputs))
	for i, v := range vectors {
		total += tokens[i]
		var embedding any = v
		if req.EncodingFormat == "base64" {
			embedding = float32Base64(v)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": embedding}
	}
	rec.SetTokens(total, 0)
	streaming.WriteJSON(w, http.StatusOK, map[string]any{
		"object": "list", "data": data, "model": cfg.EmbeddingModelID,
		"usage": map[string]int{"prompt_tokens": total, "total_tokens": total},
	})
}

func checkEmbeddings(cfg *streaming.Config, req *embeddingsRequest) ([]string, *streaming.Error) {
	if cfg.EmbeddingModelID == "" {
		return nil, &streaming.Error{Status: http.StatusServiceUnavailable, Code: streaming.CodeNotConfigured,
			Message: "embeddings are off on this gateway (the operator sets EMBEDDING_MODEL_ID)"}
	}
	if req.Model != "" && req.Model != cfg.EmbeddingModelID {
		return nil, &streaming.Error{Status: http.StatusForbidden, Code: streaming.CodeModelNotAllowed, Param: "model",
			Message: fmt.Sprintf("model %q is not allowed here; the embedding model is %s", streaming.Truncate(req.Model, 200), cfg.EmbeddingModelID)}
	}
	var inputs []string
	var one string
	switch {
	case len(req.Input) == 0 || string(req.Input) == "null":
		return nil, streaming.InvalidParam("input", "input is required: a string or an array of up to %d strings", maxEmbeddingInputs)
	case json.Unmarshal(req.Input, &one) == nil:
		inputs = []string{one}
	case json.Unmarshal(req.Input, &inputs) != nil:
		return nil, streaming.InvalidParam("input", "input must be a string or an array of strings (token arrays are not supported)")
	}
	if len(inputs) == 0 || len(inputs) > maxEmbeddingInputs {
		return nil, streaming.InvalidParam("input", "input must hold 1 to %d strings (got %d)", maxEmbeddingInputs, len(inputs))
	}
	for i, s := range inputs {
		if n := utf8.RuneCountInString(s); n == 0 || n > maxEmbeddingChars {
			return nil, streaming.InvalidParam("input", "input[%d] must be 1 to %d characters long (got %d)", i, maxEmbeddingChars, n)
		}
	}
	if d := req.Dimensions; d != nil && *d != 256 && *d != 512 && *d != 1024 {
		return nil, streaming.InvalidParam("dimensions", "dimensions must be 256, 512 or 1024 (got %d)", *d)
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, streaming.InvalidParam("encoding_format", `encoding_format must be "float" or "base64" (got %q)`, streaming.Truncate(req.EncodingFormat, 20))
	}
	return inputs, nil
}

func (d *dialect) embed(r *http.Request, text string, dims int) ([]float64, int, *streaming.Error) {
	body, _ := json.Marshal(map[string]any{"inputText": text, "dimensions": dims, "normalize": true})
	out, e := d.h.InvokeJSON(r, d.h.Config().EmbeddingModelID, body)
	if e != nil {
		return nil, 0, e
	}
	var resp struct {
		Embedding           []float64 `json:"embedding"`
		InputTextTokenCount int       `json:"inputTextTokenCount"`
	}
	if err := json.Unmarshal(out.Body, &resp); err != nil || len(resp.Embedding) == 0 {
		return nil, 0, &streaming.Error{Status: http.StatusBadGateway, Code: streaming.CodeUpstreamError, Message: "the embedding model's answer could not be read"}
	}
	return resp.Embedding, resp.InputTextTokenCount, nil
}

// float32Base64 is OpenAI's base64 encoding of an embedding: the vector as
// little-endian float32s.
func float32Base64(v []float64) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(f)))
	}
	return base64.StdEncoding.EncodeToString(b)
}
