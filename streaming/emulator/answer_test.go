package emulator

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAnswerConvention(t *testing.T) {
	prompts := []string{"", "hello", "Explain event streams in one paragraph.", "ünïcødé prompt ✓"}
	for _, model := range []string{"emulator.steady-v1", "emulator.fast-v1", "emulator.slow-start-v1"} {
		for _, prompt := range prompts {
			deltas, stop := Answer(model, prompt, 0)
			if stop != "end_turn" {
				t.Errorf("%s %q: stop = %q, want end_turn", model, prompt, stop)
			}
			if n := len(deltas); n < minWords || n > maxWords {
				t.Errorf("%s %q: %d deltas, want %d..%d", model, prompt, n, minWords, maxWords)
			}
			for i, d := range deltas {
				word := strings.TrimRight(d, ". ")
				if word == "" || strings.ContainsAny(word, " .") {
					t.Fatalf("%s %q: delta %d = %q is not one word", model, prompt, i, d)
				}
				last := i == len(deltas)-1
				if last && !strings.HasSuffix(d, ".") {
					t.Errorf("%s %q: last delta %q does not end with '.'", model, prompt, d)
				}
				if !last && !strings.HasSuffix(d, " ") {
					t.Errorf("%s %q: delta %d = %q does not end with a space", model, prompt, i, d)
				}
			}
			text := strings.Join(deltas, "")
			if text != strings.TrimSpace(text) || strings.Contains(text, "  ") {
				t.Errorf("%s %q: badly spaced answer %q", model, prompt, text)
			}
			if first := deltas[0]; first[:1] != strings.ToUpper(first[:1]) {
				t.Errorf("%s %q: first word %q not capitalised", model, prompt, first)
			}
		}
	}
}

func TestAnswerDeterministicAndPromptDependent(t *testing.T) {
	a1, _ := Answer("emulator.steady-v1", "prompt one", 0)
	a2, _ := Answer("emulator.steady-v1", "prompt one", 0)
	b, _ := Answer("emulator.steady-v1", "prompt two", 0)
	if diff := cmp.Diff(a1, a2); diff != "" {
		t.Errorf("same prompt, different answers (-first +second):\n%s", diff)
	}
	if slices.Equal(a1, b) {
		t.Errorf("different prompts gave the same answer %q", strings.Join(a1, ""))
	}
	for _, m := range []string{"emulator.fast-v1", "emulator.slow-start-v1"} {
		got, _ := Answer(m, "prompt one", 0)
		if diff := cmp.Diff(a1, got); diff != "" {
			t.Errorf("%s differs from steady-v1 (-steady +%s):\n%s", m, m, diff)
		}
	}
	// Lengths vary with the prompt, across the documented range.
	lengths := map[int]bool{}
	for i := range 50 {
		d, _ := Answer("emulator.fast-v1", strings.Repeat("x", i), 0)
		lengths[len(d)] = true
	}
	if len(lengths) < 10 {
		t.Errorf("only %d distinct answer lengths over 50 prompts", len(lengths))
	}
}

func TestAnswerMaxTokens(t *testing.T) {
	full, _ := Answer("emulator.steady-v1", "cap me", 0)
	n := len(full)
	tests := []struct {
		maxTokens int
		wantLen   int
		wantStop  string
	}{
		{0, n, "end_turn"},
		{1, 1, "max_tokens"},
		{7, 7, "max_tokens"},
		{n - 1, n - 1, "max_tokens"},
		{n, n, "end_turn"},
		{n + 100, n, "end_turn"},
	}
	for _, tt := range tests {
		got, stop := Answer("emulator.steady-v1", "cap me", tt.maxTokens)
		if stop != tt.wantStop || len(got) != tt.wantLen {
			t.Errorf("maxTokens %d: %d deltas, stop %q; want %d, %q", tt.maxTokens, len(got), stop, tt.wantLen, tt.wantStop)
		}
		if diff := cmp.Diff(full[:len(got)], got); diff != "" {
			t.Errorf("maxTokens %d: not a prefix of the full answer:\n%s", tt.maxTokens, diff)
		}
	}
}

func TestAnswerLong(t *testing.T) {
	deltas, stop := Answer("emulator.long-v1", "a long one", 0)
	size := len(strings.Join(deltas, ""))
	if stop != "end_turn" || size < 50*1024 || size > 54*1024 {
		t.Errorf("long answer: %d bytes, stop %q; want about 52 KB, end_turn", size, stop)
	}
	// The default rate that fits 95 s is far faster than steady's 50/s.
	if rate := float64(len(deltas)) / defaultLongDuration.Seconds(); rate < 60 || rate > 120 {
		t.Errorf("long answer rate %.1f words/s, want about 85", rate)
	}
	capped, stop := Answer("emulator.long-v1", "a long one", 300)
	if len(capped) != 300 || stop != "max_tokens" {
		t.Errorf("capped long answer: %d deltas, stop %q", len(capped), stop)
	}
}

