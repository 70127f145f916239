package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/streamgate/streamgate/streaming/emulator"
	"github.com/streamgate/streamgate/streaming/streamtest"
)

// startCLI runs the emulator command (run, as main calls it) on a
// loopback port until the test ends, and returns its URL and its stderr,
// which holds one JSON log line per request.
func startCLI(t *testing.T) (string, *streamtest.Buffer) {
	t.Helper()
	stderr := new(streamtest.Buffer)
	ctx, cancel := context.WithCancel(context.Background())
	env := map[string]string{"EMULATOR_TOKENS_PER_SECOND": "1000"}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("emulator: %v", err)
			}
		case <-time.After(shutdownGrace + 5*time.Second):
			t.Error("the emulator did not stop")
		}
	})
	m := stderr.WaitFor(t, regexp.MustCompile(`^bedrock emulator listening on (http://127\.0\.0\.1:\d+) `), 10*time.Second)
	return m[1], stderr
}

// logLine is one request's log line.
type logLine struct {
	Operation, Model, Proto, Outcome string
	Status                           int
}

func requestLogs(t *testing.T, stderr *streamtest.Buffer) []logLine {
	t.Helper()
	var out []logLine
	for _, line := range strings.Split(stderr.String(), "\n") {
		if !strings.Contains(line, `"msg":"bedrock emulator request"`) {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

// runClient runs a client program with a time limit and returns its
// stdout, failing the test with its stderr when it fails.
func runClient(t *testing.T, timeout time.Duration, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// The caller's environment without its AWS settings: a profile or
	// region of the machine must not change what the client does.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v (within %v)\n%s", name, strings.Join(args, " "), err, timeout, stderr.String())
	}
	return stdout.Bytes()
}

// awsEnv gives the clients static keys and keeps them from looking for
// any other credentials or configuration.
var awsEnv = []string{
	"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=SECRET",
	"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	"AWS_EC2_METADATA_DISABLED=true",
}

func TestBoto3AgainstTheEmulator(t *testing.T) {
	if out, err := exec.Command("python3", "-c", "import boto3").CombinedOutput(); err != nil {
		t.Skipf("boto3 is not installed here (python3 -c 'import boto3': %v %s); it is preinstalled on the project's machines", err, bytes.TrimSpace(out))
	}
	url, stderr := startCLI(t)
	stdout := runClient(t, 90*time.Second, awsEnv, "python3", filepath.Join("testdata", "boto3_client.py"), url)

	var got struct {
		Image struct {
			Count, Width, Height int
			Signature, B64       string
		}
		Embedding struct {
			Embedding           []float64
			InputTextTokenCount int
		}
		BadSize string
		Stream  struct {
			Text  string
			Types []string
		}
		Models, ImageModels []string
		FirstModel          map[string]any
	}
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("boto3 client output %q: %v", stdout, err)
	}

	if got.Image.Count != 2 || got.Image.Signature != "89504e470d0a1a0a" || got.Image.Width != 576 || got.Image.Height != 384 {
		t.Errorf("image as boto3 read it: %+v", got.Image)
	}
	raw, err := base64.StdEncoding.DecodeString(got.Image.B64)
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(raw)); err != nil || img.Bounds().Dx() != 576 || img.Bounds().Dy() != 384 {
		t.Errorf("image does not decode as a 576x384 PNG: %v", err)
	}
	if !bytes.Equal(raw, emulator.Image("a lighthouse in a storm", 11, 0, 576, 384)) {
		t.Error("image differs from emulator.Image")
	}
	if diff := cmp.Diff(emulator.Embedding("boto3 says hello", 256, true), got.Embedding.Embedding); diff != "" || got.Embedding.InputTextTokenCount != 3 {
		t.Errorf("embedding (tokens %d) (-want +got):\n%s", got.Embedding.InputTextTokenCount, diff)
	}
	if !strings.Contains(got.BadSize, "1000x1000 (width x height) is not a supported size") {
		t.Errorf("bad size: boto3 got %q, want a ValidationException", got.BadSize)
	}
	want, _ := emulator.Answer("emulator.fast-v1", "boto3 streams", 50)
	if got.Stream.Text != strings.Join(want, "") || got.Stream.Types[0] != "message_start" || got.Stream.Types[len(got.Stream.Types)-1] != "message_stop" {
		t.Errorf("stream: %+v", got.Stream)
	}
	if diff := cmp.Diff(append(emulator.Models(), emulator.ImageModelID, emulator.EmbeddingModelID), got.Models); diff != "" {
		t.Errorf("list_foundation_models (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{emulator.ImageModelID}, got.ImageModels); diff != "" {
		t.Errorf("byOutputModality=IMAGE (-want +got):\n%s", diff)
	}
	if got.FirstModel["modelArn"] != "arn:aws:bedrock:us-west-2::foundation-model/emulator.steady-v1" || got.FirstModel["providerName"] != "Emulator" {
		t.Errorf("first model %v", got.FirstModel)
	}

	var ops []string
	for _, l := range requestLogs(t, stderr) {
		ops = append(ops, fmt.Sprintf("%s %d", l.Operation, l.Status))
	}
	wantOps := []string{"InvokeModel 200", "InvokeModel 200", "InvokeModel 400", "InvokeModelWithResponseStream 200",
		"ListFoundationModels 200", "ListFoundationModels 200", "ListFoundationModels 200"}
	if diff := cmp.Diff(wantOps, ops); diff != "" {
		t.Errorf("requests the emulator logged (-want +got):\n%s", diff)
	}
}

// nodeSDKVersion is the @aws-sdk/client-bedrock-runtime the test installs.
const nodeSDKVersion = "3.1164.0"

// installNodeSDK installs @aws-sdk/client-bedrock-runtime into the user
// cache (once per version; a later run reuses it) and returns its
// node_modules directory.
func installNodeSDK(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "streamgate", "node-client-bedrock-runtime-"+nodeSDKVersion)
	modules := filepath.Join(dir, "node_modules")
	marker := filepath.Join(modules, "@aws-sdk", "client-bedrock-runtime", "package.json")
	if _, err := os.Stat(marker); err == nil {
		return modules
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	// Install beside the final place and rename, so that a run stopped
	// half-way never leaves a broken install to be reused.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), []byte(`{"private":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	runClient(t, 5*time.Minute, []string{"npm_config_update_notifier=false"}, "npm", "install", "--prefix", tmp,
		"--no-audit", "--no-fund", "--no-save", "--loglevel=error", "@aws-sdk/client-bedrock-runtime@"+nodeSDKVersion)
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, statErr := os.Stat(marker); statErr != nil {
			t.Fatalf("installing the Node SDK: %v", err)
		}
	}
	return modules
}

