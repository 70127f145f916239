package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRejectsBadFlagsWithOneLine(t *testing.T) {
	self, err := os.Executable() // any executable file will do as a bootstrap here
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"timeout above 900s", []string{"-bootstrap", self, "-timeout", "901s"}, "maximum integration timeout of 15m0s"},
		{"no bootstrap", nil, "-bootstrap PATH is required"},
		{"missing bootstrap", []string{"-bootstrap", "/nonexistent/bootstrap"}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), tc.args, &stdout, &stderr)
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %d, stderr %q: want exit 2 and one line containing %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// TestServesAndStops runs the command over the localgw test function,
// streams one response through it, and stops it.
func TestServesAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a function")
	}
	fn := filepath.Join(t.TempDir(), "fn")
	build := exec.Command("go", "build", "-o", fn, "../../lambda/localgw/testdata/fn")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test function: %v\n%s", err, out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-bootstrap", fn, "-addr", "127.0.0.1:0", "-instances", "2"}, pw, io.Discard)
		pw.Close()
	}()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("startup line: %v", err)
	}
	m := regexp.MustCompile(`serving (http://\S+/) .* with 2 instances`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("startup line %q does not give the URL and 2 instances", line)
	}
	go io.Copy(io.Discard, pr)

	resp, err := http.Get(m[1] + "chunks?n=3&gap=10ms")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "chunk 0\nchunk 1\nchunk 2\n" {
		t.Fatalf("body %q, err %v", body, err)
	}

	cancel() // as SIGINT does
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	if _, err := http.Get(m[1]); err == nil {
		t.Errorf("still accepting after stop")
	}
}
