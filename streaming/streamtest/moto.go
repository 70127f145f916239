package streamtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Moto starts a moto server (python3 -m moto.server, an emulator of AWS
// APIs; preinstalled on these machines) on a free loopback port for the
// test and returns its endpoint URL. The test is skipped, with the reason,
// where moto is not installed.
func Moto(t testing.TB) string {
	t.Helper()
	if err := exec.Command("python3", "-c", "import moto.server").Run(); err != nil {
		t.Skip("moto is not installed (python3 -m moto.server): skipping the test that needs a real DynamoDB API")
	}
	var lastErr error
	for range 3 { // a free port can be taken between the probe and moto's bind
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		logs := &Buffer{}
		cmd := exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting moto: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if lastErr = waitHTTP(url, exited, 60*time.Second); lastErr == nil {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return url
		}
		cmd.Process.Kill()
		<-exited
		lastErr = fmt.Errorf("%w; moto said:\n%s", lastErr, logs)
	}
	t.Fatalf("moto did not start: %v", lastErr)
	return ""
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers, the process exits, or timeout.
func waitHTTP(url string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/moto-api/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("moto exited before answering")
		case <-ctx.Done():
			return fmt.Errorf("moto did not answer within %v", timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
