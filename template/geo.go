package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// regionPattern is an AWS Region name such as eu-west-1 or us-gov-west-1.
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// geoRegions says where each cross-Region inference profile prefix can be
// called from: a Region prefix ("eu-") or an exact Region. A profile exists
// only in the source Regions of its geography; called from elsewhere,
// Bedrock answers that the model id is invalid.
func geoRegions(geo string) (regions []string, name string) {
	switch geo {
	case "us.":
		return []string{"us-east-", "us-west-"}, "US"
	case "us-gov.":
		return []string{"us-gov-"}, "US GovCloud"
	case "eu.":
		return []string{"eu-"}, "EU"
	case "apac.":
		return []string{"ap-"}, "Asia Pacific"
	case "jp.":
		return []string{"ap-northeast-1", "ap-northeast-3"}, "Japan"
	case "au.":
		return []string{"ap-southeast-2", "ap-southeast-4"}, "Australia"
	case "ca.":
		return []string{"ca-"}, "Canada"
	}
	return nil, ""
}

// regionWarnings returns a line for each model that cannot be called from
// region as written: a geography prefix (us., eu., apac., ...) whose
// profile does not exist there, a global. profile in a partition without
// global routing, or a full ARN in another Region. The template itself is
// Region-agnostic; these are the mistakes a deployment would only show at
// the first request.
func regionWarnings(region string, models []model) []string {
	if region == "" {
		return nil
	}
	if !regionPattern.MatchString(region) {
		return []string{fmt.Sprintf("-region=%q does not look like an AWS Region (such as eu-west-1); no model was checked against it", region)}
	}
	var out []string
	for _, m := range models {
		if strings.HasPrefix(m.ID, "arn:") {
			parts := strings.SplitN(m.ID, ":", 6)
			if len(parts) == 6 && parts[3] != "" && parts[3] != region {
				out = append(out, fmt.Sprintf("model %s is in %s, but the stack is in %s: Bedrock invokes only models of the caller's Region; use an ARN or id from %s", m.ID, parts[3], region, region))
			}
			continue
		}
		geo, base, ok := splitGeo(m.ID)
		if !ok {
			continue
		}
		if geo == globalPrefix {
			if strings.HasPrefix(region, "us-gov-") || strings.HasPrefix(region, "cn-") {
				out = append(out, fmt.Sprintf("model %s is a global cross-Region inference profile, which %s cannot use; use a profile of its own geography or the model id %s", m.ID, region, base))
			}
			continue
		}
		regions, name := geoRegions(geo)
		if slices.ContainsFunc(regions, func(r string) bool { return strings.HasPrefix(region, r) }) {
			continue
		}
		out = append(out, fmt.Sprintf("model %s is a cross-Region inference profile of the %s geography (prefix %q), but the stack is in %s, where Bedrock has no such profile; use a profile of %s's geography (%s%s) or the model id %s",
			m.ID, name, geo, region, region, suggestPrefix(region), base, base))
	}
	return out
}

// suggestPrefix is the geography prefix for profiles called from region.
func suggestPrefix(region string) string {
	for _, geo := range geoPrefixes() {
		if geo == globalPrefix {
			continue
		}
		regions, _ := geoRegions(geo)
		if slices.ContainsFunc(regions, func(r string) bool { return strings.HasPrefix(region, r) }) && geo != "jp." && geo != "au." {
			return geo
		}
	}
	return globalPrefix
}