func TestNodeSDKOverHTTP2(t *testing.T) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the Node AWS SDK v3 test needs node and npm", tool)
		}
	}
	modules := installNodeSDK(t)
	url, stderr := startCLI(t)
	script, err := filepath.Abs(filepath.Join("testdata", "node_client.js"))
	if err != nil {
		t.Fatal(err)
	}
	stdout := runClient(t, 90*time.Second, append(awsEnv, "NODE_PATH="+modules), "node", script, url)

	var got struct {
		ConverseStream struct {
			Text, StopReason string
			Deltas           int
			Usage            struct{ InputTokens, OutputTokens int }
		}
		ToolUse struct {
			ID, Name, Input, StopReason string
			Fragments                   int
		}
		InvokeStream struct {
			Text, StopReason string
			Types            []string
		}
	}
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("node client output %q: %v", stdout, err)
	}
	want, _ := emulator.Answer("emulator.fast-v1", "node over h2", 0)
	if c := got.ConverseStream; c.Text != strings.Join(want, "") || c.Deltas != len(want) || c.StopReason != "end_turn" || c.Usage.OutputTokens != len(want) || c.Usage.InputTokens != 3 {
		t.Errorf("ConverseStream as the Node SDK read it: %+v", c)
	}
	call, err := emulator.ToolCallFor("node calls get_weather", "get_weather", []byte(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if tu := got.ToolUse; tu.ID != call.ID || tu.Name != "get_weather" || tu.Input != call.Input || tu.Fragments != len(call.Fragments) || tu.StopReason != "tool_use" {
		t.Errorf("tool use as the Node SDK read it: %+v, want %+v", tu, call)
	}
	want, wantStop := emulator.Answer("emulator.fast-v1", "node streams chunks", 50)
	wantTypes := []string{"message_start", "content_block_start"}
	for range want {
		wantTypes = append(wantTypes, "content_block_delta")
	}
	wantTypes = append(wantTypes, "content_block_stop", "message_delta", "message_stop")
	if i := got.InvokeStream; i.Text != strings.Join(want, "") || i.StopReason != wantStop || !cmp.Equal(i.Types, wantTypes) {
		t.Errorf("InvokeModelWithResponseStream as the Node SDK read it: %+v", i)
	}

	// The server saw HTTP/2 (h2c): the Node SDK's own choice, not ours.
	logs := requestLogs(t, stderr)
	wantLogs := []logLine{
		{"ConverseStream", "emulator.fast-v1", "HTTP/2.0", "completed", 200},
		{"ConverseStream", "emulator.tools-v1", "HTTP/2.0", "completed", 200},
		{"InvokeModelWithResponseStream", "emulator.fast-v1", "HTTP/2.0", "completed", 200},
	}
	if diff := cmp.Diff(wantLogs, logs); diff != "" {
		t.Errorf("requests the emulator logged (-want +got):\n%s", diff)
	}
}
