package openai

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/streamgate/streamgate/streaming"
)

// The response object and its output items, as the Responses API
// answers them (whole, or in the events of a stream).

// responseMeta is what every event of one response repeats, and what its
// response object echoes of the request.
type responseMeta struct {
	id               string // "resp_" + the request id
	requestID        string // the items' ids are made of it
	model            string
	created          int64
	includeEncrypted bool
	echo             *responseEcho
}

// respIDPrefix makes a response's id of its request id; the cancel route
// takes either.
const respIDPrefix = "resp_"

// itemID is the id of the output item at index: unique among responses,
// as the request id is.
func (m *responseMeta) itemID(prefix string, index int) string {
	return prefix + m.requestID + "_" + strconv.Itoa(index)
}

type responseObject struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	CreatedAt         int64              `json:"created_at"`
	Status            string             `json:"status"`
	Background        bool               `json:"background"`
	Error             *responseError     `json:"error"`
	IncompleteDetails *incompleteDetails `json:"incomplete_details"`
	Model             string             `json:"model"`
	Output            []json.RawMessage  `json:"output"`
	// OutputText is the SDKs' convenience, given in whole answers.
	OutputText         *string `json:"output_text,omitempty"`
	PreviousResponseID *string `json:"previous_response_id"`
	ServiceTier        string  `json:"service_tier"`
	Store              bool    `json:"store"`
	Text               struct {
		Format struct {
			Type string `json:"type"`
		} `json:"format"`
		Verbosity string `json:"verbosity"`
	} `json:"text"`
	Usage *responseUsage `json:"usage"`
	*responseEcho
}

type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incompleteDetails struct {
	Reason string `json:"reason"`
}

type responseUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

// responsesUsage is Bedrock's usage in the Responses API's words: the
// counts of Chat Completions' usage (input_tokens counts the cached tokens
// too, which Bedrock counts apart). Bedrock does not count reasoning
// tokens apart from the others: they are in output_tokens, and
// reasoning_tokens is 0.
func responsesUsage(u streaming.Usage) *responseUsage {
	chat := usageOf(u)
	out := &responseUsage{InputTokens: chat.PromptTokens, OutputTokens: chat.CompletionTokens, TotalTokens: chat.TotalTokens}
	out.InputTokensDetails.CachedTokens = chat.PromptTokensDetails.CachedTokens
	return out
}

// object is the response in the given status.
func (m *responseMeta) object(status string, output []json.RawMessage) *responseObject {
	o := &responseObject{ID: m.id, Object: "response", CreatedAt: m.created, Status: status, Model: m.model,
		Output: output, ServiceTier: "default", responseEcho: m.echo}
	if o.Output == nil {
		o.Output = []json.RawMessage{}
	}
	o.Text.Format.Type = "text"
	o.Text.Verbosity = m.echo.Verbosity
	return o
}

// ending is how an answer that Bedrock ended ends in the Responses API:
// its status, final event and why it is incomplete.
func ending(stopReason string) (status, event string, incomplete *incompleteDetails) {
	switch stopReason {
	case "max_tokens", "model_context_window_exceeded":
		return "incomplete", "response.incomplete", &incompleteDetails{"max_output_tokens"}
	case "guardrail_intervened", "content_filtered":
		return "incomplete", "response.incomplete", &incompleteDetails{"content_filter"}
	case streaming.StopCancelled:
		// Stopped by POST /v1/responses/{id}/cancel: OpenAI's status for
		// a cancelled response; the stream has no event of that name.
		return "cancelled", "response.incomplete", &incompleteDetails{"cancelled"}
	}
	return "completed", "response.completed", nil
}

// The output items.

type outputText struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

func newOutputText(text string) outputText {
	return outputText{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}
}

type messageItem struct {
	ID      string       `json:"id"`
	Type    string       `json:"type"`
	Status  string       `json:"status"`
	Role    string       `json:"role"`
	Content []outputText `json:"content"`
}

func messageJSON(id, status string, content ...outputText) json.RawMessage {
	if content == nil {
		content = []outputText{}
	}
	b, _ := json.Marshal(messageItem{ID: id, Type: "message", Status: status, Role: "assistant", Content: content})
	return b
}

type summaryText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type reasoningItem struct {
	ID               string        `json:"id"`
	Type             string        `json:"type"`
	Summary          []summaryText `json:"summary"`
	EncryptedContent *string       `json:"encrypted_content,omitempty"`
}

// reasoningJSON is a reasoning item: Bedrock's reasoning text as its
// summary (the text OpenAI's clients show), and, when the request's
// include asked for it, the signature (or a redacted block) as its
// encrypted_content, which the client sends back on its next turn.
func reasoningJSON(id string, summary []summaryText, encrypted *string) json.RawMessage {
	if summary == nil {
		summary = []summaryText{}
	}
	b, _ := json.Marshal(reasoningItem{ID: id, Type: "reasoning", Summary: summary, EncryptedContent: encrypted})
	return b
}

func redactedContent(data []byte) string {
	return redactedPrefix + base64.StdEncoding.EncodeToString(data)
}

type functionCallItem struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Arguments string `json:"arguments"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
}

func functionCallJSON(id, status string, tc *streaming.ToolCall, args string) json.RawMessage {
	b, _ := json.Marshal(functionCallItem{ID: id, Type: "function_call", Status: status, Arguments: args, CallID: tc.ID, Name: tc.Name})
	return b
}

// wholeResponse is the non-streaming answer: the response object those
// events would have built, with output_text.
func wholeResponse(m *responseMeta, a *streaming.Answer) *responseObject {
	var output []json.RawMessage
	if a.Reasoning != "" || a.ReasoningSignature != "" {
		var enc *string
		if m.includeEncrypted && a.ReasoningSignature != "" {
			enc = &a.ReasoningSignature
		}
		output = append(output, reasoningJSON(m.itemID("rs_", len(output)), []summaryText{{"summary_text", a.Reasoning}}, enc))
	}
	for _, data := range a.RedactedReasoning {
		var enc *string
		if m.includeEncrypted {
			s := redactedContent(data)
			enc = &s
		}
		output = append(output, reasoningJSON(m.itemID("rs_", len(output)), nil, enc))
	}
	if a.Text != "" || len(a.ToolCalls) == 0 {
		output = append(output, messageJSON(m.itemID("msg_", len(output)), "completed", newOutputText(a.Text)))
	}
	for i := range a.ToolCalls {
		tc := &a.ToolCalls[i]
		output = append(output, functionCallJSON(m.itemID("fc_", len(output)), "completed", tc, string(tc.Input)))
	}
	status, _, incomplete := ending(a.StopReason)
	o := m.object(status, output)
	o.IncompleteDetails = incomplete
	o.Usage = responsesUsage(a.Usage)
	o.OutputText = &a.Text
	return o
}
