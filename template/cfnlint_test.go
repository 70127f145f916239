package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCFNLint runs cfn-lint on the YAML and the JSON of every golden
// configuration. cfn-lint knows ResponseTransferMode's values but not
// TimeoutInMillis's 900000 upper bound: the structural tests check that.
func TestCFNLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("cfn-lint is not on PATH (pip install cfn-lint); with CI set this test fails instead")
		}
		t.Fatalf("cfn-lint is not on PATH and CI=%s: install it (pip install cfn-lint)", os.Getenv("CI"))
	}
	dir := t.TempDir()
	var files []string
	for _, tc := range goldenCases() {
		for _, format := range []string{"yaml", "json"} {
			name := strings.NewReplacer(" ", "-", ",", "").Replace(tc.name) + "." + format
			path := filepath.Join(dir, name)
			args := append(append([]string{}, tc.args...), "-format", format, "-o", path)
			generateArgs(t, args...)
			files = append(files, path)
		}
	}
	// One run for all files: cfn-lint takes seconds to start.
	cmd := exec.Command(lint, append([]string{"--format", "parseable", "--"}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint found problems (%v):\n%s", err, out)
	}
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("cfn-lint printed:\n%s", out)
	}
}