func TestAnswerOtherModels(t *testing.T) {
	steady, _ := Answer("emulator.steady-v1", "p", 0)
	tests := []struct {
		model    string
		max      int
		want     []string
		wantStop string
	}{
		{"emulator.midstream-error-v1", 0, steady[:failAfter], ""},
		{"emulator.truncated-v1", 0, steady[:failAfter], ""},
		{"emulator.midstream-error-v1", 2, steady[:2], ""},
		{"emulator.throttle-v1", 0, nil, ""},
		{"emulator.timestamp-v1", 0, nil, ""},
		{"no.such-model", 0, nil, ""},
		{"emulator.steady-v1:0", 0, steady, "end_turn"},
		{"arn:aws:bedrock:us-east-1::foundation-model/emulator.steady-v1", 0, steady, "end_turn"},
	}
	for _, tt := range tests {
		got, stop := Answer(tt.model, "p", tt.max)
		if diff := cmp.Diff(tt.want, got); diff != "" || stop != tt.wantStop {
			t.Errorf("Answer(%q): stop %q want %q; deltas (-want +got):\n%s", tt.model, stop, tt.wantStop, diff)
		}
	}
}

func TestStopSequenceMatching(t *testing.T) {
	full, _ := answerFor(kindSteady, "stop here", 0, nil)
	// Pick a word whose first occurrence is past the start.
	var word string
	var at int
	for i := 3; i < len(full); i++ {
		w := strings.TrimRight(full[i], ". ")
		if !slices.ContainsFunc(full[:i], func(d string) bool { return strings.TrimRight(d, ". ") == w }) {
			word, at = w, i
			break
		}
	}
	if word == "" {
		t.Fatal("no usable word")
	}
	got, stop := answerFor(kindSteady, "stop here", 0, []string{"zzz-not-a-word", word})
	if stop != "stop_sequence" || len(got) != at {
		t.Errorf("stop sequence %q (at %d): %d deltas, stop %q", word, at, len(got), stop)
	}
	// maxTokens reached first wins.
	if got, stop := answerFor(kindSteady, "stop here", 2, []string{word}); stop != "max_tokens" || len(got) != 2 {
		t.Errorf("max_tokens before stop sequence: %d deltas, stop %q", len(got), stop)
	}
}

func TestModels(t *testing.T) {
	want := []string{
		"emulator.steady-v1", "emulator.fast-v1", "emulator.long-v1", "emulator.slow-start-v1",
		"emulator.throttle-v1", "emulator.midstream-error-v1", "emulator.truncated-v1", "emulator.timestamp-v1",
		"emulator.reasoning-v1", "emulator.tools-v1", "emulator.echo-v1", "emulator.code-v1", "emulator.text-v1",
	}
	got := Models()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Models() (-want +got):\n%s", diff)
	}
	got[0] = "mutated"
	if Models()[0] != want[0] {
		t.Error("Models() shares its slice with the caller")
	}
}

