package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// The real binaries, built once for the host by TestMain: bootstrapPath
// as for Lambda (-tags lambda.norpc, which leaves local mode out) for the
// tests under localgw or a Runtime API, localPath as `go run ./lambda`
// builds it for the tests of local mode.
var bootstrapPath, localPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "streamgate-bootstrap-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bootstrapPath = filepath.Join(dir, "bootstrap")
	localPath = filepath.Join(dir, "bootstrap-local")
	for _, build := range []*exec.Cmd{
		exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrapPath, "."),
		exec.Command("go", "build", "-o", localPath, "."),
	} {
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building bootstrap:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// localProcess is bootstrap running in local mode.
type localProcess struct {
	cmd    *exec.Cmd
	banner string
	url    string
	stderr *strings.Builder
	stdout *streamtest.Buffer // the JSON log lines
	exited chan error
}

var bannerURL = regexp.MustCompile(`listening on (http://\S+) `)

// startLocal runs bootstrap in local mode on a free port and waits for its
// banner.
func startLocal(t *testing.T, env ...string) *localProcess {
	t.Helper()
	cmd := exec.Command(localPath)
	cmd.Env = append(cleanEnv(), append([]string{"PORT=0"}, env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := &streamtest.Buffer{}
	cmd.Stdout = stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &localProcess{cmd: cmd, stderr: &strings.Builder{}, stdout: stdout, exited: make(chan error, 1)}
	lines := bufio.NewScanner(stderr)
	bannerSeen := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if m := bannerURL.FindStringSubmatch(lines.Text()); m != nil && p.banner == "" {
				p.banner = lines.Text()
				bannerSeen <- m[1]
			}
		}
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case p.url = <-bannerSeen:
		return p
	case err := <-p.exited:
		t.Fatalf("bootstrap exited before its banner: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no banner within 30 s")
	}
	return nil
}

// cleanEnv is the test's environment without the settings a developer's
// shell might carry into the child.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "PORT", "HOST", "UPSTREAM", "BEDROCK_ENDPOINT", "MODEL_ID", "ALLOWED_MODELS", "MAX_TOKENS", "AWS_LAMBDA_RUNTIME_API",
			"API_KEYS", "S3_ENDPOINT", "IMAGES_BUCKET", "IMAGE_MODEL_ID", "EMBEDDING_MODEL_ID", "CANCEL_TABLE", "CORS_ALLOW_ORIGINS":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// TestBannerCurlStreamsWordByWord runs the banner's own curl command, as a
// new user would paste it, and checks that the answer arrives piece by
// piece and is the emulator's answer.
func TestBannerCurlStreamsWordByWord(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is required (scripts/test installs it)")
	}
	p := startLocal(t, "EMULATOR_TOKENS_PER_SECOND=40")
	_, command, ok := strings.Cut(p.banner, "try: ")
	if !ok || !strings.Contains(command, "curl --no-buffer") || !strings.Contains(command, p.url+"/stream") {
		t.Fatalf("banner has no curl command for %s: %q", p.url, p.banner)
	}
	if !strings.Contains(p.banner, "built-in Bedrock emulator") || !strings.Contains(p.banner, "emulator.steady-v1") {
		t.Errorf("banner does not name the upstream and model: %q", p.banner)
	}
	curl := exec.Command("bash", "-c", command)
	out, err := curl.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := curl.Start(); err != nil {
		t.Fatal(err)
	}
	text, arrivals := readPieces(out)
	if err := curl.Wait(); err != nil {
		t.Fatalf("curl failed: %v", err)
	}
	promptRE := regexp.MustCompile(`"prompt":"([^"]*)"`)
	prompt := promptRE.FindStringSubmatch(command)[1]
	deltas, _ := emulator.Answer("emulator.steady-v1", prompt, 0)
	if got, want := text, strings.Join(deltas, ""); got != want {
		t.Fatalf("curl printed %q, want the emulator's answer %q", got, want)
	}
	// 40 words a second: curl --no-buffer hands them over as they come.
	if len(arrivals) < len(deltas)/4 {
		t.Errorf("curl's output came in %d pieces for %d words", len(arrivals), len(deltas))
	}
	if spread, want := arrivals[len(arrivals)-1].Sub(arrivals[0]), time.Duration(len(deltas)-1)*time.Second/40; spread < want/2 {
		t.Errorf("curl's output spread over %v, want about %v", spread, want)
	}
}

