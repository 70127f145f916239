package main

// The chat page (GET /) driven by a real headless Chromium through
// chromedp, against the real bootstrap binary: in local mode (startLocal)
// and in Lambda mode under localgw (startLambdaPath). The Bedrock upstream
// is an emulator owned by the test, so that the test sees what reached
// "Bedrock" (the messages sent, whether a call was cancelled).
//
// Regenerate the README's picture of the page with
//
//	go test ./lambda -run 'TestChatPageStreams$' -update-screenshot

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/streamgate/streamgate/lambda/localgw"
	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

var updateScreenshot = flag.Bool("update-screenshot", false,
	"TestChatPageStreams rewrites streaming/chatpage/screenshot.png, the README's picture of the chat page")

// chromiumPath finds the browser; without one the browser tests skip
// (scripts/test installs Debian's chromium, so CI runs them).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("chromium not found on PATH: the chat page's browser tests need it (scripts/test installs Debian's chromium package)")
	return ""
}

// browserLog is what the page did besides its DOM: uncaught exceptions,
// log entries (a CSP violation is one) and network requests.
type browserLog struct {
	mu         sync.Mutex
	exceptions []string
	entries    []string
	requests   []*sentRequest
	byID       map[network.RequestID]*sentRequest
}

type sentRequest struct {
	method, url string
	apiKey      string // the x-api-key request header
	status      int64  // 0 until the response headers arrived
	requestID   string // the X-Request-Id response header
}

