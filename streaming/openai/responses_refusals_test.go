package openai

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/openai/openai-go/v3"

	"github.com/streamgate/streamgate/streaming"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/gatewaytest"
)

// TestResponsesRefusals: each wrong field gets a 400 (403 for a model
// outside the allowlist) naming it, through the real SDK, and no request
// reaches Bedrock.
func TestResponsesRefusals(t *testing.T) {
	t.Parallel()
	gw := newTestGateway(t, emulator.Options{}, testConfig(), nil)
	const in = `"input":"hi"`
	png := "data:image/png;base64,iVBORw0KGgo="
	tests := []struct{ body, param string }{
		{`{}`, "input"},
		{`{"input":null}`, "input"},
		{`{"input":""}`, "input"},
		{`{"input":[]}`, "input"},
		{`{"input":5}`, "input"},
		{`{"input":{"role":"user"}}`, "input"},
		{`{` + in + `,"previous_response_id":"resp_1"}`, "previous_response_id"},
		{`{` + in + `,"conversation":"conv_1"}`, "conversation"},
		{`{` + in + `,"conversation":{"id":"conv_1"}}`, "conversation"},
		{`{` + in + `,"background":true}`, "background"},
		{`{` + in + `,"prompt":{"id":"pmpt_1"}}`, "prompt"},
		{`{` + in + `,"top_logprobs":2}`, "top_logprobs"},
		{`{` + in + `,"text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object"}}}}`, "text.format"},
		{`{` + in + `,"text":{"format":{"type":"json_object"}}}`, "text.format"},
		{`{` + in + `,"metadata":"x"}`, "metadata"},
		{`{` + in + `,"model":"gpt-5"}`, "model"},
		{`{` + in + `,"max_output_tokens":0}`, "max_output_tokens"},
		{`{` + in + `,"max_output_tokens":"many"}`, "max_output_tokens"},
		{`{` + in + `,"temperature":3}`, "temperature"},
		{`{` + in + `,"top_p":-1}`, "top_p"},
		{`{` + in + `,"stream":"yes"}`, "stream"},
		{`{` + in + `,"instructions":["a"]}`, "instructions"},
		{`{` + in + `,"reasoning":{"effort":"high"}}`, "reasoning.effort"},
		{`{` + in + `,"reasoning":{"effort":"extreme"}}`, "reasoning.effort"},
		{`{` + in + `,"tools":[{"name":"f"}]}`, "tools[0].type"},
		{`{` + in + `,"tools":[5]}`, "tools[0]"},
		{`{` + in + `,"tools":[{"type":"function","function":{"name":"f"}}]}`, "tools[0].name"},
		{`{` + in + `,"tools":[{"type":"function","name":"bad name"}]}`, "tools"},
		{`{` + in + `,"tools":[{"type":"function","name":"f"},{"type":"function","name":"f"}]}`, "tools"},
		{`{` + in + `,"tools":[{"type":"function","name":"f","parameters":[1]}]}`, "tools"},
		{`{` + in + `,"tools":[{"type":"function","name":"f"}],"tool_choice":"sometimes"}`, "tool_choice"},
		{`{` + in + `,"tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function"}}`, "tool_choice"},
		{`{` + in + `,"tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}}`, "tools"},
		{`{` + in + `,"tools":[{"type":"web_search"}],"tool_choice":{"type":"web_search"}}`, "tool_choice"},
		{`{` + in + `,"tools":[{"type":"custom","name":"apply_patch"}],"tool_choice":{"type":"custom","name":"apply_patch"}}`, "tool_choice"},
		{`{` + in + `,"tools":[{"type":"web_search"}],"tool_choice":"required"}`, "tool_choice"},
		{`{` + in + `,"tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"allowed_tools","mode":"auto","tools":[{"type":"function","name":"g"}]}}`, "tool_choice"},
		{`{` + in + `,"tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"allowed_tools","mode":"sometimes","tools":[]}}`, "tool_choice"},
		{`{"input":[{"role":"wizard","content":"hi"}]}`, "input[0].role"},
		{`{"input":[{"type":"message","role":"user","content":""}]}`, "input[0].content"},
		{`{"input":[{"type":"message","role":"user","content":[]}]}`, "input[0].content"},
		{`{"input":[{"type":"message","role":"user","content":7}]}`, "input[0].content"},
		{`{"input":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, "input[0].content[0]"},
		{`{"input":[{"role":"user","content":[{"type":"input_file","file_id":"file_1"}]}]}`, "input[0].content[0]"},
		{`{"input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]}`, "input[0].content[0]"},
		{`{"input":[{"role":"user","content":[{"type":"input_image"}]}]}`, "input[0].content[0]"},
		{`{"input":[{"role":"user","content":[{"type":"input_image","image_url":"https://example.com/cat.png"}]}]}`, "input[0].content[0]"},
		{`{"input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/bmp;base64,AAAA"}]}]}`, "input[0].content[0]"},
		{`{"input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,!!!"}]}]}`, "input[0].content[0]"},
		{`{"input":[{"role":"system","content":[{"type":"input_image","image_url":"` + png + `"}]},{"role":"user","content":"hi"}]}`, "input[0].content[0]"},
		{`{"input":[{"role":"assistant","content":"hello"}]}`, "input"},
		{`{"input":[{"role":"developer","content":"rules"}]}`, "input"},
		{`{"input":[{"role":"user","content":"hi"},{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[1]"},
		{`{"input":[{"role":"user","content":"hi"},{"type":"function_call","call_id":"c","name":"f","arguments":"{not json"}]}`, "input[1].arguments"},
		{`{"input":[{"role":"user","content":"hi"},{"type":"function_call_output","output":"x"}]}`, "input[1].call_id"},
		{`{"input":[{"role":"user","content":"hi"},{"type":"function_call_output","call_id":"c"}]}`, "input[1].output"},
		{`{"input":[{"role":"user","content":"hi"},{"type":"function_call_output","call_id":"c","output":5}]}`, "input[1].output"},
		{`{"input":[{"role":"user","content":"hi"},{"type":"reasoning","summary":[],"encrypted_content":"bedrock-redacted:!!"}]}`, "input[1].encrypted_content"},
		{`{"input":[{"role":"user","content":"hi"},{"type":"item_reference","id":"msg_1"}]}`, "input[1]"},
		{`{"input":[{"role":"user","content":"hi"},{"type":"web_search_call","id":"ws_1"}]}`, "input[1].type"},
		{`{"input":[{"role":"user","content":"hi"},{"type":"custom_tool_call","call_id":"c","name":"apply_patch","input":"x"}]}`, "input[1].type"},
		{`{"input":[{"content":"no role"}]}`, "input[0].type"},
		{`{"input":[7]}`, "input[0]"},
		{`{"input":[{"role":"user","content":"hi"},{"type":"function_call","call_id":"c","name":"f","arguments":{"a":1}}]}`, "input[1].arguments"},
		{`{"input":[{"role":"user","content":"hi"},{"type":"reasoning","summary":"thought","encrypted_content":"s"}]}`, "input[1].summary"},
		{`{"input":[{"role":"user","content":[null]}]}`, "input[0].content[0]"},
		{`{"input":[{"role":"user","content":[{"type":"input_text"}]}]}`, "input[0].content"},
	}
	client := openAIClient(gw.URL)
	for _, tt := range tests {
		var apiErr *openai.Error
		err := client.Post(t.Context(), "responses", json.RawMessage(tt.body), nil)
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest && apiErr.StatusCode != http.StatusForbidden || apiErr.Param != tt.param {
			t.Errorf("%s: %v (param %q); want 400 naming %s", tt.body, err, paramOf(apiErr), tt.param)
		}
	}
	if n := len(gw.Emu.Records()); n != 0 {
		t.Errorf("refused requests reached the emulator: %d", n)
	}
}

// TestResponsesMapping checks the Responses → Bedrock mapping of DESIGN
// §2d on requests clients send.
func TestResponsesMapping(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SystemPrompt = "operator rules"
	cfg.MaxTokens = 8192
	cfg.AllowedModels = append(cfg.AllowedModels, "us.anthropic.claude-sonnet-4-20250514-v1:0")
	tests := []struct {
		name        string
		body        string
		wantDropped []string
		want        func(p *responsesPlan) string // "" when p is right
	}{
		{"AI SDK: typeless message with input_text parts", `{"model":"emulator.fast-v1","input":[{"role":"user","content":[{"type":"input_text","text":"hi there"}]}],"stream":true}`, nil,
			func(p *responsesPlan) string {
				if len(p.call.Messages) != 1 || p.call.Messages[0].Content[0].(*types.ContentBlockMemberText).Value != "hi there" {
					return "want one user turn"
				}
				return ""
			}},
		{"LangChain: text {} and string content", `{"input":[{"type":"message","role":"user","content":"hi there"}],"model":"emulator.fast-v1","stream":false,"text":{}}`, nil,
			func(p *responsesPlan) string { return "" }},
		{"instructions and developer messages after the operator's", `{"instructions":"be brief","input":[{"role":"developer","content":"use lists"},{"role":"system","content":[{"type":"input_text","text":"no jokes"}]},{"role":"user","content":"hi"}]}`, nil,
			func(p *responsesPlan) string {
				return diffSystem(p.call.System, "operator rules", "be brief", "use lists", "no jokes")
			}},
		{"a whole tool loop with reasoning", `{"input":[{"role":"user","content":"weather?"},{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"I should "},{"type":"summary_text","text":"look."}],"encrypted_content":"c2ln"},{"type":"reasoning","id":"rs_2","summary":[],"encrypted_content":"bedrock-redacted:AQID"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking."}]},{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Oslo\"}"},{"type":"function_call","call_id":"call_2","name":"get_weather","arguments":""},{"type":"function_call_output","call_id":"call_1","output":"rain"},{"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"sun"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]}],"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}],"include":["reasoning.encrypted_content"]}`, nil,
			func(p *responsesPlan) string {
				m := p.call.Messages
				if len(m) != 3 || len(m[1].Content) != 5 || len(m[2].Content) != 2 {
					return "want user, assistant (2 reasoning, text, 2 calls), user (2 results)"
				}
				rt, ok := m[1].Content[0].(*types.ContentBlockMemberReasoningContent).Value.(*types.ReasoningContentBlockMemberReasoningText)
				if !ok || *rt.Value.Text != "I should look." || *rt.Value.Signature != "c2ln" {
					return "reasoning item is not the reasoning text with its signature"
				}
				if rd, ok := m[1].Content[1].(*types.ContentBlockMemberReasoningContent).Value.(*types.ReasoningContentBlockMemberRedactedContent); !ok || string(rd.Value) != "\x01\x02\x03" {
					return "redacted reasoning not restored"
				}
				if use := m[1].Content[4].(*types.ContentBlockMemberToolUse); *use.Value.ToolUseId != "call_2" || docJSON(use.Value.Input) != `{}` {
					return "empty arguments are not {}"
				}
				res := m[2].Content[1].(*types.ContentBlockMemberToolResult).Value
				if _, isImage := res.Content[1].(*types.ToolResultContentBlockMemberImage); *res.ToolUseId != "call_2" || !isImage {
					return "output parts not mapped"
				}
				return ""
			}},
		{"reasoning without encrypted_content is dropped", `{"input":[{"role":"user","content":"a"},{"type":"reasoning","id":"rs_1","summary":[]},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`,
			[]string{"input:reasoning without encrypted_content"},
			func(p *responsesPlan) string {
				if len(p.call.Messages) != 3 || len(p.call.Messages[1].Content) != 1 {
					return "want the assistant turn without the reasoning"
				}
				return ""
			}},
		{"tools Bedrock cannot run are left out; allowed_tools keeps a subset", `{"input":"hi","tools":[{"type":"web_search"},{"type":"file_search","vector_store_ids":["v"]},{"type":"code_interpreter","container":"auto"},{"type":"local_shell"},{"type":"custom","name":"apply_patch"},{"type":"namespace","name":"ns","tools":[]},{"type":"mcp","server_label":"x"},{"type":"function","name":"a"},{"type":"function","name":"b"}],"tool_choice":{"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"b"},{"type":"web_search"}]}}`,
			[]string{"tools:web_search", "tools:file_search", "tools:code_interpreter", "tools:local_shell", "tools:custom:apply_patch", "tools:namespace:ns", "tools:mcp"},
			func(p *responsesPlan) string {
				if len(p.call.Tools.Tools) != 1 || *p.call.Tools.Tools[0].(*types.ToolMemberToolSpec).Value.Name != "b" {
					return "want tool b alone"
				}
				if _, any := p.call.Tools.ToolChoice.(*types.ToolChoiceMemberAny); !any {
					return "mode required is not Bedrock's any"
				}
				return ""
			}},
		{"forced function, none", `{"input":"hi","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"f"}}`, nil,
			func(p *responsesPlan) string {
				if tc, ok := p.call.Tools.ToolChoice.(*types.ToolChoiceMemberTool); !ok || *tc.Value.Name != "f" {
					return "want toolChoice tool f"
				}
				return ""
			}},
		{"tool_choice none sends no toolConfig", `{"input":"hi","tools":[{"type":"function","name":"f"}],"tool_choice":"none"}`, nil,
			func(p *responsesPlan) string {
				if p.call.Tools != nil {
					return "toolConfig sent"
				}
				return ""
			}},
		{"sampling, clamped", `{"input":"hi","max_output_tokens":99999,"temperature":0.3,"top_p":0.8}`, nil,
			func(p *responsesPlan) string {
				if ic := p.call.Inference; *ic.MaxTokens != 8192 || *ic.Temperature != 0.3 || *ic.TopP != 0.8 {
					return "sampling not mapped"
				}
				return ""
			}},
		{"reasoning effort on Claude", `{"model":"us.anthropic.claude-sonnet-4-20250514-v1:0","input":"hi","reasoning":{"effort":"medium","summary":"auto"},"temperature":0.2}`, nil,
			func(p *responsesPlan) string {
				if docJSON(p.call.Additional) != `{"thinking":{"budget_tokens":4096,"type":"enabled"}}` || p.call.Inference.Temperature != nil {
					return "want thinking budget 4096 and no temperature, got " + docJSON(p.call.Additional)
				}
				return ""
			}},
		{"reasoning effort none and minimal think not", `{"model":"emulator.steady-v1","input":"hi","reasoning":{"effort":"minimal"}}`, nil,
			func(p *responsesPlan) string {
				if p.call.Additional != nil {
					return "thinking sent"
				}
				return ""
			}},
		{"accepted, not honoured, named", `{"input":"hi","store":true,"parallel_tool_calls":false,"truncation":"auto","service_tier":"flex","max_tool_calls":3,"context_management":[{"type":"compaction"}],"text":{"format":{"type":"text"},"verbosity":"low"},"include":["message.output_text.logprobs","reasoning.encrypted_content"],"prompt_cache_key":"k","prompt_cache_retention":"24h","user":"u","safety_identifier":"s","metadata":{"a":"b"},"client_metadata":{"secret":"x"},"stream_options":{"include_obfuscation":false},"top_logprobs":0,"background":false}`,
			[]string{"include:message.output_text.logprobs", "parallel_tool_calls", "truncation", "service_tier", "max_tool_calls", "context_management", "prompt_cache_key", "text.verbosity"},
			func(p *responsesPlan) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req responsesRequest
			if e := streaming.DecodeLenient([]byte(tt.body), &req); e != nil {
				t.Fatal(e)
			}
			p, e := responsesCall(&cfg, &req)
			if e != nil {
				t.Fatalf("refused: %v", e)
			}
			if !slices.Equal(p.dropped, tt.wantDropped) {
				t.Errorf("dropped %q, want %q", p.dropped, tt.wantDropped)
			}
			if problem := tt.want(p); problem != "" {
				t.Error(problem)
			}
		})
	}
}

// FuzzResponsesRequest checks the Responses request decoder and mapping
// on arbitrary bodies: no panic, every rejection a complete 4xx naming
// valid UTF-8, every accepted request within the operator's policy and
// starting with a user turn, roles alternating as Bedrock requires.
func FuzzResponsesRequest(f *testing.F) {
	for _, seed := range []string{
		`{"model":"emulator.fast-v1","input":"hi","stream":true,"max_output_tokens":5}`,
		`{"input":[{"role":"developer","content":"s"},{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]}]}`,
		`{"input":[{"role":"user","content":"w"},{"type":"reasoning","summary":[{"type":"summary_text","text":"t"}],"encrypted_content":"s"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"r"}],"tools":[{"type":"function","name":"f"},{"type":"web_search"}]}`,
		`{"input":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"assistant","content":"c"}],"tool_choice":{"type":"allowed_tools","mode":"auto","tools":[]}}`,
		`{"input":"a","previous_response_id":"x"}`, `{"input":[{"type":"item_reference","id":"x"}]}`,
		`{"input":null}`, `[]`, `{`, ``, `{"a":1,"a":2}`,
	} {
		f.Add([]byte(seed))
	}
	cfg := gatewaytest.Config()
	cfg.MaxTokens = 100
	cfg.AllowedModels = []string{"emulator.steady-v1", "emulator.fast-v1"}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req responsesRequest
		apiErr := streaming.DecodeLenient(body, &req)
		var p *responsesPlan
		if apiErr == nil {
			p, apiErr = responsesCall(&cfg, &req)
		}
		var c *streaming.Call
		if p != nil {
			c = p.call
		}
		gatewaytest.CheckRequestOutcome(t, &cfg, c, apiErr)
		if apiErr != nil {
			return
		}
		for _, d := range p.dropped {
			if len(d) > 80 || !utf8.ValidString(d) {
				t.Fatalf("dropped name %q", d)
			}
		}
	})
}
