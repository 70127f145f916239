package scriptstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// repoRoot is the repository's top directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found: %v", err)
	}
	return root
}

// script is one run of a script under bash, with a controlled environment.
type script struct {
	path    string   // relative to the repository root
	args    []string // arguments
	env     []string // NAME=value, on top of baseEnv
	pathEnv string   // PATH; "" keeps the test's
	dir     string   // working directory; "" is a new empty one
}

type result struct {
	stdout, stderr string
	exit           int
}

// baseEnv is the test's environment without what would change the
// scripts' behaviour: AWS settings and credentials, the scripts' own
// variables, and CI.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "AWS_"), strings.HasPrefix(name, "STREAMGATE_"),
			name == "API_KEY", name == "PATH", name == "CI":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (s script) run(t *testing.T) result {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash: %v", err)
	}
	root := repoRoot(t)
	cmd := exec.Command(bash, append([]string{filepath.Join(root, s.path)}, s.args...)...)
	cmd.Dir = s.dir
	if cmd.Dir == "" {
		cmd.Dir = t.TempDir() // the scripts must not depend on the caller's directory
	}
	path := s.pathEnv
	if path == "" {
		path = os.Getenv("PATH")
	}
	cmd.Env = append(append(baseEnv(), "PATH="+path), s.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.exit = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", s.path, err)
	}
	return res
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./scripts/scriptstest -update creates it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("differs from %s (-want +got); if intended, run go test ./scripts/scriptstest -update:\n%s", path, diff)
	}
}

