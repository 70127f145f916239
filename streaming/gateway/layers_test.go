package gateway

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/streamgate/streamgate/"

// TestLayers holds the design's layering (streaming/README.md, "One core,
// many dialects"): the dialects are the packages this one assembles; the
// core imports none of them, nor anything that imports one, and no
// dialect imports another, directly or through a library. It reads the
// real import graph with go list, so it fails on the commit that breaks it.
func TestLayers(t *testing.T) {
	t.Parallel()
	deps := goListDeps(t)
	var dialects []string
	for _, imp := range goList(t, "{{join .Imports \"\\n\"}}", module+"streaming/gateway") {
		if strings.HasPrefix(imp, module+"streaming/") {
			dialects = append(dialects, imp)
		}
	}
	if len(dialects) < 3 {
		t.Fatalf("the gateway assembles %d dialects (%v); want native, openai, original and the rest", len(dialects), dialects)
	}
	core := module + "streaming"
	if !slices.Contains(deps[module+"streaming/gateway"], core) {
		t.Fatalf("the gateway does not import the core")
	}
	reachesDialect := func(pkg, except string) string {
		for _, d := range deps[pkg] {
			if d != except && (slices.Contains(dialects, d) || d == module+"streaming/gateway") {
				return d
			}
		}
		return ""
	}
	if d := reachesDialect(core, ""); d != "" {
		t.Errorf("the core (streaming) imports the dialect %s: the core knows no client protocol", d)
	}
	for _, d := range dialects {
		if !slices.Contains(deps[d], core) {
			t.Errorf("the dialect %s does not import the core", d)
		}
		if other := reachesDialect(d, d); other != "" {
			t.Errorf("the dialect %s imports the dialect %s: dialects share code only through the core or a library", d, other)
		}
	}
}

// goListDeps maps each package of the module to its dependencies (all of
// them, not only direct imports), as the build sees them.
func goListDeps(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, line := range goList(t, "{{.ImportPath}} {{join .Deps \" \"}}", module+"...") {
		fields := strings.Fields(line)
		if len(fields) > 0 {
			out[fields[0]] = fields[1:]
		}
	}
	return out
}

func goList(t *testing.T, format, pattern string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", format, pattern)
	cmd.Dir = ".."
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pattern, err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
