package scriptstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
"cloudformation deploy") echo "Successfully created/updated stack - $5" ;;
"cloudformation describe-stacks") printf 'ApiUrl\thttps://abc123.execute-api.eu-west-1.amazonaws.com/prod\n' ;;
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
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			awsDir, log := fakeAWS(t)
			paths := map[string]string{
				"aws on PATH": awsDir + string(os.PathListSeparator) + toolDir(t, "sha256sum"),
				"no aws":      toolDir(t, "sha256sum"),
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
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatal(err)
	}
	res := script{path: "scripts/deploy", args: []string{"--dry-run", "--bucket", "b-1", "--region", "us-east-1"}}.run(t)
	if res.exit != 0 {
		t.Fatalf("exit %d: %s", res.exit, res.stderr)
	}
	for _, name := range []string{"ModelId", "AllowedModels", "IntegrationTimeoutMs", "FunctionTimeoutSeconds", "ApiKeyRequired", "ConfigureApiGatewayAccount"} {
		want := name + "=" + fmtDefault(tmpl.Parameters[name].Default)
		if !strings.Contains(res.stdout, " "+want+" ") && !strings.Contains(res.stdout, " "+want+"\n") {
			t.Errorf("deploy does not pass %s (the template's default):\n%s", want, res.stdout)
		}
	}
}

func fmtDefault(v any) string {
	switch v := v.(type) {
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
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
	tools := toolDir(t, "sha256sum", "mkdir")
	withAWS := strings.Join([]string{awsDir, filepath.Dir(goPath), tools}, string(os.PathListSeparator))
	zip := fixtureZip(t, t.TempDir())
	base := []string{"--bucket", "my-code-bucket", "--region", "eu-west-1", "--zip", zip, "--template", filepath.Join(t.TempDir(), "t.yaml")}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		path string
		want string
	}{
		{"no AWS CLI", base, nil, t.TempDir(), "the AWS CLI (aws) is not on PATH"},
		{"no credentials", base, []string{"FAKE_AWS_STS=fail"}, withAWS, "no usable AWS credentials (aws sts get-caller-identity failed: Unable to locate credentials."},
		{"no bucket", []string{"--region", "eu-west-1"}, nil, withAWS, "no S3 bucket for the code: pass --bucket BUCKET or set STREAMGATE_BUCKET"},
		{"no bucket, dry run", []string{"--dry-run", "--region", "eu-west-1"}, nil, withAWS, "no S3 bucket for the code"},
		{"bucket missing", base, []string{"FAKE_AWS_BUCKET=missing"}, withAWS, "bucket 'my-code-bucket' does not exist or is not yours (An error occurred (NoSuchBucket)"},
		{"bucket in another region", base, []string{"FAKE_AWS_BUCKET=us-west-2"}, withAWS, "bucket 'my-code-bucket' is in us-west-2, but Lambda reads its code only from a bucket in the stack's region eu-west-1"},
		{"no region", []string{"--bucket", "b-1", "--dry-run"}, nil, withAWS, "no AWS region: pass --region REGION or set AWS_REGION"},
		{"integration timeout over 15 minutes", append([]string{"--integration-timeout-ms", "900001"}, base...), nil, withAWS, "-integration-timeout-ms=900001 is out of range"},
		{"function shorter than integration", append([]string{"--function-timeout-seconds", "60"}, base...), nil, withAWS, "-function-timeout-seconds=60 is shorter than -integration-timeout-ms=300000"},
		{"emulator model", append([]string{"--model-id", "emulator.steady-v1"}, base...), nil, withAWS, "emulator models exist only in local mode"},
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

// TestDeployRun runs a whole deployment against the fake aws command, with
// the real template generator, and checks the calls it made.
func TestDeployRun(t *testing.T) {
	goPath, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	awsDir, _ := fakeAWS(t)
	path := strings.Join([]string{awsDir, filepath.Dir(goPath), toolDir(t, "sha256sum", "mkdir")}, string(os.PathListSeparator))
	tmp := t.TempDir()
	zip := fixtureZip(t, tmp)
	templateFile := filepath.Join(tmp, "out", "template.yaml")
	for _, tc := range []struct {
		name, golden string
		env          []string
	}{
		{"first deployment", "deploy-run-first.golden", nil},
		{"code already uploaded, account role set", "deploy-run-again.golden", []string{"FAKE_AWS_OBJECT=exists", "FAKE_AWS_ACCOUNT_ROLE=arn:aws:iam::111122223333:role/apigw-logs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "aws-calls")
			res := script{
				path: "scripts/deploy",
				args: []string{"--bucket", "my-code-bucket", "--stack-name", "sg-test", "--zip", zip, "--template", templateFile, "--max-tokens", "2000"},
				env:  append([]string{"FAKE_AWS_LOG=" + log, "AWS_REGION=eu-west-1"}, tc.env...), pathEnv: path,
			}.run(t)
			if res.exit != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", res.exit, res.stdout, res.stderr)
			}
			if !strings.Contains(res.stdout, "ApiUrl\thttps://abc123.execute-api.eu-west-1.amazonaws.com/prod") {
				t.Errorf("outputs not printed:\n%s", res.stdout)
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
