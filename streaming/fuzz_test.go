package streaming

import (
	"encoding/json"
	"testing"
)

// FuzzAppendJSONString checks the hand-written JSON string encoder of the
// hot path against encoding/json: the same string comes back.
func FuzzAppendJSONString(f *testing.F) {
	for _, seed := range []string{"", "hello ", "quote \" backslash \\", "\n\r\t\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "日本語 ", "</script>"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("AppendJSONString(%q) = %s: not JSON: %v", s, out, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("AppendJSONString(%q) decodes to %q, encoding/json gives %q", s, got, want)
		}
	})
}
