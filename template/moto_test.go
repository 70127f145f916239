package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// motoSkips are the resource types of the template that moto 5.2's
// CloudFormation does not create (it logs "No Moto CloudFormation support
// for TYPE" and goes on). A green mock deployment says nothing about them;
// template/README.md ("The template, tested") lists them too. moto also drops the Method
// integration's ResponseTransferMode and TimeoutInMillis.
var motoSkips = []string{
	"AWS::ApiGateway::ApiKey",
	"AWS::ApiGateway::Authorizer",
	"AWS::ApiGateway::GatewayResponse",
	"AWS::ApiGateway::Stage",
	"AWS::ApiGateway::UsagePlan",
	"AWS::ApiGateway::UsagePlanKey",
	"AWS::CloudWatch::Alarm",
	"AWS::Lambda::Alias",
	"AWS::S3::BucketPolicy",
}

// syncBuffer collects a child's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// moto is a moto server on a loopback port, driven with the real aws CLI.
type moto struct {
	t        *testing.T
	ctx      context.Context
	aws      string
	endpoint string
	env      []string
	log      *syncBuffer
}

// startMoto starts python3 -m moto.server, or skips the test with the
// reason when the aws CLI, python3 or moto is missing.
func startMoto(t *testing.T, ctx context.Context) *moto {
	t.Helper()
	aws, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the aws CLI is not on PATH: the mock deployment needs it (pip install awscli)")
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH: the mock deployment needs moto (pip install 'moto[server]')")
	}
	probe, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(probe, python, "-c", "import moto.server").CombinedOutput(); err != nil {
		t.Skipf("moto is not installed for python3 (pip install 'moto[server]'): %v %s", err, bytes.TrimSpace(out))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	m := &moto{t: t, ctx: ctx, aws: aws, endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), log: &syncBuffer{}}
	cmd := exec.Command(python, "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = m.log, m.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	client := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := client.Get(m.endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("moto server exited:\n%s", m.log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto server not ready on %s after 60 s: %v\n%s", m.endpoint, err, m.log)
		}
	}
	home := t.TempDir()
	m.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
	return m
}

// run calls the aws CLI against moto and returns its stdout.
func (m *moto) run(args ...string) string {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(m.ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.aws, append([]string{"--endpoint-url", m.endpoint, "--output", "json"}, args...)...)
	cmd.Env = m.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		m.t.Fatalf("aws %s: %v\n%s\nmoto:\n%s", strings.Join(args, " "), err, stderr.String(), tail(m.log.String(), 3000))
	}
	return stdout.String()
}

