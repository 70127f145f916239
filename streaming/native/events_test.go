package native

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestReasoningAndToolEventsOnStream (issue 10, item 3): /stream relays
// reasoning as reasoning events and a tool call as one tool_use event with
// its whole input, in SSE and NDJSON; text mode carries only the answer.
func TestReasoningAndToolEventsOnStream(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{TokensPerSecond: 1000}, testConfig(), nil)
	const prompt = "plan a trip to Oslo with get_weather"
	reasoning, _ := emulator.Reasoning(prompt)
	answer, _ := emulator.Answer("emulator.reasoning-v1", prompt, 0)
	schema := `{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}`
	call, err := emulator.ToolCallFor(prompt, "get_weather", []byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	toolsBody := `{"prompt":"` + prompt + `","modelId":"emulator.tools-v1","tools":[{"name":"get_weather","description":"weather","inputSchema":` + schema + `}],"toolChoice":{"name":"get_weather"}}`
	reasoningBody := `{"prompt":"` + prompt + `","modelId":"emulator.reasoning-v1"}`

	// events returns (type, payload) pairs of either format.
	events := func(t *testing.T, accept, body string) [][2]string {
		res := streamtest.Post(t, t.Context(), gw.URL+"/stream", accept, body)
		if res.Status != http.StatusOK || res.ReadErr != nil {
			t.Fatalf("status %d, %v: %s", res.Status, res.ReadErr, res.Body)
		}
		var out [][2]string
		if accept == "text/event-stream" {
			for _, ev := range streamtest.ParseSSE(t, res.Chunks) {
				out = append(out, [2]string{ev.Name, ev.Data})
			}
			return out
		}
		for _, l := range streamtest.ParseNDJSON(t, res.Chunks) {
			typ := l.Fields["type"].(string)
			delete(l.Fields, "type")
			b, _ := json.Marshal(l.Fields)
			out = append(out, [2]string{typ, string(b)})
		}
		return out
	}
	for _, accept := range []string{"text/event-stream", "application/x-ndjson"} {
		t.Run(accept, func(t *testing.T) {
			t.Parallel()
			var gotReasoning, gotText strings.Builder
			for _, ev := range events(t, accept, reasoningBody) {
				d := streamtest.DecodeJSON[struct{ Text string }](t, ev[1])
				switch ev[0] {
				case "reasoning":
					if gotText.Len() > 0 {
						t.Error("reasoning after the answer began")
					}
					gotReasoning.WriteString(d.Text)
				case "delta":
					gotText.WriteString(d.Text)
				}
			}
			if gotReasoning.String() != strings.Join(reasoning, "") || gotText.String() != strings.Join(answer, "") {
				t.Errorf("reasoning %q and text %q; want %q and %q", gotReasoning.String(), gotText.String(), strings.Join(reasoning, ""), strings.Join(answer, ""))
			}

			var uses []string
			var done string
			for _, ev := range events(t, accept, toolsBody) {
				switch ev[0] {
				case "tool_use":
					uses = append(uses, ev[1])
				case "done":
					done = ev[1]
				}
			}
			want := `{"id":"` + call.ID + `","input":` + call.Input + `,"name":"get_weather"}`
			if len(uses) != 1 || canonical(t, uses[0]) != canonical(t, want) || !strings.Contains(done, `"stopReason":"tool_use"`) {
				t.Errorf("tool_use events %v, done %s; want one %s and stop tool_use", uses, done, want)
			}
		})
	}
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		res := streamtest.Post(t, t.Context(), gw.URL+"/stream", "text/plain", reasoningBody)
		if string(res.Body) != strings.Join(answer, "") {
			t.Errorf("text mode %q; want only the answer %q", res.Body, strings.Join(answer, ""))
		}
	})
}

func canonical(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