// toolDir makes a directory holding symlinks to the named tools only, for
// a PATH without the AWS CLI.
func toolDir(t *testing.T, tools ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// goDir is the directory of the go command, for a PATH with Go.
func goDir(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(p)
}

// fakeAWS writes an aws command that records each call, one line of
// shell-quoted arguments, in the returned log, and answers like the AWS
// CLI would. FAKE_AWS_* variables choose failures.
func fakeAWS(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(t.TempDir(), "aws-calls")
	const fake = `#!/bin/bash
printf '%q ' "$@" >>"$FAKE_AWS_LOG"
echo >>"$FAKE_AWS_LOG"
case "$1 $2" in
"sts get-caller-identity")
	if [[ ${FAKE_AWS_STS:-ok} != ok ]]; then
		echo 'Unable to locate credentials. You can configure credentials by running "aws configure".' >&2
		exit 253
	fi
	echo arn:aws:iam::111122223333:user/tester ;;
"s3api get-bucket-location")
	if [[ ${FAKE_AWS_BUCKET:-eu-west-1} == missing ]]; then
		echo 'An error occurred (NoSuchBucket) when calling the GetBucketLocation operation: The specified bucket does not exist' >&2
		exit 254
	fi
	echo "${FAKE_AWS_BUCKET:-eu-west-1}" ;;
"s3api head-object")
	[[ ${FAKE_AWS_OBJECT:-missing} == exists ]] || { echo 'An error occurred (404) when calling the HeadObject operation: Not Found' >&2; exit 254; } ;;
"s3 cp") ;;
"apigateway get-account") echo "${FAKE_AWS_ACCOUNT_ROLE:-None}" ;;
"apigateway get-api-key") echo "${FAKE_AWS_KEY:-sk-fake-0123456789abcdefghij}" ;;
"cloudformation deploy") echo "Successfully created/updated stack - $5" ;;
"cloudformation describe-stacks")
	printf 'ApiUrl\t%s\n' "${FAKE_AWS_API_URL:-https://abc123.execute-api.eu-west-1.amazonaws.com/prod}"
	[[ ${FAKE_AWS_NO_KEY:-} == 1 ]] || printf 'ApiKeyId\tk1a2b3c4d5\n'
	printf 'CurlCommand\tcurl --no-buffer ...\n' ;;
"configure get") exit 1 ;;
*) echo "fake aws: unexpected call: $*" >&2; exit 99 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "aws"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, log
}

func readLog(t *testing.T, log string) string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// fixtureZip writes a small file standing in for dist/lambda.zip, with a
// fixed content and so a fixed sha256.
func fixtureZip(t *testing.T, dir string) string {
	t.Helper()
	zip := filepath.Join(dir, "lambda.zip")
	if err := os.WriteFile(zip, []byte("streamgate test zip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return zip
}

// TestDeployDryRun checks scripts/deploy --dry-run against golden files,
// twice: with an aws command on PATH that must not be called, and with no
// aws command at all. No credentials are set either way.
func TestDeployDryRun(t *testing.T) {
	tmp := t.TempDir()
	zip := fixtureZip(t, tmp)
	goDir := goDir(t)
	for _, tc := range []struct {
		name, golden string
		args, env    []string
	}{
		{
			name:   "defaults, built first",
			golden: "deploy-dry-run-build.golden",
			args:   []string{"--dry-run", "--region", "us-east-1"},
			env:    []string{"STREAMGATE_BUCKET=my-code-bucket"},
		},
		{
			name:   "given zip, models and parameters",
			golden: "deploy-dry-run-zip.golden",
			args: []string{
				"--dry-run", "--bucket", "my-code-bucket", "--region", "eu-west-1", "--stack-name", "sg-test",
				"--zip", zip, "--template", filepath.Join(tmp, "out", "stack.yaml"),
				"--model-id", "eu.anthropic.claude-sonnet-4-20250514-v1:0",
				"--allowed-models", "eu.anthropic.claude-sonnet-4-20250514-v1:0,eu.amazon.nova-pro-v1:0",
				"--integration-timeout-ms=600000", "--api-key-required", "false", "--configure-apigw-account", "true",
				"--stage-name", "v1", "--memory-size", "256", "--system-prompt", "Be brief, it's late.",
				"--cors-allow-origins=https://chat.example.com", "--param", "LogLevel=debug",
				"--image-model-id", "amazon.nova-canvas-v1:0", "--embedding-model-id", "cohere.embed-english-v3",
				"--reserved-concurrency", "50", "--enable-images", "false", "--alarm-email", "ops@example.com", "--no-smoke",
			},
		},
		{
			name:   "keys cached in a file, provisioned",
			golden: "deploy-dry-run-keys.golden",
			args: []string{
				"--dry-run", "--bucket", "my-code-bucket", "--region", "us-west-2", "--zip", zip,
				"--authorizer-cache-seconds", "300", "--provisioned-concurrency", "4", "--api-key-file", filepath.Join(tmp, "key"),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			awsDir, log := fakeAWS(t)
			tools := toolDir(t, "sha256sum", "mktemp", "rm")
			paths := map[string]string{
				"aws on PATH": strings.Join([]string{awsDir, goDir, tools}, string(os.PathListSeparator)),
				"no aws":      strings.Join([]string{goDir, tools}, string(os.PathListSeparator)),
			}
			var outputs []string
			for _, pathName := range []string{"aws on PATH", "no aws"} {
				res := script{path: "scripts/deploy", args: tc.args, pathEnv: paths[pathName],
					env: append([]string{"FAKE_AWS_LOG=" + log}, tc.env...)}.run(t)
				if res.exit != 0 || res.stderr != "" {
					t.Fatalf("%s: exit %d, stderr:\n%s", pathName, res.exit, res.stderr)
				}
				outputs = append(outputs, strings.ReplaceAll(res.stdout, tmp, "$TMP"))
			}
			if calls := readLog(t, log); calls != "" {
				t.Errorf("--dry-run called aws:\n%s", calls)
			}
			if _, err := os.Stat(filepath.Join(tmp, "out")); err == nil {
				t.Errorf("--dry-run created the template's directory")
			}
			if _, err := os.Stat(filepath.Join(tmp, "key")); err == nil {
				t.Errorf("--dry-run wrote the key file")
			}
			if diff := cmp.Diff(outputs[0], outputs[1]); diff != "" {
				t.Errorf("output depends on whether aws is installed (-with +without):\n%s", diff)
			}
			checkGolden(t, tc.golden, outputs[0])
		})
	}
}

// TestDeployRelativePaths checks that --zip and --template are taken from
// the directory the script was started in, not the repository root it
// works from.
func TestDeployRelativePaths(t *testing.T) {
	tmp := t.TempDir()
	fixtureZip(t, tmp)
	res := script{path: "scripts/deploy", dir: tmp,
		args: []string{"--dry-run", "--bucket", "b-1", "--region", "us-east-1", "--zip", "lambda.zip", "--template", "t.yaml"}}.run(t)
	if res.exit != 0 {
		t.Fatalf("exit %d: %s", res.exit, res.stderr)
	}
	for _, want := range []string{"+ sha256sum " + tmp + "/lambda.zip\n", " -o " + tmp + "/t.yaml ", " --template-file " + tmp + "/t.yaml "} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
}

// TestDeployDefaultsMatchTemplate checks that the script's defaults are the
// generator's, so that a deploy without options passes the parameters the
// template expects.
func TestDeployDefaultsMatchTemplate(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "template", "testdata", "template.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Parameters map[string]struct{ Default any }
		Metadata   struct {
			Streamgate struct{ GeneratorInputs map[string]any }
		}
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatal(err)
	}
	res := script{path: "scripts/deploy", args: []string{"--dry-run", "--bucket", "b-1", "--region", "us-east-1"}}.run(t)
	if res.exit != 0 {
		t.Fatalf("exit %d: %s", res.exit, res.stderr)
	}
	for _, name := range []string{"ModelId", "AllowedModels", "FunctionTimeoutSeconds", "ConfigureApiGatewayAccount"} {
		want := name + "=" + fmtDefault(tmpl.Parameters[name].Default)
		if !strings.Contains(res.stdout, " "+want+" ") && !strings.Contains(res.stdout, " "+want+"\n") {
			t.Errorf("deploy does not pass %s (the template's default):\n%s", want, res.stdout)
		}
	}
	// And it generates the template with the generator's defaults.
	inputs := tmpl.Metadata.Streamgate.GeneratorInputs
	for flag, input := range map[string]string{"-integration-timeout-ms": "IntegrationTimeoutMs", "-api-key-required=": "ApiKeyRequired", "-authorizer-cache-seconds": "AuthorizerCacheSeconds"} {
		want := flag + " " + fmtDefault(inputs[input])
		if strings.HasSuffix(flag, "=") {
			want = flag + fmtDefault(inputs[input])
		}
		if !strings.Contains(res.stdout, " "+want+" ") {
			t.Errorf("deploy does not generate with %s (the generator's default):\n%s", want, res.stdout)
		}
	}
}

func fmtDefault(v any) string {
	switch v := v.(type) {
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

// TestDeployFailsEarly checks that scripts/deploy stops with a clear message
// before it uploads or deploys anything.
func TestDeployFailsEarly(t *testing.T) {
	goPath, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	awsDir, _ := fakeAWS(t)
	tools := toolDir(t, "sha256sum", "mkdir", "mktemp", "rm")
	withAWS := strings.Join([]string{awsDir, filepath.Dir(goPath), tools}, string(os.PathListSeparator))
	noAWS := strings.Join([]string{filepath.Dir(goPath), tools}, string(os.PathListSeparator))
	zip := fixtureZip(t, t.TempDir())
	base := []string{"--bucket", "my-code-bucket", "--region", "eu-west-1", "--zip", zip, "--template", filepath.Join(t.TempDir(), "t.yaml")}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		path string
		want string
	}{
		{"no AWS CLI", base, nil, noAWS, "the AWS CLI (aws) is not on PATH"},
		{"no Go", base, nil, strings.Join([]string{awsDir, tools}, string(os.PathListSeparator)), "go is not on PATH: it generates the template"},
		{"no Go, dry run", append([]string{"--dry-run"}, base...), nil, tools, "go is not on PATH"},
		{"no credentials", base, []string{"FAKE_AWS_STS=fail"}, withAWS, "no usable AWS credentials (aws sts get-caller-identity failed: Unable to locate credentials."},
		{"no bucket", []string{"--region", "eu-west-1"}, nil, withAWS, "no S3 bucket for the code: pass --bucket BUCKET or set STREAMGATE_BUCKET"},
		{"no bucket, dry run", []string{"--dry-run", "--region", "eu-west-1"}, nil, withAWS, "no S3 bucket for the code"},
		{"bucket missing", base, []string{"FAKE_AWS_BUCKET=missing"}, withAWS, "bucket 'my-code-bucket' does not exist or is not yours (An error occurred (NoSuchBucket)"},
		{"bucket in another region", base, []string{"FAKE_AWS_BUCKET=us-west-2"}, withAWS, "bucket 'my-code-bucket' is in us-west-2, but Lambda reads its code only from a bucket in the stack's region eu-west-1"},
		{"no region", []string{"--bucket", "b-1", "--dry-run"}, nil, withAWS, "no AWS region: pass --region REGION or set AWS_REGION"},
		{"integration timeout over 15 minutes", append([]string{"--integration-timeout-ms", "900001"}, base...), nil, withAWS, "-integration-timeout-ms=900001 is out of range"},
		{"function shorter than integration", append([]string{"--function-timeout-seconds", "60"}, base...), nil, withAWS, "-function-timeout-seconds=60 is shorter than -integration-timeout-ms=300000"},
		{"emulator model", append([]string{"--model-id", "emulator.steady-v1"}, base...), nil, withAWS, "emulator models exist only in local mode"},
		// The review's third defect: a dry run accepted what the generator refuses.
		{"function shorter than integration, dry run", append([]string{"--dry-run", "--integration-timeout-ms", "900000", "--function-timeout-seconds", "100"}, base...), nil, withAWS,
			"-function-timeout-seconds=100 is shorter than -integration-timeout-ms=900000"},
		{"emulator model, dry run", append([]string{"--dry-run", "--model-id", "emulator.steady-v1"}, base...), nil, withAWS, "emulator models exist only in local mode"},
		{"authorizer cache over an hour, dry run", append([]string{"--dry-run", "--authorizer-cache-seconds", "7200"}, base...), nil, withAWS, "-authorizer-cache-seconds=7200 is out of range"},
		{"bad origin, dry run", append([]string{"--dry-run", "--cors-allow-origins", "https://chat.example.com/"}, base...), nil, withAWS, "is not an origin"},
		{"authorizer cache without keys, dry run", append([]string{"--dry-run", "--api-key-required", "false", "--authorizer-cache-seconds", "60"}, base...), nil, withAWS, "there is no authorizer to cache"},
		{"key file without a key", append([]string{"--api-key-required", "false", "--api-key-file", "k"}, base...), nil, withAWS, "--api-key-file with --api-key-required false: the stack has no API key"},
		{"provisioned not a number", append([]string{"--provisioned-concurrency", "some"}, base...), nil, withAWS, "--provisioned-concurrency must be a whole number, got 'some'"},
		{"bad switch", append([]string{"--api-key-required", "yes"}, base...), nil, withAWS, "--api-key-required must be true or false, got 'yes'"},
		{"timeout not a number", append([]string{"--integration-timeout-ms", "5m"}, base...), nil, withAWS, "--integration-timeout-ms must be a whole number of milliseconds, got '5m'"},
		{"missing zip", []string{"--bucket", "b-1", "--region", "eu-west-1", "--zip", "/nonexistent/lambda.zip"}, nil, withAWS, "--zip /nonexistent/lambda.zip: no such file"},
		{"unknown option", []string{"--stack", "x"}, nil, withAWS, "unknown option --stack (see --help)"},
		{"option without value", []string{"--bucket"}, nil, withAWS, "--bucket needs a value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "aws-calls")
			res := script{path: "scripts/deploy", args: tc.args, pathEnv: tc.path, env: append([]string{"FAKE_AWS_LOG=" + log}, tc.env...)}.run(t)
			if res.exit == 0 {
				t.Fatalf("exit 0, want a failure; stdout:\n%s", res.stdout)
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, res.stderr)
			}
			calls := readLog(t, log)
			for _, step := range []string{"s3 cp", "cloudformation deploy"} {
				if strings.Contains(calls, step) {
					t.Errorf("ran aws %s before failing:\n%s", step, calls)
				}
			}
		})
	}
}

// stage is a fake deployed stage for scripts/smoke: POST /stream streams a
// good answer to a request with the key as a Bearer token (the deltas far
// enough apart to be told apart on a loaded machine), 403 otherwise.
func stage(t *testing.T, key string) (url string, requests func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+key || r.Method != http.MethodPost || r.URL.Path != "/stream" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"code":"INVALID_API_KEY","message":"Invalid API key"}}`)
			return
		}
		s := newSSE(w)
		s.event("start", `{}`)
		if streamDeltas(r.Context(), s, 6, 100*time.Millisecond) {
			s.event("done", doneData)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// deployPath is a PATH with the fake aws, Go and the tools deploy and
// smoke use.
func deployPath(t *testing.T, awsDir string) string {
	t.Helper()
	return strings.Join([]string{awsDir, goDir(t), toolDir(t, "sha256sum", "mkdir", "mktemp", "rm", "chmod", "curl", "mkfifo")}, string(os.PathListSeparator))
}

// TestDeployRun runs a whole deployment against the fake aws command, with
// the real template generator and scripts/smoke against a fake stage, and
// checks the calls it made, that it prints the API key and that the smoke
// test ran with it.
func TestDeployRun(t *testing.T) {
	awsDir, _ := fakeAWS(t)
	path := deployPath(t, awsDir)
	tmp := t.TempDir()
	zip := fixtureZip(t, tmp)
	templateFile := filepath.Join(tmp, "out", "template.yaml")
	const key = "sk-fake-0123456789abcdefghij"
	for _, tc := range []struct {
		name, golden string
		env          []string
	}{
		{"first deployment", "deploy-run-first.golden", nil},
		{"code already uploaded, account role set", "deploy-run-again.golden", []string{"FAKE_AWS_OBJECT=exists", "FAKE_AWS_ACCOUNT_ROLE=arn:aws:iam::111122223333:role/apigw-logs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, requests := stage(t, key)
			log := filepath.Join(t.TempDir(), "aws-calls")
			res := script{
				path: "scripts/deploy",
				args: []string{"--bucket", "my-code-bucket", "--stack-name", "sg-test", "--zip", zip, "--template", templateFile, "--max-tokens", "2000"},
				env:  append([]string{"FAKE_AWS_LOG=" + log, "AWS_REGION=eu-west-1", "FAKE_AWS_API_URL=" + url}, tc.env...), pathEnv: path,
			}.run(t)
			if res.exit != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", res.exit, res.stdout, res.stderr)
			}
			for _, want := range []string{"ApiUrl\t" + url + "\n", "API key: " + key + "\n", "+ API_KEY=*** scripts/smoke " + url + "\n", "smoke: OK:"} {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
				}
			}
			if n := requests(); n != 1 {
				t.Errorf("the stage got %d requests, want the smoke test's one", n)
			}
			checkGolden(t, tc.golden, strings.ReplaceAll(readLog(t, log), tmp, "$TMP"))
			b, err := os.ReadFile(templateFile)
			if err != nil {
				t.Fatalf("template not written: %v", err)
			}
			if !bytes.Contains(b, []byte("ResponseTransferMode: STREAM")) {
				t.Errorf("%s is not the streaming template", templateFile)
			}
		})
	}
}

