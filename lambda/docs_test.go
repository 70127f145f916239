package main

// Checks that keep the documentation true to the repository: every README
// example marker is run by a test (readme_examples_test.go) and every such
// test finds its marker.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docsRoot is the repository's top directory, seen from package lambda.
const docsRoot = ".."

// markdownFiles lists the repository's markdown files, relative to its
// root with forward slashes, leaving out what is not the project's own
// prose: dependencies (node_modules), test data, build output (dist) and
// hidden directories (.git).
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(docsRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != docsRoot && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata" || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".md") {
			rel, err := filepath.Rel(docsRoot, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files, "README.md") {
		t.Fatalf("found no README.md at the repository root (found %q)", files)
	}
	return files
}

// readmeMarker is the comment that names the test that runs the ```js
// block after it.
var readmeMarker = regexp.MustCompile(`<!-- README example: (\w+)\b`)

// TestReadmeExampleMarkers checks both directions between the markdown
// files and readme_examples_test.go: every example marker in the
// documentation names a test that extracts it with readmeExample (an
// example no test runs would go stale unseen), and every test that calls
// readmeExample has its marker, once, in some markdown file (so a moved,
// renamed or deleted example fails here as well as in its own test).
func TestReadmeExampleMarkers(t *testing.T) {
	t.Parallel()
	var markers []string
	where := map[string][]string{}
	for _, file := range markdownFiles(t) {
		b, err := os.ReadFile(filepath.Join(docsRoot, filepath.FromSlash(file)))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range readmeMarker.FindAllStringSubmatch(string(b), -1) {
			markers = append(markers, m[1])
			where[m[1]] = append(where[m[1]], file)
		}
	}
	tests := readmeExampleCalls(t)
	if len(tests) == 0 {
		t.Fatal("no test calls readmeExample")
	}
	for _, name := range tests {
		switch files := where[name]; len(files) {
		case 0:
			t.Errorf("%s runs a README example, but no markdown file has <!-- README example: %s ... -->", name, name)
		case 1:
		default:
			t.Errorf("the example of %s is marked %d times (%q): which one runs?", name, len(files), files)
		}
	}
	for _, m := range markers {
		if !slices.Contains(tests, m) {
			t.Errorf("%s marks an example for %s, which no test runs (readmeExample(t, %q) in lambda/readme_examples_test.go)", where[m], m, m)
		}
	}
}

// readmeExampleCalls returns the test names passed to readmeExample in this
// package's test files, read from their syntax, in the order found.
func readmeExampleCalls(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, path := range paths {
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "readmeExample" {
				return true
			}
			lit, ok := call.Args[1].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: readmeExample's test name must be a string literal", fset.Position(call.Pos()))
				return true
			}
			name, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
			return true
		})
	}
	return names
}
