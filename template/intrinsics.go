package main

import (
	"encoding/base64"
	"encoding/json"
)

// CloudFormation intrinsic functions, written the way goformation writes
// them: the function's JSON object, base64-encoded into a string.
// goformation's Template.JSON() turns such a string back into the object
// as it is. It would *evaluate* the same object given as a plain map (Ref
// becomes the parameter's default, ${AWS::Region} becomes us-east-1), so
// every intrinsic in this package goes through these helpers, and nested
// intrinsics are themselves encoded strings.
//
// These replace goformation's own helpers only where those fall short:
// cloudformation.If turns a branch of true into the string "true" (it
// mistakes the JSON text true for base64).

// intrinsic encodes {name: arg}. arg holds only strings, numbers, booleans
// and slices or maps of them, which always marshal.
func intrinsic(name string, arg any) string {
	b, err := json.Marshal(map[string]any{name: arg})
	if err != nil {
		panic("template: intrinsic " + name + ": " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(b)
}

// ref is {"Ref": name}.
func ref(name string) string { return intrinsic("Ref", name) }

// sub is {"Fn::Sub": s}.
func sub(s string) string { return intrinsic("Fn::Sub", s) }

// getAtt is {"Fn::GetAtt": [resource, attribute]}.
func getAtt(resource, attribute string) string {
	return intrinsic("Fn::GetAtt", []string{resource, attribute})
}

// ifThen is {"Fn::If": [condition, then, otherwise]}.
func ifThen(condition string, then, otherwise any) string {
	return intrinsic("Fn::If", []any{condition, then, otherwise})
}

// equals is {"Fn::Equals": [a, b]}.
func equals(a, b any) string { return intrinsic("Fn::Equals", []any{a, b}) }

// not is {"Fn::Not": [condition]}.
func not(condition any) string { return intrinsic("Fn::Not", []any{condition}) }

// join is {"Fn::Join": [separator, list]}.
func join(separator string, list any) string {
	return intrinsic("Fn::Join", []any{separator, list})
}

// noValue is {"Ref": "AWS::NoValue"}: the property is left out.
func noValue() string { return ref("AWS::NoValue") }
