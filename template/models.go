package main

import (
	"fmt"
	"regexp"
	"strings"
)

// geoPrefixes are the leading parts of Bedrock's system-defined
// cross-Region inference profile ids ("us.anthropic.claude-..."). Such a
// profile routes each request to the base model in one of several Regions,
// so the caller needs the profile and the base model in every Region.
func geoPrefixes() []string {
	return []string{"us.", "eu.", "apac.", "us-gov.", "global.", "jp.", "au.", "ca."}
}

// emulatorPrefix marks the models of the built-in Bedrock emulator: they
// exist only in local mode and must never reach a deployed stack.
const emulatorPrefix = "emulator."

var (
	// modelIDPattern is a Bedrock model or inference profile id, such as
	// "anthropic.claude-3-5-haiku-20241022-v1:0" or "us.amazon.nova-pro-v1:0".
	// It admits no wildcard, no "${" (the ids go into Fn::Sub) and no comma
	// (ALLOWED_MODELS is a comma list).
	modelIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.[A-Za-z0-9][A-Za-z0-9._:-]*$`)
	// modelARNPattern is a full Bedrock resource ARN used as a model id.
	modelARNPattern = regexp.MustCompile(`^arn:(aws[a-z-]*):bedrock:([a-z0-9-]*):([0-9]{12})?:([a-z-]+)/([A-Za-z0-9._:-]+)$`)
)

// model is one allowed model: what a request names, and what IAM must grant
// for it.
type model struct {
	ID string
	// Direct are the ARNs a request for the model is checked against
	// first: the foundation model in this Region, the inference profile, or
	// the ARN given as the id. Each is a literal ARN or an Fn::Sub string
	// (see arnSpec).
	Direct []arnSpec
	// ViaProfile are the foundation models a cross-Region inference
	// profile may route the request to, in any Region; IAM checks them
	// too. They are granted only on condition that the request comes
	// through the profile (bedrock:InferenceProfileArn is Profile), so the
	// role cannot call the base model on demand, in any Region, directly.
	ViaProfile []arnSpec
	// Profile is the system inference profile's ARN when the model is one.
	Profile *arnSpec
}

// arnSpec is an ARN for the IAM grant: Sub is true when it holds
// CloudFormation pseudo parameters and must go through Fn::Sub.
type arnSpec struct {
	ARN string
	Sub bool
}

// value is the ARN as the template writes it.
func (a arnSpec) value() any {
	if a.Sub {
		return sub(a.ARN)
	}
	return a.ARN
}

// parseModel checks a model id and computes the ARNs to grant for it:
//
//   - a foundation model id: arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/ID;
//   - a cross-Region inference profile id (geo prefix such as "us."): the
//     profile in this account and Region,
//     arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/ID,
//     and, through the profile only, the base model (the id without its
//     prefix) in every Region of its geography,
//     arn:${AWS::Partition}:bedrock:*::foundation-model/BASE. A "global."
//     profile also routes to the Region-less base model ARN,
//     arn:${AWS::Partition}:bedrock:::foundation-model/BASE, which IAM
//     checks for requests that leave the geography; it is granted
//     explicitly rather than left to the * Region;
//   - a full ARN: granted as it is; a system inference profile ARN also
//     grants its base model through the profile, as above.
func parseModel(id string) (model, error) {
	switch {
	case id == "":
		return model{}, fmt.Errorf("empty model id")
	case strings.HasPrefix(id, emulatorPrefix):
		return model{}, fmt.Errorf("model %q: emulator models exist only in local mode (go run ./lambda) and cannot be deployed; use a Bedrock model id", id)
	case strings.ContainsAny(id, "*?"):
		return model{}, fmt.Errorf("model %q: wildcards are not allowed; name each model", id)
	case strings.HasPrefix(id, "arn:"):
		return parseModelARN(id)
	case !modelIDPattern.MatchString(id):
		return model{}, fmt.Errorf("model %q: not a Bedrock model id (like anthropic.claude-3-5-haiku-20241022-v1:0), inference profile id (like us.anthropic.claude-sonnet-4-20250514-v1:0) or ARN", id)
	}
	if geo, base, ok := splitGeo(id); ok {
		if !modelIDPattern.MatchString(base) {
			return model{}, fmt.Errorf("model %q: inference profile %q names no base model after %q", id, id, geo)
		}
		profile := arnSpec{ARN: "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/" + id, Sub: true}
		return model{ID: id, Direct: []arnSpec{profile}, ViaProfile: baseModels("${AWS::Partition}", geo, base, true), Profile: &profile}, nil
	}
	return model{ID: id, Direct: []arnSpec{
		{ARN: "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/" + id, Sub: true},
	}}, nil
}

// baseModels are the foundation-model ARNs a cross-Region profile routes
// to: every Region, and for "global." also the Region-less ARN.
func baseModels(partition, geo, base string, isSub bool) []arnSpec {
	out := []arnSpec{{ARN: "arn:" + partition + ":bedrock:*::foundation-model/" + base, Sub: isSub}}
	if geo == globalPrefix {
		out = append(out, arnSpec{ARN: "arn:" + partition + ":bedrock:::foundation-model/" + base, Sub: isSub})
	}
	return out
}

// globalPrefix marks the global cross-Region inference profiles, which may
// route a request to any commercial Region.
const globalPrefix = "global."

func parseModelARN(arn string) (model, error) {
	m := modelARNPattern.FindStringSubmatch(arn)
	if m == nil {
		return model{}, fmt.Errorf("model %q: not a Bedrock ARN (arn:PARTITION:bedrock:REGION:ACCOUNT:TYPE/ID)", arn)
	}
	partition, resourceType, resourceID := m[1], m[4], m[5]
	self := arnSpec{ARN: arn}
	out := model{ID: arn, Direct: []arnSpec{self}}
	if resourceType == "inference-profile" {
		if geo, base, ok := splitGeo(resourceID); ok && modelIDPattern.MatchString(base) {
			out.ViaProfile = baseModels(partition, geo, base, false)
			out.Profile = &self
		}
	}
	return out, nil
}

// splitGeo splits a system inference profile id into its geo prefix and
// base model id.
func splitGeo(id string) (geo, base string, ok bool) {
	for _, p := range geoPrefixes() {
		if strings.HasPrefix(id, p) {
			return p, strings.TrimPrefix(id, p), true
		}
	}
	return "", "", false
}

// parseModels parses a comma list of model ids, dropping blanks and
// duplicates but keeping the order.
func parseModels(list string) ([]model, error) {
	var out []model
	seen := map[string]bool{}
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" || seen[part] {
			continue
		}
		seen[part] = true
		m, err := parseModel(part)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no models in %q", list)
	}
	return out, nil
}

// uniqueARNs lists the ARNs that pick returns for the models, without
// duplicates (two profiles of one base model share its foundation-model
// ARN), in order.
func uniqueARNs(models []model, pick func(model) []arnSpec) []arnSpec {
	var out []arnSpec
	seen := map[arnSpec]bool{}
	for _, m := range models {
		for _, r := range pick(m) {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// countTokensModels are the foundation models CountTokens is called with
// for the models: a foundation model itself, the base model of a
// system-defined inference profile in the stack's Region (or in the
// profile ARN's), none for an application inference profile, whose model
// the template cannot know.
func countTokensModels(models []model) []arnSpec {
	return uniqueARNs(models, func(m model) []arnSpec {
		if !strings.HasPrefix(m.ID, "arn:") {
			base := m.ID
			if _, b, ok := splitGeo(m.ID); ok {
				base = b
			}
			return []arnSpec{{ARN: "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/" + base, Sub: true}}
		}
		p := modelARNPattern.FindStringSubmatch(m.ID)
		partition, region, resourceType, resourceID := p[1], p[2], p[4], p[5]
		switch resourceType {
		case "foundation-model":
			return []arnSpec{{ARN: m.ID}}
		case "inference-profile":
			if _, base, ok := splitGeo(resourceID); ok {
				return []arnSpec{{ARN: "arn:" + partition + ":bedrock:" + region + "::foundation-model/" + base}}
			}
		}
		return nil
	})
}