func TestResolveModel(t *testing.T) {
	tests := []struct {
		id   string
		want kind
		ok   bool
	}{
		{"emulator.steady-v1", kindSteady, true},
		{"emulator.fast-v1:0", kindFast, true},
		{"us.emulator.long-v1", kindLong, true},
		{"global.emulator.throttle-v1:3", kindThrottle, true},
		{"arn:aws:bedrock:us-east-1::foundation-model/emulator.fast-v1", kindFast, true},
		{"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.emulator.midstream-error-v1:0", kindMidstreamError, true},
		{"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/emulator.fast-v1", 0, false},
		{"arn:aws:s3:::bucket/emulator.fast-v1", 0, false},
		{"emulator.fast-v1:x", 0, false},
		{"emulator.fast", 0, false},
		{"", 0, false},
		{"anthropic.claude-3-5-sonnet-20240620-v1:0", 0, false},
	}
	for _, tt := range tests {
		got, ok := resolveModel(tt.id)
		if ok != tt.ok || got != tt.want {
			t.Errorf("resolveModel(%q) = %v, %v; want %v, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

func TestOptionsFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Options
		wantErr string
	}{
		{name: "unset", env: nil, want: Options{}},
		{name: "empty", env: map[string]string{envTokensPerSecond: " "}, want: Options{}},
		{name: "all", env: map[string]string{envTokensPerSecond: "12.5", envSlowStart: "0.25", envLong: "3"},
			want: Options{TokensPerSecond: 12.5, SlowStart: 250 * time.Millisecond, LongDuration: 3 * time.Second}},
		{name: "bad tps", env: map[string]string{envTokensPerSecond: "fast"}, wantErr: `EMULATOR_TOKENS_PER_SECOND="fast": not a number`},
		{name: "zero tps", env: map[string]string{envTokensPerSecond: "0"}, wantErr: "EMULATOR_TOKENS_PER_SECOND=\"0\": must be greater than 0"},
		{name: "negative slow", env: map[string]string{envSlowStart: "-1"}, wantErr: "EMULATOR_SLOW_START_SECONDS=\"-1\": must be greater than 0"},
		{name: "nan long", env: map[string]string{envLong: "NaN"}, wantErr: "EMULATOR_LONG_SECONDS=\"NaN\": not a number"},
		{name: "inf long", env: map[string]string{envLong: "+Inf"}, wantErr: "EMULATOR_LONG_SECONDS=\"+Inf\": not a number"},
		{name: "huge long", env: map[string]string{envLong: "1e300"}, wantErr: "EMULATOR_LONG_SECONDS=\"1e300\": too large"},
		{name: "tiny slow", env: map[string]string{envSlowStart: "1e-12"}, wantErr: "EMULATOR_SLOW_START_SECONDS=\"1e-12\": too small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OptionsFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	e := New(Options{})
	if e.interval != 20*time.Millisecond || e.slowStart != 40*time.Second || e.long != 95*time.Second || e.log == nil {
		t.Errorf("defaults: interval %v slowStart %v long %v", e.interval, e.slowStart, e.long)
	}
	e = New(Options{TokensPerSecond: 200, SlowStart: time.Second, LongDuration: time.Minute})
	if e.interval != 5*time.Millisecond || e.slowStart != time.Second || e.long != time.Minute {
		t.Errorf("explicit: interval %v slowStart %v long %v", e.interval, e.slowStart, e.long)
	}
}

// TestEchoModel: echo-v1 answers with the prompt, markup and all, one word
// (with its trailing spaces) a delta, capped by maxTokens.
func TestEchoModel(t *testing.T) {
	const prompt = "Show <img src=x onerror=alert(1)> and `code`\n\n- a list"
	deltas, stop := Answer("emulator.echo-v1", prompt, 0)
	if strings.Join(deltas, "") != prompt || stop != "end_turn" || len(deltas) != 9 {
		t.Errorf("echo %q (%d deltas), %s", strings.Join(deltas, ""), len(deltas), stop)
	}
	capped, stop := Answer("emulator.echo-v1", prompt, 3)
	if strings.Join(capped, "") != "Show <img src=x " || stop != "max_tokens" {
		t.Errorf("capped echo %q, %s", strings.Join(capped, ""), stop)
	}
}

// TestCodeModel: code-v1's answers look like a real answer with code on
// the wire: Markdown with closed code fences, several languages, tabs,
// quotes, backslashes and non-ASCII text, most deltas holding a character
// that JSON escapes; deterministic, CodeMinDeltas or more, capped by
// maxTokens as the other models are.
func TestCodeModel(t *testing.T) {
	for _, prompt := range []string{"", "Write me a parser", "benchmark", "ünïcødé ✓"} {
		deltas, stop := Answer("emulator.code-v1", prompt, 0)
		again, _ := Answer("emulator.code-v1", prompt, 0)
		if !slices.Equal(deltas, again) {
			t.Errorf("%q: two answers differ", prompt)
		}
		if stop != "end_turn" || len(deltas) < CodeMinDeltas || len(deltas) > codeMaxDeltas+100 {
			t.Errorf("%q: %d deltas, stop %q; want %d..about %d, end_turn", prompt, len(deltas), stop, CodeMinDeltas, codeMaxDeltas)
		}
		escaped := 0
		for i, d := range deltas {
			if d == "" || strings.TrimSpace(d) == "" && i > 0 {
				t.Fatalf("%q: delta %d = %q has no word", prompt, i, d)
			}
			if strings.ContainsFunc(d, func(r rune) bool { return r == '"' || r == '\\' || r < 0x20 }) {
				escaped++
			}
		}
		if escaped*2 <= len(deltas) {
			t.Errorf("%q: %d of %d deltas need a JSON escape, want most", prompt, escaped, len(deltas))
		}
		text := strings.Join(deltas, "")
		if n := strings.Count(text, "```"); n == 0 || n%2 != 0 {
			t.Errorf("%q: %d code fences, want an even number above 0", prompt, n)
		}
		for _, want := range []string{"\t", "\n", `"`, `\\`, "é", "```"} {
			if !strings.Contains(text, want) {
				t.Errorf("%q: answer has no %q", prompt, want)
			}
		}
	}
	full, _ := Answer("emulator.code-v1", "cap me", 0)
	capped, stop := Answer("emulator.code-v1", "cap me", 500)
	if len(capped) != 500 || stop != "max_tokens" || !slices.Equal(capped, full[:500]) {
		t.Errorf("maxTokens 500: %d deltas, stop %q, prefix of the whole answer %v", len(capped), stop, slices.Equal(capped, full[:min(500, len(full))]))
	}
}
