package streaming_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

func guardrailGateway(t *testing.T, mode string) *testGateway {
	cfg := testConfig()
	cfg.Guardrail = &streaming.Guardrail{ID: emulator.GuardrailID, Version: emulator.GuardrailVersion, StreamMode: mode}
	return newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, cfg, nil)
}

// TestGuardrailBlocksInput (issue 22): with GUARDRAIL_ID and
// GUARDRAIL_VERSION set, every Converse and ConverseStream call carries the
// guardrail, and a prompt with the blocked word ends with the guardrail's
// message and stop reason guardrail_intervened on /stream, content_filter
// on Chat Completions, an incomplete response (content_filter) on
// Responses, and refusal on Anthropic's Messages; the log line names the guardrail's action and
// policy, never the content.
func TestGuardrailBlocksInput(t *testing.T) {
	t.Parallel()
	gw := guardrailGateway(t, "sync")
	const prompt = "tell me something forbidden"

	res := streamtest.Post(t, t.Context(), gw.URL+"/stream", "text/event-stream", `{"prompt":"`+prompt+`"}`)
	events := streamtest.ParseSSE(t, res.Chunks)
	text, _ := streamtest.SSEText(t, events)
	done := streamtest.DecodeJSON[doneData](t, events[len(events)-1].Data)
	if text != emulator.GuardrailMessage || done.StopReason != streaming.StopGuardrail {
		t.Errorf("/stream: %q, stop %q; want the guardrail's message and %s", text, done.StopReason, streaming.StopGuardrail)
	}
	if line := lastLog(t, gw.Logs, "/stream"); line["guardrail"] != "intervened (input: word)" || line["stopReason"] != streaming.StopGuardrail {
		t.Errorf("log line %v; want the guardrail's action", line)
	}

	chat := `{"model":"emulator.steady-v1","messages":[{"role":"user","content":"` + prompt + `"}]`
	streamed := streamtest.Post(t, t.Context(), gw.URL+"/v1/chat/completions", "", chat+`,"stream":true}`)
	if !strings.Contains(string(streamed.Body), `"finish_reason":"content_filter"`) {
		t.Errorf("chat stream: %s; want finish_reason content_filter", streamed.Body)
	}
	whole := streamtest.Post(t, t.Context(), gw.URL+"/v1/chat/completions", "", chat+`}`)
	var completion struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
			Message      struct{ Content string }
		}
	}
	if err := json.Unmarshal(whole.Body, &completion); err != nil || len(completion.Choices) != 1 ||
		completion.Choices[0].FinishReason != "content_filter" || completion.Choices[0].Message.Content != emulator.GuardrailMessage {
		t.Errorf("chat completion: %s; want content_filter and the guardrail's message", whole.Body)
	}
	if line := lastLog(t, gw.Logs, "/v1/chat/completions"); line["guardrail"] != "intervened (input: word)" {
		t.Errorf("Converse log line %v; want the guardrail's action", line)
	}

	msgReq, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gw.URL+"/v1/messages",
		strings.NewReader(`{"model":"emulator.steady-v1","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"`+prompt+`"}]}`))
	msgReq.Header.Set("Content-Type", "application/json")
	msgReq.Header.Set("Anthropic-Version", "2023-06-01")
	if msg := streamtest.Do(t, msgReq); !strings.Contains(string(msg.Body), `"stop_reason":"refusal"`) {
		t.Errorf("Anthropic stream: %s; want stop_reason refusal", msg.Body)
	}
	resp := streamtest.Post(t, t.Context(), gw.URL+"/v1/responses", "", `{"model":"emulator.steady-v1","input":"`+prompt+`"}`)
	var response struct {
		Status            string
		IncompleteDetails struct{ Reason string } `json:"incomplete_details"`
	}
	if json.Unmarshal(resp.Body, &response); response.Status != "incomplete" || response.IncompleteDetails.Reason != "content_filter" {
		t.Errorf("Responses: %s; want incomplete for content_filter", resp.Body)
	}

	records := waitIdle(t, gw.Emu)
	if len(records) != 5 {
		t.Fatalf("the emulator saw %d calls, want 5", len(records))
	}
	for _, r := range records {
		var body struct {
			GuardrailConfig map[string]string `json:"guardrailConfig"`
		}
		json.Unmarshal(r.Body, &body)
		want := map[string]string{"guardrailIdentifier": emulator.GuardrailID, "guardrailVersion": emulator.GuardrailVersion, "trace": "enabled"}
		if r.Operation == "ConverseStream" {
			want["streamProcessingMode"] = "sync"
		}
		for k, v := range want {
			if body.GuardrailConfig[k] != v {
				t.Errorf("%s carried guardrailConfig %v; want %v", r.Operation, body.GuardrailConfig, want)
				break
			}
		}
	}
	if strings.Contains(gw.Logs.String(), "forbidden") {
		t.Errorf("the guardrail's match appears in the logs")
	}
}

// TestGuardrailBlocksOutput: an answer that quotes the blocked word (from
// a tool's result, which the guardrail does not check as input) is ended
// there: in sync mode the word is held back and the guardrail's message
// sent instead; in async mode the word went out first.
func TestGuardrailBlocksOutput(t *testing.T) {
	t.Parallel()
	body := `{"model":"emulator.tools-v1","stream":true,"messages":[` +
		`{"role":"user","content":"what does the sign say?"},` +
		`{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"read_sign","arguments":"{}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":"entry forbidden after dark"}],` +
		`"tools":[{"type":"function","function":{"name":"read_sign","parameters":{"type":"object"}}}]}`
	for _, tt := range []struct {
		mode      string
		wantWord  bool // the blocked word reached the client
		wantMsgAt bool // the text ends with the guardrail's message
	}{
		{"sync", false, true},
		{"async", true, false},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			gw := guardrailGateway(t, tt.mode)
			res := streamtest.Post(t, t.Context(), gw.URL+"/v1/chat/completions", "", body)
			var text strings.Builder
			for _, ev := range streamtest.ParseSSE(t, res.Chunks) {
				var chunk struct {
					Choices []struct{ Delta struct{ Content string } }
				}
				if json.Unmarshal([]byte(ev.Data), &chunk) == nil && len(chunk.Choices) == 1 {
					text.WriteString(chunk.Choices[0].Delta.Content)
				}
			}
			got := text.String()
			if !strings.Contains(string(res.Body), `"finish_reason":"content_filter"`) {
				t.Errorf("%s; want finish_reason content_filter", res.Body)
			}
			if strings.Contains(got, "forbidden") != tt.wantWord || strings.HasSuffix(got, emulator.GuardrailMessage) != tt.wantMsgAt {
				t.Errorf("text %q; want the word sent: %v, ending with the guardrail's message: %v", got, tt.wantWord, tt.wantMsgAt)
			}
			if line := lastLog(t, gw.Logs, "/v1/chat/completions"); line["guardrail"] != "intervened (output: word)" {
				t.Errorf("log line %v; want the guardrail's action on the output", line)
			}
		})
	}
}
