package scriptstest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming/streamtest"
)

// TestSmokeLocalMode runs scripts/smoke against local mode: the real
// bootstrap serving the built-in Bedrock emulator.
func TestSmokeLocalMode(t *testing.T) {
	url := startLocalMode(t)
	for _, tc := range []struct {
		name     string
		args     []string
		wantExit int
		want     []string
	}{
		{"steady model streams", []string{"--max-tokens", "150"}, 0, []string{
			"smoke: POST " + url + "/stream?format=sse", "status:             200 (text/event-stream", "time to first byte:", "stop reason:", "smoke: OK:",
		}},
		// emulator.fast-v1 sends the same answer with no delay: the whole
		// answer arrives at once, which smoke must refuse.
		{"answer in one burst fails", []string{"--max-tokens", "150", "--model", "emulator.fast-v1"}, 1, []string{
			"smoke: FAIL:", "burst(s), fewer than 20: something between the model and curl buffers the answer",
		}},
		{"error event fails", []string{"--max-tokens", "150", "--model", "emulator.midstream-error-v1"}, 1, []string{
			"smoke: FAIL: the stream reported an error:",
		}},
		{"model not allowed fails", []string{"--model", "anthropic.claude-v2"}, 1, []string{
			"smoke: FAIL: HTTP 403", "model_not_allowed",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 20 bursts: the steady model at 100 words/s gives about 150;
			// the fast one a handful at most, even on a loaded machine.
			args := append([]string{"--min-chunks", "20"}, append(tc.args, url)...)
			res := script{path: "scripts/smoke", args: args}.run(t)
			out := res.stdout + res.stderr
			if res.exit != tc.wantExit {
				t.Errorf("exit %d, want %d\n%s", res.exit, tc.wantExit, out)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("output does not say %q:\n%s", want, out)
				}
			}
		})
	}
}

// startLocalMode builds ./lambda, starts it in local mode on a free port
// with the emulator at 100 words a second, waits until GET /healthz
// answers 200 and returns its base URL. The process is stopped when the
// test ends.
func startLocalMode(t *testing.T) string {
	t.Helper()
	bin := goBuild(t, "./lambda")
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	start(t, "local mode", exec.Command(bin), url+"/healthz",
		fmt.Sprintf("PORT=%d", port), "EMULATOR_TOKENS_PER_SECOND=100")
	return url
}

