package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// TestCountTokens: CountTokens counts what the same request would report
// as inputTokens, for a converse or an invokeModel input, through the
// SDK; an inference profile id is refused.
func TestCountTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	out, err := h.client.CountTokens(testContext(t), &bedrockruntime.CountTokensInput{ModelId: aws.String("emulator.fast-v1"),
		Input: &types.CountTokensInputMemberConverse{Value: types.ConverseTokensRequest{
			System:   []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "two words"}},
			Messages: []types.Message{{Role: "user", Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "three more words"}}}},
		}}})
	if err != nil || aws.ToInt32(out.InputTokens) != 5 {
		t.Fatalf("converse count %v, %v; want 5", out, err)
	}
	body := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"four words right here"}]}`
	out, err = h.client.CountTokens(testContext(t), &bedrockruntime.CountTokensInput{ModelId: aws.String("emulator.fast-v1"),
		Input: &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: []byte(body)}}})
	if err != nil || aws.ToInt32(out.InputTokens) != 4 {
		t.Fatalf("invokeModel count %v, %v; want 4", out, err)
	}
	r := rawPost(t, h, "/model/us.emulator.fast-v1/count-tokens", `{"input":{"converse":{"messages":[{"role":"user","content":[{"text":"hi"}]}]}}}`)
	if r.status != 400 || !strings.Contains(r.message(t), "foundation model") {
		t.Errorf("a profile id: %d %s", r.status, r.body)
	}
}

// TestPromptCache: a repeated prefix up to a cache point is read from the
// cache; a new one is written; a moved cache_control mark does not change
// the prefix; another model has its own cache.
func TestPromptCache(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{TokensPerSecond: 5000})
	converse := func(model, system, user string) usage {
		r := rawPost(t, h, "/model/"+model+"/converse", `{"system":[{"text":"`+system+`"},{"cachePoint":{"type":"default"}}],"messages":[{"role":"user","content":[{"text":"`+user+`"}]}]}`)
		var out struct{ Usage usage }
		if r.status != 200 || json.Unmarshal(r.body, &out) != nil {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return out.Usage
	}
	first := converse("emulator.fast-v1", "a b c d e f", "one two")
	second := converse("emulator.fast-v1", "a b c d e f", "three four five")
	other := converse("emulator.steady-v1", "a b c d e f", "one two")
	if first != (usage{2, first.OutputTokens, 8 + first.OutputTokens, 0, 6}) {
		t.Errorf("first %+v; want 6 tokens written, 2 uncached", first)
	}
	if second.CacheReadInputTokens != 6 || second.CacheWriteInputTokens != 0 || second.InputTokens != 3 || second.TotalTokens != 9+second.OutputTokens {
		t.Errorf("second %+v; want 6 tokens read, 3 uncached", second)
	}
	if other.CacheWriteInputTokens != 6 {
		t.Errorf("another model %+v; want its own cache", other)
	}
	anth := func(mark string) map[string]int {
		body := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"system":[{"type":"text","text":"s t u v"` + mark + `}],` +
			`"messages":[{"role":"user","content":[{"type":"text","text":"w x","cache_control":{"type":"ephemeral"}}]}]}`
		r := rawPost(t, h, "/model/emulator.fast-v1/invoke", body)
		var out struct{ Usage map[string]int }
		if r.status != 200 || json.Unmarshal(r.body, &out) != nil {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return out.Usage
	}
	a := anth(`,"cache_control":{"type":"ephemeral"}`)
	b := anth(``)
	if a["cache_creation_input_tokens"] != 6 || b["cache_read_input_tokens"] != 6 || b["input_tokens"] != 0 {
		t.Errorf("anthropic usage %v then %v; want 6 written, then 6 read though a mark moved", a, b)
	}
}

