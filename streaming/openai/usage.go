package openai

import "github.com/streamgate/streamgate/streaming"

// usage is OpenAI's usage object of an answer. OpenAI counts cached input
// in prompt_tokens and names it in prompt_tokens_details.cached_tokens;
// Bedrock counts it apart (cache reads, cache writes), so prompt_tokens is
// the sum of the three.
type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func usageOf(u streaming.Usage) usage {
	out := usage{PromptTokens: u.InputTokens + u.CacheReadInputTokens + u.CacheWriteInputTokens, CompletionTokens: u.OutputTokens}
	out.TotalTokens = out.PromptTokens + out.CompletionTokens
	out.PromptTokensDetails.CachedTokens = u.CacheReadInputTokens
	return out
}
