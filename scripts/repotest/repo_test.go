package repotest

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/app/apptest"
)

// root is the repository root (where go.mod is).
func root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// goPackage is the part of `go list -json` these tests read.
type goPackage struct {
	ImportPath string
	Dir        string
	Name       string
	GoFiles    []string
	Deps       []string
}

func goList(t *testing.T, args ...string) []goPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestEveryPackageHasOneDocComment: a package comment is the package's front
// page; two would be concatenated by go doc, none leaves it blank.
func TestEveryPackageHasOneDocComment(t *testing.T) {
	for _, p := range goList(t, "./...") {
		docs := 0
		var where []string
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if file.Doc != nil && strings.TrimSpace(file.Doc.Text()) != "" {
				docs++
				where = append(where, f)
			}
		}
		if docs != 1 {
			t.Errorf("%s has %d package comments %v, want exactly 1", p.ImportPath, docs, where)
		}
	}
}

func TestGofmt(t *testing.T) {
	cmd := exec.Command("gofmt", "-l", "functions", "shared", "scripts")
	cmd.Dir = root(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gofmt: %v: %s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("gofmt -l lists files that are not formatted:\n%s", s)
	}
}

// TestFunctionsDoNotImportTheLocalSupabase: the local Supabase is test and
// sandbox infrastructure; nothing deployed may carry it.
func TestFunctionsDoNotImportTheLocalSupabase(t *testing.T) {
	const forbidden = "github.com/supabridge/supabridge/shared/localsupabase"
	fns := goList(t, "-deps=false", "./functions/...")
	if len(fns) == 0 {
		t.Fatal("no functions found")
	}
	for _, fn := range fns {
		for _, p := range goList(t, "-deps", fn.ImportPath) {
			if p.ImportPath == forbidden || strings.HasPrefix(p.ImportPath, forbidden+"/") {
				t.Errorf("%s imports %s", fn.ImportPath, p.ImportPath)
			}
		}
	}
}

// routeApp is an App on a throw-away embedded backend, enough to register
// a function's routes.
func routeApp(t *testing.T) *app.App { return apptest.New(t, "repotest", nil, nil) }
