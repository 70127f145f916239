package main

import (
	"archive/zip"
	"crypto/sha256"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLambdaBuildLinksNoLocalCode: the Lambda build (scripts/build's
// -tags lambda.norpc, for linux/arm64) links none of local mode's code —
// the Bedrock emulator, the in-process S3 (gofakes3), localgw — nor the
// SDK packages the Lambda path does without (the default credential
// chain's config, sts, sso, ssooidc and signin; the DynamoDB and S3
// clients, whose calls the gateway makes itself): each
// package linked is initialised at every cold start (scripts/bench,
// section 3). The build without the tag, `go run ./lambda`, must still
// link the emulator and gofakes3, so that the test sees the packages it
// looks for.
func TestLambdaBuildLinksNoLocalCode(t *testing.T) {
	deps := func(tags ...string) map[string]bool {
		cmd := exec.Command("go", append(append([]string{"list", "-deps"}, tags...), ".")...)
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %v: %v", tags, err)
		}
		set := map[string]bool{}
		for _, p := range strings.Fields(string(out)) {
			set[p] = true
		}
		return set
	}
	linked := func(set map[string]bool, prefix string) []string {
		var got []string
		for p := range set {
			if p == prefix || strings.HasPrefix(p, prefix+"/") {
				got = append(got, p)
			}
		}
		return got
	}
	forbidden := []string{
		"github.com/streamgate/streamgate/streaming/emulator",
		"github.com/johannesboyne/gofakes3",
		"github.com/streamgate/streamgate/lambda/locals3",
		"github.com/streamgate/streamgate/lambda/localgw",
		"github.com/aws/aws-sdk-go-v2/config",
		"github.com/aws/aws-sdk-go-v2/service/sts",
		"github.com/aws/aws-sdk-go-v2/service/sso",
		"github.com/aws/aws-sdk-go-v2/service/ssooidc",
		"github.com/aws/aws-sdk-go-v2/service/signin",
		"github.com/aws/aws-sdk-go-v2/service/dynamodb",
		"github.com/aws/aws-sdk-go-v2/service/s3",
	}
	lambdaBuild := deps("-tags", "lambda.norpc")
	if !lambdaBuild["github.com/aws/aws-lambda-go/lambda"] || !lambdaBuild["github.com/streamgate/streamgate/streaming"] {
		t.Fatalf("the Lambda build's dependencies lack aws-lambda-go or the gateway: %d packages", len(lambdaBuild))
	}
	for _, p := range forbidden {
		if got := linked(lambdaBuild, p); len(got) > 0 {
			t.Errorf("the Lambda build (-tags lambda.norpc) links %v; it must not (local-only code, or a package whose init every cold start pays)", got)
		}
	}
	localBuild := deps()
	for _, p := range []string{"github.com/streamgate/streamgate/streaming/emulator", "github.com/johannesboyne/gofakes3"} {
		if len(linked(localBuild, p)) == 0 {
			t.Errorf("the build without -tags lambda.norpc does not link %s: local mode (go run ./lambda) needs it, or this test looks for the wrong name", p)
		}
	}
}

// TestScriptsBuild runs scripts/build as a deployer would and checks its
// products: a static linux/arm64 ELF named bootstrap, and a zip that holds
// exactly that file, executable, byte-for-byte the same on a second build.
func TestScriptsBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds for linux/arm64")
	}
	build := func(dist string) []byte {
		cmd := exec.Command("../scripts/build")
		cmd.Env = append(os.Environ(), "DIST="+dist, "GOARCH=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("scripts/build: %v\n%s", err, out)
		}
		zipped, err := os.ReadFile(filepath.Join(dist, "lambda.zip"))
		if err != nil {
			t.Fatal(err)
		}
		return zipped
	}
	dist := t.TempDir()
	first := build(dist)

	bin, err := elf.Open(filepath.Join(dist, "bootstrap"))
	if err != nil {
		t.Fatalf("dist/bootstrap is not an ELF file: %v", err)
	}
	defer bin.Close()
	if bin.Machine != elf.EM_AARCH64 || bin.Class != elf.ELFCLASS64 || bin.Type != elf.ET_EXEC {
		t.Errorf("bootstrap is %v %v %v, want a 64-bit arm64 executable", bin.Class, bin.Machine, bin.Type)
	}
	if interp := bin.Section(".interp"); interp != nil {
		t.Error("bootstrap asks for a dynamic loader; want a static binary (CGO_ENABLED=0)")
	}

	archive, err := zip.OpenReader(filepath.Join(dist, "lambda.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer archive.Close()
	if len(archive.File) != 1 || archive.File[0].Name != "bootstrap" {
		var names []string
		for _, f := range archive.File {
			names = append(names, f.Name)
		}
		t.Fatalf("lambda.zip holds %v, want exactly [bootstrap]", names)
	}
	if mode := archive.File[0].Mode(); mode.Perm()&0o111 == 0 {
		t.Errorf("bootstrap in the zip has mode %v, want executable", mode)
	}
	inZip, _ := archive.File[0].Open()
	defer inZip.Close()
	onDisk, _ := os.ReadFile(filepath.Join(dist, "bootstrap"))
	h1, h2 := sha256.New(), sha256.Sum256(onDisk)
	if _, err := io.Copy(h1, inZip); err != nil || string(h1.Sum(nil)) != string(h2[:]) {
		t.Error("the zip's bootstrap differs from dist/bootstrap")
	}

	if second := build(t.TempDir()); sha256.Sum256(second) != sha256.Sum256(first) {
		t.Error("two builds of the same source gave different zips; the content-hashed S3 key would change for nothing")
	}
}