// TestDeployKeyFile checks --api-key-file: the key goes to a file that only
// its owner can read, not to the output, and the smoke test still gets it;
// and --no-smoke.
func TestDeployKeyFile(t *testing.T) {
	awsDir, _ := fakeAWS(t)
	path := deployPath(t, awsDir)
	tmp := t.TempDir()
	const key = "sk-team-9876543210zyxwvutsrq"
	url, requests := stage(t, key)
	keyFile := filepath.Join(tmp, "keys", "streamgate.key")
	if err := os.Mkdir(filepath.Dir(keyFile), 0o755); err != nil {
		t.Fatal(err)
	}
	base := []string{"--bucket", "b-1", "--region", "eu-west-1", "--zip", fixtureZip(t, tmp), "--template", filepath.Join(tmp, "t.yaml")}
	env := []string{"FAKE_AWS_LOG=" + filepath.Join(tmp, "calls"), "FAKE_AWS_KEY=" + key, "FAKE_AWS_API_URL=" + url}
	res := script{path: "scripts/deploy", args: append(base, "--api-key-file", keyFile), env: env, pathEnv: path}.run(t)
	if res.exit != 0 {
		t.Fatalf("exit %d\n%s\n%s", res.exit, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, key) {
		t.Errorf("the key is in the output:\n%s%s", res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "# API key written to "+keyFile+" (mode 600)") || !strings.Contains(res.stdout, "smoke: OK:") {
		t.Errorf("stdout:\n%s", res.stdout)
	}
	info, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", info.Mode().Perm())
	}
	if b, _ := os.ReadFile(keyFile); string(b) != key+"\n" {
		t.Errorf("key file holds %q", b)
	}

	res = script{path: "scripts/deploy", args: append(base, "--no-smoke"), env: env, pathEnv: path}.run(t)
	if res.exit != 0 || strings.Contains(res.stdout, "scripts/smoke "+url) || !strings.Contains(res.stdout, "API key: "+key) {
		t.Errorf("--no-smoke: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	if n := requests(); n != 1 {
		t.Errorf("the stage got %d requests, want 1 (from the first run only)", n)
	}
}

// TestDeploySmokeFails checks that a stage that does not stream fails the
// deployment's last step with a clear message.
func TestDeploySmokeFails(t *testing.T) {
	awsDir, _ := fakeAWS(t)
	tmp := t.TempDir()
	url, _ := stage(t, "another-key-0123456789")
	res := script{path: "scripts/deploy",
		args:    []string{"--bucket", "b-1", "--region", "eu-west-1", "--zip", fixtureZip(t, tmp), "--template", filepath.Join(tmp, "t.yaml")},
		env:     []string{"FAKE_AWS_LOG=" + filepath.Join(tmp, "calls"), "FAKE_AWS_API_URL=" + url},
		pathEnv: deployPath(t, awsDir)}.run(t)
	if res.exit == 0 {
		t.Fatalf("exit 0 though the stage refused the key:\n%s", res.stdout)
	}
	for _, want := range []string{"smoke: FAIL: HTTP 403", "deploy: the stack is deployed, but scripts/smoke failed against " + url} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}

// TestDeployGeographyWarning checks that a model whose geography prefix does
// not fit the region is warned about, in a dry run too, without failing.
func TestDeployGeographyWarning(t *testing.T) {
	res := script{path: "scripts/deploy", args: []string{"--dry-run", "--bucket", "b-1", "--region", "eu-west-1", "--no-smoke"}}.run(t)
	if res.exit != 0 {
		t.Fatalf("exit %d: %s", res.exit, res.stderr)
	}
	if !strings.Contains(res.stderr, "template: warning: model us.anthropic.claude-sonnet-4-20250514-v1:0 is a cross-Region inference profile of the US geography") ||
		!strings.Contains(res.stderr, "eu.anthropic.claude-sonnet-4-20250514-v1:0") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
	res = script{path: "scripts/deploy", args: []string{"--dry-run", "--bucket", "b-1", "--region", "us-east-2", "--no-smoke"}}.run(t)
	if res.exit != 0 || res.stderr != "" {
		t.Errorf("us-east-2: exit %d, stderr %q", res.exit, res.stderr)
	}
}

// TestDeployFunctionRevision checks the revision that publishes a new
// version with provisioned concurrency: passed only then, a sha256, the
// same for the same inputs and another for other parameters.
func TestDeployFunctionRevision(t *testing.T) {
	awsDir, _ := fakeAWS(t)
	path := deployPath(t, awsDir)
	tmp := t.TempDir()
	zip := fixtureZip(t, tmp)
	revision := regexp.MustCompile(`FunctionRevision=([0-9a-f]+)`)
	deploy := func(extra ...string) string {
		log := filepath.Join(t.TempDir(), "calls")
		args := append([]string{"--bucket", "b-1", "--region", "eu-west-1", "--zip", zip, "--template", filepath.Join(tmp, "t.yaml"), "--no-smoke"}, extra...)
		res := script{path: "scripts/deploy", args: args, env: []string{"FAKE_AWS_LOG=" + log}, pathEnv: path}.run(t)
		if res.exit != 0 {
			t.Fatalf("%q: exit %d\n%s", extra, res.exit, res.stderr)
		}
		m := revision.FindStringSubmatch(readLog(t, log))
		if m == nil {
			return ""
		}
		return m[1]
	}
	if got := deploy(); got != "" {
		t.Errorf("FunctionRevision %s passed without provisioned concurrency (the template has no such parameter)", got)
	}
	first := deploy("--provisioned-concurrency", "2")
	if len(first) != 64 {
		t.Fatalf("FunctionRevision %q, want a sha256", first)
	}
	if again := deploy("--provisioned-concurrency", "2"); again != first {
		t.Errorf("same inputs, revisions %s and %s", first, again)
	}
	if other := deploy("--provisioned-concurrency", "2", "--max-tokens", "100"); other == first {
		t.Errorf("another MaxTokens kept the revision %s", first)
	}
	if other := deploy("--provisioned-concurrency", "2", "--cors-allow-origins", "https://chat.example.com"); other == first {
		t.Errorf("another template kept the revision %s", first)
	}
}

func TestScriptsHelp(t *testing.T) {
	for _, s := range []string{"scripts/deploy", "scripts/smoke"} {
		res := script{path: s, args: []string{"--help"}}.run(t)
		if res.exit != 0 || !strings.HasPrefix(res.stdout, "Usage: "+s) {
			t.Errorf("%s --help: exit %d, stdout:\n%s", s, res.exit, res.stdout)
		}
	}
}

// TestShellcheck runs shellcheck on the scripts when it is installed.
func TestShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck is not installed (apt-get install shellcheck)")
	}
	root := repoRoot(t)
	out, err := exec.Command(sc, filepath.Join(root, "scripts", "deploy"), filepath.Join(root, "scripts", "smoke")).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
