package streaming

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidToolName: the loop accepts exactly what Bedrock's rule
// ^[a-zA-Z0-9_-]{1,64}$ accepts.
func TestValidToolName(t *testing.T) {
	t.Parallel()
	rule := regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	names := []string{"", "a", "get_weather", "Get-Weather-2", strings.Repeat("x", 64), strings.Repeat("x", 65),
		"with space", "dot.name", "é", "a\n", "tool/1", "-", "_", "9", "a$", "ümlaut"}
	for c := range 256 {
		names = append(names, "ok"+string(rune(c)), string([]byte{byte(c)}))
	}
	for _, name := range names {
		if got, want := validToolName(name), rule.MatchString(name); got != want {
			t.Errorf("validToolName(%q) = %v, want %v", name, got, want)
		}
	}
}
