package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/awslabs/goformation/v7/cloudformation"
	"gopkg.in/yaml.v3"
)

// rules are the template's Rules section, which goformation's Template has
// no field for: checks that CloudFormation runs on the parameters before it
// changes anything.
func rules() map[string]any {
	return map[string]any{
		"ModelIdIsAllowed": map[string]any{
			"Assertions": []any{map[string]any{
				"Assert":            map[string]any{"Fn::Contains": []any{map[string]any{"Ref": "AllowedModels"}, map[string]any{"Ref": "ModelId"}}},
				"AssertDescription": "ModelId must be one of AllowedModels",
			}},
		},
	}
}

// render writes the template as JSON or YAML: goformation's own JSON, with
// the Rules section added.
func render(t *cloudformation.Template, format string) ([]byte, error) {
	raw, err := t.JSON()
	if err != nil {
		return nil, fmt.Errorf("goformation JSON: %w", err)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("reading goformation JSON: %w", err)
	}
	doc["Rules"] = rules()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("writing JSON: %w", err)
	}
	switch format {
	case "json":
		return out.Bytes(), nil
	case "yaml":
		// As goformation's Template.YAML does: go-yaml reads the JSON with
		// the right number types (a json.Number would become a string).
		var v any
		if err := yaml.Unmarshal(out.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("converting to YAML: %w", err)
		}
		var y bytes.Buffer
		enc := yaml.NewEncoder(&y)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("writing YAML: %w", err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("writing YAML: %w", err)
		}
		return y.Bytes(), nil
	default:
		return nil, fmt.Errorf("unknown format %q (yaml or json)", format)
	}
}