// nodeWith finds Node.js and the npm packages that scripts/test installs
// in testdata/dir (pkg is one of them, to tell that npm ci ran), and
// skips the test when either is missing. It returns node's path and the
// absolute path of the packages' node_modules.
func nodeWith(t *testing.T, dir, pkg string) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: this test needs Node.js (scripts/test installs it)")
	}
	modules, err = filepath.Abs(filepath.Join("testdata", dir, "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, pkg, "package.json")); err != nil {
		t.Skipf("%s is not installed: scripts/test runs npm ci in lambda/testdata/%s", pkg, dir)
	}
	return node, modules
}

// readPieces reads r to its end and notes when each piece arrived, so a
// test can tell output that was streamed from output that came in one burst.
func readPieces(r io.Reader) (string, []time.Time) {
	var text strings.Builder
	var arrivals []time.Time
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			text.Write(buf[:n])
			arrivals = append(arrivals, time.Now())
		}
		if err != nil {
			return text.String(), arrivals
		}
	}
}

// TestBadConfigurationStopsAtStart checks for one clear line and exit 1.
func TestBadConfigurationStopsAtStart(t *testing.T) {
	tests := []struct{ env, wantName string }{
		{"MAX_TOKENS=lots", "MAX_TOKENS"},
		{"UPSTREAM=openai", "UPSTREAM"},
		{"PORT=http", "PORT"},
		{"EMULATOR_TOKENS_PER_SECOND=-3", "EMULATOR_TOKENS_PER_SECOND"},
		{"ALLOWED_MODELS=emulator.fast-v1", "ALLOWED_MODELS"},
	}
	for _, tt := range tests {
		t.Run(tt.wantName, func(t *testing.T) {
			cmd := exec.Command(localPath)
			cmd.Env = append(cleanEnv(), "PORT=0", tt.env)
			out, err := cmd.CombinedOutput()
			exitErr, ok := err.(*exec.ExitError)
			if !ok || exitErr.ExitCode() != 1 {
				t.Fatalf("exit %v, want status 1; output %q", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.wantName) {
				t.Errorf("want one line naming %s, got %q", tt.wantName, out)
			}
		})
	}
}

// TestLambdaBuildHasNoLocalMode: outside Lambda, the Lambda build says in
// one line that it has no local mode and how to get one, and exits 1.
func TestLambdaBuildHasNoLocalMode(t *testing.T) {
	cmd := exec.Command(bootstrapPath)
	cmd.Env = append(cleanEnv(), "PORT=0")
	out, err := cmd.CombinedOutput()
	exitErr, ok := err.(*exec.ExitError)
	if !ok || exitErr.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1; output %q", err, out)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "no local mode") || !strings.Contains(lines[0], "go run ./lambda") {
		t.Errorf("want one line saying there is no local mode and to use go run ./lambda, got %q", out)
	}
}

// TestShutdownEndsStreamsWithAnError checks SIGTERM: new connections are
// refused, a stream in flight gets the grace period and then an explicit
// shutting_down event, and the process exits 0.
func TestShutdownEndsStreamsWithAnError(t *testing.T) {
	p := startLocal(t, "SHUTDOWN_GRACE_SECONDS=0.5", "EMULATOR_LONG_SECONDS=60")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	curl := exec.CommandContext(ctx, "curl", "--no-buffer", "-sS", "-H", "Content-Type: application/json", "-H", "Accept: text/event-stream",
		"-d", `{"prompt":"a long story","modelId":"emulator.long-v1"}`, p.url+"/stream")
	out, err := curl.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := curl.Start(); err != nil {
		t.Fatal(err)
	}
	reader := bufio.NewReader(out)
	if line, err := reader.ReadString('\n'); err != nil || line != "event: start\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	signalled := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(reader)
	curl.Wait()
	if took := time.Since(signalled); took < 400*time.Millisecond {
		t.Errorf("stream ended %v after SIGTERM, before the 0.5 s grace period", took)
	}
	if !strings.Contains(string(rest), "event: error\ndata: {\"code\":\"shutting_down\"") {
		t.Errorf("stream did not end with a shutting_down error event: ...%q", tail(string(rest), 300))
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("bootstrap exited with %v, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bootstrap did not exit after SIGTERM")
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func TestLambdaProcs(t *testing.T) {
	tests := []struct {
		env     map[string]string
		current int
		want    int
	}{
		{map[string]string{}, 2, 1},
		{map[string]string{"GOMAXPROCS": "2"}, 2, 2}, // the operator's choice wins
		{map[string]string{"GOMAXPROCS": "4"}, 4, 4},
	}
	for _, tt := range tests {
		if got := lambdaProcs(func(k string) string { return tt.env[k] }, tt.current); got != tt.want {
			t.Errorf("lambdaProcs(%v, %d) = %d, want %d", tt.env, tt.current, got, tt.want)
		}
	}
}