// TestThinkingChecks: thinking blocks are checked on the way back, in
// both shapes.
func TestThinkingChecks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{TokensPerSecond: 5000})
	reasoning, sig := Reasoning("why")
	text := strings.Join(reasoning, "")
	rt := func(text, sig string) string {
		return `{"reasoningContent":{"reasoningText":{"text":` + quote(text) + `,"signature":` + quote(sig) + `}}}`
	}
	thinking := `,"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}},"inferenceConfig":{"maxTokens":2000}`
	tools := `,"toolConfig":{"tools":[{"toolSpec":{"name":"t","inputSchema":{"json":{"type":"object"}}}}]}`
	for _, tc := range []struct{ name, body, want string }{
		{"signature sent back", `{"messages":[{"role":"user","content":[{"text":"why"}]},{"role":"assistant","content":[` + rt(text, sig) + `,{"text":"ok"}]},{"role":"user","content":[{"text":"more"}]}]` + thinking + `}`, ""},
		{"altered text", `{"messages":[{"role":"user","content":[{"text":"why"}]},{"role":"assistant","content":[` + rt(text+"!", sig) + `]},{"role":"user","content":[{"text":"more"}]}]}`, "Invalid `signature`"},
		{"from the user", `{"messages":[{"role":"user","content":[` + rt(text, sig) + `]}]}`, "may only appear in `assistant` messages"},
		{"after text", `{"messages":[{"role":"user","content":[{"text":"why"}]},{"role":"assistant","content":[{"text":"ok"},` + rt(text, sig) + `]},{"role":"user","content":[{"text":"more"}]}]}`, "must come before"},
		{"tool loop without its thinking", `{"messages":[{"role":"user","content":[{"text":"why"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"u1","name":"t","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"u1","content":[{"text":"r"}]}}]}]` + thinking + tools + `}`, "Expected `thinking` or `redacted_thinking`"},
		{"tool loop with its thinking", `{"messages":[{"role":"user","content":[{"text":"why"}]},{"role":"assistant","content":[` + rt(text, sig) + `,{"toolUse":{"toolUseId":"u1","name":"t","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"u1","content":[{"text":"r"}]}}]}]` + thinking + tools + `}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawPost(t, h, "/model/emulator.reasoning-v1/converse", tc.body)
			switch {
			case tc.want == "" && r.status != 200:
				t.Errorf("%d %s; want it accepted", r.status, r.body)
			case tc.want != "" && (r.status != 400 || !strings.Contains(r.message(t), tc.want)):
				t.Errorf("%d %s; want 400 with %q", r.status, r.body, tc.want)
			}
		})
	}
	anth := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"why"},{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"forged"}]},{"role":"user","content":"more"}]}`
	if r := rawPost(t, h, "/model/emulator.fast-v1/invoke", anth); r.status != 400 || !strings.Contains(r.message(t), "Invalid `signature`") {
		t.Errorf("anthropic forged signature: %d %s", r.status, r.body)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestDocuments: Converse document blocks are checked as Bedrock checks
// them.
func TestDocuments(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{TokensPerSecond: 5000})
	doc := func(format, name, data string) string {
		return `{"messages":[{"role":"user","content":[{"text":"read"},{"document":{"format":"` + format + `","name":"` + name + `","source":{"bytes":"` + b64([]byte(data)) + `"}}}]}]}`
	}
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"pdf", doc("pdf", "report (2026)", "%PDF-1.7 x"), true},
		{"text", doc("txt", "notes", "plain"), true},
		{"not a pdf", doc("pdf", "report", "hello"), false},
		{"format", doc("exe", "x", "y"), false},
		{"name", doc("txt", "a/b", "y"), false},
		{"two spaces", doc("txt", "a  b", "y"), false},
	} {
		if r := rawPost(t, h, "/model/emulator.fast-v1/converse", tc.body); (r.status == 200) != tc.ok {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
}

// TestListInferenceProfiles: a system-defined profile of every chat model,
// in the geography of the signing Region, through the SDK's paginator.
func TestListInferenceProfiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	c := bedrock.New(bedrock.Options{Region: "eu-west-1", BaseEndpoint: aws.String(h.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	p := bedrock.NewListInferenceProfilesPaginator(c, &bedrock.ListInferenceProfilesInput{TypeEquals: "SYSTEM_DEFINED", MaxResults: aws.Int32(4)})
	var ids []string
	for p.HasMorePages() {
		page, err := p.NextPage(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.InferenceProfileSummaries {
			ids = append(ids, aws.ToString(s.InferenceProfileId))
		}
	}
	if len(ids) != len(Models()) || ids[0] != "eu."+Models()[0] {
		t.Errorf("profiles %v", ids)
	}
	if r := rawGet(t, h, "/inference-profiles?type=APPLICATION"); r.status != 200 || !strings.Contains(string(r.body), `"inferenceProfileSummaries":[]`) {
		t.Errorf("application profiles: %d %s", r.status, r.body)
	}
}

func rawGet(t *testing.T, h *harness, path string) rawResponse {
	t.Helper()
	req, _ := http.NewRequestWithContext(testContext(t), http.MethodGet, h.srv.URL+path, nil)
	req.Header.Set("Authorization", testAuth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return rawResponse{resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), resp.Header, []byte(b.String())}
}
