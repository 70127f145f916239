package openai

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/streamgate/streamgate/streaming"
)

// serveChatCompletions answers POST /v1/chat/completions: streamed on the
// same relay as /stream with the chunk encoder, or one chat.completion
// from Converse.
func (d *dialect) serveChatCompletions(w http.ResponseWriter, r *http.Request) {
	rec := streaming.LogOf(r)
	body, e := d.h.Config().ReadJSON(w, r)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	var req chatRequest
	if e := streaming.DecodeLenient(body, &req); e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	c, e := chatCall(d.h.Config(), &req)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	meta := chatMeta{id: chatIDPrefix + rec.ID(), model: c.ModelID, created: rec.Started().Unix(),
		includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
	if req.Stream {
		d.h.Relay(w, r, c, streaming.Encoding{
			Format:      "openai",
			ContentType: "text/event-stream; charset=utf-8",
			NewEncoder: func(fw *streaming.FlushWriter, start streaming.StartEvent) streaming.Encoder {
				meta.model = start.ModelID
				return newChatChunkEncoder(fw, meta)
			},
			KeepAlives: true,
		})
		return
	}
	rec.SetModel(c.ModelID, "openai-json")
	a, e := d.h.Converse(r, c)
	if e != nil {
		streaming.WriteError(w, r, e)
		return
	}
	meta.model = a.ModelID
	streaming.WriteJSON(w, http.StatusOK, chatCompletion(meta, a))
}

// chatMeta is what every chunk of one completion repeats.
type chatMeta struct {
	id, model    string
	created      int64
	includeUsage bool
}

// finishReason maps Bedrock's stop reason to OpenAI's finish_reason.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "guardrail_intervened", "content_filtered":
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence, cancelled
}

// chatChunkEncoder writes chat.completion.chunk events. Each chunk's fixed
// head (id, object, created, model) is made once per stream, so that a
// delta costs an append of its text and no allocation.
type chatChunkEncoder struct {
	*streaming.FlushWriter
	meta chatMeta
	head []byte // `data: {"id":...,"model":...,"choices":[{"index":0,`
}

func newChatChunkEncoder(fw *streaming.FlushWriter, meta chatMeta) *chatChunkEncoder {
	head := append([]byte(nil), `data: {"id":`...)
	head = streaming.AppendJSONString(head, meta.id)
	head = append(head, `,"object":"chat.completion.chunk","created":`...)
	head = fmt.Appendf(head, "%d", meta.created)
	head = append(head, `,"model":`...)
	head = streaming.AppendJSONString(head, meta.model)
	head = append(head, `,"choices":[{"index":0,`...)
	return &chatChunkEncoder{FlushWriter: fw, meta: meta, head: head}
}

const chunkTail = `},"logprobs":null,"finish_reason":null}]}` + "\n\n"

func (e *chatChunkEncoder) Start(streaming.StartEvent) error {
	e.Buf = append(append(e.Buf[:0], e.head...), `"delta":{"role":"assistant","content":""`...)
	return e.Emit(append(e.Buf, chunkTail...))
}

func (e *chatChunkEncoder) Text(text string) error {
	e.Buf = append(append(e.Buf[:0], e.head...), `"delta":{"content":`...)
	e.Buf = streaming.AppendJSONString(e.Buf, text)
	return e.Emit(append(e.Buf, chunkTail...))
}

func (e *chatChunkEncoder) Reasoning(text string) error {
	e.Buf = append(append(e.Buf[:0], e.head...), `"delta":{"reasoning_content":`...)
	e.Buf = streaming.AppendJSONString(e.Buf, text)
	return e.Emit(append(e.Buf, chunkTail...))
}

// Chat Completions has no place for reasoning signatures: its clients send
// no reasoning back.
func (e *chatChunkEncoder) ReasoningSignature(string) error { return nil }
func (e *chatChunkEncoder) RedactedReasoning([]byte) error  { return nil }

func (e *chatChunkEncoder) ToolStart(tc *streaming.ToolCall) error {
	e.Buf = append(append(e.Buf[:0], e.head...), `"delta":{"tool_calls":[{"index":`...)
	e.Buf = fmt.Appendf(e.Buf, "%d", tc.Index)
	e.Buf = append(e.Buf, `,"id":`...)
	e.Buf = streaming.AppendJSONString(e.Buf, tc.ID)
	e.Buf = append(e.Buf, `,"type":"function","function":{"name":`...)
	e.Buf = streaming.AppendJSONString(e.Buf, tc.Name)
	e.Buf = append(e.Buf, `,"arguments":""}}]`...)
	return e.Emit(append(e.Buf, chunkTail...))
}

