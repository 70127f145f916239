package main

// Structural tests read the generated template as plain JSON: goformation's
// own unmarshaller would reject ResponseTransferMode, and reading plain JSON
// checks what CloudFormation will actually receive.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// tmpl is a generated template read as plain JSON.
type tmpl map[string]any

func templateJSON(t *testing.T, args ...string) tmpl {
	t.Helper()
	out := generateArgs(t, append(args, "-format", "json")...)
	var doc tmpl
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("template is not JSON: %v", err)
	}
	return doc
}

// get walks objects and arrays by key or index and fails when a step is
// missing.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	if d, ok := v.(tmpl); ok {
		v = map[string]any(d)
	}
	for i, step := range path {
		switch s := step.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: %v is a %T, not an object", path[:i+1], path[:i], v)
			}
			if v, ok = m[s]; !ok {
				t.Fatalf("%v: no key %q", path[:i+1], s)
			}
		case int:
			a, ok := v.([]any)
			if !ok || s >= len(a) {
				t.Fatalf("%v: no element %d", path[:i+1], s)
			}
			v = a[s]
		}
	}
	return v
}

func (d tmpl) resources() map[string]any { return d["Resources"].(map[string]any) }

// resourcesOfType returns the logical ids of the resources of a type, sorted.
func (d tmpl) resourcesOfType(typ string) []string {
	var ids []string
	for id, r := range d.resources() {
		if r.(map[string]any)["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (d tmpl) props(t *testing.T, id string) map[string]any {
	t.Helper()
	return get(t, d.resources(), id, "Properties").(map[string]any)
}

// parameterNumber is a Number parameter's default, MinValue or MaxValue.
func (d tmpl) parameterNumber(t *testing.T, name, field string) float64 {
	t.Helper()
	v := get(t, d, "Parameters", name, field)
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("Parameters.%s.%s = %#v, want a number", name, field, v)
	}
	return f
}

func refTo(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	s, ok := m["Ref"].(string)
	return s, ok
}

func asStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, asStrings(e)...)
		}
		return out
	}
	return nil
}

// resourceString is an IAM resource or other ARN as written: a literal, or
// the string of its Fn::Sub.
func resourceString(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if s, ok := v["Fn::Sub"].(string); ok && len(v) == 1 {
			return s
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(v) == 1 {
			return fmt.Sprintf("GetAtt:%v.%v", ga[0], ga[1])
		}
	}
	t.Fatalf("unexpected ARN form %#v", v)
	return ""
}

// templateVariants are option sets that the structural tests run on.
func templateVariants() map[string][]string {
	return map[string][]string{
		"default":                  nil,
		"models, no key, 15 min":   goldenCases()[2].args,
		"keys cached, provisioned": goldenCases()[3].args,
		"short timeout":            {"-integration-timeout-ms", "50"},
		"function longer":          {"-integration-timeout-ms", "120500", "-function-timeout-seconds", "600"},
	}
}

func forEachVariant(t *testing.T, test func(t *testing.T, d tmpl)) {
	for name, args := range templateVariants() {
		t.Run(name, func(t *testing.T) { test(t, templateJSON(t, args...)) })
	}
}

// has reports whether the template has a resource.
func (d tmpl) has(id string) bool {
	_, ok := d.resources()[id]
	return ok
}

// resource is a resource's whole entry (Type, Properties, Condition, ...).
func (d tmpl) resource(t *testing.T, id string) map[string]any {
	t.Helper()
	return get(t, d.resources(), id).(map[string]any)
}

// fnIf splits {"Fn::If": [condition, then, else]}.
func fnIf(v any) (condition string, then, otherwise any, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", nil, nil, false
	}
	args, isList := m["Fn::If"].([]any)
	if !isList || len(args) != 3 {
		return "", nil, nil, false
	}
	condition, ok = args[0].(string)
	return condition, args[1], args[2], ok
}

func isNoValue(v any) bool {
	name, ok := refTo(v)
	return ok && name == "AWS::NoValue"
}

// methodRoute is "VERB /path" for a Method resource.
func (d tmpl) methodRoute(t *testing.T, id string) string {
	t.Helper()
	p := d.props(t, id)
	return p["HttpMethod"].(string) + " " + d.resourcePath(t, p["ResourceId"])
}

// resourcePath is the path of a ResourceId (a Ref to a Resource, or the
// API's root).
func (d tmpl) resourcePath(t *testing.T, v any) string {
	t.Helper()
	if m, ok := v.(map[string]any); ok {
		if ga, ok := m["Fn::GetAtt"].([]any); ok && ga[1] == "RootResourceId" {
			return "/"
		}
	}
	id, ok := refTo(v)
	if !ok {
		t.Fatalf("resource reference %#v", v)
	}
	p := d.props(t, id)
	parent := d.resourcePath(t, p["ParentId"])
	return strings.TrimSuffix(parent, "/") + "/" + p["PathPart"].(string)
}
