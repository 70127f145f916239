package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestImage(t *testing.T) {
	a := Image("a cat", 3, 0, 384, 576)
	if !bytes.Equal(a, Image("a cat", 3, 0, 384, 576)) {
		t.Error("Image is not deterministic")
	}
	for name, other := range map[string][]byte{
		"prompt": Image("a dog", 3, 0, 384, 576),
		"seed":   Image("a cat", 4, 0, 384, 576),
		"index":  Image("a cat", 3, 1, 384, 576),
	} {
		if bytes.Equal(a, other) {
			t.Errorf("changing the %s does not change the image", name)
		}
	}
	for _, size := range [][2]int{{1173, 640}, {320, 704}, {512, 512}, {1, 1}} {
		img, err := png.Decode(bytes.NewReader(Image("sizes", 0, 0, size[0], size[1])))
		if err != nil {
			t.Fatalf("%v: %v", size, err)
		}
		if b := img.Bounds(); b.Dx() != size[0] || b.Dy() != size[1] {
			t.Errorf("asked %v, got %v", size, b)
		}
	}
	for _, size := range [][2]int{{0, 10}, {10, -1}, {5000, 10}} {
		if Image("x", 0, 0, size[0], size[1]) != nil {
			t.Errorf("Image(%v) is not nil", size)
		}
	}
}

func TestImageSizes(t *testing.T) {
	sizes := ImageSizes()
	if len(sizes) != 25 || sizes[0] != [2]int{1024, 1024} || sizes[24] != [2]int{1173, 640} {
		t.Errorf("ImageSizes() = %v", sizes)
	}
	sizes[0] = [2]int{1, 1}
	if ImageSizes()[0] != [2]int{1024, 1024} || imageSizeAllowed(1, 1) {
		t.Error("ImageSizes shares its array")
	}
}

func cosine(a, b []float64) float64 {
	var dot float64
	for i := range a {
		dot += a[i] * b[i]
	}
	return dot / norm(a) / norm(b)
}

func TestEmbedding(t *testing.T) {
	for _, dims := range []int{256, 512, 1024} {
		v := Embedding("Hello, world", dims, true)
		if len(v) != dims || math.Abs(norm(v)-1) > 1e-6 {
			t.Errorf("%d: len %d norm %v", dims, len(v), norm(v))
		}
		for _, x := range v {
			if float64(float32(x)) != x {
				t.Fatalf("%v is not a float32 value", x)
			}
		}
	}
	if !cmp.Equal(Embedding("Hello, world", 256, true), Embedding("hello world!", 256, true)) {
		t.Error("the same words in another case and punctuation give another vector")
	}
	if Embedding("x", 300, true) != nil {
		t.Error("300 dimensions accepted")
	}
	base := Embedding("rivers flow into the sea", 1024, true)
	near := Embedding("rivers flow slowly into the deep sea", 1024, true)
	far := Embedding("quantum chromodynamics lecture notes", 1024, true)
	if cn, cf := cosine(base, near), cosine(base, far); cn <= cf+0.3 {
		t.Errorf("cosine with shared words %.3f, with none %.3f: want the first clearly higher", cn, cf)
	}
	if n := norm(Embedding("one two three four", 256, false)); math.Abs(n-2) > 1e-6 {
		t.Errorf("not normalized: norm %v, want sqrt(4 words)", n)
	}
	if v := Embedding("...", 256, true); len(v) != 256 || math.Abs(norm(v)-1) > 1e-6 {
		t.Error("a text without words has no vector")
	}
}

