package openai

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/streaming"
)

// encoded runs an event sequence through a responses encoder and returns
// the events it wrote, parsed.
func encoded(t *testing.T, include bool, run func(e *responsesEncoder) error) []map[string]any {
	t.Helper()
	rec := httptest.NewRecorder()
	e := newResponsesEncoder(streaming.NewFlushWriter(rec), responseMeta{id: "resp_R", requestID: "R", created: 1, includeEncrypted: include, echo: &responseEcho{}})
	if err := e.Start(streaming.StartEvent{ModelID: "m"}); err != nil {
		t.Fatal(err)
	}
	if err := run(e); err != nil {
		t.Fatal(err)
	}
	var events []map[string]any
	for _, block := range strings.Split(strings.TrimSuffix(rec.Body.String(), "\n\n"), "\n\n") {
		if block == ": keep-alive" {
			continue
		}
		name, data, ok := strings.Cut(block, "\ndata: ")
		var ev map[string]any
		if !ok || json.Unmarshal([]byte(data), &ev) != nil || name != "event: "+ev["type"].(string) {
			t.Fatalf("not an event: %q", block)
		}
		events = append(events, ev)
	}
	for i, ev := range events {
		if ev["sequence_number"] != float64(i) {
			t.Fatalf("event %d has sequence_number %v", i, ev["sequence_number"])
		}
	}
	return events
}

func outputTypes(response any) []string {
	var out []string
	for _, item := range response.(map[string]any)["output"].([]any) {
		m := item.(map[string]any)
		out = append(out, m["type"].(string)+" "+m["id"].(string))
	}
	return out
}

// TestResponsesEncoderSequences: every mix of reasoning (signed, cut,
// redacted), text and tool calls gives items numbered in order, each
// opened and closed once, and a final response holding them all.
func TestResponsesEncoderSequences(t *testing.T) {
	tc := &streaming.ToolCall{ID: "tooluse_1", Name: "f"}
	events := encoded(t, true, func(e *responsesEncoder) error {
		steps := []func() error{
			func() error { return e.Reasoning("think ") },
			func() error { return e.Reasoning("more") },
			func() error { return e.ReasoningSignature("sig") },
			func() error { return e.Text("Hello ") },
			func() error { return e.Text("there") },
			func() error { return e.ToolStart(tc) },
			func() error { tc.Input = append(tc.Input, `{"a":`...); return e.ToolInput(tc, `{"a":`) },
			func() error { tc.Input = append(tc.Input, `1}`...); return e.ToolInput(tc, `1}`) },
			func() error { return e.ToolEnd(tc) },
			func() error { return e.RedactedReasoning([]byte{1, 2}) },
			func() error { return e.Reasoning("cut") },
			func() error { return e.Text("after") },
			func() error { return e.KeepAlive() },
			func() error {
				return e.Done(streaming.DoneEvent{StopReason: "end_turn", Usage: streaming.Usage{InputTokens: 3, OutputTokens: 5, CacheReadInputTokens: 10, CacheWriteInputTokens: 2}})
			},
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
		return nil
	})
	var added, done []float64
	for _, ev := range events {
		switch ev["type"] {
		case "response.output_item.added":
			added = append(added, ev["output_index"].(float64))
		case "response.output_item.done":
			done = append(done, ev["output_index"].(float64))
		}
	}
	if want := []float64{0, 1, 2, 3, 4, 5}; !slices.Equal(added, want) || !slices.Equal(done, want) {
		t.Errorf("items added %v, done %v; want %v each", added, done, want)
	}
	last := events[len(events)-1]
	want := []string{"reasoning rs_R_0", "message msg_R_1", "function_call fc_R_2", "reasoning rs_R_3", "reasoning rs_R_4", "message msg_R_5"}
	if last["type"] != "response.completed" || !slices.Equal(outputTypes(last["response"]), want) {
		t.Fatalf("last event %v with %v; want response.completed with %v", last["type"], outputTypes(last["response"]), want)
	}
	output := last["response"].(map[string]any)["output"].([]any)
	item := func(i int) map[string]any { return output[i].(map[string]any) }
	if item(0)["encrypted_content"] != "sig" || item(0)["summary"].([]any)[0].(map[string]any)["text"] != "think more" ||
		item(3)["encrypted_content"] != "bedrock-redacted:AQI=" || item(4)["encrypted_content"] != nil ||
		item(2)["arguments"] != `{"a":1}` || item(2)["call_id"] != "tooluse_1" ||
		item(1)["content"].([]any)[0].(map[string]any)["text"] != "Hello there" {
		t.Errorf("output %v", output)
	}
	usage, _ := json.Marshal(last["response"].(map[string]any)["usage"])
	if string(usage) != `{"input_tokens":15,"input_tokens_details":{"cached_tokens":10},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":20}` {
		t.Errorf("usage %s", usage)
	}

	// Without include, no encrypted_content anywhere.
	events = encoded(t, false, func(e *responsesEncoder) error {
		e.Reasoning("x")
		e.ReasoningSignature("sig")
		e.RedactedReasoning([]byte{1})
		return e.Done(streaming.DoneEvent{StopReason: "end_turn"})
	})
	if b, _ := json.Marshal(events); strings.Contains(string(b), "encrypted_content") {
		t.Errorf("encrypted_content given without include: %s", b)
	}

	// A failure: the open message is not finished; the items finished
	// before it are in response.failed.
	events = encoded(t, false, func(e *responsesEncoder) error {
		e.ToolStart(tc)
		e.ToolEnd(tc)
		e.Text("partial")
		return e.Fail(&streaming.Error{Code: "upstream_error", Message: "the model failed"})
	})
	n := len(events)
	failed := events[n-1]["response"].(map[string]any)
	if events[n-2]["type"] != "error" || events[n-2]["code"] != "upstream_error" || events[n-1]["type"] != "response.failed" ||
		failed["status"] != "failed" || !slices.Equal(outputTypes(failed), []string{"function_call fc_R_0"}) {
		t.Errorf("last events %v, %v", events[n-2], events[n-1])
	}

	// The stop reasons that cut an answer.
	for stop, want := range map[string]string{"max_tokens": "incomplete max_output_tokens", "content_filtered": "incomplete content_filter",
		"guardrail_intervened": "incomplete content_filter", "cancelled": "cancelled cancelled", "tool_use": "completed <nil>", "stop_sequence": "completed <nil>"} {
		events := encoded(t, false, func(e *responsesEncoder) error { return e.Done(streaming.DoneEvent{StopReason: stop}) })
		r := events[len(events)-1]["response"].(map[string]any)
		reason := "<nil>"
		if d, ok := r["incomplete_details"].(map[string]any); ok {
			reason = d["reason"].(string)
		}
		if got := r["status"].(string) + " " + reason; got != want {
			t.Errorf("stop %s: %s, want %s", stop, got, want)
		}
	}
}
