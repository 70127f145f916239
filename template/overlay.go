package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/apigateway"
)

// overlay is a goformation resource plus properties that goformation's
// generated struct cannot hold: keys it does not know (the Method
// integration's ResponseTransferMode, which goformation v7 predates) and
// intrinsics in integer fields (a Ref to a Number parameter in a Lambda
// Timeout). It implements goformation's Resource interface, so it goes into
// a Template like any resource; its JSON is goformation's own JSON for the
// wrapped resource with the extra properties set.
type overlay struct {
	resource cloudformation.Resource
	props    []overlayProp
}

type overlayProp struct {
	path  string // dotted path under Properties; numbers index arrays
	value any
}

// newOverlay wraps a goformation resource (a pointer to one of its structs).
func newOverlay(r cloudformation.Resource) *overlay { return &overlay{resource: r} }

// set adds the property at path, a dotted path under Properties such as
// "Integration.ResponseTransferMode" or "MethodSettings.0.ThrottlingBurstLimit".
// Missing objects on the way are created; array elements must exist.
func (o *overlay) set(path string, value any) *overlay {
	o.props = append(o.props, overlayProp{path, value})
	return o
}

// AWSCloudFormationType implements cloudformation.Resource.
func (o *overlay) AWSCloudFormationType() string { return o.resource.AWSCloudFormationType() }

// MarshalJSON writes goformation's JSON for the resource with the extra
// properties set.
func (o *overlay) MarshalJSON() ([]byte, error) {
	raw, err := json.Marshal(o.resource)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.AWSCloudFormationType(), err)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: goformation JSON: %w", o.AWSCloudFormationType(), err)
	}
	props, _ := doc["Properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		doc["Properties"] = props
	}
	for _, p := range o.props {
		if err := setPath(props, strings.Split(p.path, "."), p.value); err != nil {
			return nil, fmt.Errorf("%s: Properties.%s: %w", o.AWSCloudFormationType(), p.path, err)
		}
	}
	return json.Marshal(doc)
}

func setPath(node any, path []string, value any) error {
	key := path[0]
	switch n := node.(type) {
	case map[string]any:
		if len(path) == 1 {
			n[key] = value
			return nil
		}
		child, ok := n[key]
		if !ok {
			child = map[string]any{}
			n[key] = child
		}
		return setPath(child, path[1:], value)
	case []any:
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(n) {
			return fmt.Errorf("no element %q in an array of %d", key, len(n))
		}
		if len(path) == 1 {
			n[i] = value
			return nil
		}
		return setPath(n[i], path[1:], value)
	default:
		return fmt.Errorf("%q is inside a %T, not an object or array", key, node)
	}
}

// streamingMethod makes m's integration stream the response: Lambda is
// called with InvokeWithResponseStream (the Uri must be the
// response-streaming-invocations one) and API Gateway passes each chunk on
// as it arrives (ResponseTransferMode STREAM), for up to timeoutMs, which is
// a number or an intrinsic such as a Ref to a Number parameter.
func streamingMethod(m *apigateway.Method, timeoutMs any) *overlay {
	return newOverlay(m).
		set("Integration.ResponseTransferMode", "STREAM").
		set("Integration.TimeoutInMillis", timeoutMs)
}
