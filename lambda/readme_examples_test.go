package main

// The documentation's examples, run as written (extracted from whichever
// markdown file holds them: README.md, streaming/README.md, ...) against
// local mode: the tour's OpenAI SDK call with the official `openai` package
// in Node, the fetch() SSE reader in Chromium from a page on another
// origin, and the Vercel AI SDK recipe with the real `ai` package in Node.
// TestReadmeExampleMarkers (docs_test.go) checks that every example marker
// is run by a test here.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/streamgate/streamgate/streaming/emulator"
)

// readmeExample returns the ```js block that follows the comment
// <!-- README example: test ... --> in the repository's markdown files.
// The marker must be in exactly one file, once.
func readmeExample(t *testing.T, test string) string {
	t.Helper()
	re := regexp.MustCompile("(?s)<!-- README example: " + regexp.QuoteMeta(test) + "\\b[^>]*-->\\s*```js\\n(.*?)```")
	var found []string
	var example string
	for _, file := range markdownFiles(t) {
		b, err := os.ReadFile(filepath.Join(docsRoot, filepath.FromSlash(file)))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			found = append(found, file)
			example = string(m[1])
		}
	}
	switch len(found) {
	case 0:
		t.Fatalf("no markdown file has a ```js block after <!-- README example: %s ... -->", test)
	case 1:
	default:
		t.Fatalf("the example of %s is marked %d times, in %q", test, len(found), found)
	}
	return example
}

// TestReadmeOpenAISDK runs the tour's OpenAI SDK call (README.md, "A
// 30-second tour") as written, saved as a .mjs file and run by node with the
// official openai package (pinned in lambda/testdata/openai), against local
// mode in place of http://127.0.0.1:8080: it must print the emulator's
// answer to the example's own prompt, in pieces as the words are generated.
func TestReadmeOpenAISDK(t *testing.T) {
	t.Parallel()
	example := readmeExample(t, "TestReadmeOpenAISDK") // before any skip: a missing example fails everywhere
	node, modules := nodeWith(t, "openai", "openai")
	const documented = "http://127.0.0.1:8080"
	if !strings.Contains(example, "'"+documented+"/v1'") {
		t.Fatalf("the example does not point the SDK at %s/v1 (local mode's default), so this test cannot run it against local mode:\n%s", documented, example)
	}
	model := regexp.MustCompile(`model: '([^']+)'`).FindStringSubmatch(example)
	prompt := regexp.MustCompile(`content: '([^']+)'`).FindStringSubmatch(example)
	if model == nil || prompt == nil {
		t.Fatalf("the example names no model: '...' or content: '...':\n%s", example)
	}
	const rate = 40
	p, up := startChatLocal(t, emulator.Options{TokensPerSecond: rate})

	// The file sits in a directory whose node_modules is the pinned
	// package: ES modules resolve imports by walking up from the file.
	dir := t.TempDir()
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tour.mjs"), []byte(strings.ReplaceAll(example, documented, p.url)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "tour.mjs")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	text, arrivals := readPieces(out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node tour.mjs: %v\n%s", err, stderr.String())
	}
	want, _ := emulator.Answer(model[1], prompt[1], 0)
	if got := text; got != strings.Join(want, "") {
		t.Fatalf("the example printed %q, want the emulator's answer %q", got, strings.Join(want, ""))
	}
	// 40 words a second, each printed as its chunk arrives.
	if len(arrivals) < len(want)/4 {
		t.Errorf("the example's output came in %d pieces for %d words: not streamed", len(arrivals), len(want))
	}
	if spread, generation := arrivals[len(arrivals)-1].Sub(arrivals[0]), time.Duration(len(want)-1)*time.Second/rate; spread < generation/2 {
		t.Errorf("the output spread over %v; the emulator took about %v to generate it", spread, generation)
	}
	if reqs := up.requests(); len(reqs) != 1 || !slices.Equal(reqs[0].turns(), []string{"user: " + prompt[1]}) {
		t.Errorf("Bedrock got %d ConverseStream requests (%v), want the example's one prompt", len(reqs), reqs)
	}
	p.stdout.WaitFor(t, regexp.MustCompile(`"path":"/v1/chat/completions","status":200,.*"format":"openai"`), 10*time.Second)
}