func (m *moto) json(v any, args ...string) {
	m.t.Helper()
	out := m.run(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		m.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// waitFor polls the stack until its status is want, and fails on any
// other final status.
func (m *moto) waitFor(stack, want string) {
	m.t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; {
		var out struct {
			Stacks []struct{ StackStatus, StackStatusReason string }
		}
		m.json(&out, "cloudformation", "describe-stacks", "--stack-name", stack)
		status := out.Stacks[0].StackStatus
		switch {
		case status == want:
			return
		case !strings.HasSuffix(status, "_IN_PROGRESS"):
			m.t.Fatalf("stack %s: %s (%s), want %s\nmoto:\n%s", stack, status, out.Stacks[0].StackStatusReason, want, tail(m.log.String(), 3000))
		case time.Now().After(deadline):
			m.t.Fatalf("stack %s still %s after 90 s", stack, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type stackResource struct{ LogicalResourceId, PhysicalResourceId, ResourceType, ResourceStatus string }

func (m *moto) resources(stack string) map[string]stackResource {
	m.t.Helper()
	var out struct{ StackResourceSummaries []stackResource }
	m.json(&out, "cloudformation", "list-stack-resources", "--stack-name", stack)
	byID := map[string]stackResource{}
	for _, r := range out.StackResourceSummaries {
		if r.LogicalResourceId != "" {
			byID[r.LogicalResourceId] = r
		}
	}
	return byID
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// TestMockDeployment creates the generated stack in moto with the real aws
// CLI, then updates it with other CORS origins, and checks that the update
// brings a new API Gateway deployment (the fix of the review's first
// defect) and the new origins to the function. moto checks the structure
// and the CLI flow only: see motoSkips for what it does not create.
func TestMockDeployment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	m := startMoto(t, ctx)
	dir := t.TempDir()

	// The code: a zip holding a bootstrap, as scripts/build makes it
	// (moto stores it and never runs it).
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	f, err := zw.Create("bootstrap")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("#!/bin/sh\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(dir, "lambda.zip")
	if err := os.WriteFile(zipPath, zipped.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	m.run("s3api", "create-bucket", "--bucket", "sg-code")
	m.run("s3api", "put-object", "--bucket", "sg-code", "--key", "streamgate/lambda.zip", "--body", zipPath)

	generate := func(name, origins string) (path string, d tmpl) {
		path = filepath.Join(dir, name)
		generateArgs(t, "-o", path, "-cors-allow-origins", origins)
		return path, templateJSON(t, "-cors-allow-origins", origins)
	}
	first, before := generate("first.yaml", "https://chat.example.com")
	m.run("cloudformation", "create-stack", "--stack-name", "sg-mock", "--template-body", "file://"+first,
		"--capabilities", "CAPABILITY_IAM",
		"--parameters", "ParameterKey=CodeS3Bucket,ParameterValue=sg-code", "ParameterKey=CodeS3Key,ParameterValue=streamgate/lambda.zip")
	m.waitFor("sg-mock", "CREATE_COMPLETE")

	created := m.resources("sg-mock")
	var skipped []string
	// False with the default parameters: no account role, no alarm email.
	off := []string{condConfigureAccount, condAlarmEmail}
	for id, r := range before.resources() {
		typ := r.(map[string]any)["Type"].(string)
		got, ok := created[id]
		cond, _ := r.(map[string]any)["Condition"].(string)
		switch {
		case slices.Contains(off, cond):
			if ok {
				t.Errorf("%s was created though its condition %s is false", id, cond)
			}
		case ok && got.ResourceStatus != "CREATE_COMPLETE":
			t.Errorf("%s (%s): %s", id, typ, got.ResourceStatus)
		case ok && got.ResourceType != typ:
			t.Errorf("%s: created as %s, want %s", id, got.ResourceType, typ)
		case !ok && !slices.Contains(motoSkips, typ):
			t.Errorf("%s (%s) was not created, and moto is not known to skip %s", id, typ, typ)
		case !ok && !slices.Contains(skipped, typ):
			skipped = append(skipped, typ)
		}
	}
	sort.Strings(skipped)
	t.Logf("moto skipped %s", strings.Join(skipped, ", "))
	for _, typ := range []string{"AWS::ApiGateway::RestApi", "AWS::ApiGateway::Resource", "AWS::ApiGateway::Method", "AWS::ApiGateway::Deployment",
		"AWS::Lambda::Function", "AWS::Lambda::Permission", "AWS::IAM::Role", "AWS::Logs::LogGroup", "AWS::DynamoDB::Table",
		"AWS::S3::Bucket", "AWS::CloudWatch::Dashboard"} {
		if slices.Contains(skipped, typ) {
			t.Errorf("moto skipped %s, which this test relies on", typ)
		}
	}

	// The API as moto holds it: every path of the gateway, the streaming
	// Lambda proxy integration.
	api := created[resAPI].PhysicalResourceId
	var apiResources struct {
		Items []struct{ Id, Path string }
	}
	m.json(&apiResources, "apigateway", "get-resources", "--rest-api-id", api)
	var paths []string
	streamID := ""
	for _, r := range apiResources.Items {
		paths = append(paths, r.Path)
		if r.Path == "/stream" {
			streamID = r.Id
		}
	}
	for _, r := range routes() {
		if !slices.Contains(paths, r.path) {
			t.Errorf("the API has no %s; it has %v", r.path, paths)
		}
	}
	var method struct {
		ApiKeyRequired    bool
		AuthorizationType string
		MethodIntegration struct{ Type, Uri string }
	}
	m.json(&method, "apigateway", "get-method", "--rest-api-id", api, "--resource-id", streamID, "--http-method", "POST")
	if method.MethodIntegration.Type != "AWS_PROXY" || !strings.Contains(method.MethodIntegration.Uri, "/response-streaming-invocations") ||
		!method.ApiKeyRequired || method.AuthorizationType != "CUSTOM" {
		t.Errorf("POST /stream in moto: %+v", method)
	}

	// The functions: one zip, two handlers.
	config := func(id string) (handler, origins string) {
		var fn struct {
			Handler     string
			Environment struct{ Variables map[string]any } // moto turns "4096" into a number
		}
		m.json(&fn, "lambda", "get-function-configuration", "--function-name", m.resources("sg-mock")[id].PhysicalResourceId)
		origins, _ = fn.Environment.Variables["CORS_ALLOW_ORIGINS"].(string)
		return fn.Handler, origins
	}
	if handler, origins := config(resFunction); handler != "bootstrap" || origins != "https://chat.example.com" {
		t.Errorf("gateway function: handler %q, CORS_ALLOW_ORIGINS %q", handler, origins)
	}
	if handler, _ := config(resAuthorizerFunction); handler != "authorizer" {
		t.Errorf("authorizer function: handler %q", handler)
	}

	// Other origins: a new deployment, and the function follows.
	oldDeployment := before.resourcesOfType("AWS::ApiGateway::Deployment")[0]
	second, after := generate("second.yaml", "https://chat.example.org")
	newDeployment := after.resourcesOfType("AWS::ApiGateway::Deployment")[0]
	if newDeployment == oldDeployment {
		t.Fatalf("the new origins kept the deployment %s", oldDeployment)
	}
	m.run("cloudformation", "update-stack", "--stack-name", "sg-mock", "--template-body", "file://"+second,
		"--capabilities", "CAPABILITY_IAM",
		"--parameters", "ParameterKey=CodeS3Bucket,UsePreviousValue=true", "ParameterKey=CodeS3Key,UsePreviousValue=true")
	m.waitFor("sg-mock", "UPDATE_COMPLETE")
	updated := m.resources("sg-mock")
	if _, ok := updated[newDeployment]; !ok {
		t.Errorf("after the update the stack has no %s", newDeployment)
	}
	if _, ok := updated[oldDeployment]; ok {
		t.Errorf("after the update the stack still has %s", oldDeployment)
	}
	var deployments struct {
		Items []struct{ Id, Description string }
	}
	m.json(&deployments, "apigateway", "get-deployments", "--rest-api-id", api)
	var descriptions []string
	for _, d := range deployments.Items {
		descriptions = append(descriptions, d.Description)
	}
	if want := "streamgate API " + strings.TrimPrefix(newDeployment, deploymentPrefix); !slices.Contains(descriptions, want) {
		t.Errorf("API deployments %q lack %q", descriptions, want)
	}
	if _, origins := config(resFunction); origins != "https://chat.example.org" {
		t.Errorf("after the update CORS_ALLOW_ORIGINS is %q", origins)
	}
}
