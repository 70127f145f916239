package emulator

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"unicode"
)

// Titan Text Embeddings v2's dimensions; the default is the largest.
var embeddingDimensions = [...]int{256, 512, 1024}

const defaultEmbeddingDimensions = 1024

// Embedding returns the vector embed-v1 answers for text with dimensions
// components (256, 512 or 1024; nil for any other). It is a bag of words:
// each lowercased word (a run of letters and digits) adds a pseudo-random
// direction derived from the word, so texts sharing words are closer
// (higher cosine similarity) than texts that share none, and the same
// text always gives the same vector. A text without words is one
// "word" of itself.
//
// With normalize true (the default of the Titan body) the vector has unit
// length (within float32 rounding); with normalize false it is the same
// direction scaled by the square root of the number of words. Every
// component is a float32 value, so decoding the JSON into float32 or
// float64 loses nothing.
func Embedding(text string, dimensions int, normalize bool) []float64 {
	ok := false
	for _, d := range embeddingDimensions {
		ok = ok || d == dimensions
	}
	if !ok {
		return nil
	}
	words := embeddingWords(text)
	if len(words) == 0 {
		words = []string{text}
	}
	sum := make([]float64, dimensions)
	for _, w := range words {
		h := fnv.New64a()
		h.Write([]byte(w))
		seed := h.Sum64()
		rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
		for i := range sum {
			sum[i] += rng.NormFloat64()
		}
	}
	var norm float64
	for _, v := range sum {
		norm += v * v
	}
	norm = math.Sqrt(norm)
	scale := 1 / norm
	if !normalize {
		scale *= math.Sqrt(float64(len(words)))
	}
	out := make([]float64, dimensions)
	for i, v := range sum {
		out[i] = float64(float32(v * scale))
	}
	return out
}

func embeddingWords(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}