func TestToolCallFor(t *testing.T) {
	const prompt = "  Find flights to Zürich  "
	tests := []struct {
		name, schema, want string
	}{
		{"empty", `{}`, `{}`},
		{"no properties", `{"type":"object"}`, `{}`},
		{"required only", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"boolean"}},"required":["b"]}`, `{"b":true}`},
		{"all when none required, sorted", `{"type":"object","properties":{"z":{"type":"boolean"},"a":{"type":"string"}}}`, `{"a":"Find flights to Zürich","z":true}`},
		{"enum, const, default", `{"properties":{"e":{"type":"string","enum":["x","y"]},"c":{"const":3},"d":{"type":"integer","default":9}}}`, `{"c":3,"d":9,"e":"x"}`},
		{"minimum", `{"properties":{"n":{"type":"integer","minimum":4}}}`, `{"n":4}`},
		{"array and object", `{"properties":{"tags":{"type":"array","items":{"type":"boolean"}},"o":{"type":"object","properties":{"k":{"type":"null"}}}}}`, `{"o":{"k":null},"tags":[true]}`},
		{"anyOf and type list", `{"properties":{"u":{"anyOf":[{"type":"boolean"},{"type":"string"}]},"t":{"type":["null","boolean"]}}}`, `{"t":true,"u":true}`},
		{"no HTML escaping", `{"properties":{"q":{"type":"string","default":"<a&b>"}}}`, `{"q":"<a&b>"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call, err := ToolCallFor(prompt, "search", []byte(tt.schema))
			if err != nil {
				t.Fatal(err)
			}
			if call.Input != tt.want {
				t.Errorf("input %s, want %s", call.Input, tt.want)
			}
			checkFragments(t, call)
		})
	}

	// Numbers without bounds: 0..99, fixed for a prompt and a name.
	call, _ := ToolCallFor(prompt, "search", []byte(`{"properties":{"i":{"type":"integer"},"f":{"type":"number"},"m":{"type":"integer","maximum":-1}}}`))
	var v struct {
		I int
		F float64
		M int
	}
	if err := json.Unmarshal([]byte(call.Input), &v); err != nil || v.I < 0 || v.I > 99 || v.F != float64(int(v.F))+0.5 || v.M != -1 {
		t.Errorf("numbers %s (%v)", call.Input, err)
	}
	again, _ := ToolCallFor(prompt, "search", []byte(`{"properties":{"i":{"type":"integer"},"f":{"type":"number"},"m":{"type":"integer","maximum":-1}}}`))
	if !cmp.Equal(call, again) {
		t.Error("ToolCallFor is not deterministic")
	}
	other, _ := ToolCallFor(prompt, "lookup", []byte(`{}`))
	if !strings.HasPrefix(call.ID, "tooluse_") || len(call.ID) != 30 || other.ID == call.ID {
		t.Errorf("ids %q %q", call.ID, other.ID)
	}
	long, _ := ToolCallFor(strings.Repeat("ü", 300), "t", []byte(`{"properties":{"s":{"type":"string"}}}`))
	var s struct{ S string }
	if err := json.Unmarshal([]byte(long.Input), &s); err != nil || len(s.S) > maxStringValue || !utf8.ValidString(s.S) {
		t.Errorf("long prompt gives %d bytes (%v)", len(s.S), err)
	}
	checkFragments(t, long)
	if _, err := ToolCallFor("p", "t", []byte(`[1]`)); err == nil {
		t.Error("a schema that is not an object is accepted")
	}
}

func checkFragments(t *testing.T, call ToolCall) {
	t.Helper()
	if strings.Join(call.Fragments, "") != call.Input || len(call.Fragments) < 2 {
		t.Errorf("fragments %q of %q", call.Fragments, call.Input)
	}
	for _, f := range call.Fragments {
		if !utf8.ValidString(f) || len(f) > fragmentBytes+utf8.UTFMax {
			t.Errorf("fragment %q", f)
		}
	}
}

func TestChooseTool(t *testing.T) {
	tools := []toolSpec{{name: "alpha"}, {name: "Get_Weather"}, {name: "gamma"}}
	tests := []struct {
		prompt string
		choice toolChoice
		want   string
	}{
		{"nothing named", toolChoice{mode: "auto"}, "alpha"},
		{"please use get_weather", toolChoice{mode: "auto"}, "Get_Weather"},
		{"gamma or alpha", toolChoice{mode: "any"}, "alpha"},
		{"use gamma", toolChoice{mode: "any"}, "gamma"},
		{"use gamma", toolChoice{mode: "tool", name: "alpha"}, "alpha"},
	}
	for _, tt := range tests {
		if got := chooseTool(tt.prompt, tools, tt.choice).name; got != tt.want {
			t.Errorf("chooseTool(%q, %+v) = %s, want %s", tt.prompt, tt.choice, got, tt.want)
		}
	}
}

