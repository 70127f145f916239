package main

// Checks that keep the documentation true to the repository: every relative
// link and image in every markdown file resolves (to a file, and for an
// #anchor into markdown to a heading), and every README example marker is
// run by a test (readme_examples_test.go) and every such test finds its
// marker.

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
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

// mdLink is one link or image of a markdown file.
type mdLink struct {
	line   int
	target string
}

// mdDoc is what the link check needs of a markdown file: its links, and
// the anchors its headings (and HTML id/name attributes) define.
type mdDoc struct {
	links   []mdLink
	anchors map[string]bool
}

var (
	fenceLine   = regexp.MustCompile("^ {0,3}(```|~~~)")
	headingLine = regexp.MustCompile(`^ {0,3}#{1,6}[ \t]+(.*?)[ \t]*#*[ \t]*$`)
	// [text](target "title") and ![alt](target); the text may span lines.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	htmlRef    = regexp.MustCompile(`(?i)<(?:a|img)\b[^>]*?\s(?:href|src)\s*=\s*"([^"]*)"`)
	htmlAnchor = regexp.MustCompile(`(?i)<[a-z]+\b[^>]*?\s(?:id|name)\s*=\s*"([^"]*)"`)
	linkSyntax = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	hasScheme  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// parseMarkdown reads the links and anchors of a markdown document,
// ignoring what is inside fenced code blocks and inline code spans.
func parseMarkdown(text string) mdDoc {
	doc := mdDoc{anchors: map[string]bool{}}
	seen := map[string]int{}
	lines := strings.Split(text, "\n")
	prose := make([]string, len(lines))
	var fence string
	for i, line := range lines {
		if m := fenceLine.FindStringSubmatch(line); m != nil {
			if fence == "" {
				fence = m[1]
			} else if m[1] == fence {
				fence = ""
			}
			continue
		}
		if fence != "" {
			continue
		}
		prose[i] = line
		if m := headingLine.FindStringSubmatch(line); m != nil {
			a := githubAnchor(m[1])
			if n := seen[a]; n > 0 {
				doc.anchors[a+"-"+strconv.Itoa(n)] = true
			} else {
				doc.anchors[a] = true
			}
			seen[a]++
		}
	}
	body := stripCodeSpans(strings.Join(prose, "\n"))
	lineOf := func(offset int) int { return strings.Count(body[:offset], "\n") + 1 }
	for _, re := range []*regexp.Regexp{inlineLink, htmlRef} {
		for _, m := range re.FindAllStringSubmatchIndex(body, -1) {
			doc.links = append(doc.links, mdLink{line: lineOf(m[0]), target: body[m[2]:m[3]]})
		}
	}
	for _, m := range htmlAnchor.FindAllStringSubmatch(body, -1) {
		doc.anchors[m[1]] = true
	}
	slices.SortStableFunc(doc.links, func(a, b mdLink) int { return a.line - b.line })
	return doc
}

// stripCodeSpans blanks out inline code spans (a run of backticks up to
// the next run of the same length), keeping line breaks, so that code that
// looks like a link is not taken for one.
func stripCodeSpans(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); {
		if b[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(b) && b[i+n] == '`' {
			n++
		}
		end := -1
		for j := i + n; j < len(b); {
			if b[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(b) && b[j+m] == '`' {
				m++
			}
			if m == n {
				end = j + m
				break
			}
			j += m
		}
		if end < 0 {
			i += n
			continue
		}
		for k := i; k < end; k++ {
			if b[k] != '\n' {
				b[k] = ' '
			}
		}
		i = end
	}
	return string(b)
}

// githubAnchor is the anchor GitHub gives a heading: its text (links
// reduced to their text) in lower case, every character but letters,
// marks, digits, spaces, hyphens and underscores dropped, and each space
// made a hyphen.
func githubAnchor(heading string) string {
	heading = linkSyntax.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGitHubAnchor(t *testing.T) {
	tests := []struct{ heading, want string }{
		{"Routes", "routes"},
		{"Stop an answer: `DELETE /stream/{requestId}`", "stop-an-answer-delete-streamrequestid"},
		{"The original routes: /generate, /models, /generate-image", "the-original-routes-generate-models-generate-image"},
		{"The emulator's models", "the-emulators-models"},
		{"Your own page: fetch() and the Vercel AI SDK", "your-own-page-fetch-and-the-vercel-ai-sdk"},
		{"What is fixed when the template is written, and what at deploy time", "what-is-fixed-when-the-template-is-written-and-what-at-deploy-time"},
		{"`POST /stream`", "post-stream"},
		{"Which memory size: 128 MB is plenty", "which-memory-size-128-mb-is-plenty"},
		{"A [linked](other.md) heading", "a-linked-heading"},
		{"snake_case and  two spaces", "snake_case-and--two-spaces"},
		{"Ünïcode — dash", "ünïcode--dash"},
	}
	for _, tt := range tests {
		if got := githubAnchor(tt.heading); got != tt.want {
			t.Errorf("githubAnchor(%q) = %q, want %q", tt.heading, got, tt.want)
		}
	}
}

func TestParseMarkdown(t *testing.T) {
	tests := []struct {
		name        string
		text        string
		wantLinks   []mdLink
		wantAnchors []string
	}{
		{
			name:      "links, images and a link over two lines",
			text:      "See [the API](streaming/README.md#routes) and\n![a picture](img.png \"title\").\nA [link that\nwraps](#here).",
			wantLinks: []mdLink{{1, "streaming/README.md#routes"}, {2, "img.png"}, {3, "#here"}},
		},
		{
			name:      "code blocks and spans are not links, nor headings",
			text:      "```sh\n# not a heading\n[x](nowhere.md)\n```\nUse `[x](nowhere.md)` or ``a ` [y](no.md)``.\n# Real heading",
			wantLinks: nil, wantAnchors: []string{"real-heading"},
		},
		{
			name:        "duplicate headings are numbered, HTML anchors count",
			text:        "## Notes\n## Notes\n<a id=\"custom\"></a>\n<img src=\"pic.png\">",
			wantLinks:   []mdLink{{4, "pic.png"}},
			wantAnchors: []string{"custom", "notes", "notes-1"},
		},
		{
			name:      "a link with angle brackets and a title",
			text:      "[doc](<scripts/README.md> \"the tools\")",
			wantLinks: []mdLink{{1, "scripts/README.md"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := parseMarkdown(tt.text)
			if !slices.Equal(doc.links, tt.wantLinks) {
				t.Errorf("links %v, want %v", doc.links, tt.wantLinks)
			}
			var anchors []string
			for a := range doc.anchors {
				anchors = append(anchors, a)
			}
			slices.Sort(anchors)
			if tt.wantAnchors != nil && !slices.Equal(anchors, tt.wantAnchors) {
				t.Errorf("anchors %q, want %q", anchors, tt.wantAnchors)
			}
		})
	}
}

// TestDocLinks checks every relative link and image of every markdown file
// of the repository: the file or directory it names exists, and an #anchor
// into a markdown file names one of its headings. Links with a scheme
// (https:, mailto:) are not followed.
func TestDocLinks(t *testing.T) {
	t.Parallel()
	files := markdownFiles(t)
	docs := map[string]mdDoc{}
	read := func(rel string) (mdDoc, error) {
		if d, ok := docs[rel]; ok {
			return d, nil
		}
		b, err := os.ReadFile(filepath.Join(docsRoot, filepath.FromSlash(rel)))
		if err != nil {
			return mdDoc{}, err
		}
		d := parseMarkdown(string(b))
		docs[rel] = d
		return d, nil
	}
	checked := 0
	for _, file := range files {
		doc, err := read(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range doc.links {
			if hasScheme.MatchString(l.target) || strings.HasPrefix(l.target, "//") {
				continue
			}
			checked++
			if msg := checkLink(file, l.target, read); msg != "" {
				t.Errorf("%s:%d: link %q: %s", file, l.line, l.target, msg)
			}
		}
	}
	if checked < len(files) {
		t.Errorf("checked %d relative links in %d markdown files: the link reader finds nothing", checked, len(files))
	}
}

// checkLink says what is wrong with a relative link from the markdown file
// from (relative to the repository root), or "" when it resolves.
func checkLink(from, target string, read func(string) (mdDoc, error)) string {
	pathPart, anchor, _ := strings.Cut(target, "#")
	p, err := url.PathUnescape(pathPart)
	if err != nil {
		return err.Error()
	}
	rel := from
	if p != "" {
		if strings.HasPrefix(p, "/") {
			return "an absolute path: GitHub resolves it against the site, not the repository; make it relative"
		}
		rel = filepath.ToSlash(filepath.Join(filepath.Dir(from), p))
		if rel == ".." || strings.HasPrefix(rel, "../") {
			return "leaves the repository"
		}
		if _, err := os.Stat(filepath.Join(docsRoot, filepath.FromSlash(rel))); err != nil {
			return fmt.Sprintf("no such file or directory: %s", rel)
		}
	}
	if anchor == "" || !strings.HasSuffix(rel, ".md") {
		return ""
	}
	if a, err := url.PathUnescape(anchor); err == nil {
		anchor = a
	}
	doc, err := read(rel)
	if err != nil {
		return err.Error()
	}
	if !doc.anchors[anchor] {
		return fmt.Sprintf("%s has no heading with the anchor #%s", rel, anchor)
	}
	return ""
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
