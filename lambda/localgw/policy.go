package localgw

// The authorizer's answer as API Gateway reads it, and the evaluation of
// its IAM policy for one method ARN.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// authorizerOutput is what API Gateway reads from the authorizer's
// answer (events.APIGatewayCustomAuthorizerResponse).
type authorizerOutput struct {
	principalID string
	statements  []policyStatement
	context     map[string]string
	usageKey    string
}

type policyStatement struct {
	Effect   string
	Action   stringList
	Resource stringList
}

// stringList is an IAM policy field that may be a string or a list of
// strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*l = many
	return nil
}

// statements is an IAM policy's Statement: one object or a list of them.
type statements []policyStatement

func (s *statements) UnmarshalJSON(b []byte) error {
	var one policyStatement
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = []policyStatement{one}
		return nil
	}
	var many []policyStatement
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// parseAuthorizerOutput reads the authorizer's answer. As on API Gateway,
// an answer without a policy document, with a statement whose Effect is
// neither Allow nor Deny, or with a context value that is an object or a
// list, is invalid (500). Context values become strings.
func parseAuthorizerOutput(body []byte) (*authorizerOutput, error) {
	var raw struct {
		PrincipalID    string `json:"principalId"`
		PolicyDocument *struct {
			Version   string
			Statement statements
		} `json:"policyDocument"`
		Context            map[string]json.RawMessage `json:"context"`
		UsageIdentifierKey string                     `json:"usageIdentifierKey"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("the authorizer's answer is not a valid authorizer response: %v", err)
	}
	if raw.PolicyDocument == nil {
		return nil, errors.New("the authorizer's answer has no policyDocument")
	}
	out := &authorizerOutput{principalID: raw.PrincipalID, statements: raw.PolicyDocument.Statement, usageKey: raw.UsageIdentifierKey}
	for _, st := range out.statements {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, fmt.Errorf("policy statement Effect %q: want Allow or Deny", st.Effect)
		}
	}
	if len(raw.Context) > 0 {
		out.context = make(map[string]string, len(raw.Context))
		for k, v := range raw.Context {
			var val any
			d := json.NewDecoder(bytes.NewReader(v))
			d.UseNumber()
			if err := d.Decode(&val); err != nil {
				return nil, fmt.Errorf("context %q: %v", k, err)
			}
			switch t := val.(type) {
			case string:
				out.context[k] = t
			case json.Number:
				out.context[k] = t.String()
			case bool:
				out.context[k] = strconv.FormatBool(t)
			case nil:
				out.context[k] = ""
			default:
				return nil, fmt.Errorf("context %q is an object or a list; API Gateway accepts only strings, numbers and booleans", k)
			}
		}
	}
	return out, nil
}

// policyDecision is the evaluation of a policy for one method ARN.
type policyDecision int

const (
	implicitDeny policyDecision = iota
	allowed
	explicitDeny
)

// decide evaluates the policy as IAM does for execute-api:Invoke on
// methodArn: an explicit Deny wins, then an Allow, else an implicit deny.
func (o *authorizerOutput) decide(methodArn string) policyDecision {
	d := implicitDeny
	for _, st := range o.statements {
		if !matchAny(st.Action, "execute-api:Invoke", true) || !matchAny(st.Resource, methodArn, false) {
			continue
		}
		if st.Effect == "Deny" {
			return explicitDeny
		}
		d = allowed
	}
	return d
}

func matchAny(patterns []string, s string, foldCase bool) bool {
	for _, p := range patterns {
		if foldCase {
			if wildcardMatch(strings.ToLower(p), strings.ToLower(s)) {
				return true
			}
		} else if wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

// wildcardMatch matches IAM wildcards: * is any run of characters
// (including none and '/'), ? exactly one.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