func (b *browserLog) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		b.exceptions = append(b.exceptions, fmt.Sprintf("%s (line %d)", text, d.LineNumber))
	case *cdplog.EventEntryAdded:
		// Chromium's verbose advice is not a fault of the page.
		if ev.Entry.Level != cdplog.EntryLevelVerbose {
			b.entries = append(b.entries, fmt.Sprintf("%s %s: %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text))
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.entries = append(b.entries, fmt.Sprintf("console %s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *network.EventRequestWillBeSent:
		r := &sentRequest{method: ev.Request.Method, url: ev.Request.URL}
		for name, v := range ev.Request.Headers {
			if strings.EqualFold(name, "x-api-key") {
				r.apiKey = fmt.Sprint(v)
			}
		}
		b.requests = append(b.requests, r)
		b.byID[ev.RequestID] = r
	case *network.EventResponseReceived:
		if r := b.byID[ev.RequestID]; r != nil {
			r.status = ev.Response.Status
			for name, v := range ev.Response.Headers {
				if strings.EqualFold(name, "X-Request-Id") {
					r.requestID = fmt.Sprint(v)
				}
			}
		}
	}
}

// sent returns a copy of the requests whose path matches.
func (b *browserLog) sent(method, pathPrefix string) []sentRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []sentRequest
	for _, r := range b.requests {
		u, err := url.Parse(r.url)
		if err == nil && r.method == method && strings.HasPrefix(u.Path, pathPrefix) {
			out = append(out, *r)
		}
	}
	return out
}

// checkClean fails the test if the page threw, logged an error or had
// anything refused by its Content-Security-Policy.
func (b *browserLog) checkClean(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		t.Errorf("the page threw: %q", b.exceptions)
	}
	for _, e := range b.entries {
		// Failed API calls the test provoked are logged by Chromium as
		// network errors; everything else (CSP, JS, console) is a bug.
		if strings.HasPrefix(e, "network ") {
			continue
		}
		t.Errorf("browser log: %s", e)
	}
}

// newBrowser starts a headless Chromium with the flags this machine needs
// (no sandbox as root, no background networking) and a fresh profile. Every
// action in the test runs under its context, which ends after limit.
func newBrowser(t *testing.T, limit time.Duration) (context.Context, *browserLog) {
	t.Helper()
	path := chromiumPath(t)
	profile, err := os.MkdirTemp("", "chatpage-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	base, cancelBase := context.WithTimeout(context.Background(), limit)
	alloc, cancelAlloc := chromedp.NewExecAllocator(base,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// A busy machine must not make Chromium throttle the page's timers
		// and frames: the tests watch the answer grow.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1000, 760),
	)
	log := &browserLog{byID: map[network.RequestID]*sentRequest{}}
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithListener(log.listen))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc() // waits for the browser process to exit
		cancelBase()
		os.RemoveAll(profile)
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx, log
}

// run runs actions with a limit of its own, so that a stuck step names
// itself instead of using up the whole test's time.
func run(t *testing.T, ctx context.Context, limit time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := chromedp.Do(stepCtx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, what, expression string) T {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(stepCtx, chromedp.Evaluate[T](expression))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// tappedUpstream is the Bedrock emulator with a recorder in front of it:
// the test can read each ConverseStream request body the gateway sent.
type tappedUpstream struct {
	emu *emulator.Emulator
	mu  sync.Mutex
	got []converseRequest
}

type converseRequest struct {
	Messages []struct {
		Role    string `json:"role"`
		Content []struct {
			Text *string `json:"text"`
		} `json:"content"`
	} `json:"messages"`
}

// turns flattens a request's messages to "role: text" lines.
func (c converseRequest) turns() []string {
	var out []string
	for _, m := range c.Messages {
		var text []string
		for _, b := range m.Content {
			if b.Text != nil {
				text = append(text, *b.Text)
			}
		}
		out = append(out, m.Role+": "+strings.Join(text, ""))
	}
	return out
}

func (u *tappedUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/converse-stream") {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			var req converseRequest
			if json.Unmarshal(body, &req) == nil {
				u.mu.Lock()
				u.got = append(u.got, req)
				u.mu.Unlock()
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	u.emu.ServeHTTP(w, r)
}

func (u *tappedUpstream) requests() []converseRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.got)
}

// startChatLocal runs bootstrap in local mode with the test's emulator as
// its Bedrock endpoint.
func startChatLocal(t *testing.T, opts emulator.Options, env ...string) (*localProcess, *tappedUpstream) {
	t.Helper()
	up := &tappedUpstream{emu: emulator.New(opts)}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return startLocal(t, append([]string{"BEDROCK_ENDPOINT=" + srv.URL}, env...)...), up
}

// answerView is what the page shows of its last answer.
type answerView struct {
	Count         int    `json:"count"` // answers in the transcript
	State         string `json:"state"` // streaming, done, stopped, incomplete, failed
	Text          string `json:"text"`
	Status        string `json:"status"`
	Meta          string `json:"meta"`
	Reasoning     string `json:"reasoning"`
	HasReasoning  bool   `json:"hasReasoning"`
	ReasoningOpen bool   `json:"reasoningOpen"`
	Alert         string `json:"alert"`
}

const lastAnswerJS = `(() => {
  const all = document.querySelectorAll('#log .msg.assistant');
  const a = all[all.length - 1];
  const alert = document.querySelector('[role=alert]').textContent;
  if (!a) return {count: 0, alert};
  const details = a.querySelector('details.reasoning');
  return {
    count: all.length, state: a.dataset.state, alert,
    text: a.querySelector('.content').textContent,
    status: a.querySelector('.status').textContent,
    meta: a.querySelector('.meta').textContent,
    hasReasoning: !!details, reasoningOpen: !!(details && details.open),
    reasoning: details ? details.querySelector('.reasoning-text').textContent : '',
  };
})()`

func lastAnswer(t *testing.T, ctx context.Context) answerView {
	t.Helper()
	return eval[answerView](t, ctx, "reading the transcript", lastAnswerJS)
}

// waitAnswer polls the last answer until ok says so.
func waitAnswer(t *testing.T, ctx context.Context, limit time.Duration, what string, ok func(answerView) bool) answerView {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		v := lastAnswer(t, ctx)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still waiting for %s; last answer: %+v", limit, what, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// openChat opens the page and waits for the model picker to list model.
func openChat(t *testing.T, ctx context.Context, gatewayURL, model string) {
	t.Helper()
	run(t, ctx, 30*time.Second, "opening the page", chromedp.Navigate(gatewayURL+"/"))
	waitModel(t, ctx, model)
}

// waitModel waits for the model picker to offer model (from GET
// /v1/models), and fails with what the page said if it does not.
func waitModel(t *testing.T, ctx context.Context, model string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		state := eval[struct {
			Listed bool
			Alert  string
		}](t, ctx, "reading the model picker",
			`({listed: [...document.querySelectorAll('#model option')].some(o => o.value === `+jsString(model)+`),
			   alert: document.querySelector('[role=alert]').textContent})`)
		if state.Listed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the model picker does not offer %s after 20 s (the page says %q)", model, state.Alert)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ask picks model, types prompt into the message box and presses Send.
func ask(t *testing.T, ctx context.Context, model, prompt string) {
	t.Helper()
	run(t, ctx, 20*time.Second, "asking "+model,
		chromedp.SetValue(chromedp.CSS(`#model`), model),
		chromedp.SendKeys(chromedp.CSS(`#message`), prompt),
		chromedp.Click(chromedp.CSS(`#send`)),
	)
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	shotCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(shotCtx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("taking a screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// watchGrowth samples the last answer while it streams and returns the
// distinct texts seen before the answer ended, and the final view. Each
// sample is at least 100 ms after the last, so a page that rendered the
// answer at once would give one sample, not many.
func watchGrowth(t *testing.T, ctx context.Context, limit time.Duration, onSample func(n int)) ([]string, answerView, time.Duration) {
	t.Helper()
	var samples []string
	var firstText time.Time
	deadline := time.Now().Add(limit)
	for {
		v := lastAnswer(t, ctx)
		if v.State != "" && v.State != "streaming" {
			return samples, v, time.Since(firstText)
		}
		if v.Text != "" && (len(samples) == 0 || v.Text != samples[len(samples)-1]) {
			if firstText.IsZero() {
				firstText = time.Now()
			}
			samples = append(samples, v.Text)
			if onSample != nil {
				onSample(len(samples))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the answer was still streaming after %v: %+v", limit, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkGrowth: the samples are growing prefixes of the final answer, at
// least 5 of them, and the answer took at least a third of its generation
// time to appear (a busy machine makes that longer; only a stall of the
// browser before the first sample could make it shorter).
func checkGrowth(t *testing.T, samples []string, final string, spread time.Duration, deltas int, rate float64) {
	t.Helper()
	for i, s := range samples {
		if !strings.HasPrefix(final, s) {
			t.Fatalf("sample %d %q is not a prefix of the final answer %q", i, s, final)
		}
		if i > 0 && len(s) <= len(samples[i-1]) {
			t.Fatalf("sample %d did not grow: %q after %q", i, s, samples[i-1])
		}
	}
	partial := len(samples)
	if partial > 0 && samples[partial-1] == final {
		partial--
	}
	if partial < 5 {
		t.Errorf("saw the answer grow through %d partial texts, want at least 5: %q", partial, samples)
	}
	if want := time.Duration(float64(deltas-1) / rate * float64(time.Second)); spread < want/3 {
		t.Errorf("the answer appeared over %v; at %v words/s its %d words take about %v", spread, rate, deltas, want)
	}
}

// TestChatPageStreams: open /, pick emulator.steady-v1, type a prompt and
// press Send; the answer grows on screen, ends as the emulator's answer
// with its stats line; a second turn (sent with Enter) carries the whole
// conversation to Bedrock.
func TestChatPageStreams(t *testing.T) {
	t.Parallel()
	const rate = 15
	p, up := startChatLocal(t, emulator.Options{TokensPerSecond: rate})
	ctx, browser := newBrowser(t, 3*time.Minute)
	openChat(t, ctx, p.url, "emulator.steady-v1")

	if focused := eval[string](t, ctx, "reading the focus", `document.activeElement.id`); focused != "message" {
		t.Errorf("focus is on #%s after load, want the message box", focused)
	}

	const first = "Explain how the answer streams to the page" // 108 words: 7 s
	want, _ := emulator.Answer("emulator.steady-v1", first, 0)
	ask(t, ctx, "emulator.steady-v1", first)
	dir := t.TempDir()
	samples, final, spread := watchGrowth(t, ctx, 60*time.Second, func(n int) {
		if n == 4 {
			screenshot(t, ctx, filepath.Join(dir, "midstream.png"))
		}
	})
	if final.State != "done" || final.Text != strings.Join(want, "") {
		t.Fatalf("answer ended %q with %q, want done with the emulator's answer %q", final.State, final.Text, strings.Join(want, ""))
	}
	checkGrowth(t, samples, final.Text, spread, len(want), rate)
	for _, part := range []string{"first token ", " ms", " tokens/s", fmt.Sprintf("%d tokens", len(want)), "end_turn"} {
		if !strings.Contains(final.Meta, part) {
			t.Errorf("stats line %q lacks %q", final.Meta, part)
		}
	}
	if final.Alert != "" {
		t.Errorf("alert shown after a good answer: %q", final.Alert)
	}

	// The second turn, keyboard only: the focus is still in the message box.
	const second = "And what happens when I press Stop"
	want2, _ := emulator.Answer("emulator.steady-v1", second, 0)
	run(t, ctx, 10*time.Second, "typing the second turn and pressing Enter",
		chromedp.KeyEvent(second+kb.Enter))
	final2 := waitAnswer(t, ctx, 60*time.Second, "the second answer", func(v answerView) bool { return v.Count == 2 && v.State != "streaming" })
	if final2.State != "done" || final2.Text != strings.Join(want2, "") {
		t.Fatalf("second answer ended %q with %q, want %q", final2.State, final2.Text, strings.Join(want2, ""))
	}
	got := up.requests()
	if len(got) != 2 {
		t.Fatalf("Bedrock got %d requests, want 2", len(got))
	}
	wantTurns := []string{"user: " + first, "assistant: " + strings.Join(want, ""), "user: " + second}
	if turns := got[1].turns(); !slices.Equal(turns, wantTurns) {
		t.Errorf("the second turn reached Bedrock as %q, want the whole conversation %q", turns, wantTurns)
	}
	if turns := got[0].turns(); !slices.Equal(turns, wantTurns[:1]) {
		t.Errorf("the first turn reached Bedrock as %q", turns)
	}
	if *updateScreenshot {
		screenshot(t, ctx, filepath.Join("..", "streaming", "chatpage", "screenshot.png"))
	}
	browser.checkClean(t)
}

// TestChatPageStop: Stop during emulator.long-v1 freezes the answer, marks
// it stopped, sends DELETE /stream/{requestId} and the Bedrock call is
// cancelled long before the answer's end. Escape does the same.
func TestChatPageStop(t *testing.T) {
	t.Parallel()
	p, up := startChatLocal(t, emulator.Options{LongDuration: 60 * time.Second})
	ctx, browser := newBrowser(t, 3*time.Minute)
	openChat(t, ctx, p.url, "emulator.long-v1")
	stopLongAnswer(t, ctx, browser, up.emu, 1, "the Stop button", chromedp.Click(chromedp.CSS(`#stop`)))
	stopLongAnswer(t, ctx, browser, up.emu, 2, "Escape", chromedp.KeyEvent(kb.Escape))
	buttons := eval[struct{ Send, Stop bool }](t, ctx, "reading the buttons",
		`({send: document.getElementById('send').disabled, stop: document.getElementById('stop').disabled})`)
	if buttons.Send || !buttons.Stop {
		t.Errorf("after Stop: Send disabled %v, Stop disabled %v; want Send enabled, Stop disabled", buttons.Send, buttons.Stop)
	}
	browser.checkClean(t)
}

// stopLongAnswer asks for emulator.long-v1 (the page's n-th answer and
// n-th POST /stream), stops it with stop once some of it is on screen, and
// checks what the user and the operator rely on: the answer freezes and is
// marked stopped, the page sent DELETE /stream/{requestId} for this stream
// and the gateway accepted it (202), and emu saw its Bedrock call cancelled
// long before the answer's end. Through localgw, where a closed connection
// does not reach the function, only the DELETE can do that.
func stopLongAnswer(t *testing.T, ctx context.Context, browser *browserLog, emu *emulator.Emulator, n int, how string, stop chromedp.Action[chromedp.Void]) {
	t.Helper()
	const prompt = "tell me everything"
	full, _ := emulator.Answer("emulator.long-v1", prompt, 0)
	ask(t, ctx, "emulator.long-v1", prompt)
	waitAnswer(t, ctx, 30*time.Second, "some of the long answer", func(v answerView) bool { return v.Count == n && len(v.Text) > 200 })
	stopped := time.Now()
	run(t, ctx, 10*time.Second, "stopping with "+how, stop)
	v := waitAnswer(t, ctx, 10*time.Second, "the stopped answer", func(v answerView) bool { return v.State != "streaming" })
	if v.State != "stopped" || !strings.Contains(v.Status, "Stopped") {
		t.Fatalf("%s: answer %q with status %q, want stopped", how, v.State, v.Status)
	}
	if !strings.HasPrefix(strings.Join(full, ""), v.Text) || v.Alert != "" {
		t.Errorf("%s: stopped text is not a prefix of the answer, or an alert %q", how, v.Alert)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := emu.WaitIdle(waitCtx)
	cancel()
	if err != nil {
		t.Fatalf("%s: the Bedrock call still runs 15 s after Stop", how)
	}
	records := emu.Records()
	if r := records[len(records)-1]; r.Outcome != "cancelled" || r.End.Sub(stopped) > 10*time.Second || r.DeltasSent >= len(full)/2 {
		t.Errorf("%s: Bedrock call %+v; want it cancelled soon after Stop, well before the answer's %d words", how, r, len(full))
	}
	if again := lastAnswer(t, ctx); again.Text != v.Text {
		t.Errorf("%s: the answer changed after it was stopped", how)
	}
	posts, deletes := browser.sent("POST", "/stream"), browser.sent("DELETE", "/stream/")
	if len(posts) != n || len(deletes) != n {
		t.Fatalf("%s: %d POST /stream and %d DELETE /stream/{id} sent, want %d each", how, len(posts), len(deletes), n)
	}
	if d, id := deletes[n-1], posts[n-1].requestID; id == "" || !strings.HasSuffix(d.url, "/stream/"+url.PathEscape(id)) || d.status != http.StatusAccepted {
		t.Errorf("%s: sent DELETE %s (status %d) for the stream with X-Request-Id %q; want DELETE /stream/%s answered 202", how, d.url, d.status, id, id)
	}
}

// TestChatPageErrors: a mid-stream error is shown with its code and
// message in role=alert and the partial answer is marked incomplete; an
// error before the stream (throttling) fails the turn, which then stays
// out of the conversation sent with the next turn.
func TestChatPageErrors(t *testing.T) {
	t.Parallel()
	p, up := startChatLocal(t, emulator.Options{TokensPerSecond: 100})
	ctx, browser := newBrowser(t, 3*time.Minute)
	openChat(t, ctx, p.url, "emulator.midstream-error-v1")

	const prompt = "this answer will break"
	partial, _ := emulator.Answer("emulator.midstream-error-v1", prompt, 0)
	ask(t, ctx, "emulator.midstream-error-v1", prompt)
	v := waitAnswer(t, ctx, 30*time.Second, "the broken answer", func(v answerView) bool { return v.State != "" && v.State != "streaming" })
	if v.State != "incomplete" || !strings.Contains(v.Status, "Incomplete") || !strings.Contains(v.Status, "upstream_error") {
		t.Errorf("answer %q with status %q, want it marked incomplete with the error code", v.State, v.Status)
	}
	if v.Text != strings.Join(partial, "") {
		t.Errorf("partial answer %q, want the %d words sent before the error: %q", v.Text, len(partial), strings.Join(partial, ""))
	}
	if !strings.Contains(v.Alert, "upstream_error") || !strings.Contains(v.Alert, "the model failed while generating the answer") {
		t.Errorf("alert %q, want the error event's code and message", v.Alert)
	}
	screenshot(t, ctx, filepath.Join(t.TempDir(), "error.png"))

	ask(t, ctx, "emulator.throttle-v1", "too many")
	v = waitAnswer(t, ctx, 30*time.Second, "the throttled answer", func(v answerView) bool { return v.Count == 2 && v.State != "streaming" })
	if v.State != "failed" || v.Text != "" || !strings.Contains(v.Alert, "throttled") || !strings.Contains(v.Alert, "retry after a short wait") {
		t.Errorf("throttled turn: state %q, text %q, alert %q; want failed with the 429's code and message", v.State, v.Text, v.Alert)
	}

	ask(t, ctx, "emulator.fast-v1", "and now")
	v = waitAnswer(t, ctx, 30*time.Second, "the third answer", func(v answerView) bool { return v.Count == 3 && v.State != "streaming" })
	if v.State != "done" || v.Alert != "" {
		t.Errorf("third turn: state %q, alert %q; want done and the alert cleared", v.State, v.Alert)
	}
	got := up.requests()
	want := []string{"user: " + prompt, "assistant: " + strings.Join(partial, ""), "user: and now"}
	if turns := got[len(got)-1].turns(); !slices.Equal(turns, want) {
		t.Errorf("the third turn reached Bedrock as %q, want %q (the failed turn left out, the partial answer kept as shown)", turns, want)
	}
	browser.checkClean(t)
}

// TestChatPageShowsTextNotHTML: markup typed by the user, and markup in
// an error message the gateway echoes back, is shown as text and runs
// nothing: no element is created from it, no handler runs, nothing is
// fetched, and the CSP has nothing to refuse.
func TestChatPageShowsTextNotHTML(t *testing.T) {
	t.Parallel()
	p, _ := startChatLocal(t, emulator.Options{TokensPerSecond: 200})
	ctx, browser := newBrowser(t, 3*time.Minute)
	openChat(t, ctx, p.url, "emulator.fast-v1")

	const payload = `<img src=x onerror=window.pwned=1>`
	typed := payload + " and <script>window.pwned=2</script> and `<b>code</b>`"
	ask(t, ctx, "emulator.fast-v1", typed)
	waitAnswer(t, ctx, 30*time.Second, "the answer", func(v answerView) bool { return v.State == "done" })

	// A page left open while the operator removed a model sends a model
	// id the gateway does not allow; the gateway's 403 quotes it back.
	// Here the stale option carries markup.
	eval[any](t, ctx, "adding a stale model option",
		`document.getElementById('model').add(new Option(`+jsString(payload)+`, `+jsString(payload)+`))`)
	ask(t, ctx, payload, "hello")
	v := waitAnswer(t, ctx, 30*time.Second, "the refused turn", func(v answerView) bool { return v.Count == 2 && v.State != "streaming" })
	if v.State != "failed" || !strings.Contains(v.Alert, "model_not_allowed") || !strings.Contains(v.Alert, payload) {
		t.Errorf("state %q, alert %q; want the 403 model_not_allowed message quoting %s as text", v.State, v.Alert, payload)
	}

	page := eval[struct {
		UserText string `json:"userText"`
		Elements int    `json:"elements"`
		Pwned    bool   `json:"pwned"`
	}](t, ctx, "inspecting the page", `({
		userText: document.querySelector('#log .msg.user .content').textContent,
		elements: document.querySelectorAll('img, script:not(head script, body > script), b, #log code').length,
		pwned: window.pwned !== undefined,
	})`)
	if page.UserText != typed {
		t.Errorf("the user's message shows as %q, want the typed text %q", page.UserText, typed)
	}
	if page.Elements != 0 || page.Pwned {
		t.Errorf("markup became elements (%d) or ran (pwned %v)", page.Elements, page.Pwned)
	}
	for _, r := range browser.sent("GET", "/x") {
		t.Errorf("the page fetched %s: markup was turned into an element", r.url)
	}
	browser.checkClean(t)
}

// TestChatPageAPIKey: against a gateway with API_KEYS, the page says why
// the model list is missing; the key typed into the API key field is sent
// as x-api-key with every call, and kept for the tab (sessionStorage) across
// a reload.
func TestChatPageAPIKey(t *testing.T) {
	t.Parallel()
	const key = "chat-page-test-key"
	p, _ := startChatLocal(t, emulator.Options{TokensPerSecond: 200}, "API_KEYS=another-key-of-16-chars,"+key)
	ctx, browser := newBrowser(t, 3*time.Minute)
	run(t, ctx, 20*time.Second, "opening the page", chromedp.Navigate(p.url+"/"))
	v := waitAnswer(t, ctx, 20*time.Second, "the model list's error", func(v answerView) bool { return v.Alert != "" })
	if !strings.Contains(v.Alert, "model list") || !strings.Contains(v.Alert, "401") && !strings.Contains(strings.ToLower(v.Alert), "unauthorized") {
		t.Errorf("alert %q, want the model list's 401", v.Alert)
	}

	run(t, ctx, 20*time.Second, "entering the key",
		chromedp.SendKeys(chromedp.CSS(`#apikey`), key+kb.Enter),
	)
	waitModel(t, ctx, "emulator.fast-v1")
	ask(t, ctx, "emulator.fast-v1", "with a key")
	v = waitAnswer(t, ctx, 30*time.Second, "the answer", func(v answerView) bool { return v.State != "" && v.State != "streaming" })
	if v.State != "done" || v.Alert != "" {
		t.Errorf("with the key: answer %q, alert %q", v.State, v.Alert)
	}
	for _, r := range append(browser.sent("GET", "/v1/models")[1:], browser.sent("POST", "/stream")...) {
		if r.apiKey != key || r.status != http.StatusOK {
			t.Errorf("%s %s sent x-api-key %q and got %d; want the key and 200", r.method, r.url, r.apiKey, r.status)
		}
	}

	run(t, ctx, 20*time.Second, "reloading the page",
		chromedp.Reload(),
	)
	waitModel(t, ctx, "emulator.fast-v1")
	if kept := eval[string](t, ctx, "reading the key field", `document.getElementById('apikey').value`); kept != key {
		t.Errorf("after a reload the key field holds %q, want the key kept in sessionStorage", kept)
	}
}

// TestChatPageRendersModelMarkdown: model output with Markdown and markup
// becomes paragraphs, lists, code blocks and inline code built as DOM
// nodes, and the markup stays text. It needs a model whose answer carries
// the markup: emulator.echo-v1, which answers with the prompt.
func TestChatPageRendersModelMarkdown(t *testing.T) {
	t.Parallel()
	const echo = "emulator.echo-v1"
	if !slices.Contains(emulator.Models(), echo) {
		t.Skip("needs " + echo + " (an emulator model that answers with the last user message, word by word) to put markup in a model's answer")
	}
	p, _ := startChatLocal(t, emulator.Options{TokensPerSecond: 200})
	ctx, browser := newBrowser(t, 3*time.Minute)
	openChat(t, ctx, p.url, echo)
	const prompt = "Here is `inline <b>code</b>` and <img src=x onerror=window.pwned=1>.\n\n" +
		"- first <i>item</i>\n- second item\n\n1. one\n2. two\n\n```\n<script>window.pwned=2</script>\n```"
	run(t, ctx, 20*time.Second, "asking "+echo,
		chromedp.SetValue(chromedp.CSS(`#model`), echo),
		chromedp.SetValue(chromedp.CSS(`#message`), prompt),
		chromedp.Click(chromedp.CSS(`#send`)),
	)
	v := waitAnswer(t, ctx, 30*time.Second, "the echoed answer", func(v answerView) bool { return v.State != "" && v.State != "streaming" })
	if v.State != "done" {
		t.Fatalf("answer %+v", v)
	}
	type node struct {
		Tag      string `json:"tag"`
		Text     string `json:"text"`
		Children []node `json:"children"`
	}
	got := eval[[]node](t, ctx, "reading the answer's blocks", `(() => {
		const all = document.querySelectorAll('#log .msg.assistant .content');
		const tree = (el) => ({tag: el.tagName.toLowerCase(), text: el.textContent, children: [...el.children].map(tree)});
		return [...all[all.length - 1].children].map(tree);
	})()`)
	want := []node{
		{"p", "Here is inline <b>code</b> and <img src=x onerror=window.pwned=1>.", []node{{"code", "inline <b>code</b>", nil}}},
		{"ul", "first <i>item</i>second item", []node{{"li", "first <i>item</i>", nil}, {"li", "second item", nil}}},
		{"ol", "onetwo", []node{{"li", "one", nil}, {"li", "two", nil}}},
		{"pre", "<script>window.pwned=2</script>", []node{{"code", "<script>window.pwned=2</script>", nil}}},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the answer's blocks (-want +got):\n%s", diff)
	}
	if pwned := eval[bool](t, ctx, "checking for script", `window.pwned !== undefined || document.querySelectorAll('img, #log script, #log b, #log i').length > 0`); pwned {
		t.Error("markup in the answer became elements or ran")
	}
	for _, r := range browser.sent("GET", "/x") {
		t.Errorf("the page fetched %s: markup was turned into an element", r.url)
	}
	browser.checkClean(t)
}

// TestChatPageUnderStagePath: behind API Gateway the page is at the
// stage's root (/prod/, or /prod without the slash) and must call the API
// under the same prefix. A reverse proxy plays the stage path here.
func TestChatPageUnderStagePath(t *testing.T) {
	t.Parallel()
	p, _ := startChatLocal(t, emulator.Options{TokensPerSecond: 200})
	target, err := url.Parse(p.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	stage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/prod")
		if !ok || rest != "" && !strings.HasPrefix(rest, "/") {
			http.Error(w, `{"message":"Missing Authentication Token"}`, http.StatusForbidden)
			return
		}
		r.URL.Path, r.URL.RawPath = "/"+strings.TrimPrefix(rest, "/"), ""
		// Full duplex, or the server closes the request body once the
		// answer begins while the proxy's transport still probes it for its
		// end, and the transport then closes the connection under the
		// answer ("use of closed network connection"; as in
		// scripts/benchmark's proxy). Without this it failed 1 run in 25 with
		// both cores busy.
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			t.Errorf("stage: %v", err)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(stage.Close)

	ctx, browser := newBrowser(t, 2*time.Minute)
	for i, page := range []string{"/prod/", "/prod"} {
		run(t, ctx, 30*time.Second, "opening "+page,
			chromedp.Navigate(stage.URL+page),
		)
		waitModel(t, ctx, "emulator.fast-v1")
		ask(t, ctx, "emulator.fast-v1", "from under a stage")
		v := waitAnswer(t, ctx, 30*time.Second, "the answer", func(v answerView) bool { return v.State != "" && v.State != "streaming" })
		if v.State != "done" || v.Alert != "" {
			t.Errorf("%s: answer %q, alert %q", page, v.State, v.Alert)
		}
		if posts := browser.sent("POST", "/prod/stream"); len(posts) != i+1 {
			t.Errorf("%s: %d POST /prod/stream sent, want %d", page, len(posts), i+1)
		}
	}
	browser.checkClean(t)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestChatPageModelsAndReasoning: the picker lists what GET /v1/models
// lists, and emulator.reasoning-v1's reasoning is shown apart from the
// answer, collapsed.
func TestChatPageModelsAndReasoning(t *testing.T) {
	t.Parallel()
	p, _ := startChatLocal(t, emulator.Options{TokensPerSecond: 100})
	ctx, browser := newBrowser(t, 3*time.Minute)
	openChat(t, ctx, p.url, "emulator.reasoning-v1")

	res, err := http.Get(p.url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Object string
		Data   []struct{ ID string }
	}
	err = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if err != nil || list.Object != "list" || len(list.Data) == 0 {
		t.Fatalf("GET /v1/models: %v, %+v", err, list)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	options := eval[[]string](t, ctx, "reading the picker",
		`[...document.querySelectorAll('#model option')].map(o => o.value).filter(v => v)`)
	if !slices.Equal(options, ids) {
		t.Errorf("the picker offers %q, GET /v1/models lists %q", options, ids)
	}

	// What the gateway streams for this prompt, read without the page.
	const prompt = "think before you answer"
	direct := streamtest.Post(t, ctx, p.url+"/stream", "text/event-stream", `{"prompt":"`+prompt+`","modelId":"emulator.reasoning-v1"}`)
	var reasoning, text strings.Builder
	for _, ev := range streamtest.ParseSSE(t, direct.Chunks) {
		d := streamtest.DecodeJSON[struct{ Text string }](t, ev.Data)
		switch ev.Name {
		case "reasoning":
			reasoning.WriteString(d.Text)
		case "delta":
			text.WriteString(d.Text)
		}
	}
	if reasoning.Len() == 0 || text.Len() == 0 {
		t.Fatalf("the gateway sent reasoning %q and text %q for emulator.reasoning-v1", reasoning.String(), text.String())
	}

	ask(t, ctx, "emulator.reasoning-v1", prompt)
	v := waitAnswer(t, ctx, 30*time.Second, "the reasoned answer", func(v answerView) bool { return v.State != "" && v.State != "streaming" })
	if v.State != "done" || v.Text != text.String() {
		t.Errorf("answer %q %q, want done with %q", v.State, v.Text, text.String())
	}
	if !v.HasReasoning || v.ReasoningOpen || v.Reasoning != reasoning.String() {
		t.Errorf("reasoning shown %v (open %v) as %q; want it collapsed, apart from the answer, as %q", v.HasReasoning, v.ReasoningOpen, v.Reasoning, reasoning.String())
	}
	browser.checkClean(t)
}

// TestChatPageThroughLocalgw: the page and the API through the emulated
// API Gateway and the bootstrap in Lambda mode: served with its CSP intact
// and streaming word by word.
func TestChatPageThroughLocalgw(t *testing.T) {
	t.Parallel()
	const rate = 15
	lp := startLambdaPath(t, emulator.Options{TokensPerSecond: rate}, localgw.Config{Instances: 2})
	res, err := http.Get(lp.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Fatalf("GET / through localgw: %d %q, CSP %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Security-Policy"))
	}

	ctx, browser := newBrowser(t, 3*time.Minute)
	openChat(t, ctx, lp.url, "emulator.steady-v1")
	const prompt = "How do the words reach the page one by one" // 85 words: 6 s
	want, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
	ask(t, ctx, "emulator.steady-v1", prompt)
	samples, final, spread := watchGrowth(t, ctx, 60*time.Second, nil)
	if final.State != "done" || final.Text != strings.Join(want, "") {
		t.Fatalf("answer ended %q with %q, want done with %q", final.State, final.Text, strings.Join(want, ""))
	}
	checkGrowth(t, samples, final.Text, spread, len(want), rate)
	if !strings.Contains(final.Meta, "end_turn") {
		t.Errorf("stats line %q", final.Meta)
	}
	browser.checkClean(t)
}
