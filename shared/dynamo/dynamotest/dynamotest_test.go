package dynamotest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func TestMissingNodeModules(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "scripts", "js"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := startDynalite(root)
	if err == nil || !strings.Contains(err.Error(), "npm ci") || !strings.Contains(err.Error(), EndpointEnv) {
		t.Fatalf("without node_modules: %v; want advice to run npm ci or set %s", err, EndpointEnv)
	}
}

// TestStartAndClose: a started server gives usable tables, and Close stops
// the dynalite it started.
func TestStartAndClose(t *testing.T) {
	t.Setenv(EndpointEnv, "")
	s, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // after the table's own clean-up
	if s.cmd == nil {
		t.Fatal("no dynalite was started")
	}
	client, table := s.NewTable(t)
	if _, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		t.Fatal(err)
	}

	other, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	if other.Endpoint() == s.Endpoint() {
		t.Fatal("two servers share an endpoint")
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-other.exited:
	default:
		t.Fatal("Close returned before dynalite exited")
	}
	if _, err := other.Client().ListTables(t.Context(), &dynamodb.ListTablesInput{}); err == nil {
		t.Fatal("the closed server still answers")
	}
	if err := other.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("root %s has no go.mod: %v", root, err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if rel, err := filepath.Rel(root, wd); err != nil || filepath.ToSlash(rel) != "shared/dynamo/dynamotest" {
		t.Fatalf("root %s is not this package's module root (relative path %q)", root, rel)
	}
}