// TestReadmeFetchExample runs the documented streamAnswer (streaming/README.md,
// "Your own page") in a page served
// from another origin: with CORS_ALLOW_ORIGINS set to that origin it
// streams the answer piece by piece and reports errors by code, before and
// during the stream; without it the browser refuses the response.
func TestReadmeFetchExample(t *testing.T) {
	t.Parallel()
	example := readmeExample(t, "TestReadmeFetchExample")
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>a UI on another origin</title><p>elsewhere</p>")
	}))
	t.Cleanup(elsewhere.Close)
	const rate = 30
	allowed, _ := startChatLocal(t, emulator.Options{TokensPerSecond: rate}, "CORS_ALLOW_ORIGINS="+elsewhere.URL)
	closed, _ := startChatLocal(t, emulator.Options{TokensPerSecond: rate})

	ctx, browser := newBrowser(t, 2*time.Minute)
	run(t, ctx, 20*time.Second, "opening the other origin's page", chromedp.Navigate(elsewhere.URL+"/"))

	const prompt = "Tell me about streaming"
	script := `(async () => {
` + example + `
const base = BASE, prompt = PROMPT;
const out = {pieces: [], midPieces: []};
const t0 = performance.now();
try {
  const done = await streamAnswer(base, {prompt, modelId: 'emulator.steady-v1'}, (text) => out.pieces.push({at: performance.now() - t0, text}));
  out.stopReason = done.stopReason;
  out.outputTokens = done.usage.outputTokens;
} catch (e) { out.error = String(e); }
try { await streamAnswer(base, {prompt, modelId: 'emulator.midstream-error-v1'}, (text) => out.midPieces.push(text)); } catch (e) { out.midError = e.message; }
try { await streamAnswer(base, {prompt, modelId: 'no.such-model'}, () => {}); } catch (e) { out.preError = e.message; }
return out;
})()`
	type result struct {
		Pieces []struct {
			At   float64
			Text string
		}
		MidPieces    []string
		StopReason   string
		OutputTokens int
		Error        string
		MidError     string
		PreError     string
	}
	evalCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	got, err := chromedp.Run(evalCtx, chromedp.Evaluate[result](strings.NewReplacer("BASE", jsString(allowed.url), "PROMPT", jsString(prompt)).Replace(script), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("running the README example: %v", err)
	}
	want, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
	var text strings.Builder
	for _, p := range got.Pieces {
		text.WriteString(p.Text)
	}
	if got.Error != "" || text.String() != strings.Join(want, "") || got.StopReason != "end_turn" || got.OutputTokens != len(want) {
		t.Fatalf("streamAnswer: error %q, text %q, stop %q, %d tokens; want the emulator's %d words %q, end_turn",
			got.Error, text.String(), got.StopReason, got.OutputTokens, len(want), strings.Join(want, ""))
	}
	// One onText call per delta, spread over the generation time.
	if len(got.Pieces) != len(want) {
		t.Errorf("onText was called %d times for %d deltas", len(got.Pieces), len(want))
	}
	spread := time.Duration((got.Pieces[len(got.Pieces)-1].At - got.Pieces[0].At) * float64(time.Millisecond))
	if generation := time.Duration(len(want)-1) * time.Second / rate; spread < generation/2 {
		t.Errorf("the pieces arrived over %v; the emulator took about %v to generate them", spread, generation)
	}
	partial, _ := emulator.Answer("emulator.midstream-error-v1", prompt, 0)
	if !strings.HasPrefix(got.MidError, "upstream_error: ") || strings.Join(got.MidPieces, "") != strings.Join(partial, "") {
		t.Errorf("mid-stream failure: error %q after %q; want upstream_error after %q", got.MidError, got.MidPieces, partial)
	}
	if !strings.HasPrefix(got.PreError, "model_not_allowed: ") {
		t.Errorf("a refused model gave %q, want the 403's code and message", got.PreError)
	}
	browser.mu.Lock()
	if len(browser.exceptions) > 0 {
		t.Errorf("the page threw: %q", browser.exceptions)
	}
	browser.mu.Unlock()

	// The same call to a gateway without CORS_ALLOW_ORIGINS: the browser
	// hides the response from the page, which only sees a TypeError.
	evalCtx2, cancel2 := context.WithTimeout(ctx, 30*time.Second)
	defer cancel2()
	refused, err := chromedp.Run(evalCtx2, chromedp.Evaluate[string](`(async () => {
`+example+`
try { await streamAnswer(`+jsString(closed.url)+`, {prompt: 'hi'}, () => {}); return 'no error'; } catch (e) { return e.name + ': ' + e.message; }
})()`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(refused, "TypeError: ") {
		t.Errorf("without CORS_ALLOW_ORIGINS the cross-origin call gave %q, %v; want the browser's TypeError", refused, err)
	}
}

// TestReadmeAISDKRecipe runs the documented recipe (streaming/README.md,
// "Your own page") with the real `ai`
// package against local mode: useChat's TextStreamChatTransport (what
// useChat uses with the text protocol) with its default body plus modelId,
// as the README's useChat example configures it, and with the README's
// body mapping (extracted from the markdown); and useCompletion's request
// through callCompletionApi (what useCompletion calls).
func TestReadmeAISDKRecipe(t *testing.T) {
	t.Parallel()
	mapping := readmeExample(t, "TestReadmeAISDKRecipe") // before any skip: a missing example fails everywhere
	node, modules := nodeWith(t, "aisdk", "ai")
	const rate = 40
	p, up := startChatLocal(t, emulator.Options{TokensPerSecond: rate})

	const first, second = "What is the text stream protocol", "And how does streamgate speak it"
	answer1, _ := emulator.Answer("emulator.steady-v1", first, 0)
	script := `const { TextStreamChatTransport, callCompletionApi } = require('ai');
` + mapping + `
const [base, first, answer1, second] = process.argv.slice(2);
(async () => {
  const out = {};
  const transport = new TextStreamChatTransport({ api: base + '/stream', prepareSendMessagesRequest: toStreamgate });
  const stream = await transport.sendMessages({
    chatId: 'chat-1', messageId: undefined, trigger: 'submit-message', abortSignal: undefined,
    messages: [
      { id: 'u1', role: 'user', parts: [{ type: 'text', text: first }] },
      { id: 'a1', role: 'assistant', parts: [{ type: 'step-start' }, { type: 'text', text: answer1 }] },
      { id: 'u2', role: 'user', parts: [{ type: 'text', text: second }] },
    ],
  });
  out.chat = { text: '', deltas: 0 };
  for await (const chunk of stream) {
    if (chunk.type === 'text-delta') { out.chat.text += chunk.delta; out.chat.deltas++; }
    if (chunk.type === 'error') out.chat.error = chunk.errorText;
  }
  // useChat's own body, as the README's useChat example sends it: the
  // gateway takes id, trigger, messageId and text parts as they are.
  const plain = new TextStreamChatTransport({ api: base + '/stream', body: { modelId: 'emulator.steady-v1' } });
  const plainStream = await plain.sendMessages({
    chatId: 'chat-2', messageId: undefined, trigger: 'submit-message', abortSignal: undefined,
    messages: [
      { id: 'u1', role: 'user', parts: [{ type: 'text', text: first }] },
      { id: 'a1', role: 'assistant', parts: [{ type: 'step-start' }, { type: 'text', text: answer1 }] },
      { id: 'u2', role: 'user', parts: [{ type: 'text', text: second }] },
    ],
  });
  out.plain = { text: '', deltas: 0 };
  for await (const chunk of plainStream) {
    if (chunk.type === 'text-delta') { out.plain.text += chunk.delta; out.plain.deltas++; }
    if (chunk.type === 'error') out.plain.error = chunk.errorText;
  }
  out.completion = { text: '', updates: 0 };
  await callCompletionApi({
    api: base + '/stream', prompt: first, body: { modelId: 'emulator.steady-v1' }, streamProtocol: 'text',
    credentials: undefined, headers: undefined,
    setCompletion: (c) => { out.completion.text = c; out.completion.updates++; },
    setLoading: () => {}, setAbortController: () => {}, onFinish: () => {},
    setError: (e) => { if (e) out.completion.error = String(e); },
    onError: (e) => { out.completion.error = String(e); },
  });
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`
	path := filepath.Join(t.TempDir(), "recipe.cjs")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, path, p.url, first, strings.Join(answer1, ""), second)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got struct {
		Chat, Plain, Completion struct {
			Text            string
			Deltas, Updates int
			Error           string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}

	want2, _ := emulator.Answer("emulator.steady-v1", second, 0)
	if got.Chat.Error != "" || got.Chat.Text != strings.Join(want2, "") {
		t.Errorf("useChat's transport: error %q, text %q; want %q", got.Chat.Error, got.Chat.Text, strings.Join(want2, ""))
	}
	if got.Chat.Deltas < len(want2)/4 {
		t.Errorf("useChat's transport got the answer in %d pieces for %d words: not streamed", got.Chat.Deltas, len(want2))
	}
	if got.Plain.Error != "" || got.Plain.Text != strings.Join(want2, "") || got.Plain.Deltas < len(want2)/4 {
		t.Errorf("useChat's default body: error %q, %d pieces, text %q; want %q in pieces", got.Plain.Error, got.Plain.Deltas, got.Plain.Text, strings.Join(want2, ""))
	}
	if got.Completion.Error != "" || got.Completion.Text != strings.Join(answer1, "") || got.Completion.Updates < len(answer1)/4 {
		t.Errorf("useCompletion: error %q, %d updates, text %q; want %q in pieces", got.Completion.Error, got.Completion.Updates, got.Completion.Text, strings.Join(answer1, ""))
	}
	// The mapping sent the whole conversation as streamgate messages.
	reqs := up.requests()
	if len(reqs) != 3 {
		t.Fatalf("Bedrock got %d requests, want 3", len(reqs))
	}
	wantTurns := []string{"user: " + first, "assistant: " + strings.Join(answer1, ""), "user: " + second}
	for i, how := range []string{"useChat with the mapping", "useChat's default body"} {
		if turns := reqs[i].turns(); !slices.Equal(turns, wantTurns) {
			t.Errorf("%s: the conversation reached Bedrock as %q, want %q", how, turns, wantTurns)
		}
	}
	if turns := reqs[2].turns(); !slices.Equal(turns, wantTurns[:1]) {
		t.Errorf("useCompletion's prompt reached Bedrock as %q", turns)
	}
}
