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
		{"unknown disconnect mode", []string{"-bootstrap", self, "-on-disconnect", "kill"}, `want "drain" or "close"`},
		{"handler with a space", []string{"-bootstrap", self, "-handler", "a b"}, "without spaces"},
		{"authorizer flags without a handler", []string{"-bootstrap", self, "-api-keys", "k1", "-authorizer-ttl", "0s"}, "-api-keys, -authorizer-ttl need -authorizer-handler"},
		{"authorizer TTL above 1h", []string{"-bootstrap", self, "-authorizer-handler", "authorizer", "-authorizer-ttl", "2h"}, "0 to 3600 seconds"},
		{"cache without identity source", []string{"-bootstrap", self, "-authorizer-handler", "authorizer", "-authorizer-identity-source", ""}, "needs at least one identity source"},
		{"bad route pattern", []string{"-bootstrap", self, "-authorizer-handler", "authorizer", "-authorizer-routes", "POST stream"}, `want "METHOD /path"`},
		{"missing keys file", []string{"-bootstrap", self, "-authorizer-handler", "authorizer", "-api-keys-file", "/nonexistent/keys"}, "-api-keys-file"},
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

	// The test function writes its authorizer reports here.
	t.Setenv("FN_REPORT_DIR", t.TempDir())
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("# the usage plan\nk1\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-bootstrap", fn, "-addr", "127.0.0.1:0", "-instances", "2", "-handler", "fn.main",
			"-authorizer-handler", "authorizer", "-authorizer-instances", "1", "-api-keys-file", keys, "-authorizer-routes", "GET /chunks"}, pw, io.Discard)
		pw.Close()
	}()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("startup line: %v", err)
	}
	m := regexp.MustCompile(`serving (http://\S+/) .* with 2 instances .*_HANDLER=fn.main.* on disconnect drain, authorizer _HANDLER=authorizer \(TTL 5m0s, 1 API keys\)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("startup line %q does not give the URL, 2 instances, the handler, the disconnect mode and the authorizer", line)
	}
	go io.Copy(io.Discard, pr)

	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", m[1]+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode, string(body)
	}
	if code, body := get("chunks?n=3&gap=10ms", ""); code != 401 || body != `{"message":"Unauthorized"}` {
		t.Errorf("guarded route without a key: %d %s", code, body)
	}
	if code, body := get("chunks?n=3&gap=10ms", "allow-k2"); code != 403 || body != `{"message":"Forbidden"}` {
		t.Errorf("a key outside the keys file: %d %s", code, body)
	}
	if code, body := get("chunks?n=3&gap=10ms", "allow-k1"); code != 200 || body != "chunk 0\nchunk 1\nchunk 2\n" {
		t.Fatalf("with a key of the keys file: %d %q", code, body)
	}
	if code, body := get("echo", ""); code != 200 || !strings.Contains(body, `"_HANDLER":"fn.main"`) {
		t.Errorf("unguarded /echo: %d, want 200 with _HANDLER fn.main in %s", code, body)
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
