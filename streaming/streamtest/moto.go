package streamtest

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// ErrNoMoto is StartMoto's error where moto is not installed.
var ErrNoMoto = errors.New("moto is not installed (python3 -m moto.server)")

// MotoServer is a running moto server (python3 -m moto.server, an emulator
// of AWS APIs; preinstalled on these machines).
type MotoServer struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Stop ends the server.
func (m *MotoServer) Stop() {
	m.cmd.Process.Kill()
	<-m.done
}

// StartMoto starts moto on a free loopback port and waits until it
// answers (bounded by ctx and a minute).
func StartMoto(ctx context.Context) (*MotoServer, error) {
	if !HaveMoto() {
		return nil, ErrNoMoto
	}
	var lastErr error
	for range 3 { // a free port can be taken between the probe and moto's bind
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		m := &MotoServer{URL: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
		logs := &Buffer{}
		m.cmd = exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		m.cmd.Stdout, m.cmd.Stderr = logs, logs
		if err := m.cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting moto: %w", err)
		}
		go func() { m.cmd.Wait(); close(m.done) }()
		if lastErr = waitHTTP(ctx, m.URL, m.done, time.Minute); lastErr == nil {
			return m, nil
		}
		m.Stop()
		lastErr = fmt.Errorf("%w; moto said:\n%s", lastErr, logs)
	}
	return nil, fmt.Errorf("moto did not start: %w", lastErr)
}

// HaveMoto reports whether moto is installed.
func HaveMoto() bool {
	return exec.Command("python3", "-c", "import moto.server").Run() == nil
}

// Moto starts a moto server for the test and returns its endpoint URL. The
// test is skipped, with the reason, where moto is not installed.
func Moto(t testing.TB) string {
	t.Helper()
	m, err := StartMoto(t.Context())
	if errors.Is(err, ErrNoMoto) {
		t.Skip(err.Error() + ": skipping the test that needs a real AWS API")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m.URL
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
func waitHTTP(ctx context.Context, url string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
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

// The tables the stack creates, as the tests name them.
const (
	CancelTable = "streamgate-cancels"
	BudgetTable = "streamgate-budgets"
)

// CreateCancelTable creates, in the DynamoDB API at endpoint (moto), the
// cancel table the stack creates, and returns a client for it.
func CreateCancelTable(ctx context.Context, endpoint string) (*dynamodb.Client, error) {
	return CreateTable(ctx, endpoint, CancelTable)
}

// CreateTable creates, in the DynamoDB API at endpoint (moto), a table as
// the stack creates its cancel and budget tables (partition key "id", on
// demand), and returns a client for it.
func CreateTable(ctx context.Context, endpoint, name string) (*dynamodb.Client, error) {
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDMOTO", "moto-secret", ""),
	})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          dbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: dbtypes.KeyTypeHash}},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the table %s: %w", name, err)
	}
	return db, nil
}
