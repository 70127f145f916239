package main

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestIntrinsicsNotEvaluated guards the encoding of intrinsics: goformation
// evaluates an intrinsic given as a plain map (Ref AWS::AccountId becomes
// 123456789012), and an encoded one that escaped decoding would stay base64.
func TestIntrinsicsNotEvaluated(t *testing.T) {
	for _, tc := range goldenCases() {
		out := string(generateArgs(t, tc.args...))
		for _, s := range []string{"123456789012", "goformation-stack", "us-east-1", "MyStack"} {
			if strings.Contains(out, s) {
				t.Errorf("%s: output contains %q, an evaluated intrinsic", tc.name, s)
			}
		}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for _, e := range v {
					walk(e)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			case string:
				if b, err := base64.StdEncoding.DecodeString(v); err == nil && strings.HasPrefix(string(b), "{") {
					t.Errorf("%s: undecoded intrinsic %q = %s", tc.name, v, b)
				}
			}
		}
		walk(map[string]any(templateJSON(t, tc.args...)))
	}
}

// TestReferencesResolve checks that every Ref, GetAtt and ${} names a
// parameter, resource or pseudo parameter, and every condition exists.
func TestReferencesResolve(t *testing.T) {
	forEachVariant(t, func(t *testing.T, d tmpl) {
		known := map[string]bool{"AWS::Region": true, "AWS::AccountId": true, "AWS::Partition": true, "AWS::StackName": true, "AWS::URLSuffix": true, "AWS::NoValue": true}
		for name := range d["Parameters"].(map[string]any) {
			known[name] = true
		}
		for name := range d.resources() {
			known[name] = true
		}
		conditions := d["Conditions"].(map[string]any)
		subVar := regexp.MustCompile(`\$\{([^}]+)\}`)
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, e := range v {
					switch k {
					case "Ref":
						if !known[e.(string)] {
							t.Errorf("%s: Ref to unknown %q", path, e)
						}
					case "Fn::GetAtt":
						if !known[e.([]any)[0].(string)] {
							t.Errorf("%s: GetAtt of unknown %q", path, e)
						}
					case "Fn::Sub":
						for _, m := range subVar.FindAllStringSubmatch(e.(string), -1) {
							name, _, _ := strings.Cut(m[1], ".")
							if !known[name] {
								t.Errorf("%s: ${%s} is unknown", path, m[1])
							}
						}
					case "Fn::If":
						if _, ok := conditions[e.([]any)[0].(string)]; !ok {
							t.Errorf("%s: Fn::If on unknown condition %v", path, e.([]any)[0])
						}
					}
					walk(path+"."+k, e)
				}
			case []any:
				for i, e := range v {
					walk(fmt.Sprintf("%s.%d", path, i), e)
				}
			}
		}
		walk("", map[string]any(d))
		for id, r := range d.resources() {
			if c, ok := r.(map[string]any)["Condition"].(string); ok {
				if _, ok := conditions[c]; !ok {
					t.Errorf("%s: unknown condition %q", id, c)
				}
			}
		}
	})
}