// goBuild builds a package of the repository into a temporary directory
// and returns the binary's path: as `go run` builds it, with tags if any
// (lambda.norpc is the Lambda build, which leaves ./lambda's local mode
// out).
func goBuild(t *testing.T, pkg string, tags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	build := exec.Command("go", "build", "-tags", strings.Join(tags, ","), "-o", bin, pkg)
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// start runs cmd with env added to the test's clean environment, waits
// until ready (a URL that must answer 200, or a HOST:PORT that must accept
// connections) and stops it with SIGTERM when the test ends.
func start(t *testing.T, name string, cmd *exec.Cmd, ready string, env ...string) {
	t.Helper()
	var logs streamtest.Buffer
	cmd.Env = append(append(baseEnv(), "PATH="+os.Getenv("PATH")), env...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM lets localgw stop the bootstraps it started.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited: %v\n%s", name, err, logs.String())
		default:
		}
		var err error
		if strings.HasPrefix(ready, "http") {
			var resp *http.Response
			if resp, err = http.Get(ready); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		} else {
			var c net.Conn
			if c, err = net.Dial("tcp", ready); err == nil {
				c.Close()
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready at %s within 30 s (last error %v)\n%s", name, ready, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSmokeLocalGW runs scripts/smoke through the emulated API Gateway
// streaming front and Lambda Runtime API (scripts/localgw), with the
// bootstrap in Lambda mode calling the standalone Bedrock emulator.
func TestSmokeLocalGW(t *testing.T) {
	if _, err := os.Stat(filepath.Join(repoRoot(t), "scripts", "localgw", "main.go")); err != nil {
		t.Skip("scripts/localgw is not in this checkout")
	}
	emulatorAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	start(t, "emulator", exec.Command(goBuild(t, "./scripts/emulator"), "-addr", emulatorAddr), emulatorAddr,
		"EMULATOR_TOKENS_PER_SECOND=100")
	gwAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	url := "http://" + gwAddr
	start(t, "localgw", exec.Command(goBuild(t, "./scripts/localgw"), "-bootstrap", goBuild(t, "./lambda", "lambda.norpc"), "-addr", gwAddr), url+"/healthz",
		"MODEL_ID=emulator.steady-v1", "ALLOWED_MODELS=emulator.steady-v1,emulator.fast-v1",
		"BEDROCK_ENDPOINT=http://"+emulatorAddr, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	for _, tc := range []struct {
		name     string
		args     []string
		wantExit int
		want     string
	}{
		{"steady model streams", nil, 0, "smoke: OK:"},
		{"answer in one burst fails", []string{"--model", "emulator.fast-v1"}, 1, "burst(s), fewer than 20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"--min-chunks", "20", "--max-tokens", "150"}, tc.args...), url)
			res := script{path: "scripts/smoke", args: args}.run(t)
			out := res.stdout + res.stderr
			if res.exit != tc.wantExit || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d saying %q:\n%s", res.exit, tc.wantExit, tc.want, out)
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sse writes Server-Sent Events for the fake servers.
type sse struct {
	w http.ResponseWriter
}

func newSSE(w http.ResponseWriter) sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return sse{w}
}

func (s sse) event(name, data string) {
	fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, data)
	s.w.(http.Flusher).Flush()
}

func (s sse) raw(text string) {
	fmt.Fprint(s.w, text)
	s.w.(http.Flusher).Flush()
}

const doneData = `{"stopReason":"end_turn","usage":{"inputTokens":10,"outputTokens":12}}`

// streamDeltas sends n deltas, gap apart, stopping if the client leaves.
func streamDeltas(ctx context.Context, s sse, n int, gap time.Duration) bool {
	for i := range n {
		s.event("delta", fmt.Sprintf(`{"text":"word%d "}`, i))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(gap):
		}
	}
	return true
}

// TestSmokeJudgement runs scripts/smoke against small servers that stream
// well or badly, to check what it accepts and what it refuses.
func TestSmokeJudgement(t *testing.T) {
	for _, tc := range []struct {
		name     string
		handler  http.HandlerFunc
		args     []string
		env      []string
		urlPath  string
		wantExit int
		want     string // a substring, or a regular expression when it starts with ^
	}{
		{
			name: "streams, with a keep-alive",
			handler: func(w http.ResponseWriter, r *http.Request) {
				s := newSSE(w)
				s.event("start", `{"requestId":"r1","modelId":"m"}`)
				s.raw(": keep-alive\n\n")
				if streamDeltas(r.Context(), s, 10, 15*time.Millisecond) {
					s.event("done", doneData)
				}
			},
			// Ten writes 15 ms apart: a busy machine may read some together,
			// so the burst count is not fixed; OK needs at least 5 of them.
			want: `^(?s).*smoke: OK: 10 deltas arrived in \d+ bursts`,
		},
		{
			name: "the stream URL and a trailing slash are accepted",
			handler: func(w http.ResponseWriter, r *http.Request) {
				s := newSSE(w)
				s.event("start", `{}`)
				if streamDeltas(r.Context(), s, 6, 15*time.Millisecond) {
					s.event("done", doneData)
				}
			},
			urlPath: "/stream/",
			want:    "smoke: OK:",
		},
		{
			name: "whole answer in one burst",
			handler: func(w http.ResponseWriter, r *http.Request) {
				s := newSSE(w)
				var b strings.Builder
				b.WriteString("event: start\ndata: {}\n\n")
				for i := range 50 {
					fmt.Fprintf(&b, "event: delta\ndata: {\"text\":\"w%d \"}\n\n", i)
				}
				b.WriteString("event: done\ndata: " + doneData + "\n\n")
				s.raw(b.String())
			},
			wantExit: 1,
			// One write: a busy machine may still hand it to curl in two reads.
			want: `^(?s).*smoke: FAIL: the 50 deltas arrived in [1-4] burst\(s\), fewer than 5`,
		},
		{
			name: "no done event",
			handler: func(w http.ResponseWriter, r *http.Request) {
				s := newSSE(w)
				s.event("start", `{}`)
				streamDeltas(r.Context(), s, 8, 15*time.Millisecond)
			},
			wantExit: 1,
			want:     "smoke: FAIL: the stream ended without event: done after 8 deltas",
		},
		{
			name: "stream cut",
			handler: func(w http.ResponseWriter, r *http.Request) {
				s := newSSE(w)
				s.event("start", `{}`)
				streamDeltas(r.Context(), s, 8, 15*time.Millisecond)
				panic(http.ErrAbortHandler) // no terminating chunk
			},
			wantExit: 1,
			want:     "smoke: FAIL: curl exited 18",
		},
		{
			name: "error event",
			handler: func(w http.ResponseWriter, r *http.Request) {
				s := newSSE(w)
				s.event("start", `{}`)
				streamDeltas(r.Context(), s, 6, 15*time.Millisecond)
				s.event("error", `{"code":"deadline","message":"the answer was cut at the deadline","retryable":true}`)
			},
			wantExit: 1,
			want:     `smoke: FAIL: the stream reported an error: {"code":"deadline"`,
		},
		{
			name: "HTTP error",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"error":{"code":"INVALID_API_KEY","message":"Forbidden","retryable":false}}`)
			},
			wantExit: 1,
			want:     `smoke: FAIL: HTTP 403 from`,
		},
		{
			name: "not SSE",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				for range 8 {
					fmt.Fprint(w, "word ")
					w.(http.Flusher).Flush()
					time.Sleep(10 * time.Millisecond)
				}
			},
			wantExit: 1,
			want:     "smoke: FAIL: the answer is not Server-Sent Events (Content-Type: text/plain; charset=utf-8)",
		},
		{
			name: "too short to judge",
			handler: func(w http.ResponseWriter, r *http.Request) {
				s := newSSE(w)
				s.event("start", `{}`)
				if streamDeltas(r.Context(), s, 2, 15*time.Millisecond) {
					s.event("done", doneData)
				}
			},
			wantExit: 1,
			want:     "smoke: FAIL: only 2 deltas: too short to tell streaming from buffering",
		},
		{
			name:     "API key from the option",
			handler:  keyedStream("k-123"),
			args:     []string{"--api-key", "k-123"},
			want:     "smoke: OK:",
			wantExit: 0,
		},
		{
			name:    "API key from API_KEY",
			handler: keyedStream("k-456"),
			env:     []string{"API_KEY=k-456"},
			want:    "smoke: OK:",
		},
		{
			name:     "no API key",
			handler:  keyedStream("k-123"),
			wantExit: 1,
			want:     "smoke: FAIL: HTTP 403",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			args := append(append([]string{"--min-chunks", "5"}, tc.args...), srv.URL+tc.urlPath)
			res := script{path: "scripts/smoke", args: args, env: tc.env}.run(t)
			out := res.stdout + res.stderr
			if res.exit != tc.wantExit {
				t.Errorf("exit %d, want %d\n%s", res.exit, tc.wantExit, out)
			}
			if !saysWant(out, tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, out)
			}
		})
	}
}

// saysWant reports whether out contains want, or matches it when want is a
// regular expression (starts with ^).
func saysWant(out, want string) bool {
	if strings.HasPrefix(want, "^") {
		return regexp.MustCompile(want).MatchString(out)
	}
	return strings.Contains(out, want)
}

// keyedStream streams a good answer to requests that carry the API key,
// and checks the request smoke sends.
func keyedStream(key string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"message":"Forbidden"}`)
			return
		}
		var body struct {
			Prompt    string `json:"prompt"`
			MaxTokens int    `json:"maxTokens"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/stream" || r.URL.Query().Get("format") != "sse" ||
			r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "text/event-stream" ||
			json.NewDecoder(r.Body).Decode(&body) != nil || body.Prompt == "" || body.MaxTokens != 600 {
			http.Error(w, fmt.Sprintf("unexpected request %s %s %+v", r.Method, r.URL, body), http.StatusBadRequest)
			return
		}
		s := newSSE(w)
		s.event("start", `{}`)
		if streamDeltas(r.Context(), s, 6, 15*time.Millisecond) {
			s.event("done", doneData)
		}
	}
}

// TestSmokeRequestBody checks that the prompt and model are sent as JSON
// strings, whatever they hold.
func TestSmokeRequestBody(t *testing.T) {
	type request struct {
		Prompt    string `json:"prompt"`
		ModelID   string `json:"modelId"`
		MaxTokens int    `json:"maxTokens"`
	}
	got := make(chan request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- req
		s := newSSE(w)
		s.event("start", `{}`)
		if streamDeltas(r.Context(), s, 6, 15*time.Millisecond) {
			s.event("done", doneData)
		}
	}))
	defer srv.Close()
	want := request{Prompt: "Say \"hi\"\\n, then\ttab\nand a new line", ModelID: "us.amazon.nova-pro-v1:0", MaxTokens: 42}
	res := script{path: "scripts/smoke", args: []string{"--prompt", want.Prompt, "--model", want.ModelID, "--max-tokens", "42", srv.URL}}.run(t)
	if res.exit != 0 {
		t.Fatalf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	if r := <-got; r != want {
		t.Errorf("request %+v, want %+v", r, want)
	}
}

func TestSmokeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "smoke: no URL"},
		{[]string{"example.com"}, "URL must start with http:// or https://"},
		{[]string{"--max-tokens", "lots", "http://x"}, "--max-tokens must be a whole number, got 'lots'"},
		{[]string{"--min-chunks", "1", "http://x"}, "--min-chunks must be at least 2"},
		{[]string{"--bogus", "http://x"}, "unknown option --bogus"},
		{[]string{"http://a", "http://b"}, "one URL only"},
	} {
		res := script{path: "scripts/smoke", args: tc.args}.run(t)
		if res.exit != 2 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("smoke %q: exit %d, stderr %q; want exit 2 saying %q", tc.args, res.exit, res.stderr, tc.want)
		}
	}
}