func TestToolResultAnswer(t *testing.T) {
	got := ToolResultAnswer(
		ToolResult{ToolName: "get_weather", Content: "Sunny,  21 °C"},
		ToolResult{ToolName: "get_time", Content: `{"error":"down"}`, Failed: true},
	)
	want := `The get_weather tool returned "Sunny,  21 °C". The get_time tool reported an error: "{"error":"down"}".`
	if strings.Join(got, "") != want {
		t.Errorf("answer %q, want %q", strings.Join(got, ""), want)
	}
	if got[0] != "The " || got[len(got)-1] != `"{"error":"down"}".` || got[4] != `"Sunny,  ` {
		t.Errorf("deltas %q", got)
	}
	long := ToolResultAnswer(ToolResult{ToolName: "t", Content: strings.Repeat("é", 2000)})
	if n := len(strings.Join(long, "")); n > maxQuotedResult+50 {
		t.Errorf("a long result is quoted in %d bytes", n)
	}
}

func TestReasoning(t *testing.T) {
	d, sig := Reasoning("why")
	d2, sig2 := Reasoning("why")
	if !cmp.Equal(d, d2) || sig != sig2 {
		t.Error("Reasoning is not deterministic")
	}
	if len(d) < minReasoningWords || len(d) > maxReasoningWords || !strings.HasSuffix(d[len(d)-1], ".") {
		t.Errorf("reasoning %q", d)
	}
	if raw, err := base64.StdEncoding.DecodeString(sig); err != nil || len(raw) != 32 {
		t.Errorf("signature %q", sig)
	}
	if o, osig := Reasoning("why not"); cmp.Equal(o, d) || osig == sig {
		t.Error("another prompt reasons the same way")
	}
}

func TestAnswerNewModels(t *testing.T) {
	steady, _ := Answer("emulator.steady-v1", "p", 0)
	for _, id := range []string{"emulator.text-v1", "emulator.tools-v1", "emulator.reasoning-v1"} {
		if got, stop := Answer(id, "p", 0); !cmp.Equal(got, steady) || stop != "end_turn" {
			t.Errorf("Answer(%s) = %q, %q; want steady's answer", id, got, stop)
		}
	}
	reasoning, _ := Reasoning("p")
	if got, stop := Answer("emulator.reasoning-v1", "p", len(reasoning)+2); !cmp.Equal(got, steady[:2]) || stop != "max_tokens" {
		t.Errorf("reasoning-v1 capped: %q %q", got, stop)
	}
	if got, stop := Answer("emulator.reasoning-v1", "p", 1); got != nil || stop != "max_tokens" {
		t.Errorf("reasoning-v1 capped in its reasoning: %q %q", got, stop)
	}
	for _, id := range []string{ImageModelID, EmbeddingModelID} {
		if got, stop := Answer(id, "p", 0); got != nil || stop != "" {
			t.Errorf("Answer(%s) = %q, %q", id, got, stop)
		}
		if k, ok := resolveModel("us." + id + ":0"); !ok || k != map[string]kind{ImageModelID: kindImage, EmbeddingModelID: kindEmbed}[id] {
			t.Errorf("resolveModel(%s) = %v %v", id, k, ok)
		}
	}
}

func TestSplitWordsAndFragments(t *testing.T) {
	for _, s := range []string{"", "a", "a b", "  lead", "trail  ", "x  y   z"} {
		if got := strings.Join(splitWords(s), ""); got != s {
			t.Errorf("splitWords(%q) joins to %q", s, got)
		}
		if got := strings.Join(fragments(s), ""); got != s {
			t.Errorf("fragments(%q) joins to %q", s, got)
		}
	}
	if got := fragments("{}"); !cmp.Equal(got, []string{"{", "}"}) {
		t.Errorf("fragments({}) = %q", got)
	}
}