func (e *chatChunkEncoder) ToolInput(tc *streaming.ToolCall, fragment string) error {
	e.Buf = append(append(e.Buf[:0], e.head...), `"delta":{"tool_calls":[{"index":`...)
	e.Buf = fmt.Appendf(e.Buf, "%d", tc.Index)
	e.Buf = append(e.Buf, `,"function":{"arguments":`...)
	e.Buf = streaming.AppendJSONString(e.Buf, fragment)
	e.Buf = append(e.Buf, `}}]`...)
	return e.Emit(append(e.Buf, chunkTail...))
}

func (e *chatChunkEncoder) ToolEnd(*streaming.ToolCall) error { return nil }

func (e *chatChunkEncoder) KeepAlive() error { return e.EmitString(": keep-alive\n\n") }

// done writes the chunk with finish_reason, the usage chunk when asked
// for, and [DONE], in one write.
func (e *chatChunkEncoder) Done(ev streaming.DoneEvent) error {
	e.Buf = append(append(e.Buf[:0], e.head...), `"delta":{},"logprobs":null,"finish_reason":`...)
	e.Buf = streaming.AppendJSONString(e.Buf, finishReason(ev.StopReason))
	e.Buf = append(e.Buf, "}]}\n\n"...)
	if e.meta.includeUsage {
		e.Buf = append(e.Buf, `data: {"id":`...)
		e.Buf = streaming.AppendJSONString(e.Buf, e.meta.id)
		e.Buf = fmt.Appendf(e.Buf, `,"object":"chat.completion.chunk","created":%d,"model":`, e.meta.created)
		e.Buf = streaming.AppendJSONString(e.Buf, e.meta.model)
		u := usageOf(ev.Usage)
		e.Buf = fmt.Appendf(e.Buf, `,"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d}}}`+"\n\n",
			u.PromptTokens, u.CompletionTokens, u.TotalTokens, u.PromptTokensDetails.CachedTokens)
	}
	e.Buf = append(e.Buf, "data: [DONE]\n\n"...)
	return e.Emit(e.Buf)
}

// fail writes the error as OpenAI streams one, and no [DONE]: the body
// then ends, and the client cannot take the answer for a whole one.
func (e *chatChunkEncoder) Fail(apiErr *streaming.Error) error {
	_, body := errorBody(nil, apiErr)
	b, _ := json.Marshal(body)
	e.Buf = append(append(append(e.Buf[:0], "data: "...), b...), "\n\n"...)
	return e.Emit(e.Buf)
}

// openAIError is OpenAI's error object.
type openAIError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Code    string  `json:"code"`
	Param   *string `json:"param"`
}

// errorBody is OpenAI's envelope of e: the ErrorShape of the /v1/ routes.
func errorBody(_ http.Header, e *streaming.Error) (int, any) {
	typ := "invalid_request_error"
	switch {
	case e.Status == http.StatusUnauthorized:
		typ = "authentication_error"
	case e.Status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case e.Status >= 500:
		typ = "api_error"
	}
	oe := openAIError{Message: e.Message, Type: typ, Code: e.Code}
	if e.Param != "" {
		oe.Param = &e.Param
	}
	return e.Status, struct {
		Error openAIError `json:"error"`
	}{oe}
}

// chatCompletion is the non-streaming answer.
func chatCompletion(meta chatMeta, a *streaming.Answer) any {
	type function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	type toolCallOut struct {
		ID       string   `json:"id"`
		Type     string   `json:"type"`
		Function function `json:"function"`
	}
	type message struct {
		Role             string        `json:"role"`
		Content          *string       `json:"content"`
		ReasoningContent string        `json:"reasoning_content,omitempty"`
		ToolCalls        []toolCallOut `json:"tool_calls,omitempty"`
	}
	msg := message{Role: "assistant", ReasoningContent: a.Reasoning}
	if a.Text != "" || len(a.ToolCalls) == 0 {
		msg.Content = &a.Text
	}
	for _, tc := range a.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, toolCallOut{tc.ID, "function", function{tc.Name, string(tc.Input)}})
	}
	return map[string]any{
		"id":      meta.id,
		"object":  "chat.completion",
		"created": meta.created,
		"model":   meta.model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finishReason(a.StopReason)}},
		"usage":   usageOf(a.Usage),
	}
}
